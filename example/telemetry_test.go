//go:build full

package main

import (
	"bufio"
	"compress/gzip"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	collmetrics "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	colltrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/hongbao-go/hongbao/transport/wxpaytest"
)

var metricsLine = regexp.MustCompile(`(?m)^hongbao example: Prometheus metrics at (http://\S+/metrics) `)

// sample is one line of the Prometheus text format.
type sample struct {
	name   string
	labels map[string]string
	value  float64
}

var sampleLine = regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)`)
var labelPair = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"`)

// scrape reads the example's metrics.
func scrape(t *testing.T, url string) (string, []sample) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		t.Fatalf("GET %s: %d %s", url, resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	var out []sample
	sc := bufio.NewScanner(strings.NewReader(string(body)))
	for sc.Scan() {
		m := sampleLine.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		v, err := strconv.ParseFloat(m[3], 64)
		if err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		s := sample{name: m[1], labels: map[string]string{}, value: v}
		for _, p := range labelPair.FindAllStringSubmatch(m[2], -1) {
			s.labels[p[1]] = p[2]
		}
		out = append(out, s)
	}
	return string(body), out
}

// value sums the samples of name whose labels include want.
func value(samples []sample, name string, want map[string]string) (float64, bool) {
	var v float64
	found := false
outer:
	for _, s := range samples {
		if s.name != name {
			continue
		}
		for k, w := range want {
			if s.labels[k] != w {
				continue outer
			}
		}
		v += s.value
		found = true
	}
	return v, found
}

func TestMetricsEndpoint(t *testing.T) {
	base, out := start(t, map[string]string{envMetricsAddr: "127.0.0.1:0", envBudget: "10000", envBudgetPackets: "50"})
	m := metricsLine.FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("no metrics address in the output:\n%s", out)
	}
	url := m[1]

	// The certificate's expiry is there from the start: the demo host's
	// certificate is valid for a year.
	_, samples := scrape(t, url)
	days, ok := value(samples, "hongbao_cert_expiry_seconds", map[string]string{"mch_id": wxpaytest.DefaultMchID})
	if !ok || days < 364*86400 || days > 365*86400 {
		t.Errorf("hongbao_cert_expiry_seconds = %v (found %v), want about 365 days", days, ok)
	}

	token := demoTokenOf(t, out.String())
	resp, body := do(t, http.MethodPost, base+claimPath, token, `{"scene":1047}`)
	checkClaim(t, resp, body, wxpaytest.DefaultAppID, wxpaytest.DefaultAPIKey)
	resp, body = do(t, http.MethodPost, base+claimPath, token, `{"scene":1047}`)
	checkClaim(t, resp, body, wxpaytest.DefaultAppID, wxpaytest.DefaultAPIKey)

	text, samples := scrape(t, url)
	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"hongbao_sends_total", map[string]string{"op": "sendminiprogramhb", "result": "success"}, 1},
		// The new grant's query: the platform does not know the bill number.
		{"hongbao_sends_total", map[string]string{"op": "gethbinfo", "result": "definitive", "err_code": "NOT_FOUND"}, 1},
		{"hongbao_send_attempts_total", map[string]string{"op": "sendminiprogramhb"}, 1},
		{"hongbao_send_duration_seconds_count", map[string]string{"op": "sendminiprogramhb", "result": "success"}, 1},
		{"hongbao_send_duration_seconds_bucket", map[string]string{"op": "sendminiprogramhb", "result": "success", "le": "+Inf"}, 1},
		{"hongbao_taps_total", map[string]string{"status": "200", "source": "platform"}, 1},
		{"hongbao_taps_total", map[string]string{"status": "200", "source": "store"}, 1},
		// The campaign's budget: one packet of the demo's 100 fen paid.
		{"hongbao_budget_committed", map[string]string{"campaign": defaultCampaign, "unit": "fen"}, 100},
		{"hongbao_budget_remaining", map[string]string{"campaign": defaultCampaign, "unit": "fen"}, 9900},
		{"hongbao_budget_remaining", map[string]string{"campaign": defaultCampaign, "unit": "packets"}, 49},
		{"hongbao_budget_reserved", map[string]string{"campaign": defaultCampaign, "unit": "fen"}, 0},
	} {
		if got, _ := value(samples, c.name, c.labels); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	if t.Failed() {
		t.Logf("metrics:\n%s", text)
	}

	// The same on the transfer rail: an offer, its confirmation and the
	// notification.
	tsamples := transferMetrics(t)

	// Every metric the alert rules and the dashboard use is exported, by
	// one rail or the other.
	names := map[string]bool{}
	for _, s := range append(samples, tsamples...) {
		names[s.name] = true
	}
	used := regexp.MustCompile(`\bhongbao_[a-z_]+`)
	for _, f := range []string{"../deploy/prometheus/alerts.yml", "../deploy/grafana/hongbao.json"} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range used.FindAllString(string(b), -1) {
			if !names[name] {
				t.Errorf("%s uses %s, which the example does not export", filepath.Base(f), name)
			}
		}
	}
}

