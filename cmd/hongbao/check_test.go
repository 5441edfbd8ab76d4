package main

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/hongbao-go/hongbao/transport/wxpaytest"
)

func TestCheckGood(t *testing.T) {
	f := newFixture(t, wxpaytest.Options{})
	r := runWith(t, f.env, "check")
	r.wantCode(t, exitOK)
	r.wantOut(t,
		"ok    HONGBAO_MCH_ID 1900000109",
		"ok    HONGBAO_API_KEY is 32 bytes",
		"ok    certificate and private key belong together (RSA 2048 bits)",
		"ok    certificate CN 1900000109 = HONGBAO_MCH_ID",
		"ok    certificate valid until",
		"ok    HONGBAO_CA_FILE",
		"answered NOT_FOUND",
		"check: passed\n")
	if strings.Contains(r.stdout, "FAIL") || strings.Contains(r.stdout, "warn") {
		t.Errorf("a good setup reports problems:\n%s", r)
	}
	// The call was a signed gethbinfo over mutual TLS.
	reqs := f.srv.Requests()
	if len(reqs) != 1 || reqs[0].Path != wxpaytest.PathGetHBInfo || reqs[0].ErrCode != "NOT_FOUND" {
		t.Fatalf("requests: %+v", reqs)
	}
	if b := reqs[0].Params["mch_billno"]; !strings.HasPrefix(b, "1900000109") || len(b) != 28 {
		t.Errorf("asked about %q", b)
	}
	if f.srv.Handshakes() != 1 {
		t.Errorf("%d handshakes", f.srv.Handshakes())
	}
}

func TestCheckPKCS12(t *testing.T) {
	f := newFixture(t, wxpaytest.Options{})
	p12, err := f.srv.ClientPKCS12(f.srv.MchID, true)
	if err != nil {
		t.Fatal(err)
	}
	file := f.file("apiclient_cert.p12", p12)
	r := runWith(t, f.with(envCertFile, "", envKeyFile, "", envP12File, file), "check")
	r.wantCode(t, exitOK)
	r.wantOut(t, "answered NOT_FOUND", "check: passed")

	r = runWith(t, f.with(envCertFile, "", envKeyFile, "", envP12File, file, envP12Password, "wrong"), "check")
	r.wantCode(t, exitProblems)
	r.wantOut(t, "FAIL  HONGBAO_P12_FILE: wrong password: set HONGBAO_P12_PASSWORD")
}

