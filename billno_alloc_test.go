//go:build !race

package hongbao

import "testing"

// Allocation counts hold without the race detector only: under it,
// sync.Pool drops some of what it is given, on purpose.

// A pooled derivation allocates only its result.
func TestPooledBillnoAllocs(t *testing.T) {
	macs := newBillnoMACs([]byte("a-reference-billno-key"))
	if _, err := macs.derive("", "1900000109", "grant", "oRef000000000000000000000001", 2, MaxBillnoLength); err != nil {
		t.Fatal(err)
	}
	if n := testing.AllocsPerRun(200, func() {
		_, _ = macs.derive("", "1900000109", "grant", "oRef000000000000000000000001", 2, MaxBillnoLength)
	}); n > 1 {
		t.Errorf("%v allocations per bill number", n)
	}
}