// transferMetrics runs the demo on the transfer rail with metrics: a
// user's offer, a repeat tap, the confirmation and its notification; it
// checks the rail's metrics and returns every sample.
func transferMetrics(t *testing.T) []sample {
	t.Helper()
	base, out := start(t, map[string]string{envRail: railTransfer, envMetricsAddr: "127.0.0.1:0", envBudgetPackets: "5"})
	m := metricsLine.FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("no metrics address in the output:\n%s", out)
	}
	token := demoTokenOf(t, out.String())
	resp, body := do(t, http.MethodPost, base+claimPath, token, `{"scene":1047}`)
	checkTransferClaim(t, resp, body, wxpaytest.DefaultMchID, wxpaytest.DefaultAppID)
	resp, body = do(t, http.MethodPost, base+claimPath, token, `{"scene":1047}`)
	checkTransferClaim(t, resp, body, wxpaytest.DefaultMchID, wxpaytest.DefaultAppID)
	if resp, b := do(t, http.MethodPost, base+demoConfirmPath, "", string(body)); resp.StatusCode != http.StatusOK {
		t.Fatalf("confirm: %d %s", resp.StatusCode, b)
	}
	until(t, "the notification's metrics", func() bool {
		_, samples := scrape(t, m[1])
		n, _ := value(samples, "hongbao_notifications_total", map[string]string{"result": "recorded"})
		return n == 1
	})
	// A collection reads the budget gauges before the counters: one that
	// began while the notification was being recorded can show it
	// counted and its budget step not yet taken. One begun after the
	// count shows both.
	_, samples := scrape(t, m[1])
	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		// The client's calls: the new grant's query (the platform does
		// not know the bill), then its create.
		{"hongbao_sends_total", map[string]string{"rail": "transfer", "op": "query", "result": "definitive", "err_code": "NOT_FOUND"}, 1},
		{"hongbao_sends_total", map[string]string{"rail": "transfer", "op": "create", "result": "success"}, 1},
		{"hongbao_send_attempts_total", map[string]string{"rail": "transfer", "op": "create"}, 1},
		{"hongbao_taps_total", map[string]string{"rail": "transfer", "status": "200", "source": "platform"}, 1},
		{"hongbao_taps_total", map[string]string{"rail": "transfer", "status": "200", "source": "store"}, 1},
		{"hongbao_notifications_total", map[string]string{"rail": "transfer", "result": "recorded", "state": "SUCCESS", "reason": ""}, 1},
		{"hongbao_notification_wait_seconds_count", map[string]string{"rail": "transfer", "state": "SUCCESS"}, 1},
		{"hongbao_notification_wait_seconds_bucket", map[string]string{"rail": "transfer", "state": "SUCCESS", "le": "3600"}, 1},
		// The offer was reserved, then committed once confirmed.
		{"hongbao_budget_committed", map[string]string{"campaign": defaultCampaign, "unit": "packets"}, 1},
		{"hongbao_budget_reserved", map[string]string{"campaign": defaultCampaign, "unit": "packets"}, 0},
	} {
		if got, _ := value(samples, c.name, c.labels); got != c.want {
			t.Errorf("transfer: %s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	if t.Failed() {
		t.Logf("the transfer rail's output:\n%s", out)
	}
	return samples
}

func TestMetricsOff(t *testing.T) {
	_, out := start(t, nil)
	if strings.Contains(out.String(), "metrics") || strings.Contains(out.String(), "OTLP") {
		t.Errorf("telemetry announced without its variables:\n%s", out)
	}
}

func TestTelemetryConfigErrors(t *testing.T) {
	for _, c := range []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{envMetricsAddr: "9464"}, envMetricsAddr},
		{map[string]string{envOTLPEndpoint: "http://127.0.0.1:4318", envOTLPProtocol: "grpc"}, envOTLPProtocol},
	} {
		err := startErr(t, c.env)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: %v, want an error naming %s", c.env, err, c.want)
		}
	}
	// The metrics need a listener of their own.
	_, err := loadConfig(getenv(map[string]string{envMetricsAddr: "127.0.0.1:8080", envAddr: "127.0.0.1:8080"}))
	if err == nil || !strings.Contains(err.Error(), envMetricsAddr) {
		t.Errorf("the same address for both: %v", err)
	}
}

