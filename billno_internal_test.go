package hongbao

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"
	"math/bits"
	"strconv"
	"testing"
)

// referenceBillno is the derivation written digit by digit, as first
// specified: the optimised one must give the same numbers.
func referenceBillno(key []byte, domain, mchID, grantKey, openID string, attempt, size int) string {
	m := hmac.New(sha256.New, key)
	var n [8]byte
	var parts []string
	if domain != "" {
		parts = append(parts, domain)
	}
	parts = append(parts, mchID, grantKey, openID)
	if attempt > 0 {
		parts = append(parts, strconv.Itoa(attempt))
	}
	for _, part := range parts {
		binary.BigEndian.PutUint64(n[:], uint64(len(part)))
		m.Write(n[:])
		io.WriteString(m, part)
	}
	sum := m.Sum(nil)
	var limbs [4]uint64
	for i := range limbs {
		limbs[i] = binary.BigEndian.Uint64(sum[8*i:])
	}
	out := []byte(mchID)
	for len(out) < size {
		var r uint64
		for j := range limbs {
			limbs[j], r = bits.Div64(r, limbs[j], 62)
		}
		out = append(out, base62[r])
	}
	return string(out)
}

func TestDeriveBillnoMatchesReference(t *testing.T) {
	key := []byte("a-reference-billno-key")
	macs := newBillnoMACs(key)
	for _, c := range []struct {
		domain string
		size   int
	}{{"", MaxBillnoLength}, {"transfer/", 32}, {"x-", 20}} {
		for _, mchID := range []string{"1", "190000010", "1900000109", "123456789012"} {
			for i := range 300 {
				openID := fmt.Sprintf("oRef%024d", i)
				attempt := i % 4
				want := referenceBillno(key, c.domain, mchID, "grant", openID, attempt, c.size)
				got, err := deriveNumber(key, c.domain, mchID, "grant", openID, attempt, c.size)
				pooled, perr := macs.derive(c.domain, mchID, "grant", openID, attempt, c.size)
				if err != nil || perr != nil || got != want || pooled != want {
					t.Fatalf("%q %s %s %d: %q %q, want %q (%v %v)", c.domain, mchID, openID, attempt, got, pooled, want, err, perr)
				}
				if c.domain == "" {
					if d, _ := DeriveAttemptBillno(key, mchID, "grant", openID, attempt); d != want {
						t.Fatalf("DeriveAttemptBillno %q, want %q", d, want)
					}
				}
			}
		}
	}
}
