package main

import (
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/hongbao-go/hongbao"
	"github.com/hongbao-go/hongbao/apiv3"
	"github.com/hongbao-go/hongbao/middleware/claim"
	"github.com/hongbao-go/hongbao/middleware/jwtauth"
	"github.com/hongbao-go/hongbao/rail"
	"github.com/hongbao-go/hongbao/signer"
	"github.com/hongbao-go/hongbao/store"
	"github.com/hongbao-go/hongbao/transfer"
	"github.com/hongbao-go/hongbao/transport"
)

// Environment variables. The table in README.md documents each one.
const (
	envAddr             = "HONGBAO_ADDR"
	envRouter           = "HONGBAO_ROUTER"
	envMchID            = "HONGBAO_MCH_ID"
	envAppID            = "HONGBAO_APPID"
	envAPIKey           = "HONGBAO_API_KEY"
	envCertFile         = "HONGBAO_CERT_FILE"
	envKeyFile          = "HONGBAO_KEY_FILE"
	envP12File          = "HONGBAO_P12_FILE"
	envP12Password      = "HONGBAO_P12_PASSWORD"
	envBaseURL          = "HONGBAO_BASE_URL"
	envCAFile           = "HONGBAO_CA_FILE"
	envJWTSecret        = "HONGBAO_JWT_SECRET"
	envJWTPublicKeyFile = "HONGBAO_JWT_PUBLIC_KEY_FILE"
	envJWTIssuer        = "HONGBAO_JWT_ISSUER"
	envJWTAudience      = "HONGBAO_JWT_AUDIENCE"
	envAmount           = "HONGBAO_AMOUNT"
	envSendName         = "HONGBAO_SEND_NAME"
	envWishing          = "HONGBAO_WISHING"
	envActName          = "HONGBAO_ACT_NAME"
	envRemark           = "HONGBAO_REMARK"
	envSceneID          = "HONGBAO_SCENE_ID"
	envCampaign         = "HONGBAO_CAMPAIGN"
	envBillnoKey        = "HONGBAO_BILLNO_KEY"
	envRedisURL         = "HONGBAO_REDIS_URL"
	envPackageRule      = "HONGBAO_PACKAGE_RULE"
	envMaxAttempts      = "HONGBAO_MAX_ATTEMPTS"
	envMaxConns         = "HONGBAO_MAX_CONNS"
	envBudget           = "HONGBAO_BUDGET"
	envBudgetPackets    = "HONGBAO_BUDGET_PACKETS"
	envMetricsAddr      = "HONGBAO_METRICS_ADDR"
	envAppSecret        = "HONGBAO_APP_SECRET"
	envLoginBaseURL     = "HONGBAO_LOGIN_BASE_URL"
	envSkipCheck        = "HONGBAO_SKIP_PLATFORM_CHECK"

	// The rail, and the transfer rail's own variables (APIv3); the
	// merchant's key and certificate, HONGBAO_BASE_URL and HONGBAO_CA_FILE
	// serve both rails.
	envRail          = "HONGBAO_RAIL"
	envAPIv3Key      = "HONGBAO_APIV3_KEY"
	envPublicKeyID   = "HONGBAO_PUBLIC_KEY_ID"
	envPublicKeyFile = "HONGBAO_PUBLIC_KEY_FILE"
	envNotifyURL     = "HONGBAO_NOTIFY_URL"
)

// The rails of HONGBAO_RAIL: the red packet (APIv2 sendminiprogramhb) and
// the merchant transfer shown as a red packet (APIv3).
const (
	railRedPacket = hongbao.RailName  // "redpacket"
	railTransfer  = transfer.RailName // "transfer"
)

// notifyPathDemo is where the demo serves the transfer's notifications.
const notifyPathDemo = "/hongbao/notify"

// The standard OpenTelemetry variables the example reads; the OTLP
// exporters read these and the others (headers, timeouts, certificates).
const (
	envOTLPEndpoint        = "OTEL_EXPORTER_OTLP_ENDPOINT"
	envOTLPTracesEndpoint  = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
	envOTLPMetricsEndpoint = "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT"
	envOTLPProtocol        = "OTEL_EXPORTER_OTLP_PROTOCOL"
)

