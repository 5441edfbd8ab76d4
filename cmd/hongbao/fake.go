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
	fakePubFile  = "pub_key.pem" // the WeChat Pay public key, as the console names its download
	fakeEnvFile  = "hongbao.env"
)

// defaultFakeAddr is where fake listens unless told otherwise.
const defaultFakeAddr = "127.0.0.1:8443"

func runFake(ctx context.Context, e *env, args []string) int {
	fs := e.newFlags("fake")
	addr := fs.String("addr", defaultFakeAddr, "listen on `HOST:PORT` (port 0 picks a free one); the server certificate covers localhost, 127.0.0.1 and ::1 only")
	dir := fs.String("dir", "", "write "+fakeCAFile+", "+fakeCertFile+", "+fakeKeyFile+", "+fakePubFile+" and "+fakeEnvFile+" into `DIR` (default: a new temporary directory, removed on exit)")
	mchID := fs.String("mch-id", wxpaytest.DefaultMchID, "the merchant `ID`, and the client certificate's CN")
	appID := fs.String("appid", wxpaytest.DefaultAppID, "the mini program `APPID` bound to the merchant")
	apiKey := fs.String("api-key", "", "the APIv2 `KEY`, 32 bytes (default: random)")
	billnoKeyFlag := fs.String("billno-key", "", "the HONGBAO_BILLNO_KEY `KEY` to print, at least 16 bytes (default: random)")
	balance := fs.Int64("balance", 0, "the merchant balance in `FEN`, shared by both rails; 0 is unlimited, else a larger payout answers NOTENOUGH (APIv2) or NOT_ENOUGH (APIv3)")
	apiv3Key := fs.String("apiv3-key", "", "the APIv3 `KEY`, 32 bytes (default: random)")
	notifyURL := fs.String("notify-url", "", "where to post the MCHTRANSFER.BILL.FINISHED notifications of transfer bills created without a notify_url (`URL`; default: none)")
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
	}
	bkey := *billnoKeyFlag
	if bkey == "" {
		bkey = randomHex(16)
	} else if len(bkey) < 16 {
		return e.usageError(fs, "-billno-key is %d bytes; use at least 16", len(bkey))
	}

	srv, err := wxpaytest.NewServer(wxpaytest.Options{
		MchID: *mchID, AppID: *appID, APIKey: key, Balance: *balance, Addr: *addr,
		V3: wxpaytest.V3Options{APIv3Key: v3Key, NotifyURL: *notifyURL},
	})
	if err != nil {
		e.errorf("fake: %v", err)
		return exitProblems
	}
	defer srv.Close()

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
		{fakePubFile, srv.PublicKeyPEM(), 0o644},
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
		envAPIv3Key + "=" + srv.APIv3Key(),
		envPublicKeyFile + "=" + shellQuote(filepath.Join(where, fakePubFile)),
		envPublicKeyID + "=" + srv.PublicKeyID(),
	}
	text := strings.Join(lines, "\n") + "\n"
	envPath := filepath.Join(where, fakeEnvFile)
	if err := writeFile(envPath, []byte(text), 0o600); err != nil {
		e.errorf("fake: %v", err)
		return exitProblems
	}
	fmt.Fprintf(e.stderr, `hongbao fake: a WeChat Pay host at %s, merchant %s, appid %s:
hongbao fake:   APIv2 red packets over mutual TLS (the client certificate);
hongbao fake:   APIv3 merchant transfers, signed with the same certificate's key, answers signed with the WeChat Pay public key %s
hongbao fake:   (file %s, APIv3 key in %s); a user confirms a transfer bill with
hongbao fake:   POST %s {"mchId","appId","package","openId"} (test only)
hongbao fake: its CA, client certificate and key are in %s; the lines on stdout are also in %s:
hongbao fake:   set -a; . %s; set +a
hongbao fake: the example server needs HONGBAO_JWT_SECRET too (its login tokens); stop with Ctrl-C
`, srv.URL, srv.MchID, srv.AppID, srv.PublicKeyID(), fakePubFile, envAPIv3Key,
		srv.URL+wxpaytest.PathRequestMerchantTransfer, where, envPath, shellQuote(envPath))
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
