package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/hongbao-go/hongbao/transport/wxpaytest"
)

// The files fake writes in its directory.
const (
	fakeCAFile   = "ca.pem"
	fakeCertFile = "apiclient_cert.pem"
	fakeKeyFile  = "apiclient_key.pem"
	fakeEnvFile  = "hongbao.env"
	fakePubFile  = "pub_key.pem"
)

// defaultFakeAddr is where fake listens unless told otherwise, and
// defaultFakeLoginAddr its code2Session host.
const (
	defaultFakeAddr      = "127.0.0.1:8443"
	defaultFakeLoginAddr = "127.0.0.1:8444"
)

// The login route's variables (the example's HONGBAO_APP_SECRET and
// HONGBAO_LOGIN_BASE_URL), printed by fake.
const (
	envAppSecret    = "HONGBAO_APP_SECRET"
	envLoginBaseURL = "HONGBAO_LOGIN_BASE_URL"
)

func runFake(ctx context.Context, e *env, args []string) int {
	fs := e.newFlags("fake")
	addr := fs.String("addr", defaultFakeAddr, "listen on `HOST:PORT` (port 0 picks a free one); the server certificate covers localhost, 127.0.0.1 and ::1 only")
	dir := fs.String("dir", "", "write "+fakeCAFile+", "+fakeCertFile+", "+fakeKeyFile+" and "+fakeEnvFile+" into `DIR` (default: a new temporary directory, removed on exit)")
	mchID := fs.String("mch-id", wxpaytest.DefaultMchID, "the merchant `ID`, and the client certificate's CN")
	appID := fs.String("appid", wxpaytest.DefaultAppID, "the mini program `APPID` bound to the merchant")
	apiKey := fs.String("api-key", "", "the APIv2 `KEY`, 32 bytes (default: random)")
	billnoKeyFlag := fs.String("billno-key", "", "the HONGBAO_BILLNO_KEY `KEY` to print, at least 16 bytes (default: random)")
	balance := fs.Int64("balance", 0, "the merchant balance in `FEN`, shared by both rails; 0 is unlimited, else a larger payout answers NOTENOUGH (APIv2) or NOT_ENOUGH (APIv3)")
	apiv3Key := fs.String("apiv3-key", "", "the APIv3 `KEY`, 32 bytes (default: random)")
	notifyURL := fs.String("notify-url", "", "where to post the MCHTRANSFER.BILL.FINISHED notifications of transfer bills created without a notify_url (`URL`; default: none)")
	trustFlag := fs.String("trust", "public-key", "how APIv3 answers are signed: `MODE` public-key (the WeChat Pay public key, written to "+fakePubFile+"), certificates (platform certificates) or both")
	loginAddr := fs.String("login-addr", defaultFakeLoginAddr, "the code2Session host (wx.login's server side) listens on `HOST:PORT`")
	appSecret := fs.String("app-secret", "", "the mini program's app `SECRET` the code2Session host expects (default: random)")
	operands, code, done := parse(fs, args)
	if done {
		return code
	}
	if len(operands) > 0 {
		return e.usageError(fs, "no arguments expected, got %q", operands)
	}
	if err := checkMchID(*mchID); err != nil {
		return e.usageError(fs, "-mch-id: %v", err)
	}
	key := *apiKey
	if key == "" {
		key = randomHex(apiKeyLength / 2)
	}
	v3Key := *apiv3Key
	if v3Key == "" {
		v3Key = randomHex(16)
	} else if len(v3Key) != 32 {
		return e.usageError(fs, "-apiv3-key is %d bytes; the APIv3 key is 32", len(v3Key))
	}
	bkey := *billnoKeyFlag
	if bkey == "" {
		bkey = randomHex(16)
	} else if len(bkey) < 16 {
		return e.usageError(fs, "-billno-key is %d bytes; use at least 16", len(bkey))
	}

	trust, ok := map[string]wxpaytest.Trust{
		"public-key": wxpaytest.TrustPublicKey, "certificates": wxpaytest.TrustCertificates, "both": wxpaytest.TrustBoth,
	}[*trustFlag]
	if !ok {
		return e.usageError(fs, "-trust is public-key, certificates or both, not %q", *trustFlag)
	}

	srv, err := wxpaytest.NewServer(wxpaytest.Options{
		MchID: *mchID, AppID: *appID, APIKey: key, Balance: *balance, Addr: *addr,
		V3: wxpaytest.V3Options{APIv3Key: v3Key, NotifyURL: *notifyURL, Trust: trust},
	})
	if err != nil {
		e.errorf("fake: %v", err)
		return exitProblems
	}
	defer srv.Close()
	secret := *appSecret
	if secret == "" {
		secret = randomHex(16)
	}
	login, err := srv.NewLoginHost(wxpaytest.LoginOptions{AppSecret: secret, Addr: *loginAddr})
	if err != nil {
		e.errorf("fake: the code2Session host: %v", err)
		return exitProblems
	}
	defer login.Close()

	where, cleanup, err := fakeDir(*dir)
	if err != nil {
		e.errorf("fake: %v", err)
		return exitProblems
	}
	defer cleanup()
	files := []struct {
		name string
		data []byte
		mode os.FileMode
	}{
		{fakeCAFile, srv.CACertPEM(), 0o644},
		{fakeCertFile, srv.ClientCertPEM(), 0o644},
		{fakeKeyFile, srv.ClientKeyPEM(), 0o600},
	}
	if trust != wxpaytest.TrustCertificates {
		files = append(files, struct {
			name string
			data []byte
			mode os.FileMode
		}{fakePubFile, srv.PublicKeyPEM(), 0o644})
	}
	for _, f := range files {
		if err := writeFile(filepath.Join(where, f.name), f.data, f.mode); err != nil {
			e.errorf("fake: %v", err)
			return exitProblems
		}
	}
	lines := []string{
		envMchID + "=" + srv.MchID,
		envAppID + "=" + srv.AppID,
		envAPIKey + "=" + srv.APIKey,
		envCertFile + "=" + shellQuote(filepath.Join(where, fakeCertFile)),
		envKeyFile + "=" + shellQuote(filepath.Join(where, fakeKeyFile)),
		envCAFile + "=" + shellQuote(filepath.Join(where, fakeCAFile)),
		envBaseURL + "=" + srv.URL,
		envAPIv3Key + "=" + srv.APIv3Key(),
		envAppSecret + "=" + login.AppSecret,
		envLoginBaseURL + "=" + login.URL,
	}
	if trust != wxpaytest.TrustCertificates {
		lines = append(lines, envPublicKeyID+"="+srv.PublicKeyID(), envPublicKeyFile+"="+shellQuote(filepath.Join(where, fakePubFile)))
	}
	if trust != wxpaytest.TrustPublicKey {
		lines = append(lines, envPlatformCerts+"=true")
	}
	lines = append(lines, envBillnoKey+"="+bkey) // last: the variables are complete
	text := strings.Join(lines, "\n") + "\n"
	envPath := filepath.Join(where, fakeEnvFile)
	if err := writeFile(envPath, []byte(text), 0o600); err != nil {
		e.errorf("fake: %v", err)
		return exitProblems
	}
	fmt.Fprintf(e.stderr, `hongbao fake: a WeChat Pay host at %s, merchant %s, appid %s: APIv2 red packets (mutual TLS) and APIv3 transfer bills (answers signed with %s)
hongbao fake: a user confirms a transfer bill with POST %s {"mchId","appId","package","openId"} (test only)
hongbao fake: its CA, client certificate and key are in %s; the lines on stdout are also in %s:
hongbao fake:   set -a; . %s; set +a
hongbao fake: a code2Session host (the server side of wx.login) at %s; a code for an openid, as wx.login gives one:
hongbao fake:   curl --cacert %s '%s%s?openid=oFakeUser_0001'
hongbao fake: the example server needs HONGBAO_JWT_SECRET too (its login tokens); stop with Ctrl-C
`, srv.URL, srv.MchID, srv.AppID, map[wxpaytest.Trust]string{wxpaytest.TrustPublicKey: "the public key " + srv.PublicKeyID(), wxpaytest.TrustCertificates: "platform certificates", wxpaytest.TrustBoth: "the public key " + srv.PublicKeyID() + " or platform certificates"}[trust],
		srv.URL+wxpaytest.PathRequestMerchantTransfer, where, envPath, shellQuote(envPath),
		login.URL, shellQuote(filepath.Join(where, fakeCAFile)), login.URL, wxpaytest.PathIssueCode)
	fmt.Fprint(e.stdout, text)

	<-ctx.Done()
	fmt.Fprintln(e.stderr, "hongbao fake: stopped")
	return exitOK
}

// fakeDir creates (or reuses) the directory of fake's files; cleanup
// removes a temporary one.
func fakeDir(dir string) (where string, cleanup func(), err error) {
	if dir == "" {
		tmp, err := os.MkdirTemp("", "hongbao-fake-")
		if err != nil {
			return "", nil, err
		}
		return tmp, func() { os.RemoveAll(tmp) }, nil
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", nil, err
	}
	if err := os.MkdirAll(abs, 0o700); err != nil {
		return "", nil, err
	}
	return abs, func() {}, nil
}

// writeFile writes data with mode, also when the file exists with another.
func writeFile(path string, data []byte, mode os.FileMode) error {
	if err := os.WriteFile(path, data, mode); err != nil {
		return err
	}
	return os.Chmod(path, mode)
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// shellQuote quotes s for a POSIX shell when it holds anything but
// letters, digits and ./_-:@%+=,
func shellQuote(s string) string {
	safe := func(r rune) bool {
		return r < 0x80 && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("./_-:@%+=,", r))
	}
	if s != "" && strings.IndexFunc(s, func(r rune) bool { return !safe(r) }) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
