package claim

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/hongbao-go/hongbao/apiv3"
	"github.com/hongbao-go/hongbao/rail"
	"github.com/hongbao-go/hongbao/store"
	"github.com/hongbao-go/hongbao/transport/wxpaytest"
)

// notifyPost posts a crafted notification to the world's notify URL and
// returns the status.
func (w *world) notifyPost(t *testing.T, n *wxpaytest.Signed) int {
	t.Helper()
	req, err := n.NewRequest(context.Background(), w.recv.url())
	if err != nil {
		t.Fatal(err)
	}
	res, err := w.recv.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res.StatusCode
}

// craft builds a notification of billno: the bill as the host holds it,
// or, with state set, a genuine resource saying state (and reason).
func (w *world) craft(t *testing.T, billno, state, reason string, sig wxpaytest.Signature) *wxpaytest.Signed {
	t.Helper()
	spec := wxpaytest.NotificationSpec{OutBillNo: billno, SignSpec: wxpaytest.SignSpec{Signature: sig}}
	if state != "" {
		b, _ := w.host.Bill(billno)
		spec.OutBillNo = ""
		spec.Resource = fmt.Appendf(nil, `{"out_bill_no":%q,"transfer_bill_no":%q,"state":%q,"mch_id":%q,"transfer_amount":%d,"openid":%q,"fail_reason":%q,"create_time":%q,"update_time":%q}`,
			billno, b.TransferBillNo, state, w.host.MchID, b.Amount, b.OpenID, reason,
			b.CreatedAt.Format(time.RFC3339), w.clock.Now().Format(time.RFC3339))
	}
	n, err := w.host.CraftNotification(spec)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// Notifications delivered (after a probe-signed first attempt), repeated,
// replayed and out of order leave each number's stored state right and its
// budget counted once; forged, tampered and probe-signed ones are refused
// and change nothing.
func TestTransferNotifications(t *testing.T) {
	w := newWorld(t, transfers, wxpaytest.Options{V3: wxpaytest.V3Options{ProbeNotifications: true}}, nil, func(c *HandlerConfig) {
		c.Budgets = map[string]store.Budget{testGrant().Key: {Packets: 10}}
	})
	r := w.replica(t)
	ctx := context.Background()

	// Delivered: SUCCESS is stored and committed; the probe before it
	// was refused.
	const paid = "oNotifyPaid"
	paidNo := w.billno(t, paid, 0)
	res := w.tap(t, r, paid)
	w.answer(t, res, paidNo)
	if st := w.budget(t, r); st.ReservedPackets != 1 || st.CommittedPackets != 0 {
		t.Fatalf("an offer: budget %+v", st)
	}
	w.confirm(t, res, paidNo, paid)
	probes := 0
	for _, d := range w.host.Deliveries() {
		if d.OutBillNo == paidNo && d.Probe {
			probes++
			if d.Delivered || d.Status != http.StatusUnauthorized {
				t.Errorf("a probe-signed notification was answered %d", d.Status)
			}
		}
	}
	if probes == 0 {
		t.Error("no probe-signed attempt was made")
	}
	if got := w.stored(t, paidNo); got.Closed != rail.Paid || got.Package != "" || got.Amount != 100 {
		t.Errorf("stored %+v", got)
	}
	checkError(t, w.tap(t, r, paid), http.StatusGone, "already_received", false)
	wantBudget := func(reserved, committed int64) {
		t.Helper()
		if st := w.budget(t, r); st.ReservedPackets != reserved || st.CommittedPackets != committed {
			t.Errorf("budget %+v, want %d reserved and %d committed", st, reserved, committed)
		}
	}
	wantBudget(0, 1)

	// Repeated by the platform, replayed as it was, then a late FAIL:
	// nothing changes.
	if err := w.host.Renotify(paidNo); err != nil {
		t.Fatal(err)
	}
	w.delivered(t, paidNo, 2)
	same := w.craft(t, paidNo, "", "", wxpaytest.SignGenuine)
	for range 2 {
		if s := w.notifyPost(t, same); s != http.StatusNoContent {
			t.Fatalf("a replay: %d", s)
		}
	}
	if s := w.notifyPost(t, w.craft(t, paidNo, "FAIL", "BLOCK", wxpaytest.SignGenuine)); s != http.StatusNoContent {
		t.Fatalf("a late FAIL: %d", s)
	}
	if got := w.stored(t, paidNo); got.Closed != rail.Paid {
		t.Errorf("FAIL overwrote SUCCESS: %+v", got)
	}
	wantBudget(0, 1)

	// FAIL: closed and released; a late CANCELLED keeps it closed; the
	// next tap pays the next number.
	const failed = "oNotifyFailed"
	failedNo := w.billno(t, failed, 0)
	first := w.answer(t, w.tap(t, r, failed), failedNo)
	wantBudget(1, 1)
	if _, err := w.host.FailTransfer(failedNo, "RISK_CONTROL"); err != nil {
		t.Fatal(err)
	}
	w.delivered(t, failedNo, 1)
	if got := w.stored(t, failedNo); got.Closed != rail.Closed {
		t.Errorf("stored %+v", got)
	}
	wantBudget(0, 1)
	if s := w.notifyPost(t, w.craft(t, failedNo, "CANCELLED", "", wxpaytest.SignGenuine)); s != http.StatusNoContent {
		t.Fatalf("a late CANCELLED: %d", s)
	}
	if got := w.stored(t, failedNo); got.Closed != rail.Closed {
		t.Errorf("stored %+v", got)
	}
	if next := w.answer(t, w.tap(t, r, failed), w.billno(t, failed, 1)); next == first {
		t.Error("the next number answers the closed one's package")
	}
	wantBudget(1, 1)

	// Forged, tampered, stale, unsigned and probe-signed SUCCESS for a
	// waiting bill: refused, the offer stands.
	const waiting = "oNotifyWaiting"
	waitingNo := w.billno(t, waiting, 0)
	pkg := w.answer(t, w.tap(t, r, waiting), waitingNo)
	for sig, want := range map[wxpaytest.Signature]int{
		wxpaytest.SignForged: http.StatusUnauthorized, wxpaytest.SignProbe: http.StatusUnauthorized,
		wxpaytest.SignStale: http.StatusUnauthorized, wxpaytest.SignUnsigned: http.StatusUnauthorized,
		wxpaytest.SignTampered: http.StatusUnauthorized, wxpaytest.SignUnknownSerial: http.StatusUnauthorized,
	} {
		if s := w.notifyPost(t, w.craft(t, waitingNo, "SUCCESS", "", sig)); s != want {
			t.Errorf("signature %v: %d, want %d", sig, s, want)
		}
	}
	tampered, err := w.host.CraftNotification(wxpaytest.NotificationSpec{OutBillNo: waitingNo, TamperCiphertext: true})
	if err != nil {
		t.Fatal(err)
	}
	if s := w.notifyPost(t, tampered); s < 400 {
		t.Errorf("a ciphertext that does not decrypt: %d", s)
	}
	// A genuine signature over another body.
	genuine := w.craft(t, waitingNo, "", "", wxpaytest.SignGenuine)
	other := w.craft(t, waitingNo, "SUCCESS", "", wxpaytest.SignGenuine)
	if s := w.notifyPost(t, genuine.WithBody(other.Body)); s != http.StatusUnauthorized {
		t.Errorf("a signature replayed over another body: %d", s)
	}
	if got := w.stored(t, waitingNo); !got.Paid() || got.Package != pkg {
		t.Errorf("a refused notification changed %+v", got)
	}
	if again := w.answer(t, w.tap(t, r, waiting), waitingNo); again != pkg {
		t.Error("the offer changed")
	}
	wantBudget(2, 1)

	// The function for frameworks: the same checks, the same record.
	forged := w.craft(t, waitingNo, "SUCCESS", "", wxpaytest.SignForged)
	if err := r.h.HandleNotification(ctx, forged.Header, forged.Body); !errors.Is(err, apiv3.ErrUnverified) {
		t.Errorf("a forged notification: %v", err)
	}
	if _, err := w.host.FailTransfer(waitingNo, "BLOCK"); err != nil {
		t.Fatal(err)
	}
	w.delivered(t, waitingNo, 1)
	n := w.craft(t, waitingNo, "", "", wxpaytest.SignGenuine)
	if err := r.h.HandleNotification(ctx, n.Header, n.Body); err != nil {
		t.Fatal(err)
	}
	if got := w.stored(t, waitingNo); got.Closed != rail.Closed {
		t.Errorf("stored %+v", got)
	}
	wantBudget(1, 1)
}

// A notification waits for a send of its number to end (the number's
// lock), so that the two settle to one state; one that cannot take the
// lock in time fails, and the platform sends it again.
func TestTransferNotificationWaitsForTheSend(t *testing.T) {
	w := newWorld(t, transfers, wxpaytest.Options{}, nil, nil)
	r := w.replica(t)
	ctx := context.Background()
	const u = "oNotifyLock"
	billno := w.billno(t, u, 0)
	res := w.tap(t, r, u)
	w.answer(t, res, billno)
	w.recv.set(http.HandlerFunc(func(rw http.ResponseWriter, _ *http.Request) { rw.WriteHeader(http.StatusServiceUnavailable) }))
	var p wxpaytest.TransferPage
	if err := json.Unmarshal([]byte(res.body), &p); err != nil {
		t.Fatal(err)
	}
	if _, err := w.host.ConfirmTransfer(p); err != nil {
		t.Fatal(err)
	}
	n := w.craft(t, billno, "", "", wxpaytest.SignGenuine)

	release, ok, err := w.store.TryLock(ctx, billno, time.Minute)
	if err != nil || !ok {
		t.Fatalf("lock: %v %v", ok, err)
	}
	short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	err = r.h.HandleNotification(short, n.Header, n.Body)
	cancel()
	if !errors.Is(err, errNumberBusy) {
		t.Fatalf("with the number locked: %v", err)
	}
	if got := w.stored(t, billno); !got.Paid() {
		t.Fatalf("recorded without the lock: %+v", got)
	}
	done := make(chan error, 1)
	go func() { done <- r.h.HandleNotification(ctx, n.Header, n.Body) }()
	time.Sleep(150 * time.Millisecond)
	select {
	case err := <-done:
		t.Fatalf("the notification did not wait for the lock: %v", err)
	default:
	}
	release()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := w.stored(t, billno); got.Closed != rail.Paid {
		t.Errorf("stored %+v", got)
	}
}

// Taps on two replicas race the user's confirmation and its
// notification: every answer is the one package or already_received, one
// bill is made, and the number ends paid.
func TestTransferTapsRaceTheNotification(t *testing.T) {
	w := newWorld(t, transfers, wxpaytest.Options{}, nil, func(c *HandlerConfig) {
		c.Budgets = map[string]store.Budget{testGrant().Key: {Packets: 1}}
	})
	a, b := w.replica(t), w.replica(t)
	const u = "oNotifyRace"
	billno := w.billno(t, u, 0)
	res := w.tap(t, a, u)
	pkg := w.answer(t, res, billno)
	var wg sync.WaitGroup
	answers := make([]response, 40)
	for i := range answers {
		wg.Go(func() { answers[i] = w.tap(t, []*replica{a, b}[i%2], u) })
	}
	w.confirm(t, res, billno, u)
	wg.Wait()
	for _, res := range answers {
		switch res.status {
		case http.StatusOK:
			if got := w.answer(t, res, billno); got != pkg {
				t.Errorf("package %q, want %q", got, pkg)
			}
		case http.StatusGone:
			checkError(t, res, http.StatusGone, "already_received", false)
		default:
			t.Errorf("%d %s", res.status, res.body)
		}
	}
	checkError(t, w.tap(t, b, u), http.StatusGone, "already_received", false)
	if w.host.BillsCreated() != 1 || w.stored(t, billno).Closed != rail.Paid {
		t.Errorf("%d bills, stored %+v", w.host.BillsCreated(), w.stored(t, billno))
	}
	if st := w.budget(t, a); st.CommittedPackets != 1 || st.ReservedPackets != 0 {
		t.Errorf("budget %+v", st)
	}
}

// At a campaign's end the offers still waiting are cancelled: Waiting
// tells them from the paid ones, Cancel closes them and releases their
// budget when the platform reports them cancelled (at once, or by the
// notification when the cancel completes later); their users' taps are
// answered 410 and nothing more is sent.
func TestTransferCancelWaiting(t *testing.T) {
	for _, later := range []bool{false, true} {
		t.Run(fmt.Sprintf("completes later=%v", later), func(t *testing.T) {
			w := newWorld(t, transfers, wxpaytest.Options{V3: wxpaytest.V3Options{ManualSettle: later}}, nil, func(c *HandlerConfig) {
				c.Budgets = map[string]store.Budget{testGrant().Key: {Packets: 10}}
			})
			r := w.replica(t)
			ctx := context.Background()
			const users = 4
			for i := range users {
				u := user("Cancel", i)
				res := w.tap(t, r, u)
				w.answer(t, res, w.billno(t, u, 0))
				if i == 0 {
					var p wxpaytest.TransferPage
					if err := json.Unmarshal([]byte(res.body), &p); err != nil {
						t.Fatal(err)
					}
					if _, err := w.host.ConfirmTransfer(p); err != nil {
						t.Fatal(err)
					}
					if later {
						if _, err := w.host.Settle(w.billno(t, u, 0)); err != nil {
							t.Fatal(err)
						}
					}
					w.delivered(t, w.billno(t, u, 0), 1)
				}
			}
			cancelled := 0
			for i := range users {
				billno := w.billno(t, user("Cancel", i), 0)
				res := w.stored(t, billno)
				if r.h.Waiting(res) != (i != 0) {
					t.Fatalf("user %d: Waiting(%+v) = %v", i, res, !(i != 0))
				}
				if !r.h.Waiting(res) {
					continue
				}
				b, err := r.h.Cancel(ctx, billno)
				if err != nil {
					t.Fatal(err)
				}
				// The platform answers CANCELING: the cancel completes
				// on its own, and is notified.
				if b.State != rail.Pending || b.Status != "CANCELING" {
					t.Fatalf("cancel: %+v", b)
				}
				cancelled++
			}
			if later {
				if st := w.budget(t, r); st.ReservedPackets != 3 || st.CommittedPackets != 1 {
					t.Errorf("before the cancels complete: %+v", st)
				}
			}
			for i := 1; i < users; i++ {
				billno := w.billno(t, user("Cancel", i), 0)
				if later {
					if _, err := w.host.Settle(billno); err != nil {
						t.Fatal(err)
					}
				}
				w.delivered(t, billno, 1)
			}
			for i := 1; i < users; i++ {
				if got := w.stored(t, w.billno(t, user("Cancel", i), 0)); got.Closed != rail.Cancelled {
					t.Errorf("user %d: %+v", i, got)
				}
			}
			if st := w.budget(t, r); st.ReservedPackets != 0 || st.CommittedPackets != 1 {
				t.Errorf("budget %+v", st)
			}
			// The paid one cannot be cancelled, and stays paid.
			if b, err := r.h.Cancel(ctx, w.billno(t, user("Cancel", 0), 0)); err != nil || b.State != rail.Paid {
				t.Errorf("cancel of a paid bill: %+v %v", b, err)
			}
			sends := w.sends()
			for i := 1; i < users; i++ {
				checkError(t, w.tap(t, r, user("Cancel", i)), http.StatusGone, "claim_window_expired", false)
			}
			checkError(t, w.tap(t, r, user("Cancel", 0)), http.StatusGone, "already_received", false)
			if w.sends() != sends || w.host.BillsCreated() != users || cancelled != users-1 {
				t.Errorf("%d sends after the cancels, %d bills, %d cancelled", w.sends()-sends, w.host.BillsCreated(), cancelled)
			}
		})
	}
}

// The red-packet rail has no notifications and no cancel.
func TestRedPacketHasNoNotifications(t *testing.T) {
	w := newWorld(t, redPacket, wxpaytest.Options{}, nil, nil)
	r := w.replica(t)
	if _, err := r.h.NotificationHandler(); !errors.Is(err, errNotNotifier) {
		t.Errorf("NotificationHandler: %v", err)
	}
	if err := r.h.HandleNotification(context.Background(), http.Header{}, nil); !errors.Is(err, errNotNotifier) {
		t.Errorf("HandleNotification: %v", err)
	}
	if _, err := r.h.Cancel(context.Background(), w.billno(t, "oX", 0)); !errors.Is(err, errNotCanceller) {
		t.Errorf("Cancel: %v", err)
	}
	res := store.Result{Billno: "b", Rail: r.h.railName, Package: "p"}
	if r.h.Waiting(res) {
		t.Error("a red packet waits for no confirmation")
	}
}
