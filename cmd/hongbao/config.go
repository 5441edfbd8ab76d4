package main

import (
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"

	"github.com/hongbao-go/hongbao"
	"github.com/hongbao-go/hongbao/middleware/claim"
	"github.com/hongbao-go/hongbao/transport"
)

// The environment variables, the same as the example server's
// (example/README.md documents each one).
const (
	envMchID       = "HONGBAO_MCH_ID"
	envAppID       = "HONGBAO_APPID"
	envAPIKey      = "HONGBAO_API_KEY"
	envCertFile    = "HONGBAO_CERT_FILE"
	envKeyFile     = "HONGBAO_KEY_FILE"
	envP12File     = "HONGBAO_P12_FILE"
	envP12Password = "HONGBAO_P12_PASSWORD"
	envBaseURL     = "HONGBAO_BASE_URL"
	envCAFile      = "HONGBAO_CA_FILE"
	envCampaign    = "HONGBAO_CAMPAIGN"
	envBillnoKey   = "HONGBAO_BILLNO_KEY"
	envRedisURL    = "HONGBAO_REDIS_URL"
	envMaxAttempts = "HONGBAO_MAX_ATTEMPTS"
	envRail        = "HONGBAO_RAIL"

	// APIv3 (the transfer rail); the merchant key and certificate are the
	// ones above.
	envAPIv3Key      = "HONGBAO_APIV3_KEY"
	envCertSerial    = "HONGBAO_CERT_SERIAL"
	envPublicKeyID   = "HONGBAO_PUBLIC_KEY_ID"
	envPublicKeyFile = "HONGBAO_PUBLIC_KEY_FILE"
	envPlatformCerts = "HONGBAO_PLATFORM_CERTS"
)

// defaultCampaign is the example's grant key when HONGBAO_CAMPAIGN is unset.
const defaultCampaign = "demo-campaign"

// apiKeyLength is the length of an APIv2 key.
const apiKeyLength = 32

// merchant is the merchant's configuration, read from the environment.
type merchant struct {
	mchID, appID, apiKey string
	certFile, keyFile    string
	p12File, p12Password string
	baseURL              string
	caFile               string
	rootCAPEM            []byte

	// APIv3: see v3.go.
	apiv3Key, certSerial       string
	publicKeyID, publicKeyFile string
	platformCertsRaw           string
	platformCerts              bool
}

// problems collects configuration problems, each naming what to fix.
type problems []string

func (p *problems) add(format string, a ...any) { *p = append(*p, fmt.Sprintf(format, a...)) }

// err returns the problems as one error, nil when there are none.
func (p problems) err() error {
	switch len(p) {
	case 0:
		return nil
	case 1:
		return errors.New(p[0])
	}
	return errors.New("the configuration has problems:\n  - " + strings.Join(p, "\n  - "))
}

// getter trims the values of getenv.
type getter func(string) string

func (g getter) get(name string) string { return strings.TrimSpace(g(name)) }

// readMerchant reads the merchant variables without checking them.
func readMerchant(getenv func(string) string) *merchant {
	g := getter(getenv)
	m := &merchant{
		mchID:       g.get(envMchID),
		appID:       g.get(envAppID),
		apiKey:      getenv(envAPIKey),
		certFile:    g.get(envCertFile),
		keyFile:     g.get(envKeyFile),
		p12File:     g.get(envP12File),
		p12Password: getenv(envP12Password),
		baseURL:     g.get(envBaseURL),
		caFile:      g.get(envCAFile),

		apiv3Key:         getenv(envAPIv3Key),
		certSerial:       g.get(envCertSerial),
		publicKeyID:      g.get(envPublicKeyID),
		publicKeyFile:    g.get(envPublicKeyFile),
		platformCertsRaw: g.get(envPlatformCerts),
	}
	m.platformCerts, _ = parseBool(m.platformCertsRaw)
	if m.baseURL == "" {
		m.baseURL = transport.DefaultBaseURL
	}
	return m
}

