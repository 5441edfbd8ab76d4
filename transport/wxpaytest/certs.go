package wxpaytest

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"time"

	pkcs12 "software.sslmate.com/src/go-pkcs12"

	"github.com/hongbao-go/hongbao/transport"
)

// authority is the server's own certificate authority. It signs the server
// certificate and every merchant client certificate the server accepts.
type authority struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	der  []byte
}

func newAuthority(now time.Time) (*authority, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("wxpaytest: generating the CA key: %w", err)
	}
	serial, err := newSerial()
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "wxpaytest CA", Organization: []string{"wxpaytest"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(10 * 365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("wxpaytest: creating the CA certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("wxpaytest: parsing the CA certificate: %w", err)
	}
	return &authority{cert: cert, key: key, der: der}, nil
}

func newSerial() (*big.Int, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("wxpaytest: generating a serial number: %w", err)
	}
	return serial, nil
}

// issued is a certificate signed by the authority, with its key.
type issued struct {
	cert *x509.Certificate
	key  crypto.Signer // *ecdsa.PrivateKey (server) or *rsa.PrivateKey (merchant)
	der  []byte
}

// issue signs a new leaf certificate. A server certificate has an ECDSA
// P-256 key and covers localhost, 127.0.0.1 and ::1. A client certificate
// is a merchant API certificate, as the platform issues them: an RSA key
// (key, or a new 2048-bit one when nil) that also signs APIv3 requests, cn
// as its subject CN (the mch_id), and serial (or a random 40-hex-digit one
// when nil), which APIv3 calls name as serial_no.
func (a *authority) issue(cn string, server bool, key *rsa.PrivateKey, serial *big.Int, notBefore, notAfter time.Time) (*issued, error) {
	var signer crypto.Signer
	var err error
	switch {
	case server:
		if signer, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
			return nil, fmt.Errorf("wxpaytest: generating a key: %w", err)
		}
	case key != nil:
		signer = key
	default:
		if signer, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			return nil, fmt.Errorf("wxpaytest: generating a key: %w", err)
		}
	}
	if serial == nil {
		if serial, err = merchantSerial(); err != nil {
			return nil, err
		}
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: cn, Organization: []string{"wxpaytest"}},
		NotBefore:    notBefore,
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
	}
	if server {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.DNSNames = []string{"localhost"}
		tmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}
	} else {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
		tmpl.Subject.OrganizationalUnit = []string{"merchant"}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, a.cert, signer.Public(), a.key)
	if err != nil {
		return nil, fmt.Errorf("wxpaytest: creating a certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("wxpaytest: parsing a certificate: %w", err)
	}
	return &issued{cert: cert, key: signer, der: der}, nil
}

// merchantSerial returns a random serial number of 40 hex digits, the
// length of the platform's merchant certificate serials.
func merchantSerial() (*big.Int, error) {
	lo := new(big.Int).Lsh(big.NewInt(1), 156)
	n, err := rand.Int(rand.Reader, new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 159), lo))
	if err != nil {
		return nil, fmt.Errorf("wxpaytest: generating a serial number: %w", err)
	}
	return n.Add(n, lo), nil
}

// serialHex is a certificate serial as the console and APIv3 write it:
// upper-case hex.
func serialHex(n *big.Int) string {
	return fmt.Sprintf("%X", n)
}

func (c *issued) tlsCertificate() tls.Certificate {
	return tls.Certificate{
		Certificate: [][]byte{c.der},
		PrivateKey:  c.key,
		Leaf:        c.cert,
	}
}

func (c *issued) certPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.der})
}

func (c *issued) keyPEM() ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(c.key)
	if err != nil {
		return nil, fmt.Errorf("wxpaytest: encoding a key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// RootCAs returns a pool holding the server's CA: a client that trusts it
// verifies the server certificate (localhost, 127.0.0.1, ::1) normally.
func (s *Server) RootCAs() *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AddCert(s.ca.cert)
	return pool
}

// CACertPEM returns the server's CA certificate in PEM form.
func (s *Server) CACertPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.ca.der})
}

