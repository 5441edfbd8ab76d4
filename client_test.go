package hongbao_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hongbao-go/hongbao"
	"github.com/hongbao-go/hongbao/signer"
	"github.com/hongbao-go/hongbao/transport"
	"github.com/hongbao-go/hongbao/transport/wxpaytest"
)

// syncBuffer is a log sink safe for concurrent writers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func fastRetry() hongbao.RetryPolicy {
	return hongbao.RetryPolicy{
		Attempts:        4,
		BaseDelay:       time.Millisecond,
		MaxDelay:        4 * time.Millisecond,
		AttemptTimeout:  2 * time.Second,
		ProcessingDelay: 10 * time.Millisecond,
	}
}

func newClient(t *testing.T, s *wxpaytest.Server, edit ...func(*hongbao.Config)) (*hongbao.Client, *syncBuffer) {
	t.Helper()
	logs := &syncBuffer{}
	cert := s.ClientCertificate()
	cfg := hongbao.Config{
		AppID:     s.AppID,
		Transport: transportConfig(s, &cert),
		Retry:     fastRetry(),
		Logger:    slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		BillnoKey: testBillnoKey,
	}
	for _, e := range edit {
		e(&cfg)
	}
	c, err := hongbao.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c, logs
}

func transportConfig(s *wxpaytest.Server, cert *tls.Certificate) transport.Config {
	return transport.Config{
		MchID:       s.MchID,
		APIKey:      s.APIKey,
		Certificate: cert,
		RootCAs:     s.RootCAs(),
		BaseURL:     s.URL,
	}
}

func sendRequest(t *testing.T, c *hongbao.Client, grant, openid string) *hongbao.SendRequest {
	t.Helper()
	billno, err := c.Billno(grant, openid)
	if err != nil {
		t.Fatal(err)
	}
	r := validRequest()
	r.Billno, r.OpenID = billno, openid
	return &r
}

func sendsTo(s *wxpaytest.Server, path string) int {
	n := 0
	for _, r := range s.Requests() {
		if r.Path == path {
			n++
		}
	}
	return n
}

