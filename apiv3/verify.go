package apiv3

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"
)

// ProbePrefix starts the wrong signatures the platform sends on purpose to
// check that merchants verify.
const ProbePrefix = "WECHATPAY/SIGNTEST/"

// MaxSkew is the most a Wechatpay-Timestamp may differ from the local
// clock.
const MaxSkew = 300 * time.Second

// VerifySignature checks that signature (base64, standard) is the
// SHA256withRSA signature of message under pub. It returns nil, or an error
// matching ErrProbe for the platform's probe signature and ErrSignature for
// any other mismatch (both match ErrUnverified).
func VerifySignature(pub *rsa.PublicKey, message []byte, signature string) error {
	if strings.HasPrefix(signature, ProbePrefix) {
		return ErrProbe
	}
	if pub == nil {
		return fmt.Errorf("%w: no key", ErrSignature)
	}
	sig, err := base64.StdEncoding.DecodeString(signature)
	if err != nil {
		return fmt.Errorf("%w: not base64", ErrSignature)
	}
	if len(sig) != pub.Size() {
		return fmt.Errorf("%w: %d bytes long, the key's signatures are %d", ErrSignature, len(sig), pub.Size())
	}
	sum := sha256.Sum256(message)
	if rsa.VerifyPKCS1v15(pub, crypto.SHA256, sum[:], sig) != nil {
		return ErrSignature
	}
	return nil
}

// SignAnswer returns the signature headers the platform sends with body,
// signed by key under the key id serial: for fake platforms and tests
// that produce signed answers and notifications.
func SignAnswer(key *rsa.PrivateKey, serial string, timestamp int64, nonce string, body []byte) (SignatureHeaders, error) {
	if !quotable(serial) || !quotable(nonce) {
		return SignatureHeaders{}, errors.New("apiv3: SignAnswer: serial and nonce must be printable ASCII")
	}
	sig, err := SignMessage(key, ResponseMessage(timestamp, nonce, body))
	if err != nil {
		return SignatureHeaders{}, err
	}
	return SignatureHeaders{Timestamp: timestamp, Nonce: nonce, Signature: sig, Serial: serial}, nil
}

// checkSkew returns ErrStale, with details, when ts is more than MaxSkew
// from now.
func checkSkew(ts int64, now time.Time) error {
	d := now.Unix() - ts
	if d > int64(MaxSkew/time.Second) || -d > int64(MaxSkew/time.Second) {
		return fmt.Errorf("%w (Wechatpay-Timestamp %d, local clock %d: %+d s)", ErrStale, ts, now.Unix(), -d)
	}
	return nil
}