// ClientCertificate returns the merchant client certificate (subject CN =
// MchID, RSA, valid for a year) with its key, ready for
// tls.Config.Certificates. It is also the merchant API certificate of
// APIv3: its key signs APIv3 requests and its serial is MerchantSerial.
func (s *Server) ClientCertificate() tls.Certificate {
	return s.client.tlsCertificate()
}

// ClientCertPEM returns the merchant client certificate in PEM form, as in
// the platform's apiclient_cert.pem.
func (s *Server) ClientCertPEM() []byte {
	return s.client.certPEM()
}

// ClientKeyPEM returns the key of the merchant client certificate as a PKCS#8
// "PRIVATE KEY" PEM block, as in the platform's apiclient_key.pem.
func (s *Server) ClientKeyPEM() []byte {
	return s.clientKeyPEM
}

// TransportConfig returns a transport.Config for this server: its MchID and
// APIKey, the merchant client certificate (CertPEM and KeyPEM), RootCAs
// holding only the server's CA, and BaseURL set to URL. Every call returns
// a new Config, which a test may change (a Logger, MaxReplyBytes, or
// CertFile and KeyFile instead of the PEM fields) before transport.New.
//
// A hongbao.Config is one literal away:
//
//	client, err := hongbao.New(hongbao.Config{
//		AppID:     srv.AppID,
//		Transport: srv.TransportConfig(),
//		BillnoKey: []byte("a stable secret of 16+ bytes"),
//	})
//	if err != nil {
//		t.Fatal(err)
//	}
func (s *Server) TransportConfig() transport.Config {
	return transport.Config{
		MchID:   s.MchID,
		APIKey:  s.APIKey,
		CertPEM: s.ClientCertPEM(),
		KeyPEM:  bytes.Clone(s.clientKeyPEM),
		RootCAs: s.RootCAs(),
		BaseURL: s.URL,
	}
}

// IssueClientCert issues another client certificate from the server's CA,
// with subject CN cn, a new RSA 2048 key and the given expiry, for tests of
// a certificate of another merchant (the server answers CA_ERROR when the
// CN is not the request's mch_id) or close to expiry. A notAfter in the past gives an expired
// certificate, which the TLS handshake refuses.
func (s *Server) IssueClientCert(cn string, notAfter time.Time) (certPEM, keyPEM []byte, err error) {
	if cn == "" {
		return nil, nil, errors.New("wxpaytest: IssueClientCert needs a CN")
	}
	notBefore := time.Now().Add(-time.Hour)
	if !notBefore.Before(notAfter) {
		notBefore = notAfter.Add(-24 * time.Hour)
	}
	c, err := s.ca.issue(cn, false, nil, nil, notBefore, notAfter)
	if err != nil {
		return nil, nil, err
	}
	keyPEM, err = c.keyPEM()
	if err != nil {
		return nil, nil, err
	}
	return c.certPEM(), keyPEM, nil
}

// ClientPKCS12 returns the merchant client certificate and its key as a
// PKCS#12 file, as the platform's apiclient_cert.p12, encrypted with password
// exactly as given (the platform uses the mch_id; pass s.MchID to mimic it).
// legacy selects the old encryption (certificate RC2, key 3DES, SHA-1 MAC);
// otherwise the file uses PBES2 with PBKDF2-HMAC-SHA-256 and AES-256-CBC.
func (s *Server) ClientPKCS12(password string, legacy bool) ([]byte, error) {
	enc := pkcs12.Modern2023
	if legacy {
		enc = pkcs12.LegacyRC2
	}
	pfx, err := enc.Encode(s.client.key, s.client.cert, nil, password)
	if err != nil {
		return nil, fmt.Errorf("wxpaytest: encoding PKCS#12: %w", err)
	}
	return pfx, nil
}
