package wxpaytest_test

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hongbao-go/hongbao/transport/wxpaytest"
)

// movingClock is a clock a test moves forward.
type movingClock struct{ offset atomic.Int64 }

func (c *movingClock) Now() time.Time          { return fixedNow.Add(time.Duration(c.offset.Load())) }
func (c *movingClock) Advance(d time.Duration) { c.offset.Add(int64(d)) }

// untilMidnight is how long after fixedNow (11:04:05 in Beijing) the next
// Beijing day begins.
const untilMidnight = 12*time.Hour + 55*time.Minute + 55*time.Second

func TestUserLimitCount(t *testing.T) {
	for _, mode := range []wxpaytest.NotEnoughMode{wxpaytest.NotEnoughFailed, wxpaytest.NotEnoughForgotten} {
		t.Run(mode.String(), func(t *testing.T) {
			clk := &movingClock{}
			h := newHarness(t, wxpaytest.Options{Now: clk.Now, UserLimits: wxpaytest.UserLimits{Count: 2, Refusals: mode}})
			wantFields(t, h.send(h.sendParams("B1", 100)), "result_code", "SUCCESS")
			first := h.send(h.sendParams("B2", 100))
			wantFields(t, first, "result_code", "SUCCESS")
			doc := h.send(h.sendParams("B3", 100))
			wantBusinessFail(t, doc, "SENDNUM_LIMIT")
			wantFields(t, doc, "mch_billno", "B3", "re_openid", openID, "total_amount", "100")
			// Another user is not limited by this one's count.
			wantFields(t, h.send(with(h.sendParams("B4", 100), "re_openid", "oAnotherUser")), "result_code", "SUCCESS")
			// A paid number is answered its packet however many were paid since.
			wantFields(t, h.send(h.sendParams("B2", 100)), "result_code", "SUCCESS", "package", first.Fields["package"])
			if n, fen := h.srv.Received(openID, clk.Now()); n != 2 || fen != 200 {
				t.Errorf("Received = %d, %d", n, fen)
			}
			// A refund does not give the day's count back.
			if err := h.srv.MarkRefunded("B1"); err != nil {
				t.Fatal(err)
			}
			wantBusinessFail(t, h.send(h.sendParams("B3", 100)), "SENDNUM_LIMIT")
			switch mode {
			case wxpaytest.NotEnoughFailed:
				p, ok := h.srv.Packet("B3")
				if !ok || p.Status != wxpaytest.StatusFailed || p.ErrCode != "SENDNUM_LIMIT" || p.Package != "" || p.Reason == "" {
					t.Fatalf("Packet(B3) = %+v, %v", p, ok)
				}
				wantFields(t, h.info("B3"), "result_code", "SUCCESS", "status", "FAILED", "reason", p.Reason, "total_amount", "100")
			case wxpaytest.NotEnoughForgotten:
				if p, ok := h.srv.Packet("B3"); ok {
					t.Fatalf("the refusal was recorded: %+v", p)
				}
				wantBusinessFail(t, h.info("B3"), "NOT_FOUND")
			}
			// One second before midnight in Beijing: still today.
			clk.Advance(untilMidnight - time.Second)
			wantBusinessFail(t, h.send(h.sendParams("B5", 100)), "SENDNUM_LIMIT")
			clk.Advance(time.Second)
			if n, _ := h.srv.Received(openID, clk.Now()); n != 0 {
				t.Errorf("the next day starts with %d packets", n)
			}
			switch mode {
			case wxpaytest.NotEnoughFailed:
				// The recorded refusal answers the same code on every day.
				wantBusinessFail(t, h.send(h.sendParams("B3", 100)), "SENDNUM_LIMIT")
				wantBusinessFail(t, h.send(h.sendParams("B5", 100)), "SENDNUM_LIMIT")
				wantFields(t, h.send(h.sendParams("B6", 100)), "result_code", "SUCCESS")
				wantFields(t, h.send(h.sendParams("B8", 100)), "result_code", "SUCCESS")
			case wxpaytest.NotEnoughForgotten:
				wantFields(t, h.send(h.sendParams("B3", 100)), "result_code", "SUCCESS")
				wantFields(t, h.info("B3"), "status", "SENT")
				wantFields(t, h.send(h.sendParams("B5", 100)), "result_code", "SUCCESS")
			}
			wantBusinessFail(t, h.send(h.sendParams("B7", 100)), "SENDNUM_LIMIT")
		})
	}
}

func TestUserLimitAmount(t *testing.T) {
	h := newHarness(t, wxpaytest.Options{Balance: 10000, UserLimits: wxpaytest.UserLimits{Amount: 500}})
	wantFields(t, h.send(h.sendParams("A1", 300)), "result_code", "SUCCESS")
	wantBusinessFail(t, h.send(h.sendParams("A2", 201)), "RCVDAMOUNT_LIMIT")
	if p, _ := h.srv.Packet("A2"); p.ErrCode != "RCVDAMOUNT_LIMIT" {
		t.Errorf("Packet(A2) = %+v", p)
	}
	wantFields(t, h.send(h.sendParams("A3", 200)), "result_code", "SUCCESS")
	wantBusinessFail(t, h.send(h.sendParams("A4", 100)), "RCVDAMOUNT_LIMIT")
	// The refusals took nothing from the balance.
	if b := h.srv.Balance(); b != 10000-500 {
		t.Errorf("balance %d", b)
	}
	// The user's limit comes before the merchant's balance.
	h2 := newHarness(t, wxpaytest.Options{Balance: 50, UserLimits: wxpaytest.UserLimits{Amount: 99}})
	wantBusinessFail(t, h2.send(h2.sendParams("A5", 100)), "RCVDAMOUNT_LIMIT")
	wantBusinessFail(t, h2.send(with(h2.sendParams("A6", 99), "scene_id", "PRODUCT_1")), "NOTENOUGH")
}

func TestUserLimitOptions(t *testing.T) {
	for _, l := range []wxpaytest.UserLimits{{Count: -1}, {Amount: -1}, {Refusals: 2}} {
		if _, err := wxpaytest.NewServer(wxpaytest.Options{UserLimits: l}); err == nil {
			t.Errorf("UserLimits %+v accepted", l)
		}
	}
	// No limit by default.
	h := newHarness(t, wxpaytest.Options{})
	for i := range 12 {
		wantFields(t, h.send(h.sendParams(fmt.Sprintf("N%d", i), 20000)), "result_code", "SUCCESS")
	}
}
