package wxpaytest

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"sync"
	"time"
)

// keyring holds the platform's keys: the WeChat Pay public key's private
// half, the platform certificates, and a stranger's key for forgeries.
// RSA keys are made at their first use, so that a server used for APIv2
// alone pays for none.
type keyring struct {
	s     *Server
	trust Trust

	mu      sync.Mutex
	pubID   string
	pub     *rsa.PrivateKey
	ca      *authority // issues the platform certificates
	certs   []*platformCert
	signing *platformCert
	forger  *rsa.PrivateKey
}

// platformCert is a platform certificate with its key.
type platformCert struct {
	serial string
	key    *rsa.PrivateKey
	cert   *x509.Certificate
	der    []byte
}

// PlatformCertificate is a platform certificate the server made.
type PlatformCertificate struct {
	// Serial is the certificate's serial in upper-case hex, the value of
	// Wechatpay-Serial in what it signs.
	Serial string
	// PEM is the certificate, as GET /v3/certificates delivers it once
	// decrypted.
	PEM         []byte
	Certificate *x509.Certificate
	// NotBefore and NotAfter are the certificate's validity, also its
	// effective_time and expire_time in the listing.
	NotBefore, NotAfter time.Time
	// Signing reports whether the certificate signs the answers of
	// certificate mode now.
	Signing bool
}

func (k *keyring) init(s *Server, o V3Options) error {
	k.s, k.trust = s, o.Trust
	if o.PlatformKey != nil {
		if o.PlatformKey.N.BitLen() < 2048 {
			return errors.New("wxpaytest: V3Options.PlatformKey must be an RSA key of 2048 bits or more")
		}
		k.pub = o.PlatformKey
	}
	k.pubID = o.PublicKeyID
	if k.pubID == "" {
		digits := s.MchID
		if !allDigits(digits) {
			digits = randomDigits(10)
		}
		k.pubID = "PUB_KEY_ID_01" + digits + s.now().In(beijing).Format("20060102") + randomDigits(8)
	} else if !validPublicKeyID(k.pubID) {
		return fmt.Errorf("wxpaytest: V3Options.PublicKeyID %q is not PUB_KEY_ID_ followed by digits", k.pubID)
	}
	return nil
}

// validPublicKeyID reports whether id has the form PUB_KEY_ID_<digits>.
func validPublicKeyID(id string) bool {
	d, ok := strings.CutPrefix(id, "PUB_KEY_ID_")
	return ok && allDigits(d)
}

func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func randomDigits(n int) string {
	b := make([]byte, n)
	rand.Read(b) // never fails
	for i := range b {
		b[i] = '0' + b[i]%10
	}
	return string(b)
}

func newRSAKey() *rsa.PrivateKey {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil { // only for a bad size or a broken random source
		panic("wxpaytest: generating an RSA key: " + err.Error())
	}
	return key
}

// publicKey returns the public key's private half; k.mu must be held.
func (k *keyring) publicKey() *rsa.PrivateKey {
	if k.pub == nil {
		k.pub = newRSAKey()
	}
	return k.pub
}

// strangerKey returns a key that is none of the platform's, for forged
// signatures; k.mu must be held.
func (k *keyring) strangerKey() *rsa.PrivateKey {
	if k.forger == nil {
		k.forger = newRSAKey()
	}
	return k.forger
}

// addCert makes a platform certificate valid from an hour before now
// until notAfter (now + the lifetime when zero); k.mu must be held.
func (k *keyring) addCert(notAfter time.Time) (*platformCert, error) {
	now := k.s.now()
	if notAfter.IsZero() {
		notAfter = now.Add(k.s.v3.certLife)
	}
	notBefore := now.Add(-time.Hour)
	if !notAfter.After(notBefore) {
		return nil, errors.New("wxpaytest: a platform certificate must expire after it starts")
	}
	if k.ca == nil {
		ca, err := newAuthority(time.Now())
		if err != nil {
			return nil, err
		}
		k.ca = ca
	}
	key := newRSAKey()
	serial, err := merchantSerial()
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject: pkix.Name{CommonName: "wxpaytest platform certificate", Organization: []string{"wxpaytest"},
			OrganizationalUnit: []string{"platform"}},
		NotBefore: notBefore,
		NotAfter:  notAfter,
		KeyUsage:  x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, k.ca.cert, &key.PublicKey, k.ca.key)
	if err != nil {
		return nil, fmt.Errorf("wxpaytest: creating a platform certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("wxpaytest: parsing a platform certificate: %w", err)
	}
	pc := &platformCert{serial: serialHex(serial), key: key, cert: cert, der: der}
	k.certs = append(k.certs, pc)
	return pc, nil
}

