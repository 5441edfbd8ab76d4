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
	balance := fs.Int64("balance", 0, "the merchant balance in `FEN`; 0 is unlimited, else a larger send answers NOTENOUGH")
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
	bkey := *billnoKeyFlag
	if bkey == "" {
		bkey = randomHex(16)
	} else if len(bkey) < 16 {
		return e.usageError(fs, "-billno-key is %d bytes; use at least 16", len(bkey))
	}

	srv, err := wxpaytest.NewServer(wxpaytest.Options{
		MchID: *mchID, AppID: *appID, APIKey: key, Balance: *balance, Addr: *addr,
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
		envBillnoKey + "=" + bkey,
		envAppSecret + "=" + login.AppSecret,
		envLoginBaseURL + "=" + login.URL,
	}
	text := strings.Join(lines, "\n") + "\n"
	envPath := filepath.Join(where, fakeEnvFile)
	if err := writeFile(envPath, []byte(text), 0o600); err != nil {
		e.errorf("fake: %v", err)
		return exitProblems
	}
	fmt.Fprintf(e.stderr, `hongbao fake: a WeChat Pay APIv2 host (red packets, mutual TLS) at %s, merchant %s, appid %s
hongbao fake: its CA, client certificate and key are in %s; the lines on stdout are also in %s:
hongbao fake:   set -a; . %s; set +a
hongbao fake: a code2Session host (the server side of wx.login) at %s; a code for an openid, as wx.login gives one:
hongbao fake:   curl --cacert %s '%s%s?openid=oFakeUser_0001'
hongbao fake: the example server needs HONGBAO_JWT_SECRET too (its login tokens); stop with Ctrl-C
`, srv.URL, srv.MchID, srv.AppID, where, envPath, shellQuote(envPath),
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
