package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"strings"
	"testing"
	"time"

	"github.com/hongbao-go/hongbao/transport/wxpaytest"
)

// newV3Fixture is a fixture whose environment configures the transfer
// rail alone (no APIv2 key) in the trust mode of the fake: the public key
// (its id and file) for TrustPublicKey, HONGBAO_PLATFORM_CERTS for
// TrustCertificates, both for TrustBoth.
func newV3Fixture(t *testing.T, trust wxpaytest.Trust) *fixture {
	t.Helper()
	f := newFixture(t, wxpaytest.Options{V3: wxpaytest.V3Options{Trust: trust}})
	cfg := f.srv.V3Config()
	f.env[envAPIKey] = ""
	f.env[envAPIv3Key] = cfg.APIv3Key
	if trust == wxpaytest.TrustPublicKey || trust == wxpaytest.TrustBoth {
		f.env[envPublicKeyID] = cfg.PublicKeyID
		f.env[envPublicKeyFile] = f.file("pub_key.pem", cfg.PublicKeyPEM)
	}
	if trust == wxpaytest.TrustCertificates || trust == wxpaytest.TrustBoth {
		f.env[envPlatformCerts] = "true"
	}
	return f
}

// runAt runs the command with env and the clock now.
func runAt(t *testing.T, vars map[string]string, now func() time.Time, args ...string) result {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := runEnv(context.Background(), &env{getenv: getenvOf(vars), stdout: &stdout, stderr: &stderr, now: now}, args)
	return result{code: code, stdout: stdout.String(), stderr: stderr.String()}
}

// v3Calls returns the paths of the APIv3 calls the fake received.
func v3Calls(srv *wxpaytest.Server) []string {
	var out []string
	for _, r := range srv.V3Requests() {
		out = append(out, r.Method+" "+r.URI+" "+strings.TrimSpace(r.Code))
	}
	return out
}

func TestCheckV3PublicKey(t *testing.T) {
	f := newV3Fixture(t, wxpaytest.TrustPublicKey)
	r := runWith(t, f.env, "check")
	r.wantCode(t, exitOK)
	r.wantOut(t,
		"skip  HONGBAO_API_KEY is not set: the red-packet rail (APIv2) is not checked",
		"ok    certificate and private key belong together (RSA 2048 bits)",
		"ok    HONGBAO_APIV3_KEY is 32 bytes",
		"ok    APIv3 signs with the certificate's RSA 2048-bit key as serial "+f.srv.MerchantSerial()+" (read from the certificate",
		"ok    APIv3 trust: the WeChat Pay public key "+f.srv.PublicKeyID()+" (HONGBAO_PUBLIC_KEY_FILE, RSA 2048 bits)",
		"ok    APIv3 trust: a signed answer of 127.0.0.1:",
		"verified with the public key "+f.srv.PublicKeyID(),
		"a query of a transfer bill that does not exist answered 404 NOT_FOUND",
		"check: passed\n")
	if strings.Contains(r.stdout, "FAIL") || strings.Contains(r.stdout, "warn") {
		t.Errorf("a good setup reports problems:\n%s", r)
	}
	calls := v3Calls(f.srv)
	if len(calls) != 2 || !strings.HasPrefix(calls[0], "GET /v3/certificates") ||
		!strings.HasPrefix(calls[1], "GET "+wxpaytest.PathTransferBillByOutBillNo+"hongbaocheck") || !strings.HasSuffix(calls[1], "NOT_FOUND") {
		t.Errorf("APIv3 calls: %q", calls)
	}
	if n := len(f.srv.Requests()); n != 0 {
		t.Errorf("%d APIv2 calls without an APIv2 key", n)
	}
}

func TestCheckV3Certificates(t *testing.T) {
	f := newV3Fixture(t, wxpaytest.TrustCertificates)
	r := runWith(t, f.env, "check")
	r.wantCode(t, exitOK)
	certs := f.srv.PlatformCertificates()
	if len(certs) == 0 {
		t.Fatal("the fake lists no certificate")
	}
	r.wantOut(t,
		"ok    APIv3 trust: platform certificates (HONGBAO_PLATFORM_CERTS)",
		"ok    APIv3 platform certificates: 1 downloaded from 127.0.0.1:",
		"decrypted with HONGBAO_APIV3_KEY and their list's signature verified: "+certs[0].Serial+" until ",
		"answered 404 NOT_FOUND",
		"check: passed\n")
	if strings.Contains(r.stdout, "FAIL") || strings.Contains(r.stdout, "warn") || strings.Contains(r.stdout, "public key") {
		t.Errorf("%s", r)
	}
}

