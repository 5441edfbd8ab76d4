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
func referenceBillno(key []byte, mchID, grantKey, openID string, attempt int) string {
	m := hmac.New(sha256.New, key)
	var n [8]byte
	parts := []string{mchID, grantKey, openID}
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
	for len(out) < MaxBillnoLength {
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
	for _, mchID := range []string{"1", "190000010", "1900000109", "123456789012"} {
		for i := range 300 {
			openID := fmt.Sprintf("oRef%024d", i)
			attempt := i % 4
			want := referenceBillno(key, mchID, "grant", openID, attempt)
			got, err := DeriveAttemptBillno(key, mchID, "grant", openID, attempt)
			pooled, perr := macs.derive(mchID, "grant", openID, attempt)
			if err != nil || perr != nil || got != want || pooled != want {
				t.Fatalf("%s %s %d: %q %q, want %q (%v %v)", mchID, openID, attempt, got, pooled, want, err, perr)
			}
		}
	}
}
