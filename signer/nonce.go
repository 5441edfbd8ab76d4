package signer

import (
	"crypto/rand"
	"fmt"
	"io"
)

// NonceLength is the length of the nonces this package generates: the
// maximum nonce_str and nonceStr accept.
const NonceLength = 32

const nonceAlphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// nonceLimit is the largest multiple of len(nonceAlphabet) not above 256:
// bytes at or above it are rejected, so every character is equally likely.
const nonceLimit = 256 - 256%len(nonceAlphabet)

// Nonce returns NonceLength random characters of [0-9A-Za-z] from
// crypto/rand. It panics only if the operating system's random source
// fails, which crypto/rand itself treats as unrecoverable.
func Nonce() string {
	s, err := NewNonce(nil)
	if err != nil {
		panic(err)
	}
	return s
}

// NewNonce returns NonceLength characters of [0-9A-Za-z] drawn from r, or
// from crypto/rand when r is nil. Bytes that would bias the choice are
// rejected rather than reduced modulo the alphabet's size.
func NewNonce(r io.Reader) (string, error) {
	var out [NonceLength]byte
	if err := fillNonce(&out, r); err != nil {
		return "", err
	}
	return string(out[:]), nil
}

// fillNonce fills out with a nonce drawn from r (crypto/rand when nil).
func fillNonce(out *[NonceLength]byte, r io.Reader) error {
	if r == nil {
		fillNonceRand(out)
		return nil
	}
	var buf [NonceLength + NonceLength/4]byte
	for n := 0; n < NonceLength; {
		if _, err := io.ReadFull(r, buf[:]); err != nil {
			return fmt.Errorf("signer: reading randomness for a nonce: %w", err)
		}
		n = takeNonce(out, n, buf[:])
	}
	return nil
}

// fillNonceRand is fillNonce from crypto/rand, whose Read never fails; its
// buffer stays on the stack.
func fillNonceRand(out *[NonceLength]byte) {
	var buf [NonceLength + NonceLength/4]byte
	for n := 0; n < NonceLength; {
		_, _ = rand.Read(buf[:])
		n = takeNonce(out, n, buf[:])
	}
}

// takeNonce appends to out[n:] the characters the random bytes of buf
// give (rejecting those that would bias the choice) and returns the new n.
func takeNonce(out *[NonceLength]byte, n int, buf []byte) int {
	for _, c := range buf {
		if int(c) >= nonceLimit {
			continue
		}
		out[n] = nonceAlphabet[int(c)%len(nonceAlphabet)]
		if n++; n == NonceLength {
			break
		}
	}
	return n
}