// signingCert returns the certificate that signs in certificate mode,
// making the first one when there is none; k.mu must be held.
func (k *keyring) signingCert() (*platformCert, error) {
	if k.signing == nil {
		pc, err := k.addCert(time.Time{})
		if err != nil {
			return nil, err
		}
		k.signing = pc
	}
	return k.signing, nil
}

// listed returns the certificates GET /v3/certificates lists at now: those
// not expired; k.mu must be held.
func (k *keyring) listed(now time.Time) []*platformCert {
	var out []*platformCert
	for _, pc := range k.certs {
		if now.Before(pc.cert.NotAfter) {
			out = append(out, pc)
		}
	}
	return out
}

// cert returns the platform certificate with serial, or nil; k.mu must be
// held.
func (k *keyring) cert(serial string) *platformCert {
	for _, pc := range k.certs {
		if pc.serial == serial {
			return pc
		}
	}
	return nil
}

// signer returns the serial and key an answer is signed with, given the
// Wechatpay-Serial of the request (empty for notifications).
func (k *keyring) signer(hint string) (string, *rsa.PrivateKey, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	switch k.trust {
	case TrustCertificates:
		return k.signingKey()
	case TrustBoth:
		if pc := k.cert(hint); pc != nil {
			return pc.serial, pc.key, nil
		}
	}
	return k.pubID, k.publicKey(), nil
}

// notifySigner returns the serial and key a notification is signed with,
// given the serial that signed the answer to the bill's creation: the
// certificate signing now when that was a certificate (or in
// TrustCertificates mode), else the public key.
func (k *keyring) notifySigner(billSerial string) (string, *rsa.PrivateKey, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.trust == TrustCertificates || k.trust == TrustBoth && k.cert(billSerial) != nil {
		return k.signingKey()
	}
	return k.pubID, k.publicKey(), nil
}

// signingKey returns the serial and key of the certificate that signs in
// certificate mode; k.mu must be held.
func (k *keyring) signingKey() (string, *rsa.PrivateKey, error) {
	pc, err := k.signingCert()
	if err != nil {
		return "", nil, err
	}
	return pc.serial, pc.key, nil
}

// byID returns the private key of a key id the merchant may name in
// Wechatpay-Serial: the public key id or a platform certificate's serial,
// as the trust mode offers them.
func (k *keyring) byID(id string) (*rsa.PrivateKey, bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.trust.publicKey() && id == k.pubID {
		return k.publicKey(), true
	}
	if k.trust.certificates() {
		if pc := k.cert(id); pc != nil {
			return pc.key, true
		}
	}
	return nil, false
}

func (pc *platformCert) export(signing bool) PlatformCertificate {
	return PlatformCertificate{
		Serial:      pc.serial,
		PEM:         pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: pc.der}),
		Certificate: pc.cert,
		NotBefore:   pc.cert.NotBefore,
		NotAfter:    pc.cert.NotAfter,
		Signing:     signing,
	}
}

// PublicKeyID returns the id of the WeChat Pay public key (PUB_KEY_ID_
// followed by digits), or "" in TrustCertificates mode, where the console
// offers none.
func (s *Server) PublicKeyID() string {
	if !s.v3.trust.publicKey() {
		return ""
	}
	return s.v3.keys.pubID
}

