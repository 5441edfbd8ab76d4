package claim

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/hongbao-go/hongbao"
	"github.com/hongbao-go/hongbao/middleware/jwtauth"
	"github.com/hongbao-go/hongbao/transport"
	"github.com/hongbao-go/hongbao/transport/wxpaytest"
)

type tapKey struct{}

// tapRecorder is an Observer of taps and of the client's calls: each tap
// gets a number in its context, and the calls report the number they run
// under.
type tapRecorder struct {
	hongbao.NopObserver
	n     chan int
	taps  chan Tap
	calls chan any // the tap number in each call's context
}

func newTapRecorder() *tapRecorder {
	r := &tapRecorder{n: make(chan int, 1), taps: make(chan Tap, 16), calls: make(chan any, 16)}
	r.n <- 0
	return r
}

func (r *tapRecorder) TapStart(ctx context.Context) context.Context {
	n := <-r.n + 1
	r.n <- n
	return context.WithValue(ctx, tapKey{}, n)
}

func (r *tapRecorder) TapEnd(ctx context.Context, t Tap) {
	if ctx.Value(tapKey{}) == nil {
		panic("TapEnd without the tap's context")
	}
	r.taps <- t
}

func (r *tapRecorder) CallStart(ctx context.Context, _ hongbao.Call) context.Context {
	select {
	case r.calls <- ctx.Value(tapKey{}):
	default: // more calls than the test reads
	}
	return ctx
}

// next returns the next tap reported.
func (r *tapRecorder) next(t *testing.T) Tap {
	t.Helper()
	select {
	case tp := <-r.taps:
		return tp
	case <-time.After(10 * time.Second):
		t.Fatal("no tap reported")
	}
	return Tap{}
}

func TestObserverTaps(t *testing.T) {
	rec := newTapRecorder()
	e, srv := observedEnv(t, wxpaytest.Options{}, rec)
	billno := e.billno(t, "spring-2026", testOpenID)

	// The first tap pays: its calls run under its context.
	e.checkParams(t, e.tapOn(t, srv, e.token, ""), billno)
	tp := rec.next(t)
	if tp.Status != http.StatusOK || tp.Code != "" || tp.Source != "platform" || tp.Billno != billno ||
		tp.ErrCode != "" || tp.Err != nil || tp.Elapsed <= 0 {
		t.Errorf("first tap: %+v", tp)
	}
	if len(rec.calls) == 0 {
		t.Error("the first tap made no call")
	}
	for len(rec.calls) > 0 {
		if n := <-rec.calls; n != 1 {
			t.Errorf("a call of tap 1 ran under tap %v", n)
		}
	}

	// A repeat tap is answered from the store.
	e.checkParams(t, e.tapOn(t, srv, e.token, ""), billno)
	if tp := rec.next(t); tp.Status != http.StatusOK || tp.Source != "store" {
		t.Errorf("repeat tap: %+v", tp)
	}

	// A refusal before any grant.
	req, _ := http.NewRequest(http.MethodGet, srv.URL+sendPath, nil)
	req.Header.Set("Authorization", "Bearer "+e.token)
	checkError(t, do(t, req), http.StatusMethodNotAllowed, "method_not_allowed", false)
	if tp := rec.next(t); tp.Status != http.StatusMethodNotAllowed || tp.Code != "method_not_allowed" ||
		tp.Source != "" || tp.Billno != "" || tp.Err == nil {
		t.Errorf("405 tap: %+v", tp)
	}
}

func TestObserverTapErrCode(t *testing.T) {
	rec := newTapRecorder()
	e, srv := observedEnv(t, wxpaytest.Options{Balance: 50}, rec)
	checkError(t, e.tapOn(t, srv, e.token, ""), http.StatusServiceUnavailable, "merchant_unavailable", true)
	tp := rec.next(t)
	if tp.Status != http.StatusServiceUnavailable || tp.Code != "merchant_unavailable" || tp.ErrCode != "NOTENOUGH" ||
		tp.Billno != e.billno(t, "spring-2026", testOpenID) {
		t.Errorf("NOTENOUGH tap: %+v", tp)
	}
}

// observedEnv is an environment whose handler and client report to rec.
func observedEnv(t *testing.T, opts wxpaytest.Options, rec *tapRecorder) (*hbEnv, *httptest.Server) {
	t.Helper()
	e := newEnv(t, opts, nil)
	cert := e.host.ClientCertificate()
	client, err := hongbao.New(hongbao.Config{
		AppID: e.host.AppID,
		Transport: transport.Config{
			MchID: e.host.MchID, APIKey: e.host.APIKey, Certificate: &cert,
			RootCAs: e.host.RootCAs(), BaseURL: e.host.URL,
		},
		Retry:     hongbao.RetryPolicy{Attempts: testAttempts, BaseDelay: time.Millisecond},
		BillnoKey: testBillnoKey,
		Observer:  rec,
	})
	if err != nil {
		t.Fatal(err)
	}
	srv, _ := e.mount(t, HandlerConfig{
		SceneOptional: true,
		Client:        client,
		Policy:        PolicyFunc(func(context.Context, jwtauth.User, []byte) (Grant, error) { return *e.grant.Load(), nil }),
		RateLimit:     -1,
		Observer:      rec,
	})
	return e, srv
}

// Without an Observer the tap hooks cost no allocation.
func TestNilTapObserverAllocatesNothing(t *testing.T) {
	h := &Handler{}
	r := httptest.NewRequest(http.MethodPost, sendPath, nil)
	tp := &tap{start: time.Now(), source: "platform"}
	herr := newError(http.StatusServiceUnavailable, "merchant_unavailable", "x", nil)
	allocs := testing.AllocsPerRun(100, func() {
		r2 := h.tapStarted(r)
		h.tapEnded(r2.Context(), tp, herr.Status, herr.Code, herr)
	})
	if allocs != 0 {
		t.Errorf("%v allocations per tap without an Observer", allocs)
	}
}
