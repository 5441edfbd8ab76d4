package hongbao_test

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hongbao-go/hongbao"
)

var testBillnoKey = []byte("0123456789abcdef-billno-key")

func TestDeriveBillnoGolden(t *testing.T) {
	// Golden values (cross-checked with an independent implementation of
	// the documented construction): a change here changes every merchant's bill numbers,
	// which would let a grant in flight be paid twice. Never update them
	// without a migration plan.
	cases := []struct{ mch, grant, openid, want string }{
		{"1900000109", "spring-2026", "oxTWIuGaIt6gTKsQRLau2M0yL16E", "1900000109hriRcMD8Q7c8GkJzdP"},
		{"1900000109", "spring-2026", "oxTWIuGaIt6gTKsQRLau2M0yL16F", "19000001096iTC2N9vrv9Gd5bEbO"},
		{"1900000109", "spring-2027", "oxTWIuGaIt6gTKsQRLau2M0yL16E", "1900000109xpRHObku48RWkTet5L"},
		{"10000100", "猜灯谜", "oeDV3t7xy1IkfYFzgOsCZvdRjb45", "100001006c8RLB8A5873fyzPnTfh"},
	}
	for _, c := range cases {
		got, err := hongbao.DeriveBillno(testBillnoKey, c.mch, c.grant, c.openid)
		if err != nil {
			t.Fatal(err)
		}
		if got != c.want {
			t.Errorf("DeriveBillno(%s, %s, %s) = %s, want %s", c.mch, c.grant, c.openid, got, c.want)
		}
		if len(got) != hongbao.MaxBillnoLength || !strings.HasPrefix(got, c.mch) {
			t.Errorf("%s: wrong shape", got)
		}
		again, _ := hongbao.DeriveBillno(testBillnoKey, c.mch, c.grant, c.openid)
		if again != got {
			t.Errorf("not deterministic: %s then %s", got, again)
		}
	}
	// The key matters.
	a, _ := hongbao.DeriveBillno(testBillnoKey, "1900000109", "g", "o1")
	b, _ := hongbao.DeriveBillno([]byte("another-key-of-16+bytes"), "1900000109", "g", "o1")
	if a == b {
		t.Fatal("the key does not change the number")
	}
	// Length prefixes: moving a character between grant key and openid
	// changes the number.
	c1, _ := hongbao.DeriveBillno(testBillnoKey, "1900000109", "ab", "c1")
	c2, _ := hongbao.DeriveBillno(testBillnoKey, "1900000109", "a", "bc1")
	if c1 == c2 {
		t.Fatal("grant/openid boundary is ambiguous")
	}
}

func TestDeriveAttemptBillno(t *testing.T) {
	// Golden values from an independent implementation of the documented
	// construction. Attempt 0 is DeriveBillno's number: no paid grant
	// changes number.
	const mch, grant, openid = "1900000109", "spring-2026", "oxTWIuGaIt6gTKsQRLau2M0yL16E"
	want := []string{"1900000109hriRcMD8Q7c8GkJzdP", "19000001099TwUCdoRiK3BHOkeYn", "1900000109GJRhTEvV2XgJW4J4VJ", "1900000109krO03891S5ow0PAquo"}
	for n, w := range want {
		got, err := hongbao.DeriveAttemptBillno(testBillnoKey, mch, grant, openid, n)
		if err != nil || got != w {
			t.Errorf("attempt %d: %s, %v; want %s", n, got, err, w)
		}
	}
	// Attempts never meet another grant's numbers, whatever its key: the
	// attempt is a part of its own in the HMAC input.
	seen := map[string]string{}
	for _, g := range []string{"a", "a1", "a\x001", "1"} {
		for n := 0; n < 50; n++ {
			b, err := hongbao.DeriveAttemptBillno(testBillnoKey, mch, g, openid, n)
			if err != nil {
				t.Fatal(err)
			}
			id := fmt.Sprintf("%q#%d", g, n)
			if other, dup := seen[b]; dup {
				t.Fatalf("%s and %s share bill number %s", id, other, b)
			}
			seen[b] = id
		}
	}
	if _, err := hongbao.DeriveAttemptBillno(testBillnoKey, mch, grant, openid, -1); err == nil {
		t.Error("negative attempt accepted")
	}
}

func TestDeriveBillnoErrors(t *testing.T) {
	cases := []struct {
		name               string
		key                []byte
		mch, grant, openid string
	}{
		{"short key", []byte("short"), "1900000109", "g", "o"},
		{"empty mch", testBillnoKey, "", "g", "o"},
		{"mch not alnum", testBillnoKey, "1900-0109", "g", "o"},
		{"mch too long", testBillnoKey, strings.Repeat("1", 13), "g", "o"},
		{"empty grant", testBillnoKey, "1900000109", "", "o"},
		{"empty openid", testBillnoKey, "1900000109", "g", ""},
		{"openid with space", testBillnoKey, "1900000109", "g", "o x"},
	}
	for _, c := range cases {
		if _, err := hongbao.DeriveBillno(c.key, c.mch, c.grant, c.openid); err == nil {
			t.Errorf("%s: accepted", c.name)
		}
	}
}

func TestDeriveBillnoNoCollisions(t *testing.T) {
	n := 1_000_000
	if testing.Short() {
		n = 100_000
	}
	seen := make(map[string]struct{}, n)
	var openid [28]byte
	copy(openid[:], "oxTWIuGaIt6gTKsQRLau2M000000")
	for i := 0; i < n; i++ {
		// 1,000 campaigns x 1,000 users.
		x := i % 1000
		for j := 27; j >= 22; j-- {
			openid[j] = byte('0' + x%10)
			x /= 10
		}
		grant := "campaign-" + string(rune('A'+i/1000%26)) + string(rune('a'+i/26000))
		b, err := hongbao.DeriveBillno(testBillnoKey, "1900000109", grant, string(openid[:]))
		if err != nil {
			t.Fatal(err)
		}
		if _, dup := seen[b]; dup {
			t.Fatalf("collision after %d numbers: %s", i, b)
		}
		seen[b] = struct{}{}
	}
	if len(seen) != n {
		t.Fatalf("%d distinct of %d", len(seen), n)
	}
}

func TestDatedBillno(t *testing.T) {
	at := time.Date(2026, 11, 28, 17, 0, 0, 0, time.UTC) // 01:00 on the 29th in Beijing
	b, err := hongbao.DatedBillno("1900000109", at, bytes.NewReader([]byte{255, 251, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10}))
	if err != nil {
		t.Fatal(err)
	}
	if b != "1900000109202611290123456789" {
		t.Fatalf("got %s", b)
	}
	if _, err := hongbao.DatedBillno("1900000109", at, bytes.NewReader(nil)); err == nil {
		t.Fatal("exhausted randomness accepted")
	}
	if _, err := hongbao.DatedBillno("12345678901", at, nil); err == nil {
		t.Fatal("mch_id too long for 28 characters accepted")
	}
	x, _ := hongbao.DatedBillno("1900000109", at, nil)
	y, _ := hongbao.DatedBillno("1900000109", at, nil)
	if x == y || len(x) != 28 {
		t.Fatalf("random part: %s %s", x, y)
	}
}

func BenchmarkDeriveBillno(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := hongbao.DeriveBillno(testBillnoKey, "1900000109", "spring-2026", "oxTWIuGaIt6gTKsQRLau2M0yL16E"); err != nil {
			b.Fatal(err)
		}
	}
}
