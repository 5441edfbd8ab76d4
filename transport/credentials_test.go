package transport_test

import (
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"strings"
	"sync"
	"testing"
	"time"

	pkcs12 "software.sslmate.com/src/go-pkcs12"

	"github.com/hongbao-go/hongbao/signer"
	"github.com/hongbao-go/hongbao/transport"
)

func baseConfig() transport.Config {
	return transport.Config{MchID: testMchID, APIKey: testAPIKey}
}

// serialOf returns the serial of the certificate t presents.
func serialOf(t *testing.T, tr *transport.Transport) string {
	t.Helper()
	c, err := tr.GetClientCertificate(nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Leaf == nil {
		t.Fatal("Leaf not filled in")
	}
	return c.Leaf.SerialNumber.String()
}

func TestNewLoadsEachSource(t *testing.T) {
	ca := newCA(t, "merchant CA")
	ec := ca.client(t, testMchID)
	rsaLeaf := ca.issue(t, testMchID, time.Now().Add(-time.Hour), time.Now().Add(365*24*time.Hour), false, true)
	dir := t.TempDir()
	p12 := func(enc *pkcs12.Encoder, l leaf, password string) []byte {
		data, err := enc.Encode(l.key, l.cert, nil, password)
		if err != nil {
			t.Fatal(err)
		}
		return data
	}
	tc := ec.tls()
	tests := []struct {
		name string
		set  func(*transport.Config)
		want leaf
	}{
		{"PEM files", func(c *transport.Config) {
			c.CertFile = writeFile(t, dir, "cert.pem", ec.certPEM)
			c.KeyFile = writeFile(t, dir, "key.pem", ec.keyPEM)
		}, ec},
		{"PEM bytes RSA", func(c *transport.Config) { c.CertPEM, c.KeyPEM = rsaLeaf.certPEM, rsaLeaf.keyPEM }, rsaLeaf},
		{"PKCS#12 legacy RC2 bytes, default password", func(c *transport.Config) {
			c.P12 = p12(pkcs12.LegacyRC2, rsaLeaf, testMchID)
		}, rsaLeaf},
		{"PKCS#12 legacy 3DES file, default password", func(c *transport.Config) {
			c.P12File = writeFile(t, dir, "legacy.p12", p12(pkcs12.LegacyDES, ec, testMchID))
		}, ec},
		{"PKCS#12 modern AES/PBKDF2 bytes, own password", func(c *transport.Config) {
			c.P12, c.P12Password = p12(pkcs12.Modern2023, ec, "s3cret"), "s3cret"
		}, ec},
		{"PKCS#12 modern file", func(c *transport.Config) {
			c.P12File = writeFile(t, dir, "modern.p12", p12(pkcs12.Modern, rsaLeaf, testMchID))
		}, rsaLeaf},
		{"tls.Certificate", func(c *transport.Config) { c.Certificate = &tc }, ec},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := baseConfig()
			tt.set(&cfg)
			tr, err := transport.New(cfg)
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			if got, want := serialOf(t, tr), tt.want.cert.SerialNumber.String(); got != want {
				t.Errorf("serial %s, want %s", got, want)
			}
			if tr.MchID() != testMchID || tr.BaseURL() != transport.DefaultBaseURL {
				t.Errorf("MchID %q BaseURL %q", tr.MchID(), tr.BaseURL())
			}
		})
	}
	if tc.Leaf != nil {
		t.Error("New filled in the caller's tls.Certificate")
	}
}