// collector is a fake OTLP/HTTP receiver.
type collector struct {
	mu      sync.Mutex
	spans   []string          // span names
	service []string          // service.name of the span batches
	metrics map[string]bool   // metric names
	paths   map[string]string // content type by path
}

func (c *collector) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var rd io.Reader = r.Body
	if r.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		rd = zr
	}
	body, err := io.ReadAll(rd)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.paths[r.URL.Path] = r.Header.Get("Content-Type")
	switch r.URL.Path {
	case "/v1/traces":
		var req colltrace.ExportTraceServiceRequest
		if err := proto.Unmarshal(body, &req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		for _, rs := range req.ResourceSpans {
			for _, kv := range rs.GetResource().GetAttributes() {
				if kv.Key == "service.name" {
					c.service = append(c.service, kv.GetValue().GetStringValue())
				}
			}
			for _, ss := range rs.ScopeSpans {
				for _, s := range ss.Spans {
					c.spans = append(c.spans, s.Name)
				}
			}
		}
		out, _ := proto.Marshal(&colltrace.ExportTraceServiceResponse{})
		w.Header().Set("Content-Type", "application/x-protobuf")
		_, _ = w.Write(out)
	case "/v1/metrics":
		var req collmetrics.ExportMetricsServiceRequest
		if err := proto.Unmarshal(body, &req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		for _, rm := range req.ResourceMetrics {
			for _, sm := range rm.ScopeMetrics {
				for _, m := range sm.Metrics {
					c.metrics[m.Name] = true
				}
			}
		}
		out, _ := proto.Marshal(&collmetrics.ExportMetricsServiceResponse{})
		w.Header().Set("Content-Type", "application/x-protobuf")
		_, _ = w.Write(out)
	default:
		http.NotFound(w, r)
	}
}

func TestOTLP(t *testing.T) {
	col := &collector{metrics: map[string]bool{}, paths: map[string]string{}}
	srv := httptest.NewServer(col)
	defer srv.Close()
	// The exporters read the standard variables from the environment.
	t.Setenv(envOTLPEndpoint, srv.URL)
	env := map[string]string{envOTLPEndpoint: srv.URL, envAddr: "127.0.0.1:0"}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out := &syncBuffer{}
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- run(ctx, getenv(env), out, ready) }()
	var addr string
	select {
	case addr = <-ready:
	case err := <-done:
		t.Fatalf("run: %v\n%s", err, out)
	case <-time.After(30 * time.Second):
		t.Fatalf("run did not get ready\n%s", out)
	}
	if !strings.Contains(out.String(), "traces exported by OTLP") || !strings.Contains(out.String(), "metrics exported by OTLP") {
		t.Errorf("OTLP export not announced:\n%s", out)
	}
	resp, body := do(t, http.MethodPost, "http://"+addr+claimPath, demoTokenOf(t, out.String()), `{"scene":1047}`)
	checkClaim(t, resp, body, wxpaytest.DefaultAppID, wxpaytest.DefaultAPIKey)

	// Shutting down exports what is left.
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("run did not return")
	}
	col.mu.Lock()
	defer col.mu.Unlock()
	for _, name := range []string{"hongbao.tap", "hongbao.gethbinfo", "hongbao.sendminiprogramhb", "hongbao.sendminiprogramhb.attempt"} {
		if !slices.Contains(col.spans, name) {
			t.Errorf("no %s span exported; got %v", name, col.spans)
		}
	}
	if len(col.service) == 0 || col.service[0] != serviceName {
		t.Errorf("service.name %v, want %s", col.service, serviceName)
	}
	for _, name := range []string{"hongbao.sends", "hongbao.send.duration", "hongbao.send.attempts", "hongbao.taps", "hongbao.cert.expiry"} {
		if !col.metrics[name] {
			t.Errorf("metric %s not exported; got %v", name, col.metrics)
		}
	}
	for path, ct := range col.paths {
		if ct != "application/x-protobuf" {
			t.Errorf("%s: Content-Type %q", path, ct)
		}
	}
}