// Defaults of the optional variables.
const (
	defaultAddr     = "127.0.0.1:8080"
	defaultRouter   = "nethttp"
	defaultAmount   = 100 // fen: 1 yuan
	defaultSendName = "hongbao"
	defaultWishing  = "恭喜发财"
	defaultActName  = "hongbao demo"
	defaultRemark   = "thanks for trying hongbao"
	defaultCampaign = "demo-campaign"
	// defaultMaxConns bounds the connections served at once: well over
	// what a burst of real taps needs (a claim holds its connection for a
	// second or so), and lowered to leave filesReserved files free when
	// the process may open fewer.
	defaultMaxConns = 4096
	maxMaxConns     = 1 << 20
	// filesReserved are the files kept for everything but the served
	// connections: connections to the platform (32 at most) and Redis,
	// the listener, certificates read at start-up and on Reload.
	filesReserved = 256
)

// merchantVars only make sense with HONGBAO_MCH_ID: setting one of them in
// demo mode is a mistake worth stopping for, not a silent fallback to the
// fake platform.
var merchantVars = []string{
	envAppID, envAPIKey, envCertFile, envKeyFile, envP12File, envP12Password, envBaseURL, envCAFile,
	envAppSecret, envLoginBaseURL, envAPIv3Key, envPublicKeyID, envPublicKeyFile, envNotifyURL,
}

// transferVars are the transfer rail's own.
var transferVars = []string{envAPIv3Key, envPublicKeyID, envPublicKeyFile, envNotifyURL}

// redPacketVars are the red packet's own: the transfer sends no sender
// name or scene_id and signs nothing for the page.
var redPacketVars = []string{envSendName, envSceneID, envPackageRule}

// config is the validated configuration of one run.
type config struct {
	addr   string
	router string
	demo   bool   // no HONGBAO_MCH_ID: pay through an in-process fake platform
	rail   string // railRedPacket or railTransfer

	// Merchant credentials (configured mode only).
	mchID, appID, apiKey string
	certFile, keyFile    string
	p12File, p12Password string
	baseURL              string
	rootCAPEM            []byte

	// The transfer rail (configured mode): the APIv3 key, the WeChat Pay
	// public key (empty: platform certificates are downloaded), the public
	// notify URL and the path of it this server serves.
	apiv3Key                   string
	publicKeyID, publicKeyFile string
	notifyURL, notifyPath      string

	// JWT verification. In demo mode without a configured key, jwtKeys is
	// empty and run generates a random secret.
	jwtKeys                []jwtauth.Key
	jwtIssuer, jwtAudience string
	jwtSecret              []byte // HONGBAO_JWT_SECRET: also signs the login route's tokens

	// The login route (configured mode): the mini program's app secret
	// and the code2Session host; no secret, no login route.
	appSecret, loginBaseURL string
	// skipCheck starts without proving the credentials to the platform.
	skipCheck bool

	billnoKey []byte
	grant     claim.Grant // the campaign: the same grant for every user
	redisURL  string      // empty: results, locks and rate limits in memory
	// packageRule is the paySign form handed to wx.sendBizRedPacket.
	packageRule signer.PackageRule
	// amountMax > 0: each user's amount is drawn from [grant.Amount,
	// amountMax] (HONGBAO_AMOUNT=MIN-MAX).
	amountMax int64
	// maxAttempts bounds the bill numbers of one grant (0: the default).
	maxAttempts int
	// maxConns bounds the connections served at once; more wait to be
	// accepted.
	maxConns int
	// budget caps the campaign (zero: no cap).
	budget store.Budget
	// metricsAddr is the Prometheus listener's address; empty: none.
	metricsAddr string
	// otlpTraces, otlpMetrics: export them by OTLP over HTTP.
	otlpTraces, otlpMetrics bool
}