func TestSendSuccess(t *testing.T) {
	s := wxpaytest.Start(t, wxpaytest.Options{})
	c, logs := newClient(t, s)
	req := sendRequest(t, c, "spring", "oUser0000000000000000000001")
	res, err := c.SendMiniProgramHB(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if res.Billno != req.Billno || res.OpenID != req.OpenID || res.Amount != 100 || res.Package == "" || res.SendListID == "" || res.AppID != s.AppID || res.MchID != s.MchID {
		t.Fatalf("result %+v", res)
	}
	got := s.Requests()
	if len(got) != 1 {
		t.Fatalf("%d requests at the host", len(got))
	}
	p := got[0].Params
	for k, want := range map[string]string{
		"mch_billno": req.Billno, "mch_id": s.MchID, "wxappid": s.AppID, "re_openid": req.OpenID,
		"total_amount": "100", "total_num": "1", "notify_way": "MINI_PROGRAM_JSAPI",
		"send_name": req.SendName, "wishing": req.Wishing, "act_name": req.ActName, "remark": req.Remark,
	} {
		if p[k] != want {
			t.Errorf("%s = %q, want %q", k, p[k], want)
		}
	}
	if _, ok := p["scene_id"]; ok {
		t.Error("scene_id sent without a scene")
	}
	if _, ok := p["sign_type"]; ok {
		t.Error("sign_type sent to a red-packet endpoint")
	}

	biz, err := c.BizRedPacketParams(res)
	if err != nil {
		t.Fatal(err)
	}
	sg, _ := signer.New(s.APIKey)
	want := strings.ToLower(sg.SignWith(signer.MD5, map[string]string{"appId": s.AppID, "timeStamp": biz.TimeStamp, "nonceStr": biz.NonceStr, "package": signer.EncodeURIComponent(res.Package)}))
	if biz.PaySign != want || biz.Package != signer.EncodeURIComponent(res.Package) || biz.SignType != "MD5" || len(biz.NonceStr) != 32 {
		t.Fatalf("biz params %+v", biz)
	}
	if out := logs.String(); !strings.Contains(out, req.Billno) || !strings.Contains(out, `"err_code":"SUCCESS"`) || strings.Contains(out, s.APIKey) {
		t.Fatalf("log: %s", out)
	}

	info, err := c.QueryHB(context.Background(), req.Billno)
	if err != nil {
		t.Fatal(err)
	}
	if info.Status != hongbao.StatusSent || info.Amount != 100 || info.Billno != req.Billno || info.SendTime.IsZero() {
		t.Fatalf("info %+v", info)
	}
	if err := s.MarkReceived(req.Billno); err != nil {
		t.Fatal(err)
	}
	info, err = c.QueryHB(context.Background(), req.Billno)
	if err != nil {
		t.Fatal(err)
	}
	if info.Status != hongbao.StatusReceived || len(info.Received) != 1 || info.Received[0].OpenID != req.OpenID || info.Received[0].Amount != 100 || info.Received[0].ReceivedAt.IsZero() {
		t.Fatalf("received info %+v", info)
	}
	// gethbinfo writes Beijing wall-clock times: parsed, they are the instants
	// the host recorded, whatever the local time zone.
	if p, _ := s.Packet(req.Billno); !info.SendTime.Equal(p.SentAt.Truncate(time.Second)) || !info.Received[0].ReceivedAt.Equal(p.ReceivedAt.Truncate(time.Second)) {
		t.Fatalf("times %v, %v; the host recorded %v, %v", info.SendTime, info.Received[0].ReceivedAt, p.SentAt, p.ReceivedAt)
	}
}

func TestSendScene(t *testing.T) {
	s := wxpaytest.Start(t, wxpaytest.Options{})
	c, _ := newClient(t, s)
	req := sendRequest(t, c, "small", "oUser0000000000000000000002")
	req.Amount, req.Scene = 30, hongbao.SceneLottery
	if _, err := c.SendMiniProgramHB(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	if got := s.Requests()[0].Params["scene_id"]; got != "PRODUCT_2" {
		t.Fatalf("scene_id %q", got)
	}
}

func TestSendErrorClasses(t *testing.T) {
	cases := []struct {
		code      string
		sentinel  error
		requests  int // requests the host should see with 4 attempts
		retryable bool
		unknown   bool
	}{
		{"NOTENOUGH", hongbao.ErrNotEnough, 1, false, false},
		{"NO_AUTH", hongbao.ErrNoAuth, 1, false, false},
		{"SENDNUM_LIMIT", hongbao.ErrSendNumLimit, 1, false, false},
		{"MONEY_LIMIT", hongbao.ErrMoneyLimit, 1, false, false},
		{"SEND_FAILED", hongbao.ErrSendFailed, 1, false, false},
		{"API_METHOD_CLOSED", hongbao.ErrAPIMethodClosed, 1, false, false},
		{"ILLEGAL_APPID", hongbao.ErrIllegalAppID, 1, false, false},
		{"SOMETHING_NEW", nil, 1, false, false},
		{"FREQ_LIMIT", hongbao.ErrFrequency, 4, true, false},
		{"SYSTEMERROR", hongbao.ErrSystem, 4, true, true},
	}
	for _, c := range cases {
		t.Run(c.code, func(t *testing.T) {
			s := wxpaytest.Start(t, wxpaytest.Options{})
			cl, logs := newClient(t, s)
			s.Inject(wxpaytest.Fault{ErrCode: c.code, Times: 10})
			req := sendRequest(t, cl, "g", "oUser0000000000000000000003")
			_, err := cl.SendMiniProgramHB(context.Background(), req)
			var he *hongbao.Error
			if !errors.As(err, &he) || he.ErrCode != c.code || he.Retryable != c.retryable || he.Unknown != c.unknown {
				t.Fatalf("err = %#v", err)
			}
			if c.sentinel != nil && !errors.Is(err, c.sentinel) {
				t.Fatalf("%v does not match its sentinel", err)
			}
			if c.unknown != errors.Is(err, hongbao.ErrOutcomeUnknown) {
				t.Fatalf("ErrOutcomeUnknown mismatch: %v", err)
			}
			reqs := s.Requests()
			if len(reqs) != c.requests {
				t.Fatalf("%d requests at the host, want %d", len(reqs), c.requests)
			}
			nonces := map[string]bool{}
			for _, r := range reqs {
				if r.Params["mch_billno"] != req.Billno {
					t.Fatalf("retry with another bill number %s", r.Params["mch_billno"])
				}
				nonces[r.Params["nonce_str"]] = true
			}
			if len(nonces) != len(reqs) {
				t.Fatal("a retry reused nonce_str")
			}
			if out := logs.String(); !strings.Contains(out, `"err_code":"`+c.code+`"`) || !strings.Contains(out, `"attempt":`+itoa(c.requests)) {
				t.Fatalf("log lacks err_code or attempt: %s", out)
			}
		})
	}
}

func itoa(n int) string { return string(rune('0' + n)) }

func TestSystemErrorThenSuccess(t *testing.T) {
	s := wxpaytest.Start(t, wxpaytest.Options{})
	c, _ := newClient(t, s)
	s.Inject(wxpaytest.Fault{ErrCode: "SYSTEMERROR"})
	req := sendRequest(t, c, "g", "oUser0000000000000000000004")
	res, err := c.SendMiniProgramHB(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	reqs := s.Requests()
	if len(reqs) != 2 || reqs[0].Params["mch_billno"] != req.Billno || reqs[1].Params["mch_billno"] != req.Billno {
		t.Fatalf("host saw %d requests", len(reqs))
	}
	if p, ok := s.Packet(req.Billno); !ok || p.Package != res.Package {
		t.Fatal("packet at the host differs")
	}
}

func TestDroppedAfterProcessingReturnsSamePackage(t *testing.T) {
	s := wxpaytest.Start(t, wxpaytest.Options{})
	c, _ := newClient(t, s)
	s.Inject(wxpaytest.Fault{DropAfter: true})
	req := sendRequest(t, c, "g", "oUser0000000000000000000005")
	res, err := c.SendMiniProgramHB(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	p, ok := s.Packet(req.Billno)
	if !ok || p.Package != res.Package {
		t.Fatalf("the retry did not return the first send's package")
	}
	if n := s.Sends(req.Billno); n != 2 {
		t.Fatalf("host processed %d sends, want 2 (the dropped one and the retry)", n)
	}
}

func TestDroppedBeforeAndGarbageAreRetried(t *testing.T) {
	for name, f := range map[string]wxpaytest.Fault{
		"drop before": {DropBefore: true},
		"html":        {HTML: true},
		"garbage":     {Garbage: true},
		"502":         {Status: 502},
	} {
		t.Run(name, func(t *testing.T) {
			s := wxpaytest.Start(t, wxpaytest.Options{})
			c, _ := newClient(t, s)
			s.Inject(f)
			req := sendRequest(t, c, "g", "oUser0000000000000000000006")
			if _, err := c.SendMiniProgramHB(context.Background(), req); err != nil {
				t.Fatal(err)
			}
			if n := len(s.Requests()); n != 2 {
				t.Fatalf("%d requests", n)
			}
		})
	}
}

func TestOutcomeUnknownAfterRetries(t *testing.T) {
	s := wxpaytest.Start(t, wxpaytest.Options{})
	c, _ := newClient(t, s)
	s.Inject(wxpaytest.Fault{DropAfter: true, Times: 4})
	req := sendRequest(t, c, "g", "oUser0000000000000000000007")
	_, err := c.SendMiniProgramHB(context.Background(), req)
	if !errors.Is(err, hongbao.ErrOutcomeUnknown) {
		t.Fatalf("err = %v", err)
	}
	// The next call with the same number is answered with the first result.
	res, err := c.SendMiniProgramHB(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if p, _ := s.Packet(req.Billno); p.Package != res.Package {
		t.Fatal("a second packet")
	}
}

func TestProcessingThenQuery(t *testing.T) {
	s := wxpaytest.Start(t, wxpaytest.Options{})
	c, _ := newClient(t, s)
	s.Inject(wxpaytest.Fault{ErrCode: "PROCESSING"})
	req := sendRequest(t, c, "g", "oUser0000000000000000000008")
	start := time.Now()
	_, err := c.SendMiniProgramHB(context.Background(), req)
	var he *hongbao.Error
	if !errors.As(err, &he) || he.ErrCode != "PROCESSING" || !errors.Is(err, hongbao.ErrProcessing) || !he.Retryable {
		t.Fatalf("err = %v", err)
	}
	if time.Since(start) < 10*time.Millisecond {
		t.Fatal("queried before ProcessingDelay")
	}
	if sendsTo(s, hongbao.PathSendMiniProgramHB) != 1 || sendsTo(s, hongbao.PathGetHBInfo) != 1 {
		t.Fatalf("want one send and one query, got %+v", s.Requests())
	}
	if he.Status == "" {
		t.Fatalf("the query's status is not reported: %v", err)
	}
}

func TestFatalError(t *testing.T) {
	s := wxpaytest.Start(t, wxpaytest.Options{})
	c, _ := newClient(t, s)
	req := sendRequest(t, c, "g", "oUser0000000000000000000009")
	if _, err := c.SendMiniProgramHB(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	req.Amount = 200
	_, err := c.SendMiniProgramHB(context.Background(), req)
	if !errors.Is(err, hongbao.ErrFatal) {
		t.Fatalf("err = %v", err)
	}
	if n := sendsTo(s, hongbao.PathSendMiniProgramHB); n != 2 {
		t.Fatalf("FATAL_ERROR retried: %d sends", n)
	}
}

func TestValidationNeverReachesHost(t *testing.T) {
	s := wxpaytest.Start(t, wxpaytest.Options{})
	c, _ := newClient(t, s)
	bad := []func(r *hongbao.SendRequest){
		func(r *hongbao.SendRequest) { r.Amount = 0 },
		func(r *hongbao.SendRequest) { r.Amount = 50 },
		func(r *hongbao.SendRequest) { r.SendName = strings.Repeat("名", 32) },
		func(r *hongbao.SendRequest) { r.Billno = "" },
		func(r *hongbao.SendRequest) { r.OpenID = "" },
	}
	for _, edit := range bad {
		req := sendRequest(t, c, "g", "oUser0000000000000000000010")
		edit(req)
		if _, err := c.SendMiniProgramHB(context.Background(), req); !errors.Is(err, hongbao.ErrInvalidRequest) {
			t.Fatalf("err = %v", err)
		}
	}
	if _, err := c.QueryHB(context.Background(), "bad-billno"); !errors.Is(err, hongbao.ErrInvalidRequest) {
		t.Fatalf("query err = %v", err)
	}
	if n := len(s.Requests()); n != 0 {
		t.Fatalf("%d requests reached the host", n)
	}
}

func TestContextBoundsRetries(t *testing.T) {
	s := wxpaytest.Start(t, wxpaytest.Options{})
	c, _ := newClient(t, s, func(cfg *hongbao.Config) {
		cfg.Retry.Attempts = 100
		cfg.Retry.BaseDelay = 50 * time.Millisecond
		cfg.Retry.MaxDelay = 50 * time.Millisecond
	})
	s.Inject(wxpaytest.Fault{ErrCode: "SYSTEMERROR", Times: 100})
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := c.SendMiniProgramHB(ctx, sendRequest(t, c, "g", "oUser0000000000000000000011"))
	if !errors.Is(err, hongbao.ErrOutcomeUnknown) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v", err)
	}
	if time.Since(start) > 2*time.Second {
		t.Fatal("retries outlived the context")
	}
	if n := len(s.Requests()); n >= 100 || n < 2 {
		t.Fatalf("%d attempts", n)
	}
}

func TestQueryNotFound(t *testing.T) {
	s := wxpaytest.Start(t, wxpaytest.Options{})
	c, _ := newClient(t, s)
	_, err := c.QueryHB(context.Background(), "1900000109NOSUCHBILL")
	if !errors.Is(err, hongbao.ErrNotFound) {
		t.Fatalf("err = %v", err)
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	s := wxpaytest.Start(t, wxpaytest.Options{})
	cases := map[string]func(*hongbao.Config){
		"no appid":         func(c *hongbao.Config) { c.AppID = "" },
		"short api key":    func(c *hongbao.Config) { c.Transport.APIKey = "short" },
		"no mch":           func(c *hongbao.Config) { c.Transport.MchID = "" },
		"cn mismatch":      func(c *hongbao.Config) { c.Transport.MchID = "1900000999" },
		"short billno key": func(c *hongbao.Config) { c.BillnoKey = []byte("short") },
		"no billno key":    func(c *hongbao.Config) { c.BillnoKey = nil },
		"negative retry":   func(c *hongbao.Config) { c.Retry.Attempts = -1 },
	}
	for name, edit := range cases {
		t.Run(name, func(t *testing.T) {
			cert := s.ClientCertificate()
			cfg := hongbao.Config{AppID: s.AppID, Transport: transport.Config{MchID: s.MchID, APIKey: s.APIKey, Certificate: &cert, RootCAs: s.RootCAs(), BaseURL: s.URL}, BillnoKey: testBillnoKey}
			edit(&cfg)
			c, err := hongbao.New(cfg)
			if err == nil || c != nil {
				t.Fatal("accepted")
			}
			if strings.Contains(err.Error(), s.APIKey) {
				t.Fatal("the key leaked into the error")
			}
		})
	}
}

func TestConcurrentSendsOfOneGrantPayOnce(t *testing.T) {
	s := wxpaytest.Start(t, wxpaytest.Options{})
	c, _ := newClient(t, s)
	req := sendRequest(t, c, "g", "oUser0000000000000000000012")
	var wg sync.WaitGroup
	pkgs := make([]string, 20)
	for i := range pkgs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := *req
			res, err := c.SendMiniProgramHB(context.Background(), &r)
			if err != nil {
				t.Error(err)
				return
			}
			pkgs[i] = res.Package
		}()
	}
	wg.Wait()
	for _, p := range pkgs {
		if p != pkgs[0] {
			t.Fatal("two packages for one bill number")
		}
	}
}

// A retry that is refused after an attempt whose outcome is unknown does not
// make the outcome known: the first attempt may have paid.
func TestUnknownOutcomeSticksThroughRetries(t *testing.T) {
	for name, later := range map[string]wxpaytest.Fault{
		"FREQ_LIMIT": {ErrCode: "FREQ_LIMIT", Times: 3},
		"400":        {Status: 400},
		"NOTENOUGH":  {ErrCode: "NOTENOUGH"},
	} {
		t.Run(name, func(t *testing.T) {
			s := wxpaytest.Start(t, wxpaytest.Options{})
			c, _ := newClient(t, s)
			s.Inject(wxpaytest.Fault{DropAfter: true}) // paid, reply lost
			s.Inject(later)
			req := sendRequest(t, c, "g", "oUser0000000000000000000013")
			_, err := c.SendMiniProgramHB(context.Background(), req)
			var he *hongbao.Error
			if !errors.As(err, &he) || !he.Unknown || !errors.Is(err, hongbao.ErrOutcomeUnknown) {
				t.Fatalf("err = %v, want outcome unknown", err)
			}
			if p, ok := s.Packet(req.Billno); !ok || p.Status != string(hongbao.StatusSent) {
				t.Fatal("the first attempt did not pay")
			}
		})
	}
}

// TestNotSentIsNotUnknown: failures before any of the request was written
// (connection refused, the server certificate refused in the handshake)
// cannot have reached the platform and are not outcome-unknown; a
// connection dropped after the request was written is.
func TestNotSentIsNotUnknown(t *testing.T) {
	s := wxpaytest.Start(t, wxpaytest.Options{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedURL := "https://" + ln.Addr().String()
	ln.Close()
	other := wxpaytest.Start(t, wxpaytest.Options{})
	for name, edit := range map[string]func(*hongbao.Config){
		"connection refused": func(c *hongbao.Config) { c.Transport.BaseURL = closedURL },
		"untrusted server":   func(c *hongbao.Config) { c.Transport.RootCAs = other.RootCAs() },
	} {
		t.Run(name, func(t *testing.T) {
			c, _ := newClient(t, s, edit)
			req := sendRequest(t, c, "g", "oUser0000000000000000000031")
			_, err := c.SendMiniProgramHB(context.Background(), req)
			var pe *hongbao.Error
			if !errors.As(err, &pe) || pe.Unknown || errors.Is(err, hongbao.ErrOutcomeUnknown) {
				t.Fatalf("err = %v (%+v), want a known failure", err, pe)
			}
			if _, ok := s.Packet(req.Billno); ok {
				t.Fatal("the host paid")
			}
		})
	}
	t.Run("dropped after writing", func(t *testing.T) {
		c, _ := newClient(t, s)
		s.Inject(wxpaytest.Fault{DropBefore: true, Times: 4})
		req := sendRequest(t, c, "g", "oUser0000000000000000000032")
		if _, err := c.SendMiniProgramHB(context.Background(), req); !errors.Is(err, hongbao.ErrOutcomeUnknown) {
			t.Fatalf("err = %v, want outcome unknown", err)
		}
	})
}
