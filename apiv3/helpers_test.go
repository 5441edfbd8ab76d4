package apiv3_test

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"io"
	"log"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hongbao-go/hongbao/apiv3"
)

const (
	testMchID    = "1900000109"
	testPubKeyID = "PUB_KEY_ID_0119000001092026120300000001"
	testAPIv3Key = "0123456789abcdefghijklmnopqrstuv"
)

// Keys are costly to generate: the tests share a few.
var (
	keysMu sync.Mutex
	keys   = map[string]*rsa.PrivateKey{}
)

// rsaKey returns the 2048-bit key named name, the same one for the whole
// test binary.
func rsaKey(t testing.TB, name string) *rsa.PrivateKey {
	t.Helper()
	keysMu.Lock()
	defer keysMu.Unlock()
	if k := keys[name]; k != nil {
		return k
	}
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	keys[name] = k
	return k
}

func pemBlock(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

func keyPEM(t testing.TB, k any) []byte {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return pemBlock("PRIVATE KEY", der)
}

func pubPEM(t testing.TB, k *rsa.PublicKey) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return pemBlock("PUBLIC KEY", der)
}

// selfSigned returns a certificate for key with the given CN, serial and
// validity, signed by signer (key itself when nil).
func selfSigned(t testing.TB, key *rsa.PrivateKey, cn string, serial *big.Int, notBefore, notAfter time.Time) *x509.Certificate {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: cn, Organization: []string{"apiv3 test"}},
		NotBefore:    notBefore,
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// merchantCertPEM returns a merchant API certificate for the merchant key,
// CN testMchID, valid for a year around now.
func merchantCertPEM(t testing.TB, key *rsa.PrivateKey, serial *big.Int) []byte {
	now := time.Now()
	return pemBlock("CERTIFICATE", selfSigned(t, key, testMchID, serial, now.Add(-time.Hour), now.Add(365*24*time.Hour)).Raw)
}

// clock is a settable clock shared by a platform and a Transport.
type clock struct{ off atomic.Int64 }

func (c *clock) Now() time.Time          { return time.Now().Add(time.Duration(c.off.Load())) }
func (c *clock) Advance(d time.Duration) { c.off.Add(int64(d)) }

// platformCert is a platform certificate with its key.
type platformCert struct {
	key  *rsa.PrivateKey
	cert *x509.Certificate
}

func (c platformCert) serial() string { return apiv3.CertificateSerial(c.cert) }

// platform is a test-local APIv3 host over TLS: it checks each request's
// Authorization against the merchant key (401 SIGN_ERROR otherwise, also
// for a timestamp more than 5 minutes off), answers through route, and
// signs 2xx answers with signKey under signSerial. It serves
// /v3/certificates from certs, encrypted with apiv3Key.
type platform struct {
	t        testing.TB
	srv      *httptest.Server
	clock    *clock
	merchant *rsa.PublicKey
	apiv3Key string

	mu         sync.Mutex
	signKey    *rsa.PrivateKey
	signSerial string
	certs      []platformCert
	certSigner *platformCert // signs the certificate list; signKey when nil
	route      func(r *http.Request, body []byte) (status int, answer []byte)
	tamper     func(h http.Header, body []byte) []byte // after signing
	requests   []recorded

	downloads atomic.Int32
	conns     atomic.Int32
}

type recorded struct {
	Method, URI string
	Header      http.Header
	Body        []byte
}

func newPlatform(t testing.TB) *platform {
	p := &platform{
		t:          t,
		clock:      new(clock),
		merchant:   &rsaKey(t, "merchant").PublicKey,
		apiv3Key:   testAPIv3Key,
		signKey:    rsaKey(t, "platform"),
		signSerial: testPubKeyID,
	}
	p.route = func(r *http.Request, body []byte) (int, []byte) {
		return 200, []byte(`{"ok":true}`)
	}
	p.srv = httptest.NewUnstartedServer(http.HandlerFunc(p.serve))
	p.srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			p.conns.Add(1)
		}
	}
	p.srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	p.srv.StartTLS()
	t.Cleanup(p.srv.Close)
	return p
}

func (p *platform) set(f func(p *platform)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	f(p)
}

func (p *platform) recorded() []recorded {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]recorded(nil), p.requests...)
}

// rootCAs is the pool trusting the server's certificate.
func (p *platform) rootCAs() *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AddCert(p.srv.Certificate())
	return pool
}

// config is a public-key mode Config for the merchant key given as key and
// serial.
func (p *platform) config() apiv3.Config {
	return apiv3.Config{
		MchID:        testMchID,
		KeyPEM:       keyPEM(p.t, rsaKey(p.t, "merchant")),
		CertSerial:   "5157F09EFDC096DE15EBE81A47057A7232F1B8E1",
		APIv3Key:     testAPIv3Key,
		PublicKeyID:  testPubKeyID,
		PublicKeyPEM: pubPEM(p.t, &rsaKey(p.t, "platform").PublicKey),
		BaseURL:      p.srv.URL,
		RootCAs:      p.rootCAs(),
		Now:          p.clock.Now,
		Logger:       slog.New(slog.DiscardHandler),
	}
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	b, _ := json.Marshal(map[string]string{"code": code, "message": msg})
	w.Write(b)
}

