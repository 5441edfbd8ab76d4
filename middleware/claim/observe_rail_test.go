package claim

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hongbao-go/hongbao/rail"
	"github.com/hongbao-go/hongbao/store"
	"github.com/hongbao-go/hongbao/transport/wxpaytest"
)

// railRecorder is an Observer of taps and notifications.
type railRecorder struct {
	mu    sync.Mutex
	taps  []Tap
	notes []Notification
}

func (r *railRecorder) TapStart(ctx context.Context) context.Context { return ctx }

func (r *railRecorder) TapEnd(_ context.Context, t Tap) {
	r.mu.Lock()
	r.taps = append(r.taps, t)
	r.mu.Unlock()
}

func (r *railRecorder) Notified(_ context.Context, n Notification) {
	r.mu.Lock()
	r.notes = append(r.notes, n)
	r.mu.Unlock()
}

func (r *railRecorder) lastTap(t *testing.T) Tap {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.taps) == 0 {
		t.Fatal("no tap reported")
	}
	return r.taps[len(r.taps)-1]
}

// notifications returns the notifications reported so far.
func (r *railRecorder) notifications() []Notification {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Notification(nil), r.notes...)
}

// waitNotifications waits until n notifications were reported.
func (r *railRecorder) waitNotifications(t *testing.T, n int) []Notification {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := r.notifications()
		if len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d notifications reported, want %d: %+v", len(got), n, got)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Every tap names the kind of its handler's rail.
func TestObserverTapRail(t *testing.T) {
	for _, kind := range bothRails {
		t.Run(kind, func(t *testing.T) {
			rec := &railRecorder{}
			w := newWorld(t, kind, wxpaytest.Options{}, nil, func(c *HandlerConfig) { c.Observer = rec })
			r := w.replica(t)
			w.answer(t, w.tap(t, r, "oRail"), w.billno(t, "oRail", 0))
			if tp := rec.lastTap(t); tp.Rail != kind || tp.Source != "platform" || tp.Status != http.StatusOK {
				t.Errorf("first tap: %+v", tp)
			}
			w.answer(t, w.tap(t, r, "oRail"), w.billno(t, "oRail", 0))
			if tp := rec.lastTap(t); tp.Rail != kind || tp.Source != "store" {
				t.Errorf("repeat tap: %+v", tp)
			}
		})
	}
}

// failingResults is a Store whose SaveResult fails while fail is set.
type failingResults struct {
	store.Store
	fail atomic.Bool
}

func (s *failingResults) SaveResult(ctx context.Context, billno string, r store.Result, ttl time.Duration) error {
	if s.fail.Load() {
		return errors.New("the Store is down")
	}
	return s.Store.SaveResult(ctx, billno, r, ttl)
}

// The observer is told of each notification: one refused (probe-signed),
// then the genuine one recorded with the time the bill waited; a forged
// one refused; one whose result could not be stored failed; the same
// through HandleNotification.
func TestObserverNotifications(t *testing.T) {
	rec := &railRecorder{}
	st := &failingResults{Store: store.NewMemoryStore()}
	w := newWorld(t, transfers, wxpaytest.Options{V3: wxpaytest.V3Options{ProbeNotifications: true}}, st,
		func(c *HandlerConfig) { c.Observer = rec })
	r := w.replica(t)

	// The user confirms 90 seconds after the offer.
	billno := w.billno(t, "oNote", 0)
	res := w.tap(t, r, "oNote")
	w.answer(t, res, billno)
	w.clock.Advance(90 * time.Second)
	w.confirm(t, res, billno, "oNote")
	got := rec.waitNotifications(t, 2)
	if n := got[0]; n.Result != NotificationRefused || n.Rail != transfers || n.Billno != "" || n.State != "" || n.Err == nil {
		t.Errorf("the probe-signed attempt: %+v", n)
	}
	n := got[1]
	if n.Result != NotificationRecorded || n.Rail != transfers || n.Billno != billno || n.State != rail.Paid ||
		n.Status != "SUCCESS" || n.Reason != "" || n.Err != nil || n.Elapsed <= 0 {
		t.Errorf("the genuine one: %+v", n)
	}
	// The create_time has a second's precision.
	if n.Waited < 89*time.Second || n.Waited > 2*time.Minute {
		t.Errorf("waited %v, want about 90s", n.Waited)
	}

	// A forged one, refused.
	if code := w.notifyPost(t, w.craft(t, billno, "", "", wxpaytest.SignForged)); code != http.StatusUnauthorized {
		t.Fatalf("forged: %d", code)
	}
	got = rec.waitNotifications(t, 3)
	if n := got[2]; n.Result != NotificationRefused || n.Billno != "" {
		t.Errorf("forged: %+v", n)
	}

	// Another user's offer closes while the Store cannot record it: the
	// notification fails (the platform sends it again).
	other := w.billno(t, "oDown", 0)
	w.answer(t, w.tap(t, r, "oDown"), other)
	st.fail.Store(true)
	if code := w.notifyPost(t, w.craft(t, other, "FAIL", "OVERDUE_CLOSE", wxpaytest.SignGenuine)); code != http.StatusInternalServerError {
		t.Fatalf("with the Store down: %d", code)
	}
	st.fail.Store(false)
	got = rec.waitNotifications(t, 4)
	if n := got[3]; n.Result != NotificationFailed || n.Billno != other || n.State != rail.Returned ||
		n.Status != "FAIL" || n.Reason != "OVERDUE_CLOSE" || n.Err == nil {
		t.Errorf("failed: %+v", n)
	}

	// HandleNotification reports the same way.
	signed := w.craft(t, other, "FAIL", "OVERDUE_CLOSE", wxpaytest.SignGenuine)
	if err := r.h.HandleNotification(context.Background(), signed.Header, signed.Body); err != nil {
		t.Fatal(err)
	}
	forged := w.craft(t, other, "FAIL", "OVERDUE_CLOSE", wxpaytest.SignTampered)
	if err := r.h.HandleNotification(context.Background(), forged.Header, forged.Body); err == nil {
		t.Fatal("a tampered notification was accepted")
	}
	got = rec.notifications()
	if len(got) != 6 {
		t.Fatalf("%d notifications: %+v", len(got), got)
	}
	if n := got[4]; n.Result != NotificationRecorded || n.Billno != other || n.State != rail.Returned || n.Reason != "OVERDUE_CLOSE" {
		t.Errorf("HandleNotification: %+v", n)
	}
	if n := got[5]; n.Result != NotificationRefused || n.Billno != "" || n.Err == nil {
		t.Errorf("HandleNotification, tampered: %+v", n)
	}
	if s := w.stored(t, other); s.Closed != rail.Returned {
		t.Errorf("stored %+v", s)
	}
}
