package apiv3

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/hongbao-go/hongbao/signer"
)

// SchemeRSA is the Authorization scheme and Wechatpay-Signature-Type of
// SHA256withRSA signatures (RSASSA-PKCS1-v1_5 with SHA-256).
const SchemeRSA = "WECHATPAY2-SHA256-RSA2048"

// NonceLength is the length of the nonces NewNonce draws.
const NonceLength = signer.NonceLength

// RequestMessage returns the message a request's signature covers:
// METHOD, URL (path and query as sent), timestamp (Unix seconds), nonce and
// body, each followed by '\n'. A request without a body has an empty last
// line.
func RequestMessage(method, url string, timestamp int64, nonce string, body []byte) []byte {
	b := make([]byte, 0, len(method)+len(url)+len(nonce)+len(body)+25)
	b = append(b, method...)
	b = append(b, '\n')
	b = append(b, url...)
	b = append(b, '\n')
	b = strconv.AppendInt(b, timestamp, 10)
	b = append(b, '\n')
	b = append(b, nonce...)
	b = append(b, '\n')
	b = append(b, body...)
	return append(b, '\n')
}

// ResponseMessage returns the message the signature of an answer or a
// notification covers: timestamp, nonce and body, each followed by '\n'.
func ResponseMessage(timestamp int64, nonce string, body []byte) []byte {
	b := make([]byte, 0, len(nonce)+len(body)+23)
	b = strconv.AppendInt(b, timestamp, 10)
	b = append(b, '\n')
	b = append(b, nonce...)
	b = append(b, '\n')
	b = append(b, body...)
	return append(b, '\n')
}

// SignMessage returns the base64 (standard, padded) SHA256withRSA
// signature of message under key. RSASSA-PKCS1-v1_5 is deterministic: the
// same key and message always give the same signature.
func SignMessage(key *rsa.PrivateKey, message []byte) (string, error) {
	if key == nil {
		return "", errors.New("apiv3: no signing key")
	}
	sum := sha256.Sum256(message)
	sig, err := rsa.SignPKCS1v15(nil, key, crypto.SHA256, sum[:])
	if err != nil {
		return "", fmt.Errorf("apiv3: signing: %w", err)
	}
	return base64.StdEncoding.EncodeToString(sig), nil
}

// Signer signs requests as the merchant. Its methods are pure functions of
// their arguments: the time and the nonce are passed in.
type Signer struct {
	// MchID is the merchant id, the mchid of the Authorization header.
	MchID string
	// Serial is the serial number of the merchant API certificate, upper
	// case hex as the merchant console shows it.
	Serial string
	// Key is the merchant API private key (apiclient_key.pem).
	Key *rsa.PrivateKey
}

// Authorization returns the Authorization header value of a request:
//
//	WECHATPAY2-SHA256-RSA2048 mchid="…",serial_no="…",timestamp="…",nonce_str="…",signature="…"
//
// method is the HTTP method, url the path and query as sent (no scheme or
// host), body the exact bytes sent (nil for none). Nothing is modified.
func (s *Signer) Authorization(method, url string, body []byte, timestamp int64, nonce string) (string, error) {
	if err := s.check(method, url, timestamp, nonce); err != nil {
		return "", err
	}
	sig, err := SignMessage(s.Key, RequestMessage(method, url, timestamp, nonce, body))
	if err != nil {
		return "", err
	}
	return FormatAuthorization(AuthorizationHeader{MchID: s.MchID, Serial: s.Serial, Timestamp: timestamp, Nonce: nonce, Signature: sig}), nil
}

func (s *Signer) check(method, url string, timestamp int64, nonce string) error {
	switch {
	case s.Key == nil:
		return errors.New("apiv3: Signer has no Key")
	case !quotable(s.MchID):
		return errors.New("apiv3: Signer.MchID is empty or holds a character an Authorization value cannot carry")
	case !quotable(s.Serial):
		return errors.New("apiv3: Signer.Serial is empty or holds a character an Authorization value cannot carry")
	case !quotable(nonce):
		return errors.New("apiv3: the nonce is empty or holds a character an Authorization value cannot carry")
	case timestamp < 0:
		return errors.New("apiv3: the timestamp is negative")
	case !token(method):
		return fmt.Errorf("apiv3: method %q is not an HTTP method", method)
	case !strings.HasPrefix(url, "/") || strings.ContainsAny(url, "\r\n"):
		return fmt.Errorf("apiv3: url %q is not a path and query", url)
	}
	return nil
}

// quotable reports whether v is non-empty and can stand between the quotes
// of an Authorization parameter: printable ASCII without '"', '\\' or ','.
func quotable(v string) bool {
	if v == "" {
		return false
	}
	for i := 0; i < len(v); i++ {
		if c := v[i]; c <= ' ' || c >= 0x7f || c == '"' || c == '\\' || c == ',' {
			return false
		}
	}
	return true
}

// token reports whether m is a non-empty run of upper-case letters.
func token(m string) bool {
	if m == "" {
		return false
	}
	for i := 0; i < len(m); i++ {
		if m[i] < 'A' || m[i] > 'Z' {
			return false
		}
	}
	return true
}

// NewNonce returns NonceLength characters drawn uniformly from
// [0-9A-Za-z], from r (crypto/rand when nil): the nonces of package signer.
func NewNonce(r io.Reader) (string, error) {
	n, err := signer.NewNonce(r)
	if err != nil {
		// signer's only error wraps the source's.
		return "", fmt.Errorf("apiv3: reading randomness for a nonce: %w", errors.Unwrap(err))
	}
	return n, nil
}