// loadConfig reads and checks the environment. Every problem found is
// reported, each naming the variable to fix.
func loadConfig(getenv func(string) string) (*config, error) {
	var problems []string
	bad := func(format string, a ...any) { problems = append(problems, fmt.Sprintf(format, a...)) }
	get := func(name string) string { return strings.TrimSpace(getenv(name)) }

	c := &config{
		addr:     get(envAddr),
		router:   strings.ToLower(get(envRouter)),
		mchID:    get(envMchID),
		redisURL: get(envRedisURL),
	}
	if c.addr == "" {
		c.addr = defaultAddr
	}
	if c.router == "" {
		c.router = defaultRouter
	}
	switch {
	case slices.Contains(routers, c.router):
	case slices.Contains(allRouters, c.router):
		bad("%s=%s needs the full example, which adds chi, gin, echo, OpenTelemetry and Prometheus: go run -tags full ./example", envRouter, c.router)
	default:
		bad("%s=%q is not one of %s", envRouter, c.router, strings.Join(allRouters, ", "))
	}
	c.demo = c.mchID == ""
	c.rail = strings.ToLower(get(envRail))
	switch c.rail {
	case "":
		c.rail = railRedPacket
	case railRedPacket, railTransfer:
	default:
		bad("%s=%q is neither %s (APIv2 red packets, the default) nor %s (APIv3 merchant transfers shown as red packets)",
			envRail, get(envRail), railRedPacket, railTransfer)
	}
	if c.rail == railTransfer {
		for _, name := range redPacketVars {
			if get(name) != "" {
				bad("%s is the red packet's: the transfer rail does not send it; unset it, or set %s=%s", name, envRail, railRedPacket)
			}
		}
	} else if !c.demo {
		for _, name := range transferVars {
			if getenv(name) != "" {
				bad("%s is the transfer rail's: set %s=%s to pay through merchant transfers, or unset it", name, envRail, railTransfer)
			}
		}
	}

	// Merchant credentials.
	if c.demo {
		var set []string
		for _, name := range merchantVars {
			if getenv(name) != "" {
				set = append(set, name)
			}
		}
		if len(set) > 0 {
			bad("%s is not set but %s %s: set %s to pay through the real platform, or unset them for the demo",
				envMchID, strings.Join(set, ", "), plural(len(set), "is", "are"), envMchID)
		}
	} else {
		c.loadMerchant(getenv, bad)
	}

	// JWT verification.
	c.jwtIssuer, c.jwtAudience = get(envJWTIssuer), get(envJWTAudience)
	secret, pubFile := getenv(envJWTSecret), get(envJWTPublicKeyFile)
	switch {
	case secret != "" && pubFile != "":
		bad("set only one of %s and %s", envJWTSecret, envJWTPublicKeyFile)
	case secret != "":
		k, err := jwtauth.HMACKey("", []byte(secret))
		if err != nil {
			bad("%s is %d bytes; use a random secret of at least 32 bytes (HS256)", envJWTSecret, len(secret))
		} else {
			c.jwtKeys = []jwtauth.Key{k}
			c.jwtSecret = []byte(secret)
		}
	case pubFile != "":
		pem, err := os.ReadFile(pubFile)
		if err != nil {
			bad("%s: %v", envJWTPublicKeyFile, err)
			break
		}
		k, err := jwtauth.PublicKeyPEM("", pem)
		if err != nil {
			bad("%s=%q: %v", envJWTPublicKeyFile, pubFile, err)
		} else {
			c.jwtKeys = []jwtauth.Key{k}
		}
	case !c.demo:
		bad("set %s (HS256, at least 32 bytes) or %s (PEM public key for RS256, ES256/384/512 or EdDSA) to verify the app's login tokens",
			envJWTSecret, envJWTPublicKeyFile)
	}

	if c.appSecret != "" && c.jwtSecret == nil && pubFile != "" {
		bad("%s (the login route) signs tokens with %s: a public key (%s) cannot sign them", envAppSecret, envJWTSecret, envJWTPublicKeyFile)
	}
	switch v := strings.ToLower(get(envSkipCheck)); v {
	case "", "0", "false":
	case "1", "true":
		c.skipCheck = true
	default:
		bad("%s=%q: use 1 to start without proving the credentials to the platform, or unset it", envSkipCheck, v)
	}

	switch v := getenv(envBillnoKey); {
	case v != "":
		if len(v) < hongbao.MinBillnoKeyLength {
			bad("%s is %d bytes; use a random value of at least %d bytes, and keep it for the life of the campaign",
				envBillnoKey, len(v), hongbao.MinBillnoKeyLength)
		}
		c.billnoKey = []byte(v)
	case c.demo:
		// The demo's fake host and results live only as long as the
		// process, so a key of its own is enough.
		c.billnoKey = []byte(rand.Text())
	default:
		bad("set %s to a random value of at least %d bytes, the same on every replica, and keep it: bill numbers are derived from it, and a new key lets every user claim again",
			envBillnoKey, hongbao.MinBillnoKeyLength)
	}

	if r, err := signer.ParsePackageRule(get(envPackageRule)); err != nil {
		bad("%s=%q is not a paySign rule: use encoded (the default), encoded-upper or raw", envPackageRule, get(envPackageRule))
	} else {
		c.packageRule = r
	}

	// The campaign.
	c.grant = claim.Grant{
		Key: orDefault(get(envCampaign), defaultCampaign),
		Payout: rail.Payout{
			Amount:   defaultAmount,
			SendName: orDefault(get(envSendName), defaultSendName),
			Wishing:  orDefault(get(envWishing), defaultWishing),
			ActName:  orDefault(get(envActName), defaultActName),
			Remark:   orDefault(get(envRemark), defaultRemark),
		},
	}
	amountOK := true
	if v := get(envAmount); v != "" {
		lo, hi, isRange := strings.Cut(v, "-")
		n, err := strconv.ParseInt(lo, 10, 64)
		m := n
		if isRange && err == nil {
			m, err = strconv.ParseInt(hi, 10, 64)
		}
		switch {
		case err != nil || n <= 0 || m <= 0:
			bad("%s=%q is not a positive whole number of fen (100 fen = 1 yuan), nor a range MIN-MAX of them", envAmount, v)
			amountOK = false
		case m < n:
			bad("%s=%q: the range's maximum is below its minimum", envAmount, v)
			amountOK = false
		default:
			c.grant.Amount = n
			if m > n {
				c.amountMax = m
			}
		}
	}
	for _, b := range []struct {
		name string
		dst  *int64
		what string
	}{{envBudget, &c.budget.Fen, "fen (100 fen = 1 yuan)"}, {envBudgetPackets, &c.budget.Packets, "packets"}} {
		if v := get(b.name); v != "" {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n <= 0 {
				bad("%s=%q is not a positive whole number of %s", b.name, v, b.what)
			} else {
				*b.dst = n
			}
		}
	}
	if v := get(envMaxAttempts); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 100 {
			bad("%s=%q is not a whole number from 1 to 100", envMaxAttempts, v)
		} else {
			c.maxAttempts = n
		}
	}
	c.maxConns = defaultMaxConns
	files, filesKnown := openFiles()
	if filesKnown && files < defaultMaxConns+filesReserved {
		c.maxConns = max(files-filesReserved, 16)
	}
	if v := get(envMaxConns); v != "" {
		n, err := strconv.Atoi(v)
		switch {
		case err != nil || n < 1 || n > maxMaxConns:
			bad("%s=%q is not a whole number from 1 to %d", envMaxConns, v, maxMaxConns)
		case filesKnown && n > files-filesReserved:
			bad("%s=%d leaves too few files for the connections to the platform and Redis: the process may open %d files (ulimit -n); use at most %d, or raise the limit",
				envMaxConns, n, files, max(files-filesReserved, 0))
		default:
			c.maxConns = n
		}
	}
	sceneOK := true
	if v := get(envSceneID); v != "" {
		s, err := hongbao.ParseScene(v)
		if err != nil {
			bad("%s=%q is not a known scene: use one of PRODUCT_1 .. PRODUCT_8", envSceneID, v)
			sceneOK = false
		} else {
			c.grant.Scene = string(s)
		}
	}
	if amountOK && sceneOK {
		validate := validateCampaign
		if c.rail == railTransfer {
			c.grant.SendName = "" // not sent: the platform shows the merchant's name
			validate = validateTransfer
		}
		err := validate(c.grant)
		if err == nil && c.amountMax > 0 {
			top := c.grant
			top.Amount = c.amountMax
			err = validate(top)
		}
		if err != nil {
			bad("%v", err)
		}
	}

	c.metricsAddr = get(envMetricsAddr)
	if c.metricsAddr != "" {
		if _, _, err := net.SplitHostPort(c.metricsAddr); err != nil {
			bad("%s=%q is not a listen address host:port (e.g. 127.0.0.1:9464)", envMetricsAddr, c.metricsAddr)
		} else if c.metricsAddr == c.addr && !strings.HasSuffix(c.addr, ":0") {
			bad("%s and %s are both %s: metrics need a listener of their own", envMetricsAddr, envAddr, c.addr)
		}
	}
	c.otlpTraces = get(envOTLPEndpoint) != "" || get(envOTLPTracesEndpoint) != ""
	c.otlpMetrics = get(envOTLPEndpoint) != "" || get(envOTLPMetricsEndpoint) != ""
	if p := get(envOTLPProtocol); p != "" && p != "http/protobuf" && (c.otlpTraces || c.otlpMetrics) {
		bad("%s=%q: the example exports OTLP over HTTP only; set it to http/protobuf or unset it", envOTLPProtocol, p)
	}

	if len(problems) > 0 {
		if len(problems) == 1 {
			return nil, errors.New("hongbao example: " + problems[0])
		}
		return nil, errors.New("hongbao example: the configuration has problems:\n  - " + strings.Join(problems, "\n  - "))
	}
	return c, nil
}

