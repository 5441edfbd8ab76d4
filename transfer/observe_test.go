package transfer_test

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"testing"

	"github.com/hongbao-go/hongbao/transfer"
	"github.com/hongbao-go/hongbao/transport/wxpaytest"
)

// recorder is an Observer that writes down what it is told, and checks
// that each event gets the context its start returned.
type recorder struct {
	mu     sync.Mutex
	events []string
}

type depthKey struct{}

func depth(ctx context.Context) int { d, _ := ctx.Value(depthKey{}).(int); return d }

func (r *recorder) add(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, fmt.Sprintf(format, args...))
}

func outcome(err *transfer.Error) string {
	switch {
	case err == nil:
		return "ok"
	case err.Unknown:
		return "unknown " + err.Code
	}
	return "definitive " + err.Code
}

func (r *recorder) CallStart(ctx context.Context, c transfer.Call) context.Context {
	r.add("call %s depth %d", c.Op, depth(ctx))
	return context.WithValue(ctx, depthKey{}, 1)
}

func (r *recorder) AttemptStart(ctx context.Context, c transfer.Call) context.Context {
	r.add("attempt %d depth %d", c.Attempt, depth(ctx))
	return context.WithValue(ctx, depthKey{}, 2)
}

func (r *recorder) AttemptEnd(ctx context.Context, c transfer.Call, err *transfer.Error) {
	r.add("attempt %d end %s depth %d", c.Attempt, outcome(err), depth(ctx))
}

func (r *recorder) CallEnd(ctx context.Context, c transfer.Call, err *transfer.Error) {
	if c.Elapsed <= 0 {
		r.add("call %s without its time", c.Op)
	}
	r.add("call %s end %s depth %d", c.Op, outcome(err), depth(ctx))
}

// The Observer sees each call and each of its attempts, with the outcome
// the caller gets: a reply lost then resent, a create answered ACCEPTED
// and made again (two calls), a refusal, a query.
func TestObserver(t *testing.T) {
	srv := wxpaytest.Start(t, wxpaytest.Options{Balance: 400})
	rec := &recorder{}
	c := newClient(t, srv, func(cfg *transfer.Config) { cfg.Observer = rec })
	take := func() []string {
		rec.mu.Lock()
		defer rec.mu.Unlock()
		ev := rec.events
		rec.events = nil
		return ev
	}
	check := func(what string, want ...string) {
		t.Helper()
		if got := take(); !slices.Equal(got, want) {
			t.Errorf("%s: the observer was told\n%q\nwant\n%q", what, got, want)
		}
	}
	isCreate := func(r wxpaytest.V3Request) bool {
		return r.Method == http.MethodPost && r.URI == transfer.PathTransferBills
	}

	srv.InjectV3(wxpaytest.V3Fault{DropAfter: true, Match: isCreate})
	r := request(t, c, "g", "oUser1")
	if _, err := c.Create(ctx, r); err != nil {
		t.Fatal(err)
	}
	check("a lost reply",
		"call create depth 0",
		"attempt 1 depth 1", "attempt 1 end unknown  depth 2",
		"attempt 2 depth 1", "attempt 2 end ok depth 2",
		"call create end ok depth 1")

	srv.InjectV3(wxpaytest.V3Fault{Accepted: true, Match: isCreate})
	if _, err := c.Create(ctx, request(t, c, "g", "oUser2")); err != nil {
		t.Fatal(err)
	}
	check("ACCEPTED, then the same create",
		"call create depth 0", "attempt 1 depth 1", "attempt 1 end ok depth 2", "call create end ok depth 1",
		"call create depth 0", "attempt 1 depth 1", "attempt 1 end ok depth 2", "call create end ok depth 1")

	// 400 fen less two bills of 188: the third is short.
	if _, err := c.Create(ctx, request(t, c, "g", "oUser3")); err == nil {
		t.Fatal("a create beyond the balance succeeded")
	}
	check("NOT_ENOUGH",
		"call create depth 0", "attempt 1 depth 1", "attempt 1 end definitive NOT_ENOUGH depth 2",
		"call create end definitive NOT_ENOUGH depth 1")

	if _, err := c.QueryByOutBillNo(ctx, r.OutBillNo); err != nil {
		t.Fatal(err)
	}
	check("a query", "call query depth 0", "attempt 1 depth 1", "attempt 1 end ok depth 2", "call query end ok depth 1")

	// Nothing is told of a request refused before it is sent.
	bad := request(t, c, "g", "oUser4")
	bad.Amount = 0
	if _, err := c.Create(ctx, bad); err == nil {
		t.Fatal("an invalid request was sent")
	}
	check("an invalid request")
}
