package apiv3

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/base64"
	"errors"
	"fmt"
)

// AlgorithmAESGCM is the algorithm name of AES-256-GCM ciphertexts
// (notification resources, platform certificates).
const AlgorithmAESGCM = "AEAD_AES_256_GCM"

// APIv3KeyLength is the length of the APIv3 key in bytes.
const APIv3KeyLength = 32

// gcmNonceLength is the nonce length of AES-GCM as the platform uses it.
const gcmNonceLength = 12

// newAEAD returns AES-256-GCM under key, which must be APIv3KeyLength
// bytes.
func newAEAD(key []byte) (cipher.AEAD, error) {
	if len(key) != APIv3KeyLength {
		return nil, fmt.Errorf("apiv3: the APIv3 key must be %d bytes, not %d", APIv3KeyLength, len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("apiv3: %w", err)
	}
	return cipher.NewGCM(block)
}

// open decrypts ciphertext (base64 of ciphertext and 16-byte tag) with
// nonce (12 bytes) and associatedData. Every failure matches ErrDecrypt.
func open(aead cipher.AEAD, nonce, associatedData, ciphertext string) ([]byte, error) {
	if len(nonce) != gcmNonceLength {
		return nil, fmt.Errorf("%w: the nonce is %d bytes, not %d", ErrDecrypt, len(nonce), gcmNonceLength)
	}
	data, err := base64.StdEncoding.DecodeString(ciphertext)
	if err != nil {
		return nil, fmt.Errorf("%w: the ciphertext is not base64", ErrDecrypt)
	}
	if len(data) < aead.Overhead() {
		return nil, fmt.Errorf("%w: the ciphertext is shorter than its tag", ErrDecrypt)
	}
	plain, err := aead.Open(data[:0], []byte(nonce), data, []byte(associatedData))
	if err != nil {
		return nil, ErrDecrypt
	}
	return plain, nil
}

// DecryptAESGCM decrypts a ciphertext of the platform: key is the 32-byte
// APIv3 key, nonce the 12-byte nonce string, associatedData the
// associated_data string, ciphertext the base64 of the ciphertext followed
// by its 16-byte tag. Every failure matches ErrDecrypt, except a key of
// the wrong length.
func DecryptAESGCM(key []byte, nonce, associatedData, ciphertext string) ([]byte, error) {
	aead, err := newAEAD(key)
	if err != nil {
		return nil, err
	}
	return open(aead, nonce, associatedData, ciphertext)
}

// EncryptAESGCM is the inverse of DecryptAESGCM: for fake platforms and
// tests.
func EncryptAESGCM(key []byte, nonce, associatedData string, plaintext []byte) (string, error) {
	aead, err := newAEAD(key)
	if err != nil {
		return "", err
	}
	if len(nonce) != gcmNonceLength {
		return "", errors.New("apiv3: EncryptAESGCM: the nonce must be 12 bytes")
	}
	return base64.StdEncoding.EncodeToString(aead.Seal(nil, []byte(nonce), plaintext, []byte(associatedData))), nil
}