func (p *platform) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		writeError(w, 400, "PARAM_ERROR", "body")
		return
	}
	p.mu.Lock()
	p.requests = append(p.requests, recorded{Method: r.Method, URI: r.URL.RequestURI(), Header: r.Header.Clone(), Body: body})
	p.mu.Unlock()
	a, err := apiv3.ParseAuthorization(r.Header.Get("Authorization"))
	if err != nil || a.MchID != testMchID {
		writeError(w, 401, "SIGN_ERROR", "bad Authorization")
		return
	}
	if d := p.clock.Now().Unix() - a.Timestamp; d > 300 || d < -300 {
		writeError(w, 401, "SIGN_ERROR", "stale timestamp")
		return
	}
	if err := apiv3.VerifySignature(p.merchant, apiv3.RequestMessage(r.Method, r.URL.RequestURI(), a.Timestamp, a.Nonce, body), a.Signature); err != nil {
		writeError(w, 401, "SIGN_ERROR", "signature")
		return
	}
	var status int
	var answer []byte
	p.mu.Lock()
	key, serial, tamper := p.signKey, p.signSerial, p.tamper
	if r.URL.Path == apiv3.PathCertificates && len(p.certs) > 0 {
		p.downloads.Add(1)
		status, answer = 200, p.certificateList()
		if p.certSigner != nil {
			key, serial = p.certSigner.key, p.certSigner.serial()
		}
	}
	route := p.route
	p.mu.Unlock()
	if answer == nil {
		status, answer = route(r, body)
	}
	if status < 200 || status > 299 {
		w.Header().Set("Request-ID", "08B3A1C2D4")
		w.WriteHeader(status)
		w.Write(answer)
		return
	}
	nonce, err := apiv3.NewNonce(nil)
	if err != nil {
		p.t.Error(err)
	}
	sh, err := apiv3.SignAnswer(key, serial, p.clock.Now().Unix(), nonce, answer)
	if err != nil {
		p.t.Error(err)
	}
	sh.RequestID = "08B3A1C2D5"
	sh.Write(w.Header())
	if tamper != nil {
		answer = tamper(w.Header(), answer)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(answer)))
	w.WriteHeader(status)
	w.Write(answer)
}

// certificateList is the /v3/certificates answer; p.mu is held.
func (p *platform) certificateList() []byte {
	type enc struct {
		Algorithm      string `json:"algorithm"`
		Nonce          string `json:"nonce"`
		AssociatedData string `json:"associated_data"`
		Ciphertext     string `json:"ciphertext"`
	}
	type item struct {
		SerialNo      string `json:"serial_no"`
		EffectiveTime string `json:"effective_time"`
		ExpireTime    string `json:"expire_time"`
		Enc           enc    `json:"encrypt_certificate"`
	}
	var list struct {
		Data []item `json:"data"`
	}
	for i, c := range p.certs {
		nonce := "nonce" + strconv.Itoa(100000+i) + "x"
		ct, err := apiv3.EncryptAESGCM([]byte(p.apiv3Key), nonce, "certificate", pemBlock("CERTIFICATE", c.cert.Raw))
		if err != nil {
			p.t.Error(err)
		}
		list.Data = append(list.Data, item{
			SerialNo:      c.serial(),
			EffectiveTime: c.cert.NotBefore.Format(time.RFC3339),
			ExpireTime:    c.cert.NotAfter.Format(time.RFC3339),
			Enc:           enc{Algorithm: apiv3.AlgorithmAESGCM, Nonce: nonce, AssociatedData: "certificate", Ciphertext: ct},
		})
	}
	b, err := json.Marshal(list)
	if err != nil {
		p.t.Error(err)
	}
	return b
}

// newPlatformCert returns a platform certificate for the key named name,
// valid from notBefore to notAfter.
func newPlatformCert(t testing.TB, name string, serial int64, notBefore, notAfter time.Time) platformCert {
	k := rsaKey(t, name)
	return platformCert{key: k, cert: selfSigned(t, k, "Tenpay.com Root CA test", big.NewInt(serial), notBefore, notAfter)}
}

// newTransport returns a Transport for cfg, closed at the end of the test.
func newTransport(t testing.TB, cfg apiv3.Config) *apiv3.Transport {
	t.Helper()
	tr, err := apiv3.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	return tr
}

// trackedBody is a request body that counts its Close calls.
type trackedBody struct {
	io.Reader
	closed atomic.Int32
}

func (b *trackedBody) Close() error { b.closed.Add(1); return nil }
