package hongbao

import (
	"crypto/hmac"
	crand "crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"io"
	"math/bits"
	"strconv"
	"sync"
	"time"
)

const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// MinBillnoKeyLength is the shortest BillnoKey accepted.
const MinBillnoKeyLength = 16

// minDerivedChars is the fewest base62 characters DeriveBillno writes after
// the mch_id: 16 characters carry 95 bits, so that even a billion grants a
// day collide with odds below 1 in 10^10.
const minDerivedChars = 16

// DeriveBillno returns the bill number of the grant (grantKey, openID):
// mchID followed by base62 characters of HMAC-SHA256(key, grantKey,
// openID), filling the 28-character limit. The same inputs give the same
// number on every replica, after every restart and on every retry, so the
// platform's idempotency by mch_billno makes a second payout of one grant
// impossible without any shared state. Different grants get different
// numbers with overwhelming probability (10 digits of mch_id leave 18
// characters, 107 bits).
//
// grantKey is what makes two taps "the same" red packet, for example a
// campaign name; it and openID are length-prefixed in the HMAC input so no
// two different pairs produce the same input.
func DeriveBillno(key []byte, mchID, grantKey, openID string) (string, error) {
	return DeriveAttemptBillno(key, mchID, grantKey, openID, 0)
}

// DeriveAttemptBillno returns the bill number of attempt n (n >= 0) of the
// grant (grantKey, openID). Attempt 0 is DeriveBillno's number; attempt n
// > 0 adds n, length-prefixed like the other parts, to the HMAC input, so
// its number differs from every attempt of every grant. A new attempt is a
// new payout at the platform: move to attempt n+1 only once the platform
// reports attempt n closed (gethbinfo FAILED, or REFUND), as the claim
// handler does.
func DeriveAttemptBillno(key []byte, mchID, grantKey, openID string, attempt int) (string, error) {
	return deriveNumber(key, "", mchID, grantKey, openID, attempt, MaxBillnoLength)
}

// deriveNumber returns the number of attempt n of the grant (grantKey,
// openID) in domain, size characters long: mchID followed by base62
// characters of the HMAC. The empty domain is the red packets' (its input
// starts with the mch_id); another domain is written first, as a part of
// its own, and must hold a character no mch_id has, so that no input of
// one domain is an input of another.
func deriveNumber(key []byte, domain, mchID, grantKey, openID string, attempt, size int) (string, error) {
	if attempt < 0 {
		return "", errors.New("hongbao: the attempt number is negative")
	}
	if len(key) < MinBillnoKeyLength {
		return "", fmt.Errorf("hongbao: the bill number key must be at least %d bytes", MinBillnoKeyLength)
	}
	return deriveWith(&billnoMAC{h: hmac.New(sha256.New, key)}, domain, mchID, grantKey, openID, attempt, size)
}

// billnoMAC is an HMAC-SHA256 under the bill number key, ready (new or
// Reset), with room to build its input.
type billnoMAC struct {
	h   hash.Hash
	buf []byte
	sum [sha256.Size]byte
}

// deriveWith is deriveNumber with m.
func deriveWith(m *billnoMAC, domain, mchID, grantKey, openID string, attempt, size int) (string, error) {
	if attempt < 0 {
		return "", errors.New("hongbao: the attempt number is negative")
	}
	if err := checkMchID(mchID); err != nil {
		return "", err
	}
	if grantKey == "" {
		return "", errors.New("hongbao: the grant key is empty")
	}
	if err := validateOpenID("openid", openID); err != nil {
		return "", err
	}
	in := m.buf[:0]
	if domain != "" {
		in = appendPart(in, domain)
	}
	for _, p := range [...]string{mchID, grantKey, openID} {
		in = appendPart(in, p)
	}
	if attempt > 0 {
		// The encoding is prefix-free: a fourth part can never make
		// the input of a three-part one.
		var a [20]byte
		in = appendPart(in, strconv.AppendInt(a[:0], int64(attempt), 10))
	}
	m.h.Write(in)
	m.buf = in[:0]
	sum := m.h.Sum(m.sum[:0])
	// The digest as a 256-bit number in four limbs, written in base 62
	// from its least significant digit: 256 bits give 42 digits, more
	// than the 31 at most needed.
	var limbs [4]uint64
	for i := range limbs {
		limbs[i] = binary.BigEndian.Uint64(sum[8*i:])
	}
	var buf [42]byte
	out := buf[:size]
	copy(out, mchID)
	// Ten digits at a time: the remainder of a division by 62^10 (one
	// pass of four 128-by-64 divisions) holds the next ten digits, which
	// then come out of a uint64 by divisions by the constant 62.
	for i := len(mchID); i < size; {
		var r uint64
		for j := range limbs {
			limbs[j], r = bits.Div64(r, limbs[j], pow62to10)
		}
		for k := 0; k < 10 && i < size; k++ {
			out[i] = base62[r%62]
			r /= 62
			i++
		}
	}
	return string(out), nil
}