// loadMerchant reads the merchant variables of configured mode.
func (c *config) loadMerchant(getenv func(string) string, bad func(string, ...any)) {
	get := func(name string) string { return strings.TrimSpace(getenv(name)) }
	// The mch_id rule is the one bill numbers are derived under; deriving
	// one with a dummy key checks it exactly.
	if _, err := hongbao.DeriveBillno([]byte("mch_id format check"), c.mchID, "check", "check"); err != nil {
		bad("%s: %v", envMchID, err)
	}
	c.appID = get(envAppID)
	switch {
	case c.appID == "":
		bad("%s (the mini program's appid) is required with %s", envAppID, envMchID)
	case len(c.appID) > 32:
		bad("%s=%q is longer than 32 characters: it is the mini program's appid (wx...)", envAppID, c.appID)
	}
	c.apiKey = getenv(envAPIKey)
	switch n := len(c.apiKey); {
	case c.rail == railTransfer:
		// Not used: the transfer rail signs with the merchant key.
	case n == 0:
		bad("%s (the APIv2 key from the merchant console) is required with %s", envAPIKey, envMchID)
	case n != 32:
		bad("%s is %d bytes; the APIv2 key is exactly 32 bytes", envAPIKey, n)
	}
	if c.rail == railTransfer {
		c.loadTransfer(getenv, bad)
	}

	c.certFile, c.keyFile, c.p12File = get(envCertFile), get(envKeyFile), get(envP12File)
	c.p12Password = getenv(envP12Password)
	pemSource := c.certFile != "" || c.keyFile != ""
	switch {
	case pemSource && c.p12File != "":
		bad("set either %s and %s, or %s, not both", envCertFile, envKeyFile, envP12File)
	case pemSource && (c.certFile == "" || c.keyFile == ""):
		bad("%s and %s go together (apiclient_cert.pem and apiclient_key.pem)", envCertFile, envKeyFile)
	case pemSource:
		fileExists(envCertFile, c.certFile, bad)
		fileExists(envKeyFile, c.keyFile, bad)
	case c.p12File != "":
		fileExists(envP12File, c.p12File, bad)
	default:
		bad("the merchant certificate is required: set %s and %s (apiclient_cert.pem, apiclient_key.pem) or %s (apiclient_cert.p12)",
			envCertFile, envKeyFile, envP12File)
	}
	if c.p12Password != "" && c.p12File == "" {
		bad("%s is set without %s", envP12Password, envP12File)
	}

	c.baseURL = get(envBaseURL)
	if c.baseURL == "" {
		c.baseURL = transport.DefaultBaseURL
	} else if !strings.HasPrefix(c.baseURL, "https://") {
		bad("%s=%q must be an https URL", envBaseURL, c.baseURL)
	}
	c.appSecret = getenv(envAppSecret)
	c.loginBaseURL = get(envLoginBaseURL)
	if c.loginBaseURL != "" && !strings.HasPrefix(c.loginBaseURL, "https://") {
		bad("%s=%q must be an https URL", envLoginBaseURL, c.loginBaseURL)
	}
	if c.loginBaseURL != "" && c.appSecret == "" {
		bad("%s is set without %s (the mini program's app secret, which the login route needs)", envLoginBaseURL, envAppSecret)
	}
	if f := get(envCAFile); f != "" {
		b, err := os.ReadFile(f)
		if err != nil {
			bad("%s: %v", envCAFile, err)
		} else if !strings.Contains(string(b), "-----BEGIN CERTIFICATE-----") {
			bad("%s=%q holds no PEM certificate", envCAFile, f)
		} else {
			c.rootCAPEM = b
		}
	}
}

