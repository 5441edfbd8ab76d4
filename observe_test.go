package hongbao_test

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hongbao-go/hongbao"
	"github.com/hongbao-go/hongbao/transport"
	"github.com/hongbao-go/hongbao/transport/wxpaytest"
)

type ctxKey string

// recorder is an Observer writing one line per event. Each start puts its
// own mark in the context, and each end checks that it got that context.
type recorder struct {
	mu     sync.Mutex
	events []string
	errs   []*hongbao.Error
	certs  []*x509.Certificate
	t      *testing.T
}

func (r *recorder) add(e string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
}

func (r *recorder) CallStart(ctx context.Context, c hongbao.Call) context.Context {
	r.add(fmt.Sprintf("call %s %s", c.Op, c.Billno))
	return context.WithValue(ctx, ctxKey("call"), c.Op+" "+c.Billno)
}

func (r *recorder) AttemptStart(ctx context.Context, c hongbao.Call) context.Context {
	if ctx.Value(ctxKey("call")) != c.Op+" "+c.Billno {
		r.t.Errorf("attempt %d of %s outside its call's context", c.Attempt, c.Op)
	}
	r.add(fmt.Sprintf("attempt %s %d", c.Op, c.Attempt))
	return context.WithValue(ctx, ctxKey("attempt"), c.Attempt)
}

func (r *recorder) AttemptEnd(ctx context.Context, c hongbao.Call, err *hongbao.Error) {
	if ctx.Value(ctxKey("attempt")) != c.Attempt {
		r.t.Errorf("AttemptEnd %d without its attempt's context", c.Attempt)
	}
	if c.Elapsed <= 0 {
		r.t.Errorf("attempt %d: elapsed %v", c.Attempt, c.Elapsed)
	}
	r.add(fmt.Sprintf("attempt end %s %d %s", c.Op, c.Attempt, outcome(err)))
}

func (r *recorder) CallEnd(ctx context.Context, c hongbao.Call, err *hongbao.Error) {
	if ctx.Value(ctxKey("call")) != c.Op+" "+c.Billno {
		r.t.Errorf("CallEnd of %s without its call's context", c.Op)
	}
	if c.Attempt != 0 || c.Elapsed <= 0 {
		r.t.Errorf("CallEnd of %s: attempt %d, elapsed %v", c.Op, c.Attempt, c.Elapsed)
	}
	r.mu.Lock()
	r.errs = append(r.errs, err)
	r.mu.Unlock()
	r.add(fmt.Sprintf("call end %s %s", c.Op, outcome(err)))
}

func (r *recorder) CertificateChanged(mchID string, leaf *x509.Certificate) {
	if leaf == nil || leaf.Subject.CommonName != mchID {
		r.t.Errorf("CertificateChanged(%s, %v)", mchID, leaf)
	}
	r.mu.Lock()
	r.certs = append(r.certs, leaf)
	r.mu.Unlock()
}

func (r *recorder) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	e := r.events
	r.events = nil
	return e
}

func outcome(err *hongbao.Error) string {
	switch {
	case err == nil:
		return "success"
	case err.Unknown:
		return "unknown " + err.ErrCode
	case errors.Is(err, hongbao.ErrThrottled):
		return "throttled"
	}
	return "definitive " + err.ErrCode
}

// ctxRoundTripper records the attempt number each request carries.
type ctxRoundTripper struct {
	base     http.RoundTripper
	mu       sync.Mutex
	attempts []any
}

func (c *ctxRoundTripper) RoundTrip(r *http.Request) (*http.Response, error) {
	c.mu.Lock()
	c.attempts = append(c.attempts, r.Context().Value(ctxKey("attempt")))
	c.mu.Unlock()
	return c.base.RoundTrip(r)
}