// loadMerchant reads the merchant variables and checks them. Every problem
// found is returned, each naming the variable to fix; the files named are
// only checked to exist (the CA file is read).
func loadMerchant(getenv func(string) string) (*merchant, problems) {
	m := readMerchant(getenv)
	var bad problems
	for _, err := range []error{checkMchID(m.mchID), checkAppID(m.appID), checkAPIKey(m.apiKey), m.checkCertSource(), checkBaseURL(m.baseURL), m.loadCA()} {
		if err != nil {
			bad.add("%v", err)
		}
	}
	return m, bad
}

// checkMchID checks HONGBAO_MCH_ID under the rule bill numbers are derived
// with: deriving one with a dummy key checks it exactly.
func checkMchID(mchID string) error {
	if mchID == "" {
		return fmt.Errorf("%s (the merchant id, 商户号) is not set", envMchID)
	}
	if _, err := hongbao.DeriveBillno([]byte("mch_id format check"), mchID, "check", "check"); err != nil {
		return fmt.Errorf("%s: %v", envMchID, err)
	}
	return nil
}

func checkAppID(appID string) error {
	switch {
	case appID == "":
		return fmt.Errorf("%s (the mini program's appid, wx...) is not set", envAppID)
	case len(appID) > 32:
		return fmt.Errorf("%s=%q is longer than 32 characters: it is the mini program's appid (wx...)", envAppID, appID)
	}
	return nil
}

func checkAPIKey(key string) error {
	switch n := len(key); {
	case n == 0:
		return fmt.Errorf("%s (the APIv2 key from the merchant console) is not set", envAPIKey)
	case n != apiKeyLength:
		return fmt.Errorf("%s is %d bytes; the APIv2 key is exactly %d bytes: copy it again from the merchant console (Account > API security)",
			envAPIKey, n, apiKeyLength)
	}
	return nil
}

// checkCertSource checks that exactly one certificate source is set and
// that its files exist.
func (m *merchant) checkCertSource() error {
	pemSource := m.certFile != "" || m.keyFile != ""
	switch {
	case pemSource && m.p12File != "":
		return fmt.Errorf("set either %s and %s, or %s, not both", envCertFile, envKeyFile, envP12File)
	case m.keyOnly():
		return fileExists(envKeyFile, m.keyFile)
	case pemSource && (m.certFile == "" || m.keyFile == ""):
		return fmt.Errorf("%s and %s go together (apiclient_cert.pem and apiclient_key.pem)", envCertFile, envKeyFile)
	case pemSource:
		if err := fileExists(envCertFile, m.certFile); err != nil {
			return err
		}
		return fileExists(envKeyFile, m.keyFile)
	case m.p12File != "":
		if err := fileExists(envP12File, m.p12File); err != nil {
			return err
		}
	case m.p12Password != "":
		return fmt.Errorf("%s is set without %s", envP12Password, envP12File)
	default:
		return fmt.Errorf("the merchant certificate is not set: set %s and %s (apiclient_cert.pem, apiclient_key.pem) or %s (apiclient_cert.p12)",
			envCertFile, envKeyFile, envP12File)
	}
	return nil
}

func fileExists(name, path string) error {
	st, err := os.Stat(path)
	switch {
	case err != nil:
		return fmt.Errorf("%s: %v", name, err)
	case st.IsDir():
		return fmt.Errorf("%s=%q is a directory, not a file", name, path)
	}
	return nil
}

func checkBaseURL(u string) error {
	if !strings.HasPrefix(u, "https://") {
		return fmt.Errorf("%s=%q must be an https URL", envBaseURL, u)
	}
	return nil
}

// loadCA reads HONGBAO_CA_FILE, when set, into m.rootCAPEM.
func (m *merchant) loadCA() error {
	if m.caFile == "" {
		return nil
	}
	b, err := os.ReadFile(m.caFile)
	switch {
	case err != nil:
		return fmt.Errorf("%s: %v", envCAFile, err)
	case !strings.Contains(string(b), "-----BEGIN CERTIFICATE-----"):
		return fmt.Errorf("%s=%q holds no PEM certificate", envCAFile, m.caFile)
	}
	m.rootCAPEM = b
	return nil
}

