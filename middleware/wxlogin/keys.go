package wxlogin

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/golang-jwt/jwt/v5"

	"github.com/hongbao-go/hongbao/middleware/jwtauth"
)

// minSecret is the shortest HS256 secret accepted, as by jwtauth.HMACKey.
const minSecret = 32

// minRSABits is the smallest RSA key accepted, as by jwtauth.PublicKey.
const minRSABits = 2048

// SigningKey signs the session tokens: an HS256 secret, or a private key
// (ES256/384/512 by curve, RS256, EdDSA), with the kid put in the tokens'
// header. Build one with HMACSecret, PrivateKey or PrivateKeyPEM; the zero
// SigningKey is refused by New. VerifyKey gives the jwtauth.Key that
// verifies its tokens.
type SigningKey struct {
	kid    string
	method jwt.SigningMethod
	key    any // []byte, *ecdsa.PrivateKey, *rsa.PrivateKey or ed25519.PrivateKey
}

// HMACSecret returns a key signing HS256 tokens with secret, at least 32
// bytes (copied). The same secret verifies them (jwtauth.HMACKey).
func HMACSecret(kid string, secret []byte) (SigningKey, error) {
	if len(secret) < minSecret {
		return SigningKey{}, fmt.Errorf("wxlogin: HMAC secret for key %q is %d bytes, need at least %d", kid, len(secret), minSecret)
	}
	return SigningKey{kid: kid, method: jwt.SigningMethodHS256, key: slices.Clone(secret)}, nil
}

// PrivateKey returns a key signing with priv: *ecdsa.PrivateKey (ES256 for
// P-256, ES384 for P-384, ES512 for P-521), *rsa.PrivateKey of at least
// 2048 bits (RS256) or ed25519.PrivateKey (EdDSA). Its public half
// verifies the tokens; publish it (or VerifyKey) with kid.
func PrivateKey(kid string, priv crypto.Signer) (SigningKey, error) {
	switch k := priv.(type) {
	case *ecdsa.PrivateKey:
		if k == nil || k.Curve == nil {
			return SigningKey{}, fmt.Errorf("wxlogin: key %q: invalid ECDSA private key", kid)
		}
		var m jwt.SigningMethod
		switch k.Curve {
		case elliptic.P256():
			m = jwt.SigningMethodES256
		case elliptic.P384():
			m = jwt.SigningMethodES384
		case elliptic.P521():
			m = jwt.SigningMethodES512
		default:
			return SigningKey{}, fmt.Errorf("wxlogin: key %q: unsupported ECDSA curve", kid)
		}
		return SigningKey{kid: kid, method: m, key: k}, nil
	case *rsa.PrivateKey:
		if k == nil || k.N == nil {
			return SigningKey{}, fmt.Errorf("wxlogin: key %q: invalid RSA private key", kid)
		}
		if bits := k.N.BitLen(); bits < minRSABits {
			return SigningKey{}, fmt.Errorf("wxlogin: key %q: RSA key is %d bits, need at least %d", kid, bits, minRSABits)
		}
		return SigningKey{kid: kid, method: jwt.SigningMethodRS256, key: k}, nil
	case ed25519.PrivateKey:
		if len(k) != ed25519.PrivateKeySize {
			return SigningKey{}, fmt.Errorf("wxlogin: key %q: invalid Ed25519 private key", kid)
		}
		return SigningKey{kid: kid, method: jwt.SigningMethodEdDSA, key: k}, nil
	case nil:
		return SigningKey{}, fmt.Errorf("wxlogin: key %q: nil private key", kid)
	}
	return SigningKey{}, fmt.Errorf("wxlogin: key %q: unsupported private key type %T", kid, priv)
}

// PrivateKeyPEM returns PrivateKey for the first PEM block of pemBytes: a
// PKCS #8 "PRIVATE KEY", an "EC PRIVATE KEY" or an "RSA PRIVATE KEY"
// (unencrypted).
func PrivateKeyPEM(kid string, pemBytes []byte) (SigningKey, error) {
	block, _ := pem.Decode(pemBytes)
	if block == nil {
		return SigningKey{}, fmt.Errorf("wxlogin: key %q: no PEM block found", kid)
	}
	var (
		k   any
		err error
	)
	switch block.Type {
	case "PRIVATE KEY":
		k, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		k, err = x509.ParseECPrivateKey(block.Bytes)
	case "RSA PRIVATE KEY":
		k, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	default:
		if strings.Contains(block.Type, "PUBLIC") || block.Type == "CERTIFICATE" {
			return SigningKey{}, fmt.Errorf("wxlogin: key %q: PEM block is a %s; signing needs the private key", kid, block.Type)
		}
		return SigningKey{}, fmt.Errorf("wxlogin: key %q: unsupported PEM block type %q", kid, block.Type)
	}
	if err != nil {
		return SigningKey{}, fmt.Errorf("wxlogin: key %q: parsing %s: %w", kid, block.Type, err)
	}
	s, ok := k.(crypto.Signer)
	if !ok {
		return SigningKey{}, fmt.Errorf("wxlogin: key %q: unsupported private key type %T", kid, k)
	}
	return PrivateKey(kid, s)
}

// Algorithm is the JWS algorithm of the tokens the key signs ("HS256",
// "ES256", ...); "" for the zero SigningKey.
func (k SigningKey) Algorithm() string {
	if k.method == nil {
		return ""
	}
	return k.method.Alg()
}

// KID is the key id written in the tokens' header ("" writes none).
func (k SigningKey) KID() string { return k.kid }

// VerifyKey returns the jwtauth.Key that verifies the tokens of k: the
// same secret, or the public half of the private key, under the same kid
// and accepting k's algorithm only.
func (k SigningKey) VerifyKey() (jwtauth.Key, error) {
	switch key := k.key.(type) {
	case []byte:
		return jwtauth.HMACKey(k.kid, key, k.method.Alg())
	case crypto.Signer:
		return jwtauth.PublicKey(k.kid, key.Public(), k.method.Alg())
	}
	return jwtauth.Key{}, errors.New("wxlogin: the SigningKey was not built by HMACSecret, PrivateKey or PrivateKeyPEM")
}
