package hongbao_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hongbao-go/hongbao"
	"github.com/hongbao-go/hongbao/rail"
	"github.com/hongbao-go/hongbao/signer"
	"github.com/hongbao-go/hongbao/transport/wxpaytest"
)

// railOf returns the red-packet rail of a client of s over real mutual TLS,
// with quick retries.
func railOf(t *testing.T, s *wxpaytest.Server) (*hongbao.Client, rail.Rail) {
	t.Helper()
	c, err := hongbao.New(hongbao.Config{
		AppID:     s.AppID,
		Transport: s.TransportConfig(),
		Retry: hongbao.RetryPolicy{Attempts: 2, BaseDelay: time.Millisecond, MaxDelay: 2 * time.Millisecond,
			AttemptTimeout: 2 * time.Second, ProcessingDelay: 10 * time.Millisecond},
		BillnoKey: []byte("rail-test-billno-key"),
	})
	if err != nil {
		t.Fatal(err)
	}
	return c, c.Rail()
}

func railPayout() rail.Payout {
	return rail.Payout{Amount: 150, SendName: "天虹百货", Wishing: "恭喜发财", ActName: "新春红包", Remark: "快来抢"}
}

func TestRailNameAndBillno(t *testing.T) {
	s := wxpaytest.Start(t, wxpaytest.Options{})
	c, r := railOf(t, s)
	if r.Name() != "redpacket:"+s.MchID {
		t.Errorf("Name = %q", r.Name())
	}
	for n := range 3 {
		got, err := r.Billno("spring", "oRailUser000000000000000001", n)
		want, werr := c.AttemptBillno("spring", "oRailUser000000000000000001", n)
		if err != nil || werr != nil || got != want {
			t.Errorf("attempt %d: %q %v, want %q %v", n, got, err, want, werr)
		}
	}
	// The rail reuses keyed HMACs: concurrent derivations agree with
	// DeriveAttemptBillno.
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				openID := fmt.Sprintf("oRailUser%019d", g*1000+i)
				got, err := r.Billno("spring", openID, i%3)
				want, werr := hongbao.DeriveAttemptBillno([]byte("rail-test-billno-key"), s.MchID, "spring", openID, i%3)
				if err != nil || werr != nil || got != want {
					t.Errorf("%s attempt %d: %q %v, want %q %v", openID, i%3, got, err, want, werr)
					return
				}
			}
		})
	}
	wg.Wait()
	if _, err := r.Billno("", "oRailUser000000000000000001", 0); err == nil {
		t.Error("an empty grant key gave a bill number")
	}
}

func TestRailCheck(t *testing.T) {
	s := wxpaytest.Start(t, wxpaytest.Options{})
	_, r := railOf(t, s)
	if err := r.Check(railPayout()); err != nil {
		t.Fatalf("a valid payout: %v", err)
	}
	bad := map[string]func(*rail.Payout){
		"wishing":      func(p *rail.Payout) { p.Wishing = "" },
		"total_amount": func(p *rail.Payout) { p.Amount = 0 },
		"scene_id":     func(p *rail.Payout) { p.Amount = 50 },
		"send_name":    func(p *rail.Payout) { p.SendName = strings.Repeat("名", 32) },
	}
	for field, edit := range bad {
		p := railPayout()
		edit(&p)
		err := r.Check(p)
		var ve *hongbao.ValidationError
		if rail.StateOf(err) != rail.Invalid || !errors.As(err, &ve) || ve.Field != field {
			t.Errorf("%s: %v (state %q)", field, err, rail.StateOf(err))
		}
	}
	p := railPayout()
	p.Amount, p.Scene = 50, string(hongbao.SceneLottery)
	if err := r.Check(p); err != nil {
		t.Errorf("50 fen with a scene: %v", err)
	}
	if n := len(s.Requests()); n != 0 {
		t.Errorf("checks made %d calls", n)
	}
}