// loadTransfer reads the transfer rail's variables of configured mode.
func (c *config) loadTransfer(getenv func(string) string, bad func(string, ...any)) {
	get := func(name string) string { return strings.TrimSpace(getenv(name)) }
	c.apiv3Key = getenv(envAPIv3Key)
	switch n := len(c.apiv3Key); {
	case n == 0:
		bad("%s (the APIv3 key, 32 bytes, set in the merchant console under API安全 → APIv3密钥) is required on the transfer rail: notifications are encrypted with it",
			envAPIv3Key)
	case n != apiv3.APIv3KeyLength:
		bad("%s is %d bytes; the APIv3 key is exactly %d bytes (not the APIv2 key): copy it again from the merchant console (API安全 → APIv3密钥)",
			envAPIv3Key, n, apiv3.APIv3KeyLength)
	}
	c.publicKeyID, c.publicKeyFile = get(envPublicKeyID), get(envPublicKeyFile)
	switch {
	case c.publicKeyID == "" && c.publicKeyFile == "":
		// Platform-certificate mode: downloaded and decrypted with the
		// APIv3 key.
	case c.publicKeyFile == "":
		bad("%s is set without %s: point it at the WeChat Pay public key (pub_key.pem, API安全 → 微信支付公钥), or unset both to download the platform certificates",
			envPublicKeyID, envPublicKeyFile)
	case c.publicKeyID == "":
		bad("%s is set without %s: set the key's id too (PUB_KEY_ID_ and digits, shown beside the key in the merchant console)",
			envPublicKeyFile, envPublicKeyID)
	default:
		if !apiv3.ValidPublicKeyID(c.publicKeyID) {
			bad("%s=%q is not a WeChat Pay public key id: it is PUB_KEY_ID_ followed by digits, as the merchant console shows it",
				envPublicKeyID, c.publicKeyID)
		}
		if b, err := os.ReadFile(c.publicKeyFile); err != nil {
			bad("%s: %v", envPublicKeyFile, err)
		} else if _, err := apiv3.ParsePublicKeyPEM(b); err != nil {
			bad("%s=%q is not the WeChat Pay public key (pub_key.pem, a PUBLIC KEY block): %v", envPublicKeyFile, c.publicKeyFile, err)
		}
	}
	c.notifyURL = get(envNotifyURL)
	u, err := url.Parse(c.notifyURL)
	switch {
	case c.notifyURL == "":
		bad("%s is required on the transfer rail: the public https URL where the platform posts each bill's final state, e.g. https://pay.example.com%s (this server serves its path)",
			envNotifyURL, notifyPathDemo)
	case err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil:
		bad("%s=%q must be an https URL: the platform posts notifications to https only (terminate TLS in front of this server)", envNotifyURL, c.notifyURL)
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "":
		bad("%s=%q must have no query string or fragment", envNotifyURL, c.notifyURL)
	case len(c.notifyURL) > 256:
		bad("%s is %d characters; the platform takes at most 256", envNotifyURL, len(c.notifyURL))
	case u.Path == "" || u.Path == "/" || u.Path == claimPath || u.Path == loginPath || strings.HasPrefix(u.Path, claimPath+"/"):
		bad("%s=%q needs a path of its own, e.g. https://%s%s: it is served beside the claim route", envNotifyURL, c.notifyURL, u.Host, notifyPathDemo)
	default:
		c.notifyPath = u.EscapedPath()
	}
}

