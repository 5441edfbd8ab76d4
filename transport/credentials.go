package transport

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	pkcs12 "software.sslmate.com/src/go-pkcs12"
)

// Errors about the merchant client certificate, returned (wrapped, with
// details) by New and Reload. Compare with errors.Is.
var (
	// ErrNoCredentials means Config names no client certificate source.
	ErrNoCredentials = errors.New("transport: no client certificate configured (CertFile+KeyFile, CertPEM+KeyPEM, P12File, P12 or Certificate)")
	// ErrCredentialSources means Config names more than one source.
	ErrCredentialSources = errors.New("transport: more than one client certificate source configured")
	// ErrKeyMismatch means the private key does not belong to the certificate.
	ErrKeyMismatch = errors.New("transport: the private key does not match the client certificate")
	// ErrCertExpired means the client certificate is expired or not yet valid.
	ErrCertExpired = errors.New("transport: client certificate outside its validity period")
	// ErrCertCN means the certificate's subject CN is not the MchID.
	ErrCertCN = errors.New("transport: client certificate subject CN does not match MchID")
	// ErrNoReload means Reload was called on a Transport whose
	// certificate came from memory (CertPEM, P12 or Certificate).
	ErrNoReload = errors.New("transport: Reload needs a file source (CertFile+KeyFile or P12File)")
)

// expiryWarning is how close to its NotAfter a certificate makes New and
// Reload log a warning.
const expiryWarning = 30 * 24 * time.Hour

// clockSkew is how far in the future a certificate's NotBefore may lie.
const clockSkew = 5 * time.Minute

// credentials is the configured source of the client certificate.
type credentials struct {
	certFile, keyFile string
	certPEM, keyPEM   []byte
	p12File           string
	p12               []byte
	p12Password       string
	cert              *tls.Certificate
}

func newCredentials(cfg *Config) (*credentials, error) {
	c := &credentials{
		certFile: cfg.CertFile, keyFile: cfg.KeyFile,
		certPEM: cfg.CertPEM, keyPEM: cfg.KeyPEM,
		p12File: cfg.P12File, p12: cfg.P12, p12Password: cfg.P12Password,
		cert: cfg.Certificate,
	}
	if c.p12Password == "" {
		c.p12Password = cfg.MchID
	}
	n := 0
	for _, set := range []bool{
		c.certFile != "" || c.keyFile != "",
		c.certPEM != nil || c.keyPEM != nil,
		c.p12File != "",
		c.p12 != nil,
		c.cert != nil,
	} {
		if set {
			n++
		}
	}
	switch {
	case n == 0:
		return nil, ErrNoCredentials
	case n > 1:
		return nil, ErrCredentialSources
	case (c.certFile == "") != (c.keyFile == ""):
		return nil, errors.New("transport: CertFile and KeyFile go together")
	case (len(c.certPEM) == 0) != (len(c.keyPEM) == 0) || c.certPEM != nil && len(c.certPEM) == 0:
		return nil, errors.New("transport: CertPEM and KeyPEM go together")
	case c.p12 != nil && len(c.p12) == 0:
		return nil, errors.New("transport: P12 is empty")
	}
	return c, nil
}

// fromFiles reports whether Reload can re-read the source.
func (c *credentials) fromFiles() bool { return c != nil && (c.certFile != "" || c.p12File != "") }

// load reads the source and returns the certificate, not yet validated
// against the MchID and the clock.
func (c *credentials) load() (*tls.Certificate, error) {
	switch {
	case c.certFile != "":
		certPEM, err := os.ReadFile(c.certFile)
		if err != nil {
			return nil, fmt.Errorf("transport: reading CertFile: %w", err)
		}
		keyPEM, err := os.ReadFile(c.keyFile)
		if err != nil {
			return nil, fmt.Errorf("transport: reading KeyFile: %w", err)
		}
		return parsePEM(certPEM, keyPEM)
	case c.certPEM != nil:
		return parsePEM(c.certPEM, c.keyPEM)
	case c.p12File != "":
		data, err := os.ReadFile(c.p12File)
		if err != nil {
			return nil, fmt.Errorf("transport: reading P12File: %w", err)
		}
		return parsePKCS12(data, c.p12Password)
	case c.p12 != nil:
		return parsePKCS12(c.p12, c.p12Password)
	}
	return copyCertificate(c.cert)
}

