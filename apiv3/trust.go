package apiv3

import (
	"context"
	"crypto/rsa"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"strings"
)

// PublicKeyIDPrefix starts every WeChat Pay public key id.
const PublicKeyIDPrefix = "PUB_KEY_ID_"

// ValidPublicKeyID reports whether id has the form of a WeChat Pay public
// key id: PUB_KEY_ID_ followed by digits.
func ValidPublicKeyID(id string) bool {
	digits, ok := strings.CutPrefix(id, PublicKeyIDPrefix)
	if !ok || digits == "" || len(digits) > 64 {
		return false
	}
	for i := 0; i < len(digits); i++ {
		if digits[i] < '0' || digits[i] > '9' {
			return false
		}
	}
	return true
}

// ParsePublicKeyPEM reads an RSA public key from PEM: a PUBLIC KEY block
// (PKIX, as the merchant console's pub_key.pem) or an RSA PUBLIC KEY block
// (PKCS#1).
func ParsePublicKeyPEM(data []byte) (*rsa.PublicKey, error) {
	for rest := data; ; {
		var b *pem.Block
		if b, rest = pem.Decode(rest); b == nil {
			break
		}
		switch b.Type {
		case "PUBLIC KEY":
			k, err := x509.ParsePKIXPublicKey(b.Bytes)
			if err != nil {
				return nil, fmt.Errorf("apiv3: parsing the public key: %w", err)
			}
			rk, ok := k.(*rsa.PublicKey)
			if !ok {
				return nil, fmt.Errorf("apiv3: the public key is %T, not RSA", k)
			}
			return rk, nil
		case "RSA PUBLIC KEY":
			k, err := x509.ParsePKCS1PublicKey(b.Bytes)
			if err != nil {
				return nil, fmt.Errorf("apiv3: parsing the public key: %w", err)
			}
			return k, nil
		case "CERTIFICATE":
			return nil, errors.New("apiv3: the PEM holds a certificate, not a public key (platform certificates are for PlatformCertificates)")
		}
	}
	return nil, errors.New("apiv3: no PUBLIC KEY block in the PEM")
}

// CertificateSerial returns the serial number of cert as the merchant
// console and the platform write it: upper-case hex, two digits a byte.
func CertificateSerial(cert *x509.Certificate) string {
	return serialHex(cert.SerialNumber)
}

func serialHex(n *big.Int) string {
	return strings.ToUpper(hex.EncodeToString(n.Bytes()))
}

// Verify checks the signature headers and the signature of an answer or a
// notification (header and raw body): the headers are well formed,
// Wechatpay-Timestamp is within MaxSkew of the clock, the signature is not
// a probe, Wechatpay-Serial names a trusted platform key (in
// platform-certificate mode an unknown serial first makes the Transport
// download the certificates, at most once a minute), and the signature
// over timestamp, nonce and body verifies under that key. Every failure
// matches ErrUnverified. It returns the parsed headers.
func (t *Transport) Verify(ctx context.Context, h http.Header, body []byte) (SignatureHeaders, error) {
	if t.signer.Key == nil {
		return SignatureHeaders{}, errNotNew
	}
	return t.verifyWith(h, body, func(serial string) (*rsa.PublicKey, error) {
		return t.platformKey(ctx, serial)
	})
}

// verifyWith is Verify with the key lookup given.
func (t *Transport) verifyWith(h http.Header, body []byte, key func(serial string) (*rsa.PublicKey, error)) (SignatureHeaders, error) {
	sh, err := ParseSignatureHeaders(h)
	if err != nil {
		return sh, err
	}
	if strings.HasPrefix(sh.Signature, ProbePrefix) {
		return sh, ErrProbe
	}
	if err := checkSkew(sh.Timestamp, t.now()); err != nil {
		return sh, err
	}
	pub, err := key(sh.Serial)
	if err != nil {
		return sh, err
	}
	if err := VerifySignature(pub, ResponseMessage(sh.Timestamp, sh.Nonce, body), sh.Signature); err != nil {
		return sh, fmt.Errorf("%w (Wechatpay-Serial %s)", err, sh.Serial)
	}
	return sh, nil
}

// platformKey returns the trusted key named serial.
func (t *Transport) platformKey(ctx context.Context, serial string) (*rsa.PublicKey, error) {
	if t.pubID != "" && serial == t.pubID {
		return t.pub, nil
	}
	if t.certs == nil {
		return nil, fmt.Errorf("%w: %s is not PublicKeyID %s: set PublicKeyID and PublicKeyPEM to the key the merchant console shows, or turn on PlatformCertificates",
			ErrUnknownSerial, clip(serial), t.pubID)
	}
	pub, known, err := t.certs.key(serial, t.now())
	if err == nil || known {
		return pub, err
	}
	// A serial never seen may be a certificate the platform just put in
	// service: download the list (at most once a minute) and look again.
	ferr := t.certs.refresh(ctx, false)
	pub, _, err = t.certs.key(serial, t.now())
	if err == nil {
		return pub, nil
	}
	if ferr != nil {
		err = fmt.Errorf("%w; downloading the platform certificates failed: %v", err, ferr)
	}
	return nil, err
}