func TestCheckV3Both(t *testing.T) {
	// Both rails and both trust modes: every call is made.
	f := newV3Fixture(t, wxpaytest.TrustBoth)
	f.env[envAPIKey] = f.srv.APIKey
	r := runWith(t, f.env, "check")
	r.wantCode(t, exitOK)
	r.wantOut(t,
		"ok    HONGBAO_API_KEY is 32 bytes",
		"gethbinfo of a bill number that does not exist answered NOT_FOUND",
		"ok    APIv3 platform certificates: 1 downloaded",
		"verified with the public key "+f.srv.PublicKeyID(),
		"answered 404 NOT_FOUND",
		"check: passed\n")
}

func TestCheckV3Off(t *testing.T) {
	// HONGBAO_PLATFORM_CERTS=false alone does not make a transfer rail.
	f := newFixture(t, wxpaytest.Options{})
	r := runWith(t, f.with(envPlatformCerts, "false"), "check")
	r.wantCode(t, exitOK)
	if strings.Contains(r.stdout, "APIv3") || len(f.srv.V3Requests()) != 0 {
		t.Errorf("%s", r)
	}
}

func TestCheckV3KeyOnly(t *testing.T) {
	// The key and its serial, without the certificate.
	f := newV3Fixture(t, wxpaytest.TrustPublicKey)
	env := f.with(envCertFile, "", envCertSerial, strings.ToLower(f.srv.MerchantSerial()))
	r := runWith(t, env, "check")
	r.wantCode(t, exitOK)
	r.wantOut(t, "ok    APIv3 signs with the RSA key of HONGBAO_KEY_FILE as certificate "+f.srv.MerchantSerial(),
		"answered 404 NOT_FOUND", "check: passed")
	if strings.Contains(r.stdout, "certificate CN") {
		t.Errorf("a certificate was checked:\n%s", r)
	}

	// A wrong serial: only the platform can tell.
	r = runWith(t, f.with(envCertFile, "", envCertSerial, "0123456789ABCDEF"), "check")
	r.wantCode(t, exitProblems)
	r.wantOut(t, "FAIL  APIv3 platform call: the platform refused the signature, HTTP 401 SIGN_ERROR",
		"HONGBAO_KEY_FILE and HONGBAO_CERT_SERIAL=0123456789ABCDEF are not the key and serial of a current API certificate of merchant HONGBAO_MCH_ID=1900000109")

	r = runWith(t, f.with(envCertFile, "", envCertSerial, "not-hex"), "check")
	r.wantCode(t, exitProblems)
	r.wantOut(t, `FAIL  HONGBAO_CERT_SERIAL="not-hex" is not a certificate serial number`, "skip  platform call")
}

