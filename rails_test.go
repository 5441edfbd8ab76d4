package hongbao_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"math/big"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hongbao-go/hongbao"
)

// referenceNumber re-implements the documented construction directly:
// HMAC-SHA256 over length-prefixed parts, the digest as a big number
// written in base 62 from its least significant digit after the mch_id.
func referenceNumber(key []byte, parts []string, mch string, size int) string {
	m := hmac.New(sha256.New, key)
	for _, p := range parts {
		var n [8]byte
		binary.BigEndian.PutUint64(n[:], uint64(len(p)))
		m.Write(n[:])
		m.Write([]byte(p))
	}
	x := new(big.Int).SetBytes(m.Sum(nil))
	out := []byte(mch)
	r := new(big.Int)
	for len(out) < size {
		x.QuoRem(x, big.NewInt(62), r)
		out = append(out, "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"[r.Int64()])
	}
	return string(out)
}

func TestDeriveTransferBillno(t *testing.T) {
	const mch, grant, openid = "1900000109", "spring-2026", "oxTWIuGaIt6gTKsQRLau2M0yL16E"
	// Golden values: a change here changes every merchant's transfer
	// numbers, which would let a grant in flight be paid twice.
	want := []string{"1900000109WGrkv4ZvdnbvjhRU4wzGDb", "1900000109bBJ4S02P4MoC1eN1q197oy"}
	for n, w := range want {
		got, err := hongbao.DeriveTransferBillno(testBillnoKey, mch, grant, openid, n)
		if err != nil {
			t.Fatal(err)
		}
		parts := []string{"mch-transfer/transfer-bills", mch, grant, openid}
		if n > 0 {
			parts = append(parts, strconv.Itoa(n))
		}
		if ref := referenceNumber(testBillnoKey, parts, mch, 32); got != ref {
			t.Errorf("attempt %d: %s, the construction gives %s", n, got, ref)
		}
		if got != w {
			t.Errorf("attempt %d: %s, want %s", n, got, w)
		}
		if len(got) != hongbao.TransferBillnoLength || strings.Trim(got, "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz") != "" {
			t.Errorf("%s: not 32 letters and digits", got)
		}
		// Never a red packet's number, not even its first 28 characters.
		v2, _ := hongbao.DeriveAttemptBillno(testBillnoKey, mch, grant, openid, n)
		if v2 == got || strings.HasPrefix(got, v2) {
			t.Errorf("attempt %d: transfer number %s shares the red packet's %s", n, got, v2)
		}
		if ref := referenceNumber(testBillnoKey, parts[1:], mch, 28); ref != v2 {
			t.Errorf("attempt %d: the red packet's construction moved: %s, %s", n, v2, ref)
		}
	}
	// The same rules as the red packets'.
	for _, c := range []struct {
		key       []byte
		mch, g, o string
		attempt   int
	}{
		{testBillnoKey[:8], mch, grant, openid, 0},
		{testBillnoKey, "", grant, openid, 0},
		{testBillnoKey, "1900-109", grant, openid, 0},
		{testBillnoKey, mch, "", openid, 0},
		{testBillnoKey, mch, grant, "", 0},
		{testBillnoKey, mch, grant, openid, -1},
	} {
		if n, err := hongbao.DeriveTransferBillno(c.key, c.mch, c.g, c.o, c.attempt); err == nil {
			t.Errorf("%+v: %s", c, n)
		}
	}
}

// recordingLimiter is a SharedLimiter that grants every slot and records
// the keys and rates asked for.
type recordingLimiter struct {
	mu   sync.Mutex
	keys []string
	rate []float64
}

func (l *recordingLimiter) Reserve(_ context.Context, key string, perSecond float64, _ int, _ time.Duration) (time.Duration, bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.keys = append(l.keys, key)
	l.rate = append(l.rate, perSecond)
	return 0, true, nil
}

func TestPacer(t *testing.T) {
	shared := &recordingLimiter{}
	p, err := hongbao.NewPacer(hongbao.FlowControl{Shared: shared}, "transfer:1900000109", 6000, nil)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	if _, err := p.Wait(context.Background(), now); err != nil {
		t.Fatal(err)
	}
	if len(shared.keys) != 1 || shared.keys[0] != "transfer:1900000109" || shared.rate[0] != 95 {
		t.Errorf("shared budget %v at %v a second", shared.keys, shared.rate)
	}
	if p.PerMinute() != 5700 {
		t.Errorf("%v a minute", p.PerMinute())
	}
	p.Limited(now)
	if p.PerMinute() != 2850 {
		t.Errorf("after a rate-limit answer: %v a minute", p.PerMinute())
	}
	p.Succeeded(now)
	if p.PerMinute() != 2850+114 {
		t.Errorf("after a success: %v a minute", p.PerMinute())
	}

	// Locally: 60 a minute, no waiting: the second call is throttled with
	// its turn in about a second.
	p, err = hongbao.NewPacer(hongbao.FlowControl{SendsPerMinute: 60, Headroom: -1, MaxWait: -1}, "k", 6000, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Wait(context.Background(), now); err != nil {
		t.Fatal(err)
	}
	d, err := p.Wait(context.Background(), now)
	if !errors.Is(err, hongbao.ErrThrottled) || d < 900*time.Millisecond || d > time.Second {
		t.Errorf("%v, %v", d, err)
	}
	// Off.
	p, _ = hongbao.NewPacer(hongbao.FlowControl{SendsPerMinute: -1}, "k", 6000, nil)
	for range 100 {
		if _, err := p.Wait(context.Background(), now); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := hongbao.NewPacer(hongbao.FlowControl{Burst: -1}, "k", 6000, nil); err == nil {
		t.Error("a negative burst")
	}
}

func TestRetryPolicyExported(t *testing.T) {
	p, err := hongbao.RetryPolicy{}.WithDefaults()
	if err != nil || p.Attempts != 4 || p.BaseDelay != 200*time.Millisecond || p.MaxDelay != 5*time.Second || p.AttemptTimeout != 15*time.Second {
		t.Fatalf("%+v %v", p, err)
	}
	for n := 1; n < 10; n++ {
		d := p.Backoff(n)
		top := min(p.BaseDelay<<(n-1), p.MaxDelay)
		if d < top/2 || d > top {
			t.Errorf("retry %d: %v outside [%v, %v]", n, d, top/2, top)
		}
	}
	if _, err := (hongbao.RetryPolicy{Attempts: -1}).WithDefaults(); err == nil {
		t.Error("negative attempts")
	}
}
