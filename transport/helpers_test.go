package transport_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"log"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hongbao-go/hongbao/signer"
	"github.com/hongbao-go/hongbao/transport"
	"github.com/hongbao-go/hongbao/xml"
)

const (
	testMchID  = "1900000109"
	testAPIKey = "0123456789abcdef0123456789ABCDEF"
)

// testCA is a certificate authority for tests that do not use wxpaytest.
type testCA struct {
	cert *x509.Certificate
	key  crypto.Signer
	pem  []byte
	pool *x509.CertPool
}

func newCA(t testing.TB, name string) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &testCA{cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pool: pool}
}

var serials atomic.Int64

// leaf is an issued certificate with its key.
type leaf struct {
	cert            *x509.Certificate
	key             crypto.Signer
	certPEM, keyPEM []byte
}

func (l leaf) tls() tls.Certificate {
	return tls.Certificate{Certificate: [][]byte{l.cert.Raw}, PrivateKey: l.key}
}

// issue signs a client (server=false) or server certificate. An RSA key is
// made when rsaKey is set, else ECDSA P-256.
func (ca *testCA) issue(t testing.TB, cn string, notBefore, notAfter time.Time, server, rsaKey bool) leaf {
	t.Helper()
	var key crypto.Signer
	var err error
	if rsaKey {
		key, err = rsa.GenerateKey(rand.Reader, 2048)
	} else {
		key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	}
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(100 + serials.Add(1)),
		Subject:      pkix.Name{CommonName: cn, Organization: []string{"test"}},
		NotBefore:    notBefore,
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	if server {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}
		tmpl.DNSNames = []string{"localhost"}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, key.Public(), ca.key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return leaf{
		cert:    cert,
		key:     key,
		certPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		keyPEM:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}),
	}
}

func (ca *testCA) client(t testing.TB, cn string) leaf {
	return ca.issue(t, cn, time.Now().Add(-time.Hour), time.Now().Add(365*24*time.Hour), false, false)
}

// writeFile writes data to a new file under dir and returns its path.
func writeFile(t testing.TB, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// tlsServer is an httptest TLS server with certificates from ca that
// requires client certificates from clientCA, and records the serial of
// every client certificate it saw in a handshake.
type tlsServer struct {
	*httptest.Server
	mu      sync.Mutex
	serials []string
	hs      atomic.Int64
}

func newTLSServer(t testing.TB, ca, clientCA *testCA, h http.Handler) *tlsServer {
	t.Helper()
	s := &tlsServer{}
	srv := ca.issue(t, "127.0.0.1", time.Now().Add(-time.Hour), time.Now().Add(time.Hour), true, false)
	s.Server = httptest.NewUnstartedServer(h)
	s.Server.TLS = &tls.Config{
		Certificates: []tls.Certificate{srv.tls()},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    clientCA.pool,
		VerifyConnection: func(cs tls.ConnectionState) error {
			s.hs.Add(1)
			if len(cs.PeerCertificates) > 0 {
				s.mu.Lock()
				s.serials = append(s.serials, cs.PeerCertificates[0].SerialNumber.String())
				s.mu.Unlock()
			}
			return nil
		},
	}
	s.Server.Config.ErrorLog = discardLog()
	s.StartTLS()
	t.Cleanup(s.Close)
	return s
}

func (s *tlsServer) seen() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.serials...)
}

// newTestTransport returns a Transport for a tlsServer whose client CA is ca.
func newTestTransport(t testing.TB, ca *testCA, srv *tlsServer, mod func(*transport.Config)) *transport.Transport {
	t.Helper()
	cl := ca.client(t, testMchID)
	cfg := transport.Config{
		MchID: testMchID, APIKey: testAPIKey,
		CertPEM: cl.certPEM, KeyPEM: cl.keyPEM,
		RootCAPEM: ca.pem,
	}
	if srv != nil {
		cfg.BaseURL = srv.URL
	}
	if mod != nil {
		mod(&cfg)
	}
	tr, err := transport.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tr.CloseIdleConnections)
	return tr
}

// replier answers APIv2 calls: it verifies the request's sign and answers
// with fields, signed (with the request's sign_type) when sign is set.
type replier struct {
	signer *signer.Signer
	mu     sync.Mutex
	got    []map[string]string
	ct     []string
	fields map[string]string
	sign   bool
}

func newReplier(t testing.TB, fields map[string]string, sign bool) *replier {
	s, err := signer.New(testAPIKey)
	if err != nil {
		t.Fatal(err)
	}
	return &replier{signer: s, fields: fields, sign: sign}
}

func (rp *replier) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	data, _ := io.ReadAll(r.Body)
	doc, err := xml.Unmarshal(data)
	if err != nil {
		http.Error(w, "bad xml", http.StatusBadRequest)
		return
	}
	rp.mu.Lock()
	rp.got = append(rp.got, doc.Fields)
	rp.ct = append(rp.ct, r.Header.Get("Content-Type"))
	rp.mu.Unlock()
	reply := map[string]string{"return_code": "SUCCESS", "return_msg": "OK", "result_code": "SUCCESS"}
	if err := rp.signer.Verify(doc.Fields); err != nil {
		reply = map[string]string{"return_code": "FAIL", "return_msg": "签名错误"}
	} else {
		for k, v := range rp.fields {
			reply[k] = v
		}
		if rp.sign {
			if st := doc.Fields["sign_type"]; st != "" {
				reply["sign_type"] = st
			}
			reply["nonce_str"] = signer.Nonce()
			reply["sign"], _ = rp.signer.Sign(reply)
		}
	}
	out, _ := xml.Marshal(reply)
	w.Header().Set("Content-Type", "text/plain")
	w.Write(out)
}

func (rp *replier) last() map[string]string {
	rp.mu.Lock()
	defer rp.mu.Unlock()
	if len(rp.got) == 0 {
		return nil
	}
	return rp.got[len(rp.got)-1]
}

// logRecorder is a slog.Handler keeping the records it gets.
type logRecorder struct {
	mu      sync.Mutex
	records []slog.Record
}

func (h *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (h *logRecorder) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	h.records = append(h.records, r.Clone())
	h.mu.Unlock()
	return nil
}
func (h *logRecorder) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *logRecorder) WithGroup(string) slog.Handler      { return h }

// countingBody is a request body that counts its Close calls.
type countingBody struct {
	r      io.Reader
	closes atomic.Int32
}

func newCountingBody(s string) *countingBody {
	return &countingBody{r: stringsReader(s)}
}

func (b *countingBody) Read(p []byte) (int, error) { return b.r.Read(p) }
func (b *countingBody) Close() error               { b.closes.Add(1); return nil }

func stringsReader(s string) io.Reader { return strings.NewReader(s) }

// discardLog silences the TLS handshake errors the refusal tests provoke.
func discardLog() *log.Logger { return log.New(io.Discard, "", 0) }