func TestCheckV3Misconfigured(t *testing.T) {
	f := newV3Fixture(t, wxpaytest.TrustPublicKey)
	other, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	otherPub, err := x509.MarshalPKIXPublicKey(&other.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	otherPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: otherPub})

	for _, c := range []struct {
		name string
		env  []string
		// local: the problem is found without a call
		local bool
		want  []string
	}{
		{"APIv3 key short", []string{envAPIv3Key, "0123456789abcdef0123456789abcde"}, true,
			[]string{"FAIL  HONGBAO_APIV3_KEY is 31 bytes; the APIv3 key is exactly 32 bytes"}},
		{"APIv3 key unset", []string{envAPIv3Key, ""}, false,
			[]string{"warn  HONGBAO_APIV3_KEY is not set: transfer notifications (MCHTRANSFER.BILL.FINISHED) cannot be decrypted"}},
		{"serial of another certificate", []string{envCertSerial, "0A1B2C"}, true,
			[]string{"FAIL  HONGBAO_CERT_SERIAL=0A1B2C is not the serial of the certificate in HONGBAO_CERT_FILE and HONGBAO_KEY_FILE (" + f.srv.MerchantSerial() + ")"}},
		{"public key id malformed", []string{envPublicKeyID, "PUB_KEY_ID_12ab"}, true,
			[]string{`FAIL  HONGBAO_PUBLIC_KEY_ID="PUB_KEY_ID_12ab" is not a WeChat Pay public key id`}},
		{"public key id without the file", []string{envPublicKeyFile, ""}, true,
			[]string{"FAIL  HONGBAO_PUBLIC_KEY_ID is set without HONGBAO_PUBLIC_KEY_FILE"}},
		{"public key file without the id", []string{envPublicKeyID, ""}, true,
			[]string{"FAIL  HONGBAO_PUBLIC_KEY_FILE is set without HONGBAO_PUBLIC_KEY_ID"}},
		{"public key file holds a certificate", []string{envPublicKeyFile, f.file("cert-as-key.pem", f.srv.ClientCertPEM())}, true,
			[]string{"FAIL  HONGBAO_PUBLIC_KEY_FILE=", "is not the WeChat Pay public key (pub_key.pem, a PUBLIC KEY block): the PEM holds a certificate"}},
		{"no trust", []string{envPublicKeyID, "", envPublicKeyFile, ""}, true,
			[]string{"FAIL  no APIv3 trust configured: set HONGBAO_PUBLIC_KEY_ID and HONGBAO_PUBLIC_KEY_FILE"}},
		{"platform certs not a boolean", []string{envPlatformCerts, "maybe"}, true,
			[]string{`FAIL  HONGBAO_PLATFORM_CERTS="maybe" is neither true nor false`}},
		{"another public key id", []string{envPublicKeyID, "PUB_KEY_ID_0000000000000000000000000001"}, false,
			[]string{"FAIL  APIv3 trust: the platform signs with the public key " + f.srv.PublicKeyID() + ", not HONGBAO_PUBLIC_KEY_ID=PUB_KEY_ID_0000000000000000000000000001"}},
		{"another public key", []string{envPublicKeyFile, f.file("other_pub.pem", otherPEM)}, false,
			[]string{"FAIL  APIv3 trust: the answer signed by " + f.srv.PublicKeyID() + " does not verify with HONGBAO_PUBLIC_KEY_FILE=",
				"that file is not the public key of HONGBAO_PUBLIC_KEY_ID"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			before := len(f.srv.V3Requests())
			r := runWith(t, f.with(c.env...), "check")
			r.wantOut(t, c.want...)
			calls := len(f.srv.V3Requests()) - before
			switch {
			case c.local:
				r.wantCode(t, exitProblems)
				r.wantOut(t, "skip  platform call: fix the problems above first")
				if calls != 0 {
					t.Errorf("%d calls with a configuration known to be wrong", calls)
				}
			case strings.Contains(c.want[0], "warn"):
				r.wantCode(t, exitOK)
				r.wantOut(t, "check: passed with 1 warning")
			default:
				r.wantCode(t, exitProblems)
			}
		})
	}
}

func TestCheckV3WrongMode(t *testing.T) {
	// The merchant's answers are signed with platform certificates, the
	// configuration trusts a public key.
	f := newV3Fixture(t, wxpaytest.TrustCertificates)
	pk := newV3Fixture(t, wxpaytest.TrustPublicKey)
	env := f.with(envPlatformCerts, "", envPublicKeyID, pk.srv.PublicKeyID(), envPublicKeyFile, pk.env[envPublicKeyFile])
	r := runWith(t, env, "check")
	r.wantCode(t, exitProblems)
	r.wantOut(t, "FAIL  APIv3 trust: the platform signs with platform certificate "+f.srv.PlatformCertificates()[0].Serial+
		", not a public key: set HONGBAO_PLATFORM_CERTS=true (with HONGBAO_APIV3_KEY)")

	// The other way round: the platform has no certificates to list.
	env = pk.with(envPublicKeyID, "", envPublicKeyFile, "", envPlatformCerts, "true")
	r = runWith(t, env, "check")
	r.wantCode(t, exitProblems)
	r.wantOut(t, "FAIL  APIv3 platform certificates: the platform certificate list is empty",
		"set HONGBAO_PUBLIC_KEY_ID and HONGBAO_PUBLIC_KEY_FILE (API安全 → 微信支付公钥) instead of HONGBAO_PLATFORM_CERTS")
}