func TestCheckWrongCN(t *testing.T) {
	f := newFixture(t, wxpaytest.Options{})
	cert, key, err := f.srv.IssueClientCert("1234567890", time.Now().Add(365*24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	r := runWith(t, f.with(envCertFile, f.file("other.pem", cert), envKeyFile, f.file("other.key", key)), "check")
	r.wantCode(t, exitProblems)
	r.wantOut(t,
		`FAIL  the certificate's CN is "1234567890", not HONGBAO_MCH_ID=1900000109: it is another merchant's certificate`,
		"skip  platform call: fix the problems above first",
		"check: 1 problem; fix it and run check again")
	if len(f.srv.Requests()) != 0 {
		t.Error("the platform was called with a wrong certificate")
	}
}

func TestCheckExpired(t *testing.T) {
	f := newFixture(t, wxpaytest.Options{})
	cert, key, err := f.srv.IssueClientCert(f.srv.MchID, time.Now().Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	r := runWith(t, f.with(envCertFile, f.file("old.pem", cert), envKeyFile, f.file("old.key", key)), "check")
	r.wantCode(t, exitProblems)
	r.wantOut(t, "FAIL  the certificate expired on", "download a new API certificate", "skip  platform call")
}

func TestCheckExpiresSoon(t *testing.T) {
	f := newFixture(t, wxpaytest.Options{})
	cert, key, err := f.srv.IssueClientCert(f.srv.MchID, time.Now().Add(20*24*time.Hour+time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	r := runWith(t, f.with(envCertFile, f.file("soon.pem", cert), envKeyFile, f.file("soon.key", key)), "check")
	r.wantCode(t, exitOK)
	r.wantOut(t, "warn  the certificate expires in 20 days", "answered NOT_FOUND", "check: passed with 1 warning")
}

func TestCheckKeyMismatch(t *testing.T) {
	f := newFixture(t, wxpaytest.Options{})
	_, otherKey, err := f.srv.IssueClientCert(f.srv.MchID, time.Now().Add(365*24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	r := runWith(t, f.with(envKeyFile, f.file("other.key", otherKey)), "check")
	r.wantCode(t, exitProblems)
	r.wantOut(t, "FAIL  the private key does not belong to the certificate (HONGBAO_CERT_FILE and HONGBAO_KEY_FILE)")
}

func TestCheckShortAPIKey(t *testing.T) {
	f := newFixture(t, wxpaytest.Options{})
	r := runWith(t, f.with(envAPIKey, f.srv.APIKey[:31]), "check")
	r.wantCode(t, exitProblems)
	r.wantOut(t, "FAIL  HONGBAO_API_KEY is 31 bytes; the APIv2 key is exactly 32 bytes", "skip  platform call")
}

func TestCheckWrongAPIKey(t *testing.T) {
	f := newFixture(t, wxpaytest.Options{})
	r := runWith(t, f.with(envAPIKey, strings.Repeat("k", 32)), "check")
	r.wantCode(t, exitProblems)
	r.wantOut(t, "FAIL  platform call: the platform refused the signature, SIGN_ERROR",
		"HONGBAO_API_KEY is not the merchant's current APIv2 key")
}

func TestCheckWrongAppID(t *testing.T) {
	f := newFixture(t, wxpaytest.Options{})
	r := runWith(t, f.with(envAppID, "wx0000000000000000"), "check")
	r.wantCode(t, exitProblems)
	r.wantOut(t, "FAIL  platform call: the platform refused the appid, ILLEGAL_APPID",
		"HONGBAO_APPID=wx0000000000000000 is not bound to merchant 1900000109")
}

func TestCheckUnreachable(t *testing.T) {
	f := newFixture(t, wxpaytest.Options{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "https://" + ln.Addr().String()
	ln.Close()
	r := runWith(t, f.with(envBaseURL, closed), "check", "-timeout", "5s")
	r.wantCode(t, exitProblems)
	r.wantOut(t, "FAIL  platform call: cannot reach "+strings.TrimPrefix(closed, "https://"),
		"check HONGBAO_BASE_URL", "check: 1 problem")
}

// A merchant without the red-packet product (one opened after the
// interfaces closed to new merchants) is told to use the transfer rail.
func TestCheckRedPacketsNotOpen(t *testing.T) {
	for _, code := range []string{"PRODUCT_AUTHORITY_UNOPEN", "API_METHOD_CLOSED"} {
		f := newFixture(t, wxpaytest.Options{})
		f.srv.Inject(wxpaytest.Fault{ErrCode: code})
		r := runWith(t, f.env, "check")
		r.wantCode(t, exitProblems)
		r.wantOut(t, "FAIL  platform call: the platform refused the call, "+code,
			"merchant 1900000109 cannot use the red packets (现金红包 in the merchant console's 产品中心)",
			"pay on the transfer rail (商家转账, the APIv3 variables) instead")
	}
}

func TestCheckUntrustedHost(t *testing.T) {
	f := newFixture(t, wxpaytest.Options{})
	r := runWith(t, f.with(envCAFile, ""), "check")
	r.wantCode(t, exitProblems)
	r.wantOut(t, "FAIL  platform call: the server certificate of", "is not trusted", "set HONGBAO_CA_FILE")
}

func TestCheckNothingSet(t *testing.T) {
	r := runWith(t, map[string]string{}, "check")
	r.wantCode(t, exitProblems)
	r.wantOut(t,
		"FAIL  HONGBAO_MCH_ID (the merchant id, 商户号) is not set",
		"FAIL  HONGBAO_APPID (the mini program's appid, wx...) is not set",
		"FAIL  HONGBAO_API_KEY (the APIv2 key from the merchant console) is not set",
		"FAIL  the merchant certificate is not set",
		"warn  HONGBAO_BILLNO_KEY is not set",
		"skip  platform call",
		"check: 4 problems; fix them and run check again")
	r = runWith(t, nil, "check", "extra")
	r.wantCode(t, exitUsage)
}

func TestCheckRedis(t *testing.T) {
	needRedis(t)
	f := newFixture(t, wxpaytest.Options{})
	r := runWith(t, f.with(envRedisURL, testRedisURL), "check")
	r.wantCode(t, exitOK)
	r.wantOut(t, "ok    Redis at ")
	r = runWith(t, f.with(envRedisURL, "redis://127.0.0.1:1/0"), "check")
	r.wantCode(t, exitProblems)
	r.wantOut(t, "FAIL  HONGBAO_REDIS_URL: Redis at 127.0.0.1:1/0 does not answer")
}

func TestCheckCertificateOfAnotherCA(t *testing.T) {
	// Right CN, valid, key matches: only the platform can tell that its
	// CA did not issue it, and refuses it in the TLS handshake.
	f := newFixture(t, wxpaytest.Options{})
	cert, key := selfSigned(t, f.srv.MchID)
	r := runWith(t, f.with(envCertFile, f.file("self.pem", cert), envKeyFile, f.file("self.key", key)), "check")
	r.wantCode(t, exitProblems)
	r.wantOut(t, "ok    certificate CN 1900000109 = HONGBAO_MCH_ID",
		"refused the client certificate in the TLS handshake",
		"use this merchant's current API certificate (HONGBAO_CERT_FILE and HONGBAO_KEY_FILE)")
}

// selfSigned returns a self-signed client certificate with subject CN cn
// and its ECDSA key, in PEM form.
func selfSigned(t *testing.T, cn string) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return selfSignedCert(t, cn, 1, key), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder})
}

// selfSignedCert returns a self-signed client certificate of key with
// subject CN cn and serial number serial, in PEM form.
func selfSignedCert(t *testing.T, cn string, serial int64, key crypto.Signer) []byte {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial),
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(365 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}
