package signer

import (
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Algorithm names a signature algorithm as the sign_type field spells it.
type Algorithm string

const (
	// MD5 is the default APIv2 algorithm and the only one red-packet
	// endpoints accept.
	MD5 Algorithm = "MD5"
	// HMACSHA256 is selected by sign_type=HMAC-SHA256.
	HMACSHA256 Algorithm = "HMAC-SHA256"
)

// KeyLength is the length in bytes of an APIv2 key.
const KeyLength = 32

var (
	// ErrKeyLength reports an API key that is not KeyLength bytes long.
	ErrKeyLength = errors.New("signer: the APIv2 key must be 32 bytes")
	// ErrNoSign reports a parameter set without a sign field to verify.
	ErrNoSign = errors.New("signer: no sign field")
	// ErrMalformedSign reports a sign that is neither 32 nor 64 hex digits.
	ErrMalformedSign = errors.New("signer: malformed sign")
	// ErrSignMismatch reports a sign that does not match the parameters.
	ErrSignMismatch = errors.New("signer: sign does not match")
	// ErrUnknownSignType reports a sign_type other than MD5 or HMAC-SHA256.
	ErrUnknownSignType = errors.New("signer: unknown sign_type")
)

// Signer signs and verifies APIv2 parameter sets with one API key. It is
// immutable and safe for concurrent use.
type Signer struct {
	// key sits behind a pointer so that fmt verbs that bypass String
	// (%#v, %d, a Signer value) print an address, never the key.
	key *[KeyLength]byte
}

// New returns a Signer for the APIv2 key, which must be exactly 32 bytes.
func New(apiKey string) (*Signer, error) {
	if len(apiKey) != KeyLength {
		return nil, fmt.Errorf("%w, got %d", ErrKeyLength, len(apiKey))
	}
	key := new([KeyLength]byte)
	copy(key[:], apiKey)
	return &Signer{key: key}, nil
}

// String never reveals the key.
func (s *Signer) String() string { return "signer.Signer{key: [redacted]}" }

// AlgorithmOf returns the algorithm the parameters ask for through sign_type:
// MD5 when sign_type is absent or empty.
func AlgorithmOf(p map[string]string) (Algorithm, error) {
	switch t := p["sign_type"]; t {
	case "", string(MD5):
		return MD5, nil
	case string(HMACSHA256):
		return HMACSHA256, nil
	default:
		return "", fmt.Errorf("%w %q", ErrUnknownSignType, truncate(t, 32))
	}
}

// Sign returns the upper-case hex signature of p with the algorithm that
// p's sign_type selects. p is not modified.
func (s *Signer) Sign(p map[string]string) (string, error) {
	alg, err := AlgorithmOf(p)
	if err != nil {
		return "", err
	}
	return s.SignWith(alg, p), nil
}

// SignWith returns the upper-case hex signature of p with alg, whatever
// sign_type says. Any algorithm other than HMACSHA256 means MD5.
func (s *Signer) SignWith(alg Algorithm, p map[string]string) string {
	var out [sha256.Size]byte
	n := s.digest(out[:0], alg, p)
	var hexBuf [2 * sha256.Size]byte
	return string(appendUpperHex(hexBuf[:0], n))
}

// Verify checks p["sign"] against the other fields in constant time. The
// algorithm follows the length of the sign (32 hex digits MD5, 64
// HMAC-SHA256); when p also carries a sign_type, the two must agree. Upper
// and lower-case hex are both accepted.
func (s *Signer) Verify(p map[string]string) error {
	sign, ok := p["sign"]
	if !ok || sign == "" {
		return ErrNoSign
	}
	var alg Algorithm
	switch len(sign) {
	case 2 * md5.Size:
		alg = MD5
	case 2 * sha256.Size:
		alg = HMACSHA256
	default:
		return fmt.Errorf("%w: %d characters, want 32 (MD5) or 64 (HMAC-SHA256)", ErrMalformedSign, len(sign))
	}
	if t, ok := p["sign_type"]; ok && t != "" {
		declared, err := AlgorithmOf(p)
		if err != nil {
			return err
		}
		if declared != alg {
			return fmt.Errorf("%w: sign_type is %s but the sign has the length of %s", ErrMalformedSign, declared, alg)
		}
	}
	var given [sha256.Size]byte
	if _, err := hex.Decode(given[:], []byte(sign)); err != nil {
		return fmt.Errorf("%w: not hexadecimal", ErrMalformedSign)
	}
	var want [sha256.Size]byte
	sum := s.digest(want[:0], alg, p)
	if subtle.ConstantTimeCompare(sum, given[:len(sum)]) != 1 {
		return ErrSignMismatch
	}
	return nil
}

// digest appends the raw digest of p's sign string to dst.
func (s *Signer) digest(dst []byte, alg Algorithm, p map[string]string) []byte {
	if alg == HMACSHA256 {
		m := hmac.New(sha256.New, s.key[:])
		m.Write(s.appendSignString(make([]byte, 0, 512), p))
		return append(dst, m.Sum(nil)...)
	}
	var buf [512]byte
	sum := md5.Sum(s.appendSignString(buf[:0], p))
	return append(dst, sum[:]...)
}

// appendSignString appends stringSignTemp (stringA + "&key=" + key) to dst.
// The result holds the key: it must never leave this package.
func (s *Signer) appendSignString(dst []byte, p map[string]string) []byte {
	dst = appendStringA(dst, p)
	dst = append(dst, "&key="...)
	return append(dst, s.key[:]...)
}

type field struct{ k, v string }

// maxStackFields is how many fields sort without allocating: enough for any
// APIv2 request.
const maxStackFields = 24

// appendStringA appends the sorted k=v&k=v form of p's non-empty fields,
// sign excluded, to dst.
func appendStringA(dst []byte, p map[string]string) []byte {
	var buf [maxStackFields]field
	fs := buf[:0]
	for k, v := range p {
		if v != "" && k != "sign" {
			fs = append(fs, field{k, v})
		}
	}
	if len(fs) > maxStackFields {
		slices.SortFunc(fs, func(a, b field) int { return strings.Compare(a.k, b.k) })
		return appendFields(dst, fs)
	}
	// Insertion sort: faster than a general sort for the dozen fields of
	// an APIv2 call.
	for i := 1; i < len(fs); i++ {
		x := fs[i]
		j := i
		for ; j > 0 && less(x.k, fs[j-1].k); j-- {
			fs[j] = fs[j-1]
		}
		fs[j] = x
	}
	return appendFields(dst, fs)
}

// less orders names by byte value; most names differ in their first byte.
func less(a, b string) bool {
	if len(a) > 0 && len(b) > 0 && a[0] != b[0] {
		return a[0] < b[0]
	}
	return a < b
}

// appendFields writes fs as k=v joined by '&'.
func appendFields(dst []byte, fs []field) []byte {
	w := len(dst)
	n := w + 2*len(fs)
	for _, f := range fs {
		n += len(f.k) + len(f.v)
	}
	if len(fs) > 0 {
		n-- // no '&' before the first field
	}
	if n > cap(dst) {
		dst = slices.Grow(dst, n-len(dst))
	}
	dst = dst[:n]
	for i := range fs {
		f := fs[i]
		if i > 0 {
			dst[w] = '&'
			w++
		}
		w += copy(dst[w:], f.k)
		dst[w] = '='
		w++
		w += copy(dst[w:], f.v)
	}
	return dst
}

const upperDigits = "0123456789ABCDEF"

func appendUpperHex(dst, src []byte) []byte {
	for _, c := range src {
		dst = append(dst, upperDigits[c>>4], upperDigits[c&0x0f])
	}
	return dst
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
