package otelhongbao_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/hongbao-go/hongbao"
	"github.com/hongbao-go/hongbao/middleware/claim"
	"github.com/hongbao-go/hongbao/middleware/jwtauth"
	otelhongbao "github.com/hongbao-go/hongbao/otel"
	"github.com/hongbao-go/hongbao/rail"
	"github.com/hongbao-go/hongbao/store"
	"github.com/hongbao-go/hongbao/transport"
	"github.com/hongbao-go/hongbao/transport/wxpaytest"
)

var billnoKey = []byte("otel-test-billno-key-0123456789")

// env is a fake platform, a client for it over real mutual TLS with its
// certificate in files (so that Reload works), and an Observer recording
// into a manual reader and an in-memory span exporter.
type env struct {
	host     *wxpaytest.Server
	client   *hongbao.Client
	obs      *otelhongbao.Observer
	reader   *sdkmetric.ManualReader
	spans    *tracetest.InMemoryExporter
	certFile string
	keyFile  string
	now      atomic.Int64 // the Observer's clock, unix seconds
}

func newEnv(t *testing.T, opts wxpaytest.Options) *env {
	t.Helper()
	e := &env{host: wxpaytest.Start(t, opts)}
	dir := t.TempDir()
	e.certFile, e.keyFile = filepath.Join(dir, "apiclient_cert.pem"), filepath.Join(dir, "apiclient_key.pem")
	e.now.Store(time.Now().Unix())
	e.writeCert(t, e.clock().Add(90*24*time.Hour))

	e.reader = sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(e.reader))
	e.spans = tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(e.spans))
	t.Cleanup(func() {
		_ = mp.Shutdown(context.Background())
		_ = tp.Shutdown(context.Background())
	})
	obs, err := otelhongbao.New(otelhongbao.Options{MeterProvider: mp, TracerProvider: tp, Now: e.clock})
	if err != nil {
		t.Fatal(err)
	}
	e.obs = obs
	e.client, err = hongbao.New(hongbao.Config{
		AppID: e.host.AppID,
		Transport: transport.Config{
			MchID: e.host.MchID, APIKey: e.host.APIKey, RootCAs: e.host.RootCAs(), BaseURL: e.host.URL,
			CertFile: e.certFile, KeyFile: e.keyFile,
		},
		Retry: hongbao.RetryPolicy{
			Attempts: 4, BaseDelay: time.Millisecond, MaxDelay: 4 * time.Millisecond,
			AttemptTimeout: 2 * time.Second, ProcessingDelay: 10 * time.Millisecond,
		},
		BillnoKey: billnoKey,
		Observer:  obs,
	})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *env) clock() time.Time { return time.Unix(e.now.Load(), 0) }