// PublicKeyPEM returns the WeChat Pay public key as a "PUBLIC KEY" PEM
// block (PKIX), as the console's download (pub_key.pem), or nil in
// TrustCertificates mode.
func (s *Server) PublicKeyPEM() []byte {
	if !s.v3.trust.publicKey() {
		return nil
	}
	k := &s.v3.keys
	k.mu.Lock()
	defer k.mu.Unlock()
	der, err := x509.MarshalPKIXPublicKey(&k.publicKey().PublicKey)
	if err != nil {
		panic("wxpaytest: encoding the public key: " + err.Error())
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

// PlatformCertificates returns the platform certificates GET
// /v3/certificates lists now (those not expired on the server clock), in
// the order they were made, or nil in TrustPublicKey mode. The first
// certificate is made at the first need.
func (s *Server) PlatformCertificates() []PlatformCertificate {
	if !s.v3.trust.certificates() {
		return nil
	}
	k := &s.v3.keys
	k.mu.Lock()
	defer k.mu.Unlock()
	if _, err := k.signingCert(); err != nil {
		panic(err)
	}
	var out []PlatformCertificate
	for _, pc := range k.listed(s.now()) {
		out = append(out, pc.export(pc == k.signing))
	}
	return out
}

// AddPlatformCertificate makes a new platform certificate, valid from an
// hour before now (server clock) until notAfter, or for
// V3Options.CertificateLifetime when notAfter is zero. It is listed by GET
// /v3/certificates at once but signs nothing until UsePlatformCertificate,
// as the platform publishes a new certificate before switching to it (the
// very first certificate signs at once). It fails in TrustPublicKey mode.
func (s *Server) AddPlatformCertificate(notAfter time.Time) (PlatformCertificate, error) {
	if !s.v3.trust.certificates() {
		return PlatformCertificate{}, errors.New("wxpaytest: no platform certificates in TrustPublicKey mode")
	}
	k := &s.v3.keys
	k.mu.Lock()
	defer k.mu.Unlock()
	pc, err := k.addCert(notAfter)
	if err != nil {
		return PlatformCertificate{}, err
	}
	if k.signing == nil { // the first certificate signs
		k.signing = pc
	}
	return pc.export(pc == k.signing), nil
}

// UsePlatformCertificate makes the certificate with serial sign from now
// on: every answer in TrustCertificates mode, and in TrustBoth mode the
// notifications of bills whose creation was answered under a certificate.
// The certificates before it stay listed until they expire.
func (s *Server) UsePlatformCertificate(serial string) error {
	k := &s.v3.keys
	k.mu.Lock()
	defer k.mu.Unlock()
	pc := k.cert(serial)
	if pc == nil {
		return fmt.Errorf("wxpaytest: no platform certificate with serial %q", serial)
	}
	k.signing = pc
	return nil
}

// RotatePlatformCertificate is AddPlatformCertificate(time.Time{})
// followed by UsePlatformCertificate: a new certificate appears and signs
// from now on, while the old ones stay listed until they expire.
func (s *Server) RotatePlatformCertificate() (PlatformCertificate, error) {
	pc, err := s.AddPlatformCertificate(time.Time{})
	if err != nil {
		return PlatformCertificate{}, err
	}
	if err := s.UsePlatformCertificate(pc.Serial); err != nil {
		return PlatformCertificate{}, err
	}
	pc.Signing = true
	return pc, nil
}

// MerchantSerial returns the serial number of the merchant certificate
// (ClientCertificate) in upper-case hex, the serial_no APIv3 requests must
// carry in their Authorization.
func (s *Server) MerchantSerial() string {
	return serialHex(s.client.cert.SerialNumber)
}

// parseSerial parses a certificate serial in hex; nil for "".
func parseSerial(h string) (*big.Int, error) {
	if h == "" {
		return nil, nil
	}
	n, ok := new(big.Int).SetString(h, 16)
	if !ok || n.Sign() <= 0 || n.BitLen() > 159 {
		return nil, fmt.Errorf("wxpaytest: MerchantSerial %q is not a positive hex number of at most 159 bits", h)
	}
	return n, nil
}

// V3Config is what an APIv3 client of a Server needs, gathered as
// TransportConfig gathers the APIv2 settings. Every call of
// Server.V3Config returns a new one, which a test may change.
type V3Config struct {
	MchID string
	// MerchantSerial is the merchant certificate's serial (serial_no).
	MerchantSerial string
	// CertPEM and KeyPEM are the merchant certificate and its key, the
	// same as the APIv2 client certificate (apiclient_cert.pem and
	// apiclient_key.pem): the key signs APIv3 requests.
	CertPEM, KeyPEM []byte
	// APIv3Key decrypts the platform certificates and notifications.
	APIv3Key string
	// PublicKeyID and PublicKeyPEM are the WeChat Pay public key, empty in
	// TrustCertificates mode; there the client fetches the platform
	// certificates from GET /v3/certificates.
	PublicKeyID  string
	PublicKeyPEM []byte
	// RootCAs holds only the server's CA.
	RootCAs *x509.CertPool
	// BaseURL is the server's URL, the same host as the APIv2 paths.
	BaseURL string
}

// V3Config returns the settings of an APIv3 client of this server: the
// merchant identity and key, the APIv3 key, the trust material of the
// public-key mode, RootCAs and BaseURL.
func (s *Server) V3Config() V3Config {
	return V3Config{
		MchID:          s.MchID,
		MerchantSerial: s.MerchantSerial(),
		CertPEM:        s.ClientCertPEM(),
		KeyPEM:         bytes.Clone(s.clientKeyPEM),
		APIv3Key:       s.v3.apiv3Key,
		PublicKeyID:    s.PublicKeyID(),
		PublicKeyPEM:   s.PublicKeyPEM(),
		RootCAs:        s.RootCAs(),
		BaseURL:        s.URL,
	}
}