// A send, its query in every state, and the page's answer, which the fake
// host opens as the mini program would.
func TestRailSendQueryAnswer(t *testing.T) {
	s := wxpaytest.Start(t, wxpaytest.Options{})
	_, r := railOf(t, s)
	ctx := context.Background()
	openID := "oRailUser000000000000000002"
	billno, err := r.Billno("spring", openID, 0)
	if err != nil {
		t.Fatal(err)
	}

	if b, err := r.Query(ctx, billno); err != nil || b.State != rail.NotFound {
		t.Fatalf("before the send: %+v %v", b, err)
	}
	sent, err := r.Send(ctx, billno, openID, railPayout())
	if err != nil {
		t.Fatal(err)
	}
	pkt, ok := s.Packet(billno)
	if !ok || sent.Answer != pkt.Package || sent.Order != pkt.SendListID || sent.Answer == "" || !sent.At.IsZero() {
		t.Fatalf("sent %+v, host %+v", sent, pkt)
	}
	// The same number again answers the same payout.
	again, err := r.Send(ctx, billno, openID, railPayout())
	if err != nil || again != sent {
		t.Fatalf("resend: %+v %v", again, err)
	}
	if n := len(s.PacketsOf(openID)); n != 1 {
		t.Fatalf("%d packets", n)
	}

	b, err := r.Query(ctx, billno)
	want := railPayout()
	want.SendName = "" // gethbinfo does not report it
	if err != nil || b.State != rail.Waiting || b.Status != "SENT" || b.Payout != want || b.At.IsZero() {
		t.Fatalf("query after the send: %+v %v", b, err)
	}

	out, err := r.AppendAnswer([]byte("prefix:"), sent.Answer)
	if err != nil || !strings.HasPrefix(string(out), "prefix:") {
		t.Fatalf("AppendAnswer: %q %v", out, err)
	}
	var answer struct {
		Rail string `json:"rail"`
		signer.BizRedPacket
	}
	dec := json.NewDecoder(strings.NewReader(strings.TrimPrefix(string(out), "prefix:")))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&answer); err != nil || answer.Rail != "redpacket" {
		t.Fatalf("%s: %v", out, err)
	}
	p := answer.BizRedPacket
	if raw, err := url.PathUnescape(p.Package); err != nil || raw != sent.Answer || p.SignType != "MD5" {
		t.Fatalf("answer %+v", p)
	}
	if _, err := s.Open(p, 1047); err != nil {
		t.Fatalf("the host refused the answer: %v", err)
	}
	if b, err := r.Query(ctx, billno); err != nil || b.State != rail.Paid || b.Status != "RECEIVED" {
		t.Fatalf("query after opening: %+v %v", b, err)
	}
	// Each answer is fresh.
	second, err := r.AppendAnswer(nil, sent.Answer)
	if err != nil || string(second) == strings.TrimPrefix(string(out), "prefix:") {
		t.Fatalf("a second answer repeats the first: %s %v", second, err)
	}
	if _, err := r.AppendAnswer(nil, ""); err == nil {
		t.Error("an answer without material")
	}

	for status, want := range map[string]rail.State{
		"SENDING": rail.Pending, "RFUND_ING": rail.Pending, "FAILED": rail.Closed, "REFUND": rail.Returned,
	} {
		other, err := r.Billno("spring-"+status, openID, 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := r.Send(ctx, other, openID, railPayout()); err != nil {
			t.Fatal(err)
		}
		if status == "REFUND" {
			err = s.MarkRefunded(other)
		} else {
			err = s.SetStatus(other, status)
		}
		if err != nil {
			t.Fatal(err)
		}
		if b, err := r.Query(ctx, other); err != nil || b.State != want || b.Status != status {
			t.Errorf("%s: %+v %v, want %s", status, b, err, want)
		}
	}
}