func fileExists(name, path string, bad func(string, ...any)) {
	st, err := os.Stat(path)
	switch {
	case err != nil:
		bad("%s: %v", name, err)
	case st.IsDir():
		bad("%s=%q is a directory, not a file", name, path)
	}
}

// validateCampaign checks the grant as the platform would (hongbao.CheckPayout),
// naming the variable to fix, so that a bad amount or text stops the server at
// start-up instead of failing every claim.
func validateCampaign(g claim.Grant) error {
	err := hongbao.CheckPayout(g.Payout)
	if err == nil {
		return nil
	}
	var ve *hongbao.ValidationError
	if !errors.As(err, &ve) {
		return fmt.Errorf("the campaign is invalid: %w", err)
	}
	switch ve.Field {
	case "total_amount":
		return fmt.Errorf("%s: %w", envAmount, err)
	case "scene_id":
		return fmt.Errorf("%s=%d needs %s (amounts outside %d..%d fen require a scene), or choose an amount in that range: %w",
			envAmount, g.Amount, envSceneID, hongbao.MinAmountWithoutScene, hongbao.MaxAmountWithoutScene, err)
	case "send_name":
		return fmt.Errorf("%s: %w", envSendName, err)
	case "wishing":
		return fmt.Errorf("%s: %w", envWishing, err)
	case "act_name":
		return fmt.Errorf("%s: %w", envActName, err)
	case "remark":
		return fmt.Errorf("%s: %w", envRemark, err)
	}
	return fmt.Errorf("the campaign is invalid: %w", err)
}