func TestNewRefusesBadConfig(t *testing.T) {
	ca := newCA(t, "merchant CA")
	good := ca.client(t, testMchID)
	other := ca.client(t, testMchID)
	dir := t.TempDir()
	mismatched := tls.Certificate{Certificate: [][]byte{good.cert.Raw}, PrivateKey: other.key}
	modern, err := pkcs12.Modern.Encode(good.key, good.cert, nil, "right")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		set     func(*transport.Config)
		is      error
		message string
	}{
		{"no source", func(c *transport.Config) {}, transport.ErrNoCredentials, ""},
		{"two sources", func(c *transport.Config) {
			c.CertPEM, c.KeyPEM = good.certPEM, good.keyPEM
			c.P12 = modern
		}, transport.ErrCredentialSources, ""},
		{"CertFile without KeyFile", func(c *transport.Config) { c.CertFile = "x.pem" }, nil, "CertFile and KeyFile"},
		{"missing file", func(c *transport.Config) { c.CertFile, c.KeyFile = dir+"/none.pem", dir+"/none.key" }, nil, "reading CertFile"},
		{"key of another certificate (PEM)", func(c *transport.Config) { c.CertPEM, c.KeyPEM = good.certPEM, other.keyPEM }, transport.ErrKeyMismatch, ""},
		{"key of another certificate (tls.Certificate)", func(c *transport.Config) { c.Certificate = &mismatched }, transport.ErrKeyMismatch, ""},
		{"PEM without certificate", func(c *transport.Config) { c.CertPEM, c.KeyPEM = good.keyPEM, good.keyPEM }, nil, "no CERTIFICATE"},
		{"PEM without key", func(c *transport.Config) { c.CertPEM, c.KeyPEM = good.certPEM, good.certPEM }, nil, "no PRIVATE KEY"},
		{"PKCS#12 wrong password", func(c *transport.Config) { c.P12 = modern }, nil, "incorrect password"},
		{"PKCS#12 garbage", func(c *transport.Config) { c.P12 = []byte("not a pfx") }, nil, "PKCS#12"},
		{"API key too short", func(c *transport.Config) {
			c.APIKey = "short-secret-value"
			c.CertPEM, c.KeyPEM = good.certPEM, good.keyPEM
		}, signer.ErrKeyLength, ""},
		{"no MchID", func(c *transport.Config) { c.MchID = "" }, nil, "MchID is required"},
		{"plain http BaseURL", func(c *transport.Config) {
			c.BaseURL = "http://api.mch.weixin.qq.com"
			c.CertPEM, c.KeyPEM = good.certPEM, good.keyPEM
		}, nil, "not an https URL"},
		{"RootCAPEM without certificates", func(c *transport.Config) {
			c.RootCAPEM = []byte("nothing")
			c.CertPEM, c.KeyPEM = good.certPEM, good.keyPEM
		}, nil, "RootCAPEM"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := baseConfig()
			tt.set(&cfg)
			tr, err := transport.New(cfg)
			if err == nil {
				t.Fatalf("New succeeded: %v", tr)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("error %q is not %q", err, tt.is)
			}
			if !strings.Contains(err.Error(), tt.message) {
				t.Errorf("error %q does not mention %q", err, tt.message)
			}
			if !strings.HasPrefix(err.Error(), "transport: ") {
				t.Errorf("error %q lacks the package prefix", err)
			}
			for _, secret := range []string{cfg.APIKey, string(good.keyPEM), string(other.keyPEM)} {
				if secret != "" && strings.Contains(err.Error(), secret) {
					t.Errorf("error reveals a secret: %q", err)
				}
			}
		})
	}
}