// Every err_code maps to the state the claim handler acts on, with the
// code and the bill number, and the client's error stays reachable.
func TestRailErrorStates(t *testing.T) {
	cases := []struct {
		code  string
		state rail.State
		is    error
	}{
		{"NOTENOUGH", rail.RefusedMerchant, hongbao.ErrNotEnough},
		{"SENDAMOUNT_LIMIT", rail.RefusedMerchant, hongbao.ErrSendAmountLimit},
		{"API_METHOD_CLOSED", rail.RefusedMerchant, hongbao.ErrAPIMethodClosed},
		{"PRODUCT_AUTHORITY_UNOPEN", rail.RefusedMerchant, hongbao.ErrProductAuthorityUnopen},
		{"SENDNUM_LIMIT", rail.RefusedUser, hongbao.ErrSendNumLimit},
		{"RCVDAMOUNT_LIMIT", rail.RefusedUser, hongbao.ErrReceivedAmountLimit},
		{"NO_AUTH", rail.RefusedRisk, hongbao.ErrNoAuth},
		{"SEND_FAILED", rail.Failed, hongbao.ErrSendFailed},
		{"FREQ_LIMIT", rail.Throttled, hongbao.ErrFrequency},
		{"SYSTEMERROR", rail.Unknown, hongbao.ErrOutcomeUnknown},
		{"MONEY_LIMIT", rail.Rejected, hongbao.ErrMoneyLimit},
		{"ILLEGAL_APPID", rail.Rejected, hongbao.ErrIllegalAppID},
		{"BRAND_NEW_CODE", rail.Unrecognized, nil},
	}
	s := wxpaytest.Start(t, wxpaytest.Options{})
	_, r := railOf(t, s)
	ctx := context.Background()
	for i, c := range cases {
		openID := "oRailError0000000000000000" + string(rune('a'+i))
		billno, err := r.Billno("errors", openID, 0)
		if err != nil {
			t.Fatal(err)
		}
		times := 1
		if c.state == rail.Throttled || c.state == rail.Unknown {
			times = 2 // retried: the client makes two attempts
		}
		s.Inject(wxpaytest.Fault{ErrCode: c.code, Times: times})
		_, err = r.Send(ctx, billno, openID, railPayout())
		var re *rail.Error
		if !errors.As(err, &re) || re.State != c.state || re.Code != c.code || re.Billno != billno {
			t.Errorf("%s: %#v", c.code, err)
			continue
		}
		if c.is != nil && !errors.Is(err, c.is) {
			t.Errorf("%s: %v does not match its sentinel", c.code, err)
		}
		if !strings.HasPrefix(err.Error(), "hongbao: ") {
			t.Errorf("%s: %q", c.code, err)
		}
	}

	// PROCESSING, then gethbinfo FAILED: the number is closed.
	openID := "oRailError00000000000000000z"
	billno, _ := r.Billno("errors", openID, 0)
	s.Inject(wxpaytest.Fault{ErrCode: "PROCESSING"})
	go func() {
		for range 200 {
			if _, ok := s.Packet(billno); ok {
				_ = s.SetStatus(billno, "FAILED")
				return
			}
			time.Sleep(time.Millisecond)
		}
	}()
	if _, err := r.Send(ctx, billno, openID, railPayout()); rail.StateOf(err) != rail.Closed {
		t.Errorf("PROCESSING then FAILED: %v (state %q)", err, rail.StateOf(err))
	}

	// The same number with another amount: the platform's terms differ.
	openID = "oRailError00000000000000000y"
	billno, _ = r.Billno("errors", openID, 0)
	if _, err := r.Send(ctx, billno, openID, railPayout()); err != nil {
		t.Fatal(err)
	}
	p := railPayout()
	p.Amount++
	if _, err := r.Send(ctx, billno, openID, p); rail.StateOf(err) != rail.Conflict || !errors.Is(err, hongbao.ErrFatal) {
		t.Errorf("another amount: %v", err)
	}

	// A payout the rail refuses never reaches the platform.
	before := len(s.Requests())
	p.Wishing = ""
	if _, err := r.Send(ctx, billno, openID, p); rail.StateOf(err) != rail.Invalid {
		t.Errorf("invalid payout: %v", err)
	}
	if len(s.Requests()) != before {
		t.Error("an invalid payout reached the host")
	}
}