// writeCert writes a merchant certificate valid until notAfter.
func (e *env) writeCert(t *testing.T, notAfter time.Time) {
	t.Helper()
	cert, key, err := e.host.IssueClientCert(e.host.MchID, notAfter)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(e.certFile, cert, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(e.keyFile, key, 0o600); err != nil {
		t.Fatal(err)
	}
}

func (e *env) request(t *testing.T, openID string) *hongbao.SendRequest {
	t.Helper()
	billno, err := e.client.Billno("otel", openID)
	if err != nil {
		t.Fatal(err)
	}
	return &hongbao.SendRequest{Billno: billno, OpenID: openID, Amount: 100,
		SendName: "Shop", Wishing: "Happy new year", ActName: "New year", Remark: "Thanks"}
}

func (e *env) collect(t *testing.T) metricdata.ResourceMetrics {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := e.reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	return rm
}

// find returns the metric named name.
func find(t *testing.T, rm metricdata.ResourceMetrics, name string) (metricdata.Metrics, bool) {
	t.Helper()
	for _, sm := range rm.ScopeMetrics {
		if sm.Scope.Name != otelhongbao.ScopeName {
			t.Errorf("scope %q", sm.Scope.Name)
		}
		for _, m := range sm.Metrics {
			if m.Name == name {
				return m, true
			}
		}
	}
	return metricdata.Metrics{}, false
}

// matches reports whether set has every key=value of want.
func matches(set attribute.Set, want map[string]string) bool {
	for k, v := range want {
		got, ok := set.Value(attribute.Key(k))
		if !ok || got.Emit() != v {
			return false
		}
	}
	return true
}

// count returns the sum of the counter name over the points matching want.
func count(t *testing.T, rm metricdata.ResourceMetrics, name string, want map[string]string) int64 {
	t.Helper()
	m, ok := find(t, rm, name)
	if !ok {
		return 0
	}
	sum, ok := m.Data.(metricdata.Sum[int64])
	if !ok || !sum.IsMonotonic {
		t.Fatalf("%s is a %T, want a monotonic Sum[int64]", name, m.Data)
	}
	var n int64
	for _, dp := range sum.DataPoints {
		if matches(dp.Attributes, want) {
			n += dp.Value
		}
	}
	return n
}

// observations returns the number of durations recorded matching want.
func observations(t *testing.T, rm metricdata.ResourceMetrics, want map[string]string) uint64 {
	t.Helper()
	m, ok := find(t, rm, otelhongbao.MetricSendDuration)
	if !ok {
		return 0
	}
	h, ok := m.Data.(metricdata.Histogram[float64])
	if !ok || m.Unit != "s" {
		t.Fatalf("%s is a %T in %q, want a Histogram[float64] in s", m.Name, m.Data, m.Unit)
	}
	var n uint64
	for _, dp := range h.DataPoints {
		if matches(dp.Attributes, want) {
			n += dp.Count
			if dp.Count > 0 && (dp.Sum <= 0 || dp.Sum > 60) {
				t.Errorf("durations %v: sum %v s", dp.Attributes, dp.Sum)
			}
		}
	}
	return n
}

// expiry returns the certificate gauge of mchID.
func expiry(t *testing.T, rm metricdata.ResourceMetrics, mchID string) float64 {
	t.Helper()
	m, ok := find(t, rm, otelhongbao.MetricCertExpiry)
	if !ok {
		t.Fatalf("no %s", otelhongbao.MetricCertExpiry)
	}
	g, ok := m.Data.(metricdata.Gauge[float64])
	if !ok || m.Unit != "s" {
		t.Fatalf("%s is a %T in %q", m.Name, m.Data, m.Unit)
	}
	for _, dp := range g.DataPoints {
		if matches(dp.Attributes, map[string]string{"mch_id": mchID}) {
			return dp.Value
		}
	}
	t.Fatalf("no %s for mch_id %s", otelhongbao.MetricCertExpiry, mchID)
	return 0
}

const send = "sendminiprogramhb"

func TestMetricsOutcomes(t *testing.T) {
	e := newEnv(t, wxpaytest.Options{})
	ctx := context.Background()

	// Success at the first attempt.
	if _, err := e.client.SendMiniProgramHB(ctx, e.request(t, "oUser00000000000000000000a1")); err != nil {
		t.Fatal(err)
	}
	rm := e.collect(t)
	if n := count(t, rm, otelhongbao.MetricSends, map[string]string{"op": send, "result": "success", "err_code": ""}); n != 1 {
		t.Errorf("sends{success} = %d, want 1", n)
	}
	if n := count(t, rm, otelhongbao.MetricSendAttempts, map[string]string{"op": send}); n != 1 {
		t.Errorf("attempts = %d, want 1", n)
	}
	if n := observations(t, rm, map[string]string{"op": send, "result": "success"}); n != 1 {
		t.Errorf("%d durations of successes, want 1", n)
	}

	// A definitive err_code: one attempt, not retried.
	e.host.Inject(wxpaytest.Fault{ErrCode: "NOTENOUGH"})
	if _, err := e.client.SendMiniProgramHB(ctx, e.request(t, "oUser00000000000000000000a2")); !errors.Is(err, hongbao.ErrNotEnough) {
		t.Fatal(err)
	}
	// An unknown outcome: every attempt's connection dropped after the
	// platform processed it.
	e.host.Inject(wxpaytest.Fault{DropAfter: true, Times: 4})
	if _, err := e.client.SendMiniProgramHB(ctx, e.request(t, "oUser00000000000000000000a3")); !errors.Is(err, hongbao.ErrOutcomeUnknown) {
		t.Fatal(err)
	}
	// A query of a bill number the platform does not know.
	if _, err := e.client.QueryHB(ctx, e.request(t, "oUser00000000000000000000a4").Billno); !errors.Is(err, hongbao.ErrNotFound) {
		t.Fatal(err)
	}

	rm = e.collect(t)
	for _, c := range []struct {
		attrs map[string]string
		want  int64
	}{
		{map[string]string{"op": send, "result": "success", "err_code": ""}, 1},
		{map[string]string{"op": send, "result": "definitive", "err_code": "NOTENOUGH"}, 1},
		{map[string]string{"op": send, "result": "unknown", "err_code": ""}, 1},
		{map[string]string{"op": "gethbinfo", "result": "definitive", "err_code": "NOT_FOUND"}, 1},
		{map[string]string{"rail": "redpacket"}, 4},
		{map[string]string{}, 4},
	} {
		if n := count(t, rm, otelhongbao.MetricSends, c.attrs); n != c.want {
			t.Errorf("sends%v = %d, want %d", c.attrs, n, c.want)
		}
	}
	// 1 + 1 + 4 sends, 1 query.
	if n := count(t, rm, otelhongbao.MetricSendAttempts, map[string]string{"op": send}); n != 6 {
		t.Errorf("send attempts = %d, want 6", n)
	}
	if n := count(t, rm, otelhongbao.MetricSendAttempts, map[string]string{"op": send, "err_code": "NOTENOUGH"}); n != 1 {
		t.Errorf("NOTENOUGH attempts = %d, want 1", n)
	}
	if n := count(t, rm, otelhongbao.MetricSendAttempts, map[string]string{"op": "gethbinfo"}); n != 1 {
		t.Errorf("query attempts = %d, want 1", n)
	}
	if n := observations(t, rm, map[string]string{"op": send}); n != 3 {
		t.Errorf("%d send durations, want 3", n)
	}
	if n := observations(t, rm, map[string]string{"op": send, "result": "unknown"}); n != 1 {
		t.Errorf("%d durations of unknown outcomes, want 1", n)
	}
}

func TestMetricsRetries(t *testing.T) {
	e := newEnv(t, wxpaytest.Options{})
	e.host.Inject(wxpaytest.Fault{ErrCode: "FREQ_LIMIT"})
	e.host.Inject(wxpaytest.Fault{ErrCode: "SYSTEMERROR"})
	if _, err := e.client.SendMiniProgramHB(context.Background(), e.request(t, "oUser00000000000000000000b1")); err != nil {
		t.Fatal(err)
	}
	rm := e.collect(t)
	for code, want := range map[string]int64{"FREQ_LIMIT": 1, "SYSTEMERROR": 1, "": 1} {
		if n := count(t, rm, otelhongbao.MetricSendAttempts, map[string]string{"op": send, "err_code": code}); n != want {
			t.Errorf("attempts{err_code=%q} = %d, want %d", code, n, want)
		}
	}
	// One call, which succeeded.
	if n := count(t, rm, otelhongbao.MetricSends, map[string]string{}); n != 1 {
		t.Errorf("sends = %d, want 1", n)
	}
	if n := count(t, rm, otelhongbao.MetricSends, map[string]string{"result": "success"}); n != 1 {
		t.Errorf("sends{success} = %d, want 1", n)
	}
}

func TestMetricsThrottled(t *testing.T) {
	e := newEnv(t, wxpaytest.Options{})
	cert := e.host.ClientCertificate()
	c, err := hongbao.New(hongbao.Config{
		AppID: e.host.AppID,
		Transport: transport.Config{MchID: e.host.MchID, APIKey: e.host.APIKey, Certificate: &cert,
			RootCAs: e.host.RootCAs(), BaseURL: e.host.URL},
		Flow:      hongbao.FlowControl{SendsPerMinute: 60, Burst: 1, MaxWait: -1},
		BillnoKey: billnoKey,
		Observer:  e.obs,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := c.SendMiniProgramHB(ctx, e.request(t, "oUser00000000000000000000c1")); err != nil {
		t.Fatal(err)
	}
	if _, err := c.SendMiniProgramHB(ctx, e.request(t, "oUser00000000000000000000c2")); !errors.Is(err, hongbao.ErrThrottled) {
		t.Fatalf("err = %v, want ErrThrottled", err)
	}
	rm := e.collect(t)
	if n := count(t, rm, otelhongbao.MetricSends, map[string]string{"result": "definitive", "err_code": "THROTTLED"}); n != 1 {
		t.Errorf("sends{THROTTLED} = %d, want 1", n)
	}
	if n := count(t, rm, otelhongbao.MetricSendAttempts, map[string]string{}); n != 1 {
		t.Errorf("attempts = %d, want 1: a send held back is no attempt", n)
	}
}

func TestCertExpiryFollowsReload(t *testing.T) {
	e := newEnv(t, wxpaytest.Options{})
	mch := e.host.MchID
	if got := expiry(t, e.collect(t), mch); got != (90 * 24 * time.Hour).Seconds() {
		t.Errorf("expiry %v s, want 90 days", got)
	}
	// The gauge counts down with the clock.
	e.now.Add(int64((24 * time.Hour).Seconds()))
	if got := expiry(t, e.collect(t), mch); got != (89 * 24 * time.Hour).Seconds() {
		t.Errorf("a day later: expiry %v s, want 89 days", got)
	}
	// A failed Reload changes nothing; a good one moves the gauge.
	if err := os.WriteFile(e.keyFile, []byte("broken"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := e.client.Transport().Reload(); err == nil {
		t.Fatal("Reload of a broken key succeeded")
	}
	if got := expiry(t, e.collect(t), mch); got != (89 * 24 * time.Hour).Seconds() {
		t.Errorf("after a failed Reload: expiry %v s", got)
	}
	e.writeCert(t, e.clock().Add(365*24*time.Hour))
	if err := e.client.Transport().Reload(); err != nil {
		t.Fatal(err)
	}
	if got := expiry(t, e.collect(t), mch); got != (365 * 24 * time.Hour).Seconds() {
		t.Errorf("after Reload: expiry %v s, want 365 days", got)
	}
	// The renewed certificate is the one presented.
	if _, err := e.client.SendMiniProgramHB(context.Background(), e.request(t, "oUser00000000000000000000d1")); err != nil {
		t.Fatal(err)
	}

	if err := e.obs.Close(); err != nil {
		t.Fatal(err)
	}
	if m, ok := find(t, e.collect(t), otelhongbao.MetricCertExpiry); ok {
		if g, _ := m.Data.(metricdata.Gauge[float64]); len(g.DataPoints) > 0 {
			t.Error("the gauge is still reported after Close")
		}
	}
}

// attrs returns a span's attributes as strings.
func attrs(s tracetest.SpanStub) map[string]string {
	m := make(map[string]string, len(s.Attributes))
	for _, kv := range s.Attributes {
		m[string(kv.Key)] = kv.Value.Emit()
	}
	return m
}

func byName(spans tracetest.SpanStubs, name string) []tracetest.SpanStub {
	var out []tracetest.SpanStub
	for _, s := range spans {
		if s.Name == name {
			out = append(out, s)
		}
	}
	return out
}

func TestSpans(t *testing.T) {
	e := newEnv(t, wxpaytest.Options{})
	e.host.Inject(wxpaytest.Fault{ErrCode: "SYSTEMERROR"})
	req := e.request(t, "oUser00000000000000000000e1")
	res, err := e.client.SendMiniProgramHB(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	spans := e.spans.GetSpans()
	calls := byName(spans, "hongbao.sendminiprogramhb")
	attempts := byName(spans, "hongbao.sendminiprogramhb.attempt")
	if len(calls) != 1 || len(attempts) != 2 {
		t.Fatalf("%d call spans and %d attempt spans, want 1 and 2", len(calls), len(attempts))
	}
	call := calls[0]
	want := map[string]string{"hongbao.op": send, "hongbao.billno": req.Billno, "hongbao.result": "success",
		"hongbao.err_code": "", "hongbao.attempts": "2"}
	if got := attrs(call); !equal(got, want) {
		t.Errorf("call span attributes %v, want %v", got, want)
	}
	if call.Status.Code == codes.Error {
		t.Errorf("call span status %v", call.Status)
	}
	for i, a := range attempts {
		if a.Parent.SpanID() != call.SpanContext.SpanID() || a.SpanKind != trace.SpanKindClient {
			t.Errorf("attempt span %d: parent %v, kind %v", i, a.Parent.SpanID(), a.SpanKind)
		}
		got := attrs(a)
		if got["hongbao.billno"] != req.Billno || got["hongbao.attempt"] != string(rune('1'+i)) {
			t.Errorf("attempt span %d attributes %v", i, got)
		}
	}
	if got := attrs(attempts[0]); got["hongbao.err_code"] != "SYSTEMERROR" || got["hongbao.outcome_unknown"] != "true" ||
		attempts[0].Status.Code != codes.Error {
		t.Errorf("first attempt: %v, status %v", got, attempts[0].Status)
	}
	if got := attrs(attempts[1]); got["hongbao.err_code"] != "" || attempts[1].Status.Code == codes.Error {
		t.Errorf("second attempt: %v, status %v", got, attempts[1].Status)
	}

	// No secret, package or user in any span.
	secrets := []string{e.host.APIKey, res.Package, req.OpenID, string(billnoKey)}
	for _, r := range e.host.Requests() {
		secrets = append(secrets, r.Params["sign"], r.Params["nonce_str"])
	}
	noSecrets(t, spans, secrets)
}

func equal(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func noSecrets(t *testing.T, spans tracetest.SpanStubs, secrets []string) {
	t.Helper()
	for _, s := range spans {
		texts := []string{s.Name, s.Status.Description}
		for _, kv := range s.Attributes {
			texts = append(texts, string(kv.Key), kv.Value.Emit())
		}
		for _, ev := range s.Events {
			texts = append(texts, ev.Name)
			for _, kv := range ev.Attributes {
				texts = append(texts, kv.Value.Emit())
			}
		}
		for _, text := range texts {
			for _, secret := range secrets {
				if secret != "" && strings.Contains(text, secret) {
					t.Errorf("span %s carries %q", s.Name, secret)
				}
			}
		}
	}
}

// tap answers one tap of openID through h, as the Authenticator would
// pass it on.
func tap(h http.Handler, openID string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(http.MethodPost, "/hongbao/send", nil)
	r = r.WithContext(jwtauth.ContextWithUser(r.Context(), jwtauth.User{OpenID: openID}))
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func TestTaps(t *testing.T) {
	e := newEnv(t, wxpaytest.Options{})
	h, err := claim.NewHandler(claim.HandlerConfig{
		SceneOptional: true,
		Client:        e.client,
		Policy: claim.PolicyFunc(func(context.Context, jwtauth.User, []byte) (claim.Grant, error) {
			return claim.Grant{Key: "spring", Payout: rail.Payout{Amount: 100, SendName: "Shop",
				Wishing: "Happy new year", ActName: "New year", Remark: "Thanks"}}, nil
		}),
		RateLimit: -1,
		Observer:  e.obs,
	})
	if err != nil {
		t.Fatal(err)
	}
	const openID = "oUser00000000000000000000f1"
	if w := tap(h, openID); w.Code != http.StatusOK {
		t.Fatalf("tap: %d %s", w.Code, w.Body)
	}
	if w := tap(h, openID); w.Code != http.StatusOK {
		t.Fatalf("repeat tap: %d %s", w.Code, w.Body)
	}
	e.host.Inject(wxpaytest.Fault{ErrCode: "NOTENOUGH", Match: func(path string, _ map[string]string) bool {
		return path == wxpaytest.PathSendMiniProgramHB
	}})
	if w := tap(h, "oUser00000000000000000000f2"); w.Code != http.StatusServiceUnavailable {
		t.Fatalf("NOTENOUGH tap: %d %s", w.Code, w.Body)
	}

	rm := e.collect(t)
	for _, c := range []struct {
		attrs map[string]string
		want  int64
	}{
		{map[string]string{"rail": "redpacket", "status": "200", "code": "", "source": "platform"}, 1},
		{map[string]string{"status": "200", "code": "", "source": "store"}, 1},
		{map[string]string{"status": "503", "code": "merchant_unavailable"}, 1},
		{map[string]string{}, 3},
	} {
		if n := count(t, rm, otelhongbao.MetricTaps, c.attrs); n != c.want {
			t.Errorf("taps%v = %d, want %d", c.attrs, n, c.want)
		}
	}

	spans := e.spans.GetSpans()
	taps := byName(spans, "hongbao.tap")
	if len(taps) != 3 {
		t.Fatalf("%d tap spans, want 3", len(taps))
	}
	first := taps[0]
	billno, _ := e.client.Billno("spring", openID)
	want := map[string]string{"http.response.status_code": "200", "hongbao.rail": "redpacket", "hongbao.source": "platform", "hongbao.billno": billno}
	if got := attrs(first); !equal(got, want) {
		t.Errorf("tap span attributes %v, want %v", got, want)
	}
	// The first tap's calls (a query of the new grant, then the send) are
	// its children.
	var children []string
	for _, s := range spans {
		if s.Parent.SpanID() == first.SpanContext.SpanID() {
			children = append(children, s.Name)
		}
	}
	if strings.Join(children, ",") != "hongbao.gethbinfo,hongbao.sendminiprogramhb" {
		t.Errorf("the first tap's children: %v", children)
	}
	if got := attrs(taps[2]); got["hongbao.code"] != "merchant_unavailable" || got["hongbao.err_code"] != "NOTENOUGH" ||
		taps[2].Status.Code != codes.Error {
		t.Errorf("NOTENOUGH tap span: %v, status %v", got, taps[2].Status)
	}
	noSecrets(t, spans, []string{e.host.APIKey, openID, string(billnoKey)})
}

// gauge returns the value of the int64 gauge name matching want.
func gauge(t *testing.T, rm metricdata.ResourceMetrics, name string, want map[string]string) (int64, bool) {
	t.Helper()
	m, ok := find(t, rm, name)
	if !ok {
		return 0, false
	}
	g, ok := m.Data.(metricdata.Gauge[int64])
	if !ok {
		t.Fatalf("%s is a %T, want a Gauge[int64]", name, m.Data)
	}
	for _, dp := range g.DataPoints {
		if matches(dp.Attributes, want) {
			return dp.Value, true
		}
	}
	return 0, false
}

func TestBudgetGauges(t *testing.T) {
	e := newEnv(t, wxpaytest.Options{})
	h, err := claim.NewHandler(claim.HandlerConfig{
		SceneOptional: true,
		Client:        e.client,
		Policy: claim.PolicyFunc(func(context.Context, jwtauth.User, []byte) (claim.Grant, error) {
			return claim.Grant{Key: "spring", Payout: rail.Payout{Amount: 150, SendName: "Shop",
				Wishing: "Happy new year", ActName: "New year", Remark: "Thanks"}}, nil
		}),
		RateLimit: -1,
		Budgets:   map[string]store.Budget{"spring": {Fen: 1000, Packets: 5}},
	})
	if err != nil {
		t.Fatal(err)
	}
	// The campaign's first configuration opens its account.
	if _, err := h.OpenBudget(context.Background(), "spring"); err != nil {
		t.Fatal(err)
	}
	reg, err := e.obs.ObserveBudgets(h)
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Unregister()
	if w := tap(h, "oBudgetGauge000000000000001"); w.Code != http.StatusOK {
		t.Fatalf("tap: %d %s", w.Code, w.Body)
	}
	// An unknown outcome keeps its amount reserved.
	e.host.Inject(wxpaytest.Fault{ErrCode: "SYSTEMERROR", Times: 4, Match: func(path string, _ map[string]string) bool {
		return path == wxpaytest.PathSendMiniProgramHB
	}})
	if w := tap(h, "oBudgetGauge000000000000002"); w.Code != http.StatusServiceUnavailable {
		t.Fatalf("unknown tap: %d %s", w.Code, w.Body)
	}
	rm := e.collect(t)
	for _, c := range []struct {
		name string
		unit string
		want int64
	}{
		{otelhongbao.MetricBudgetRemaining, "fen", 700},
		{otelhongbao.MetricBudgetRemaining, "packets", 3},
		{otelhongbao.MetricBudgetReserved, "fen", 150},
		{otelhongbao.MetricBudgetReserved, "packets", 1},
		{otelhongbao.MetricBudgetCommitted, "fen", 150},
		{otelhongbao.MetricBudgetCommitted, "packets", 1},
	} {
		got, ok := gauge(t, rm, c.name, map[string]string{"campaign": "spring", "unit": c.unit})
		if !ok || got != c.want {
			t.Errorf("%s{unit=%s} = %d (%v), want %d", c.name, c.unit, got, ok, c.want)
		}
	}
}