func TestNewChecksValidityAndCN(t *testing.T) {
	ca := newCA(t, "merchant CA")
	now := time.Date(2030, 6, 1, 12, 0, 0, 0, time.UTC)
	issue := func(cn string, from, to time.Time) leaf {
		return ca.issue(t, cn, from, to, false, false)
	}
	newWith := func(l leaf, logger *logRecorder) error {
		cfg := baseConfig()
		cfg.CertPEM, cfg.KeyPEM = l.certPEM, l.keyPEM
		cfg.Now = func() time.Time { return now }
		if logger != nil {
			cfg.Logger = slog.New(logger)
		}
		_, err := transport.New(cfg)
		return err
	}

	t.Run("expired", func(t *testing.T) {
		err := newWith(issue(testMchID, now.Add(-400*24*time.Hour), now.Add(-time.Minute)), nil)
		if !errors.Is(err, transport.ErrCertExpired) || !strings.Contains(err.Error(), "expired at") {
			t.Fatalf("got %v, want ErrCertExpired", err)
		}
	})
	t.Run("not yet valid", func(t *testing.T) {
		err := newWith(issue(testMchID, now.Add(time.Hour), now.Add(400*24*time.Hour)), nil)
		if !errors.Is(err, transport.ErrCertExpired) || !strings.Contains(err.Error(), "not valid before") {
			t.Fatalf("got %v, want ErrCertExpired", err)
		}
	})
	t.Run("expires within 30 days: warning", func(t *testing.T) {
		rec := &logRecorder{}
		l := issue(testMchID, now.Add(-300*24*time.Hour), now.Add(10*24*time.Hour))
		if err := newWith(l, rec); err != nil {
			t.Fatal(err)
		}
		if len(rec.records) != 1 {
			t.Fatalf("%d log records, want 1", len(rec.records))
		}
		r := rec.records[0]
		attrs := map[string]string{}
		r.Attrs(func(a slog.Attr) bool { attrs[a.Key] = a.Value.String(); return true })
		if r.Level != slog.LevelWarn || !strings.Contains(r.Message, "expires soon") ||
			attrs["mch_id"] != testMchID || attrs["days_left"] != "10" || attrs["serial"] != l.cert.SerialNumber.String() {
			t.Errorf("record %v %q %v", r.Level, r.Message, attrs)
		}
		for _, v := range attrs {
			if strings.Contains(v, testAPIKey) || strings.Contains(v, "PRIVATE") {
				t.Errorf("log reveals a secret: %v", attrs)
			}
		}
	})
	t.Run("expires in 31 days: silent", func(t *testing.T) {
		rec := &logRecorder{}
		if err := newWith(issue(testMchID, now.Add(-300*24*time.Hour), now.Add(31*24*time.Hour)), rec); err != nil {
			t.Fatal(err)
		}
		if len(rec.records) != 0 {
			t.Errorf("unexpected log: %v", rec.records[0].Message)
		}
	})
	t.Run("expiring soon without a logger", func(t *testing.T) {
		if err := newWith(issue(testMchID, now.Add(-300*24*time.Hour), now.Add(24*time.Hour)), nil); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("CN is not the MchID", func(t *testing.T) {
		err := newWith(issue("1230000109", now.Add(-time.Hour), now.Add(400*24*time.Hour)), nil)
		if !errors.Is(err, transport.ErrCertCN) {
			t.Fatalf("got %v, want ErrCertCN", err)
		}
		for _, want := range []string{`"1230000109"`, `"` + testMchID + `"`} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not name %s", err, want)
			}
		}
	})
}

func TestReload(t *testing.T) {
	ca := newCA(t, "merchant CA")
	first, second := ca.client(t, testMchID), ca.client(t, testMchID)
	dir := t.TempDir()
	cfg := baseConfig()
	cfg.CertFile = writeFile(t, dir, "cert.pem", first.certPEM)
	cfg.KeyFile = writeFile(t, dir, "key.pem", first.keyPEM)
	tr, err := transport.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if got := serialOf(t, tr); got != first.cert.SerialNumber.String() {
		t.Fatalf("serial %s", got)
	}

	// A broken pair is refused and the current certificate stays.
	writeFile(t, dir, "cert.pem", second.certPEM)
	if err := tr.Reload(); !errors.Is(err, transport.ErrKeyMismatch) {
		t.Fatalf("Reload with a mismatched pair: %v", err)
	}
	if got := serialOf(t, tr); got != first.cert.SerialNumber.String() {
		t.Fatalf("serial after a failed Reload %s", got)
	}

	// Concurrent readers see the old or the new certificate, never a mix.
	writeFile(t, dir, "key.pem", second.keyPEM)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				c, _ := tr.GetClientCertificate(nil)
				if err := c.Leaf.CheckSignatureFrom(ca.cert); err != nil || c.Leaf.PublicKey == nil {
					t.Error("inconsistent certificate")
					return
				}
			}
		}()
	}
	for range 5 {
		if err := tr.Reload(); err != nil {
			t.Error(err)
		}
	}
	close(stop)
	wg.Wait()
	if got := serialOf(t, tr); got != second.cert.SerialNumber.String() {
		t.Fatalf("serial after Reload %s, want %s", got, second.cert.SerialNumber)
	}
}