func observed(t *testing.T, s *wxpaytest.Server, edit ...func(*hongbao.Config)) (*hongbao.Client, *recorder) {
	t.Helper()
	rec := &recorder{t: t}
	c, _ := newClient(t, s, append([]func(*hongbao.Config){func(cfg *hongbao.Config) { cfg.Observer = rec }}, edit...)...)
	return c, rec
}

func TestObserverRetries(t *testing.T) {
	s := wxpaytest.Start(t, wxpaytest.Options{})
	c, rec := observed(t, s)
	rt := &ctxRoundTripper{base: c.Transport().Base}
	c.Transport().Base = rt
	s.Inject(wxpaytest.Fault{ErrCode: "FREQ_LIMIT"})
	s.Inject(wxpaytest.Fault{ErrCode: "SYSTEMERROR"})
	req := sendRequest(t, c, "g", "oUser0000000000000000000041")
	if _, err := c.SendMiniProgramHB(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"call sendminiprogramhb " + req.Billno,
		"attempt sendminiprogramhb 1",
		"attempt end sendminiprogramhb 1 definitive FREQ_LIMIT",
		"attempt sendminiprogramhb 2",
		"attempt end sendminiprogramhb 2 unknown SYSTEMERROR",
		"attempt sendminiprogramhb 3",
		"attempt end sendminiprogramhb 3 success",
		"call end sendminiprogramhb success",
	}
	if got := rec.take(); !slices.Equal(got, want) {
		t.Errorf("events:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// Each request went out under its attempt's context.
	if !slices.Equal(rt.attempts, []any{1, 2, 3}) {
		t.Errorf("requests carried attempts %v", rt.attempts)
	}
}

func TestObserverOutcomes(t *testing.T) {
	s := wxpaytest.Start(t, wxpaytest.Options{})
	c, rec := observed(t, s)
	ctx := context.Background()

	// A definitive failure: one attempt.
	s.Inject(wxpaytest.Fault{ErrCode: "NOTENOUGH"})
	req := sendRequest(t, c, "g", "oUser0000000000000000000042")
	if _, err := c.SendMiniProgramHB(ctx, req); !errors.Is(err, hongbao.ErrNotEnough) {
		t.Fatal(err)
	}
	want := []string{
		"call sendminiprogramhb " + req.Billno,
		"attempt sendminiprogramhb 1",
		"attempt end sendminiprogramhb 1 definitive NOTENOUGH",
		"call end sendminiprogramhb definitive NOTENOUGH",
	}
	if got := rec.take(); !slices.Equal(got, want) {
		t.Errorf("NOTENOUGH events:\n%s", strings.Join(got, "\n"))
	}

	// PROCESSING: the query after it is a call of its own, inside the
	// send's; the send ends as the query left it.
	s.Inject(wxpaytest.Fault{ErrCode: "PROCESSING"})
	req = sendRequest(t, c, "g", "oUser0000000000000000000043")
	_, err := c.SendMiniProgramHB(ctx, req)
	if !errors.Is(err, hongbao.ErrOutcomeUnknown) {
		t.Fatal(err)
	}
	want = []string{
		"call sendminiprogramhb " + req.Billno,
		"attempt sendminiprogramhb 1",
		"attempt end sendminiprogramhb 1 unknown PROCESSING",
		"call gethbinfo " + req.Billno,
		"attempt gethbinfo 1",
		"attempt end gethbinfo 1 success",
		"call end gethbinfo success",
		"call end sendminiprogramhb unknown PROCESSING",
	}
	if got := rec.take(); !slices.Equal(got, want) {
		t.Errorf("PROCESSING events:\n%s", strings.Join(got, "\n"))
	}
	if last := rec.errs[len(rec.errs)-1]; last == nil || last.Status != hongbao.StatusSending {
		t.Errorf("the send ended with %v, want the query's status SENDING", last)
	}

	// A query of a bill number the platform does not know.
	other := sendRequest(t, c, "g", "oUser0000000000000000000044").Billno
	if _, err := c.QueryHB(ctx, other); !errors.Is(err, hongbao.ErrNotFound) {
		t.Fatal(err)
	}
	want = []string{
		"call gethbinfo " + other,
		"attempt gethbinfo 1",
		"attempt end gethbinfo 1 definitive NOT_FOUND",
		"call end gethbinfo definitive NOT_FOUND",
	}
	if got := rec.take(); !slices.Equal(got, want) {
		t.Errorf("NOT_FOUND events:\n%s", strings.Join(got, "\n"))
	}

	// What validation refuses is no call.
	bad := *req
	bad.Amount = 0
	if _, err := c.SendMiniProgramHB(ctx, &bad); err == nil {
		t.Fatal("an invalid request was sent")
	}
	if _, err := c.QueryHB(ctx, "not-alnum"); err == nil {
		t.Fatal("an invalid bill number was queried")
	}
	if got := rec.take(); len(got) != 0 {
		t.Errorf("invalid requests were observed: %v", got)
	}
}

func TestObserverThrottled(t *testing.T) {
	s := wxpaytest.Start(t, wxpaytest.Options{})
	c, rec := observed(t, s, func(cfg *hongbao.Config) {
		cfg.Flow = hongbao.FlowControl{SendsPerMinute: 60, Burst: 1, MaxWait: -1}
	})
	ctx := context.Background()
	first := sendRequest(t, c, "g", "oUser0000000000000000000045")
	if _, err := c.SendMiniProgramHB(ctx, first); err != nil {
		t.Fatal(err)
	}
	rec.take()
	req := sendRequest(t, c, "g", "oUser0000000000000000000046")
	if _, err := c.SendMiniProgramHB(ctx, req); !errors.Is(err, hongbao.ErrThrottled) {
		t.Fatalf("err = %v, want ErrThrottled", err)
	}
	want := []string{"call sendminiprogramhb " + req.Billno, "call end sendminiprogramhb throttled"}
	if got := rec.take(); !slices.Equal(got, want) {
		t.Errorf("events %q, want %q", got, want)
	}
}

func TestObserverCertificate(t *testing.T) {
	s := wxpaytest.Start(t, wxpaytest.Options{})
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	write := func(notAfter time.Time) {
		t.Helper()
		cert, key, err := s.IssueClientCert(s.MchID, notAfter)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(certFile, cert, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(keyFile, key, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	firstExpiry := time.Now().Add(60 * 24 * time.Hour).Truncate(time.Second)
	write(firstExpiry)
	var own []*x509.Certificate
	c, rec := observed(t, s, func(cfg *hongbao.Config) {
		cfg.Transport = transport.Config{
			MchID: s.MchID, APIKey: s.APIKey, RootCAs: s.RootCAs(), BaseURL: s.URL,
			CertFile: certFile, KeyFile: keyFile,
			OnCertificate: func(leaf *x509.Certificate) { own = append(own, leaf) },
		}
	})
	if len(rec.certs) != 1 || !rec.certs[0].NotAfter.Equal(firstExpiry) {
		t.Fatalf("after New: %d certificates reported", len(rec.certs))
	}

	// A failed Reload reports nothing; a good one reports the new leaf.
	if err := os.WriteFile(keyFile, []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := c.Transport().Reload(); err == nil {
		t.Fatal("Reload of a broken key succeeded")
	}
	secondExpiry := time.Now().Add(400 * 24 * time.Hour).Truncate(time.Second)
	write(secondExpiry)
	if err := c.Transport().Reload(); err != nil {
		t.Fatal(err)
	}
	if len(rec.certs) != 2 || !rec.certs[1].NotAfter.Equal(secondExpiry) {
		t.Fatalf("after Reload: %d certificates reported", len(rec.certs))
	}
	// The transport's own OnCertificate is still called.
	if len(own) != 2 || own[1] != rec.certs[1] {
		t.Errorf("Config.Transport.OnCertificate saw %d certificates", len(own))
	}
}