// appendPart appends p to in, after its length as 8 big-endian bytes.
func appendPart[S string | []byte](in []byte, p S) []byte {
	in = binary.BigEndian.AppendUint64(in, uint64(len(p)))
	return append(in, p...)
}

// pow62to10 is 62^10, the largest power of 62 below 2^64 that makes whole
// groups of digits.
const pow62to10 = 62 * 62 * 62 * 62 * 62 * 62 * 62 * 62 * 62 * 62

// billnoMACs keeps keyed HMACs for reuse, so that deriving a bill number
// does not key a new one each time; safe for concurrent use.
type billnoMACs struct {
	pool sync.Pool
}

func newBillnoMACs(key []byte) *billnoMACs {
	key = append([]byte(nil), key...)
	return &billnoMACs{pool: sync.Pool{New: func() any {
		return &billnoMAC{h: hmac.New(sha256.New, key), buf: make([]byte, 0, 128)}
	}}}
}

// derive is deriveNumber under the pool's key.
func (p *billnoMACs) derive(domain, mchID, grantKey, openID string, attempt, size int) (string, error) {
	m := p.pool.Get().(*billnoMAC)
	m.h.Reset()
	b, err := deriveWith(m, domain, mchID, grantKey, openID, attempt, size)
	p.pool.Put(m)
	return b, err
}
func checkMchID(mchID string) error {
	if mchID == "" {
		return errors.New("hongbao: mch_id is empty")
	}
	for i := 0; i < len(mchID); i++ {
		if !isAlnum(mchID[i]) {
			return fmt.Errorf("hongbao: mch_id %q is not alphanumeric", mchID)
		}
	}
	if len(mchID) > MaxBillnoLength-minDerivedChars {
		return fmt.Errorf("hongbao: mch_id %q is too long to leave %d characters of bill number", mchID, minDerivedChars)
	}
	return nil
}

// DatedBillno returns a bill number of the form the platform's pages
// suggest: mch_id, yyyymmdd (Beijing time) and 10 random digits. It is
// offered for merchants whose reconciliation expects that form, but it is
// NOT safe at scale and not idempotent: each call gives a new number, so a
// retry that calls it again pays twice, and 10 random digits collide by the
// birthday bound, n²/(2·10^10) expected pairs a day: about 39% odds of at
// least one collision among 100,000 numbers in a day, and even odds near
// 118,000. A collision with another user's number is refused as FATAL_ERROR
// at best. Prefer DeriveBillno. rand defaults to crypto/rand.
func DatedBillno(mchID string, t time.Time, rand io.Reader) (string, error) {
	if err := checkMchID(mchID); err != nil {
		return "", err
	}
	if len(mchID)+18 > MaxBillnoLength {
		return "", fmt.Errorf("hongbao: mch_id %q is too long for the dated form", mchID)
	}
	if rand == nil {
		rand = crand.Reader
	}
	out := make([]byte, 0, len(mchID)+18)
	out = append(out, mchID...)
	out = t.In(beijing).AppendFormat(out, "20060102")
	var b [1]byte
	for len(out) < cap(out) {
		if _, err := io.ReadFull(rand, b[:]); err != nil {
			return "", fmt.Errorf("hongbao: reading randomness: %w", err)
		}
		if b[0] < 250 { // 250 = 25*10: no modulo bias
			out = append(out, '0'+b[0]%10)
		}
	}
	return string(out), nil
}