func TestCheckV3WrongAPIv3Key(t *testing.T) {
	f := newV3Fixture(t, wxpaytest.TrustCertificates)
	r := runWith(t, f.with(envAPIv3Key, strings.Repeat("k", 32)), "check")
	r.wantCode(t, exitProblems)
	r.wantOut(t, "FAIL  APIv3 platform certificates: the platform certificates do not decrypt with HONGBAO_APIV3_KEY: it is not the merchant's current APIv3 key",
		"skip  APIv3 platform call: it needs a platform certificate", "check: 1 problem")

	// With the public key too, the query is made all the same.
	f = newV3Fixture(t, wxpaytest.TrustBoth)
	r = runWith(t, f.with(envAPIv3Key, strings.Repeat("k", 32)), "check")
	r.wantCode(t, exitProblems)
	r.wantOut(t, "FAIL  APIv3 platform certificates: the platform certificates do not decrypt with HONGBAO_APIV3_KEY",
		"answered 404 NOT_FOUND", "check: 1 problem")
}

func TestCheckV3Clock(t *testing.T) {
	f := newV3Fixture(t, wxpaytest.TrustPublicKey)
	ahead := func() time.Time { return time.Now().Add(10 * time.Minute) }
	r := runAt(t, f.env, ahead, "check")
	r.wantCode(t, exitProblems)
	r.wantOut(t, "FAIL  APIv3 platform call: the platform refused the signature, HTTP 401 SIGN_ERROR",
		"this machine's clock is 10m0s off the platform's, which refuses a timestamp more than 5 minutes off: set the clock (NTP)",
		"skip  APIv3 query: fix the problem above first", "check: 1 problem")
}

func TestCheckV3CertificateUnknownToPlatform(t *testing.T) {
	// An RSA certificate of the right CN whose key matches: only the
	// platform can tell that it is not the merchant's.
	f := newV3Fixture(t, wxpaytest.TrustPublicKey)
	cert, key := selfSignedRSA(t, f.srv.MchID)
	r := runWith(t, f.with(envCertFile, f.file("self.pem", cert), envKeyFile, f.file("self.key", key)), "check")
	r.wantCode(t, exitProblems)
	r.wantOut(t, "ok    certificate CN 1900000109 = HONGBAO_MCH_ID",
		"FAIL  APIv3 platform call: the platform refused the signature, HTTP 401 SIGN_ERROR",
		"the platform does not know this certificate as a current API certificate of merchant HONGBAO_MCH_ID=1900000109; use the merchant's current apiclient_cert.pem and apiclient_key.pem (HONGBAO_CERT_FILE and HONGBAO_KEY_FILE)")
}

func TestCheckV3NotRSA(t *testing.T) {
	f := newV3Fixture(t, wxpaytest.TrustPublicKey)
	cert, key := selfSigned(t, f.srv.MchID) // ECDSA
	r := runWith(t, f.with(envCertFile, f.file("ec.pem", cert), envKeyFile, f.file("ec.key", key)), "check")
	r.wantCode(t, exitProblems)
	r.wantOut(t, "FAIL  the merchant key is ECDSA (HONGBAO_CERT_FILE and HONGBAO_KEY_FILE); APIv3 signs with an RSA API key", "skip  platform call")
}

func TestCheckV3NoAuth(t *testing.T) {
	f := newV3Fixture(t, wxpaytest.TrustPublicKey)
	f.srv.InjectV3(wxpaytest.V3Fault{Code: "NO_AUTH", Match: func(r wxpaytest.V3Request) bool {
		return strings.Contains(r.URI, "transfer-bills")
	}})
	r := runWith(t, f.env, "check")
	r.wantCode(t, exitProblems)
	r.wantOut(t, "FAIL  APIv3 platform call: the platform refused the call, HTTP 403 NO_AUTH",
		"open merchant transfers (商家转账) for merchant 1900000109 in the merchant console")
}

func TestCheckV3ForgedAnswer(t *testing.T) {
	f := newV3Fixture(t, wxpaytest.TrustPublicKey)
	f.srv.InjectV3(wxpaytest.V3Fault{Signature: wxpaytest.SignProbe})
	r := runWith(t, f.env, "check")
	r.wantCode(t, exitProblems)
	r.wantOut(t, "FAIL  APIv3 trust: the platform sent a probe signature (WECHATPAY/SIGNTEST/)")
}

// selfSignedRSA returns a self-signed RSA certificate with subject CN cn
// and its key, in PEM form.
func selfSignedRSA(t *testing.T, cn string) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return selfSignedCert(t, cn, 77, key), pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
}