// parsePEM reads the certificate chain (leaf first) and the private key
// (PKCS#8, PKCS#1 or SEC 1, unencrypted).
func parsePEM(certPEM, keyPEM []byte) (*tls.Certificate, error) {
	var chain [][]byte
	for rest := certPEM; ; {
		var b *pem.Block
		if b, rest = pem.Decode(rest); b == nil {
			break
		}
		if b.Type == "CERTIFICATE" {
			chain = append(chain, b.Bytes)
		}
	}
	if len(chain) == 0 {
		return nil, errors.New("transport: no CERTIFICATE block in the client certificate PEM")
	}
	key, err := parseKeyPEM(keyPEM)
	if err != nil {
		return nil, err
	}
	return &tls.Certificate{Certificate: chain, PrivateKey: key}, nil
}

// parseKeyPEM reads the first private key of keyPEM (PKCS#8, PKCS#1 or
// SEC 1, unencrypted).
func parseKeyPEM(keyPEM []byte) (crypto.PrivateKey, error) {
	var keyDER []byte
	for rest := keyPEM; ; {
		var b *pem.Block
		if b, rest = pem.Decode(rest); b == nil {
			break
		}
		if b.Type == "ENCRYPTED PRIVATE KEY" || b.Headers["Proc-Type"] != "" {
			return nil, errors.New("transport: the private key PEM is encrypted; decrypt it first")
		}
		if strings.HasSuffix(b.Type, "PRIVATE KEY") {
			keyDER = b.Bytes
			break
		}
	}
	if keyDER == nil {
		return nil, errors.New("transport: no PRIVATE KEY block in the private key PEM")
	}
	return parseKey(keyDER)
}

func parseKey(der []byte) (crypto.PrivateKey, error) {
	if k, err := x509.ParsePKCS8PrivateKey(der); err == nil {
		return k, nil
	}
	if k, err := x509.ParsePKCS1PrivateKey(der); err == nil {
		return k, nil
	}
	if k, err := x509.ParseECPrivateKey(der); err == nil {
		return k, nil
	}
	// The parsers' messages say nothing about the key's content, but
	// only the outcome is reported.
	return nil, errors.New("transport: the private key is neither PKCS#8, PKCS#1 nor SEC 1 DER")
}

// parsePKCS12 decodes a PKCS#12 file, legacy (RC2/3DES, SHA-1 MAC) or
// modern (AES/PBKDF2, SHA-256 MAC).
func parsePKCS12(data []byte, password string) (*tls.Certificate, error) {
	key, leaf, cas, err := pkcs12.DecodeChain(data, password)
	if err != nil {
		if errors.Is(err, pkcs12.ErrIncorrectPassword) {
			return nil, errors.New("transport: PKCS#12: incorrect password (P12Password, default the MchID)")
		}
		return nil, fmt.Errorf("transport: PKCS#12: %w", err)
	}
	chain := make([][]byte, 0, 1+len(cas))
	chain = append(chain, leaf.Raw)
	for _, ca := range cas {
		chain = append(chain, ca.Raw)
	}
	return &tls.Certificate{Certificate: chain, PrivateKey: key, Leaf: leaf}, nil
}

// copyCertificate returns a shallow copy of c without its Leaf, so that
// the checks run on Certificate[0], the certificate the handshake
// presents, and filling in Leaf leaves the caller's value alone.
func copyCertificate(c *tls.Certificate) (*tls.Certificate, error) {
	if len(c.Certificate) == 0 || c.PrivateKey == nil {
		return nil, errors.New("transport: Certificate needs Certificate[0] and PrivateKey")
	}
	cc := *c
	cc.Leaf = nil
	return &cc, nil
}

