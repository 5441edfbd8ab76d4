package transport

import (
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"time"
)

// MerchantCertificate reads and checks the merchant certificate exactly as
// New does, from the certificate fields of cfg (CertFile+KeyFile,
// CertPEM+KeyPEM, P12File, P12 with P12Password, or Certificate), with
// cfg.MchID, cfg.Now and cfg.Logger; the other fields are ignored. It is for
// code that signs with the same merchant key without mutual TLS, such as
// the APIv3 transport. The result's Leaf is set.
func MerchantCertificate(cfg Config) (*tls.Certificate, error) {
	creds, err := newCredentials(&cfg)
	if err != nil {
		return nil, err
	}
	cert, err := creds.load()
	if err != nil {
		return nil, err
	}
	now := time.Now
	if cfg.Now != nil {
		now = cfg.Now
	}
	if err := check(cert, cfg.MchID, now(), cfg.Logger); err != nil {
		return nil, err
	}
	return cert, nil
}

// ParsePrivateKeyPEM reads the first private key of keyPEM: PKCS#8, PKCS#1
// or SEC 1, unencrypted, as New reads KeyPEM. It is for a merchant key
// given without its certificate.
func ParsePrivateKeyPEM(keyPEM []byte) (crypto.PrivateKey, error) {
	return parseKeyPEM(keyPEM)
}

// ServerRoots returns the pool New verifies the platform's server
// certificate with: a copy of roots, or the system roots when roots is nil,
// plus the certificates of rootCAPEM (Config.RootCAs and Config.RootCAPEM).
func ServerRoots(roots *x509.CertPool, rootCAPEM []byte) (*x509.CertPool, error) {
	return rootPool(roots, rootCAPEM)
}