func TestReloadPKCS12File(t *testing.T) {
	ca := newCA(t, "merchant CA")
	first, second := ca.client(t, testMchID), ca.client(t, testMchID)
	enc := func(l leaf) []byte {
		d, err := pkcs12.Modern.Encode(l.key, l.cert, []*x509.Certificate{ca.cert}, testMchID)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	dir := t.TempDir()
	cfg := baseConfig()
	cfg.P12File = writeFile(t, dir, "apiclient_cert.p12", enc(first))
	tr, err := transport.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := tr.GetClientCertificate(nil)
	if len(c.Certificate) != 2 {
		t.Errorf("chain of %d certificates, want leaf and CA", len(c.Certificate))
	}
	writeFile(t, dir, "apiclient_cert.p12", enc(second))
	if err := tr.Reload(); err != nil {
		t.Fatal(err)
	}
	if got := serialOf(t, tr); got != second.cert.SerialNumber.String() {
		t.Fatalf("serial after Reload %s", got)
	}
}

func TestReloadInMemory(t *testing.T) {
	ca := newCA(t, "merchant CA")
	l := ca.client(t, testMchID)
	cfg := baseConfig()
	cfg.CertPEM, cfg.KeyPEM = l.certPEM, l.keyPEM
	tr, err := transport.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := tr.Reload(); !errors.Is(err, transport.ErrNoReload) {
		t.Fatalf("Reload: %v, want ErrNoReload", err)
	}
	if err := new(transport.Transport).Reload(); !errors.Is(err, transport.ErrNoReload) {
		t.Fatalf("Reload of a Transport not from New: %v, want ErrNoReload", err)
	}
}

// TestPrintedTransportHidesSecrets prints a Transport as a debugging log
// line would: neither the private key, nor the PKCS#12 password, nor the
// API key may show.
func TestPrintedTransportHidesSecrets(t *testing.T) {
	ca := newCA(t, "merchant CA")
	l := ca.client(t, testMchID)
	const password = "p12-password-not-for-logs"
	pemCfg := baseConfig()
	pemCfg.CertPEM, pemCfg.KeyPEM = l.certPEM, l.keyPEM
	p12Cfg := baseConfig()
	data, err := pkcs12.Modern.Encode(l.key, l.cert, nil, password)
	if err != nil {
		t.Fatal(err)
	}
	p12Cfg.P12, p12Cfg.P12Password = data, password
	for _, cfg := range []transport.Config{pemCfg, p12Cfg} {
		tr, err := transport.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		key := l.keyPEM[len(l.keyPEM)/2:][:24]
		for _, verb := range []string{"%v", "%+v", "%#v"} {
			out := fmt.Sprintf(verb, tr)
			for _, secret := range []string{password, testAPIKey, string(key),
				strings.Trim(fmt.Sprintf(verb, key), "[]{}byte"), strings.Trim(fmt.Sprintf(verb, []byte(testAPIKey)), "[]{}byte")} {
				if strings.Contains(out, secret) {
					t.Fatalf("%s of the Transport shows a secret (%q): %s", verb, secret, out)
				}
			}
		}
	}
}

// TestCertificateCheckedNotItsLeaf gives a tls.Certificate whose Leaf is a
// valid certificate but whose Certificate[0], the one the handshake
// presents, has expired (same key): New checks what is presented.
func TestCertificateCheckedNotItsLeaf(t *testing.T) {
	ca := newCA(t, "merchant CA")
	valid := ca.client(t, testMchID)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(99),
		Subject:      pkix.Name{CommonName: testMchID},
		NotBefore:    time.Now().Add(-48 * time.Hour),
		NotAfter:     time.Now().Add(-24 * time.Hour),
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	expired, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, valid.key.Public(), ca.key)
	if err != nil {
		t.Fatal(err)
	}
	cfg := baseConfig()
	cfg.Certificate = &tls.Certificate{Certificate: [][]byte{expired}, PrivateKey: valid.key, Leaf: valid.cert}
	if _, err := transport.New(cfg); !errors.Is(err, transport.ErrCertExpired) {
		t.Fatalf("New: %v, want ErrCertExpired", err)
	}
}