// check validates cert: the key matches the leaf, the leaf is valid now
// and its subject CN is mchID. It fills in cert.Leaf, and logs a warning
// through logger when the leaf expires within 30 days.
func check(cert *tls.Certificate, mchID string, now time.Time, logger *slog.Logger) error {
	leaf := cert.Leaf
	if leaf == nil {
		var err error
		if leaf, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
			return fmt.Errorf("transport: parsing the client certificate: %w", err)
		}
		cert.Leaf = leaf
	}
	if err := keyMatches(leaf, cert.PrivateKey); err != nil {
		return err
	}
	if cn := leaf.Subject.CommonName; cn != mchID {
		return fmt.Errorf("%w: the certificate's CN is %q, MchID is %q", ErrCertCN, cn, mchID)
	}
	switch {
	case now.After(leaf.NotAfter):
		return fmt.Errorf("%w: expired at %s (serial %s)", ErrCertExpired, leaf.NotAfter.UTC().Format(time.RFC3339), leaf.SerialNumber)
	case now.Add(clockSkew).Before(leaf.NotBefore):
		return fmt.Errorf("%w: not valid before %s (serial %s)", ErrCertExpired, leaf.NotBefore.UTC().Format(time.RFC3339), leaf.SerialNumber)
	case leaf.NotAfter.Sub(now) < expiryWarning && logger != nil:
		logger.LogAttrs(context.Background(), slog.LevelWarn, "transport: the merchant client certificate expires soon",
			slog.String("mch_id", mchID),
			slog.Time("not_after", leaf.NotAfter),
			slog.Int("days_left", int(leaf.NotAfter.Sub(now)/(24*time.Hour))),
			slog.String("serial", leaf.SerialNumber.String()))
	}
	return nil
}

// keyMatches reports ErrKeyMismatch unless key is the private half of the
// leaf's public key.
func keyMatches(leaf *x509.Certificate, key crypto.PrivateKey) error {
	var pub crypto.PublicKey
	switch k := key.(type) {
	case *rsa.PrivateKey:
		pub = &k.PublicKey
	case *ecdsa.PrivateKey:
		pub = &k.PublicKey
	case ed25519.PrivateKey:
		pub = k.Public()
	case crypto.Signer:
		pub = k.Public()
	default:
		return fmt.Errorf("transport: unsupported private key type %T", key)
	}
	eq, ok := pub.(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !eq.Equal(leaf.PublicKey) {
		return ErrKeyMismatch
	}
	return nil
}

// loadChecked loads the credentials and validates them.
func (t *Transport) loadChecked() (*tls.Certificate, error) {
	cert, err := t.creds.load()
	if err != nil {
		return nil, err
	}
	if err := check(cert, t.mchID, t.now(), t.logger); err != nil {
		return nil, err
	}
	return cert, nil
}

// GetClientCertificate returns the current merchant certificate; it is the
// tls.Config.GetClientCertificate of the private connection pool, and
// exported so that a custom Base can present the same certificate (and
// follow Reload).
func (t *Transport) GetClientCertificate(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
	if c := t.cert.Load(); c != nil {
		return c, nil
	}
	return nil, errors.New("transport: no client certificate (Transport not created by New)")
}

// Reload re-reads the certificate files (CertFile+KeyFile or P12File),
// checks them as New does and, when they pass, makes the new certificate
// current: connections made from then on present it, idle connections are
// closed, and a connection still carrying a call during Reload is closed
// when that call ends (the next call on it dials afresh). Through a proxy
// (HTTPS_PROXY) net/http makes the TLS connection itself and only idle
// connections are closed: one busy during Reload may carry further calls
// on the old certificate until it goes idle. On failure the current
// certificate stays. Safe to call concurrently with calls and with itself.
// For a certificate held in memory it returns ErrNoReload.
func (t *Transport) Reload() error {
	if !t.creds.fromFiles() {
		return ErrNoReload
	}
	t.reloadMu.Lock()
	defer t.reloadMu.Unlock()
	cert, err := t.loadChecked()
	if err != nil {
		return err
	}
	// Order matters: a connection dialed after gen moves on has been
	// handshaken with the new certificate.
	t.cert.Store(cert)
	t.gen.Add(1)
	t.CloseIdleConnections()
	t.certificateChanged(cert)
	return nil
}

// certificateChanged reports the certificate now presented to
// Config.OnCertificate.
func (t *Transport) certificateChanged(cert *tls.Certificate) {
	if t.onCert != nil {
		t.onCert(cert.Leaf)
	}
}