// validateTransfer checks the grant as the transfer rail sends it
// (transfer.CreateRequest.Validate), naming the variable to fix:
// HONGBAO_AMOUNT is transfer_amount (from 10 fen), HONGBAO_WISHING the
// transfer_remark the user reads, HONGBAO_ACT_NAME and HONGBAO_REMARK the
// scene's 活动名称 and 奖励说明, each 1 to 32 characters.
func validateTransfer(g claim.Grant) error {
	err := (&transfer.CreateRequest{
		OutBillNo: "CHECK", OpenID: "oCheck", Amount: g.Amount,
		Remark: g.Wishing, ActivityName: g.ActName, RewardNote: g.Remark,
	}).Validate()
	var ve *transfer.ValidationError
	if err == nil || !errors.As(err, &ve) {
		return err
	}
	name := map[string]string{
		"transfer_amount": envAmount,
		"transfer_remark": envWishing,
	}[ve.Field]
	switch {
	case strings.Contains(ve.Field, transfer.InfoActivityName):
		name = envActName
	case strings.Contains(ve.Field, transfer.InfoRewardNote):
		name = envRemark
	case name == "":
		return fmt.Errorf("the campaign is invalid on the transfer rail: %w", err)
	}
	return fmt.Errorf("%s (on the transfer rail, %s): %w", name, ve.Field, err)
}

// clientConfig is the hongbao.Config of configured mode.
func (c *config) clientConfig() hongbao.Config {
	return hongbao.Config{
		AppID: c.appID,
		Transport: transport.Config{
			MchID:       c.mchID,
			APIKey:      c.apiKey,
			CertFile:    c.certFile,
			KeyFile:     c.keyFile,
			P12File:     c.p12File,
			P12Password: c.p12Password,
			RootCAPEM:   c.rootCAPEM,
			BaseURL:     c.baseURL,
		},
		BillnoKey:   c.billnoKey,
		PackageRule: c.packageRule,
	}
}

// explainClientError names the variables behind an error of hongbao.New.
func (c *config) explainClientError(err error) error {
	if c.demo {
		return fmt.Errorf("hongbao example: the demo client: %w", err)
	}
	files := fmt.Sprintf("%s and %s", envCertFile, envKeyFile)
	if c.p12File != "" {
		files = fmt.Sprintf("%s and %s (default: the mch id)", envP12File, envP12Password)
	}
	switch {
	case errors.Is(err, transport.ErrKeyMismatch):
		return fmt.Errorf("hongbao example: the merchant certificate and its private key do not match (check %s): %w", files, err)
	case errors.Is(err, transport.ErrCertCN):
		return fmt.Errorf("hongbao example: the merchant certificate belongs to another merchant than %s=%s (check %s): %w",
			envMchID, c.mchID, files, err)
	case errors.Is(err, transport.ErrCertExpired):
		return fmt.Errorf("hongbao example: the merchant certificate is not valid now; download a new one from the merchant console (%s): %w", files, err)
	}
	return fmt.Errorf("hongbao example: the merchant configuration is invalid (check %s): %w", files, err)
}

// openFiles is how many files the process may open, when the system
// says; a variable for the tests.
var openFiles = func() (int, bool) {
	n, ok := openFileLimit()
	if !ok || n > maxMaxConns+filesReserved {
		return 0, false
	}
	return int(n), true
}

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