// clientConfig is the hongbao.Config of m. billnoKey may be nil for a
// client that derives no bill number: a random one is used.
func (m *merchant) clientConfig(billnoKey []byte, retry hongbao.RetryPolicy) hongbao.Config {
	if billnoKey == nil {
		billnoKey = []byte(rand.Text())
	}
	return hongbao.Config{
		AppID: m.appID,
		Transport: transport.Config{
			MchID:       m.mchID,
			APIKey:      m.apiKey,
			CertFile:    m.certFile,
			KeyFile:     m.keyFile,
			P12File:     m.p12File,
			P12Password: m.p12Password,
			RootCAPEM:   m.rootCAPEM,
			BaseURL:     m.baseURL,
		},
		BillnoKey: billnoKey,
		Retry:     retry,
		// The command reports every outcome itself, on its own lines.
		Logger: slog.New(slog.DiscardHandler),
	}
}

// newClient reads the merchant variables and builds a client, or returns
// an error naming what to fix.
func newClient(getenv func(string) string, retry hongbao.RetryPolicy) (*hongbao.Client, error) {
	m, bad := loadMerchant(getenv)
	if err := bad.err(); err != nil {
		return nil, err
	}
	c, err := hongbao.New(m.clientConfig(nil, retry))
	if err != nil {
		return nil, m.explainClientError(err)
	}
	return c, nil
}

// explainClientError names the variables behind an error of hongbao.New.
func (m *merchant) explainClientError(err error) error {
	files := fmt.Sprintf("%s and %s", envCertFile, envKeyFile)
	if m.p12File != "" {
		files = fmt.Sprintf("%s and %s (default: the mch id)", envP12File, envP12Password)
	}
	switch {
	case errors.Is(err, transport.ErrKeyMismatch):
		return fmt.Errorf("the merchant certificate and its private key do not match (check %s): %w", files, err)
	case errors.Is(err, transport.ErrCertCN):
		return fmt.Errorf("the merchant certificate belongs to another merchant than %s=%s (check %s): %w", envMchID, m.mchID, files, err)
	case errors.Is(err, transport.ErrCertExpired):
		return fmt.Errorf("the merchant certificate is not valid now; download a new one from the merchant console (%s): %w", files, err)
	}
	return fmt.Errorf("the merchant configuration is invalid (check %s): %w", files, err)
}

// billnoKey reads HONGBAO_BILLNO_KEY, which must be the services' own.
func billnoKey(getenv func(string) string) ([]byte, error) {
	v := getenv(envBillnoKey)
	switch {
	case v == "":
		return nil, fmt.Errorf("%s is not set: set it to the key the services derive bill numbers with", envBillnoKey)
	case len(v) < hongbao.MinBillnoKeyLength:
		return nil, fmt.Errorf("%s is %d bytes; the services' key is at least %d bytes", envBillnoKey, len(v), hongbao.MinBillnoKeyLength)
	}
	return []byte(v), nil
}

// campaign is the -campaign flag, else HONGBAO_CAMPAIGN, else the
// example's default.
func campaign(flagValue string, getenv func(string) string) string {
	if flagValue != "" {
		return flagValue
	}
	if v := getter(getenv).get(envCampaign); v != "" {
		return v
	}
	return defaultCampaign
}

// maxAttempts is the -attempts flag when positive, else
// HONGBAO_MAX_ATTEMPTS, else the handler's default.
func maxAttempts(flagValue int, getenv func(string) string) (int, error) {
	if flagValue > 0 {
		return flagValue, nil
	}
	if flagValue < 0 {
		return 0, errors.New("-attempts must be positive")
	}
	v := getter(getenv).get(envMaxAttempts)
	if v == "" {
		return claim.DefaultMaxAttempts, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > 100 {
		return 0, fmt.Errorf("%s=%q is not a whole number from 1 to 100", envMaxAttempts, v)
	}
	return n, nil
}
