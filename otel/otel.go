// Package otelhongbao records hongbao's metrics and traces with OpenTelemetry. It
// is a module of its own, so that the core does not depend on
// OpenTelemetry: its Observer implements hongbao.Observer (calls to the
// platform, the client certificate), claim.Observer (taps, on either rail)
// and claim.NotificationObserver (the transfer rail's notifications); its
// Transfer method returns the transfer client's observer.
//
//	obs, err := otelhongbao.New(otelhongbao.Options{}) // the global providers
//	client, err := hongbao.New(hongbao.Config{..., Observer: obs})
//	tclient, err := transfer.New(transfer.Config{..., Observer: obs.Transfer()})
//	handler, err := claim.NewHandler(claim.HandlerConfig{..., Observer: obs})
//
// # Metrics
//
// The instruments' names are stable, so that dashboards and alerts can rely
// on them (in Prometheus, dots become underscores, counters end in _total
// and the unit s in _seconds):
//
//   - hongbao.sends (counter): calls to the platform by outcome, attributes
//     rail (redpacket: the red-packet client's calls; transfer: the
//     transfer client's), op (sendminiprogramhb, gethbinfo; create, query,
//     cancel), result (success, definitive, unknown) and err_code;
//   - hongbao.send.duration (histogram, s): the time of each call, retries
//     and waits included, attributes rail, op and result;
//   - hongbao.send.attempts (counter): requests sent to the platform, retries
//     included, attributes rail, op and err_code (the attempt's);
//   - hongbao.taps (counter): answered taps, attributes rail (redpacket,
//     transfer), status (the HTTP status), code (the answer's code, empty
//     for 200) and source (platform, shared, store, or empty);
//   - hongbao.notifications (counter): the transfer rail's notifications,
//     attributes rail, result (recorded, failed, refused), state (SUCCESS,
//     FAIL, CANCELLED; empty when refused) and reason (fail_reason, such as
//     OVERDUE_CLOSE);
//   - hongbao.notification.wait (histogram, s): how long each number
//     recorded by a notification waited from its creation at the platform
//     (the user's confirmation, the close), attributes rail and state;
//   - hongbao.cert.expiry (gauge, s): seconds until the merchant client
//     certificate expires, attribute mch_id; it follows Transport.Reload.
//
// result is success when the call succeeded, unknown when the platform may
// have paid (resend the same bill number: see hongbao.ErrOutcomeUnknown),
// and definitive for every other failure, after which nothing was paid by
// the call. err_code is the platform's err_code (the red packet's, such as
// NOTENOUGH) or code (the transfer's, such as NOT_ENOUGH), THROTTLED for a
// call the client held back for the merchant's rate (hongbao.ErrThrottled),
// and empty otherwise (success, or a failure without a code such as a
// network error).
//
// # Traces
//
// Each tap is a span (hongbao.tap), each call to the platform a span
// (hongbao.sendminiprogramhb, hongbao.gethbinfo; hongbao.transfer.create,
// .query, .cancel) under the tap's, and each attempt a client span under
// its call's (hongbao.sendminiprogramhb.attempt):
// the attempt's context goes with the request, so spans of an instrumented
// Transport.Base nest under it. Their attributes are bill numbers, attempt
// numbers, err_codes, results, HTTP statuses and answer codes: never a key,
// a signature, a token, a package or an openid.
package otelhongbao

import (
	"context"
	"crypto/x509"
	"errors"
	"sync"
	"time"

	otelglobal "go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/hongbao-go/hongbao"
	"github.com/hongbao-go/hongbao/middleware/claim"
	"github.com/hongbao-go/hongbao/store"
)

// ScopeName is the instrumentation scope of the meter and the tracer.
const ScopeName = "github.com/hongbao-go/hongbao/otel"

// The instruments' names.
const (
	MetricSends        = "hongbao.sends"
	MetricSendDuration = "hongbao.send.duration"
	MetricSendAttempts = "hongbao.send.attempts"
	MetricTaps         = "hongbao.taps"
	MetricCertExpiry   = "hongbao.cert.expiry"
	// The notifications of the transfer rail (claim.NotificationObserver).
	MetricNotifications    = "hongbao.notifications"
	MetricNotificationWait = "hongbao.notification.wait"
	// The campaign budgets (ObserveBudgets), attributes campaign and
	// unit (fen, packets).
	MetricBudgetRemaining = "hongbao.budget.remaining"
	MetricBudgetReserved  = "hongbao.budget.reserved"
	MetricBudgetCommitted = "hongbao.budget.committed"
)

// The values of the result attribute.
const (
	ResultSuccess    = "success"
	ResultDefinitive = "definitive"
	ResultUnknown    = "unknown"
)

// ErrCodeThrottled is the err_code of a send the client held back.
const ErrCodeThrottled = "THROTTLED"

// DurationBuckets are the bucket boundaries of hongbao.send.duration, in
// seconds: a call takes from tens of milliseconds to the minutes its
// retries may last.
var DurationBuckets = []float64{0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120}

// WaitBuckets are the bucket boundaries of hongbao.notification.wait, in
// seconds: a user confirms within seconds to hours, and the platform
// closes an unconfirmed bill after about 24 hours (OVERDUE_CLOSE).
var WaitBuckets = []float64{10, 30, 60, 300, 900, 1800, 3600, 7200, 14400, 28800, 43200, 86400, 90000, 172800}

// railRedPacket is the rail attribute of the red-packet client's calls
// (hongbao.Observer reports only those).
var railRedPacket = attribute.String("rail", hongbao.RailName)

// Options configures New.
type Options struct {
	// MeterProvider records the metrics; the global one when nil.
	MeterProvider metric.MeterProvider
	// TracerProvider records the spans; the global one when nil.
	TracerProvider trace.TracerProvider
	// Now is the clock of hongbao.cert.expiry; time.Now when nil.
	Now func() time.Time
}

// Observer records hongbao's metrics and spans. Create it with New; it is
// safe for concurrent use, and one Observer serves any number of clients
// and handlers.
type Observer struct {
	meter    metric.Meter
	tracer   trace.Tracer
	sends    metric.Int64Counter
	duration metric.Float64Histogram
	attempts metric.Int64Counter
	taps     metric.Int64Counter
	notes    metric.Int64Counter
	waits    metric.Float64Histogram
	reg      metric.Registration
	now      func() time.Time

	mu       sync.Mutex
	notAfter map[string]time.Time // by mch_id
}

var (
	_ hongbao.Observer           = (*Observer)(nil)
	_ claim.Observer             = (*Observer)(nil)
	_ claim.NotificationObserver = (*Observer)(nil)
)

// New creates the instruments and returns the Observer.
func New(opts Options) (*Observer, error) {
	mp, tp := opts.MeterProvider, opts.TracerProvider
	if mp == nil {
		mp = otelglobal.GetMeterProvider()
	}
	if tp == nil {
		tp = otelglobal.GetTracerProvider()
	}
	o := &Observer{
		tracer:   tp.Tracer(ScopeName),
		now:      opts.Now,
		notAfter: make(map[string]time.Time),
	}
	if o.now == nil {
		o.now = time.Now
	}
	m := mp.Meter(ScopeName)
	o.meter = m
	var errs [8]error
	o.sends, errs[0] = m.Int64Counter(MetricSends, metric.WithUnit("{call}"),
		metric.WithDescription("Calls to the platform by outcome: op, result (success, definitive, unknown), err_code."))
	o.duration, errs[1] = m.Float64Histogram(MetricSendDuration, metric.WithUnit("s"),
		metric.WithDescription("Time of each call to the platform, retries and waits included: op, result."),
		metric.WithExplicitBucketBoundaries(DurationBuckets...))
	o.attempts, errs[2] = m.Int64Counter(MetricSendAttempts, metric.WithUnit("{request}"),
		metric.WithDescription("Requests sent to the platform, retries included: op, err_code."))
	o.taps, errs[3] = m.Int64Counter(MetricTaps, metric.WithUnit("{tap}"),
		metric.WithDescription("Answered taps: rail, status, code, source (platform, shared, store)."))
	o.notes, errs[6] = m.Int64Counter(MetricNotifications, metric.WithUnit("{notification}"),
		metric.WithDescription("Notifications of the transfer rail: rail, result (recorded, failed, refused), state, reason."))
	o.waits, errs[7] = m.Float64Histogram(MetricNotificationWait, metric.WithUnit("s"),
		metric.WithDescription("How long each number a notification recorded waited since its creation at the platform: rail, state."),
		metric.WithExplicitBucketBoundaries(WaitBuckets...))
	expiry, err := m.Float64ObservableGauge(MetricCertExpiry, metric.WithUnit("s"),
		metric.WithDescription("Seconds until the merchant client certificate expires: mch_id."))
	errs[4] = err
	if err == nil {
		o.reg, errs[5] = m.RegisterCallback(func(_ context.Context, ob metric.Observer) error {
			now := o.now()
			o.mu.Lock()
			defer o.mu.Unlock()
			for mchID, at := range o.notAfter {
				ob.ObserveFloat64(expiry, at.Sub(now).Seconds(), metric.WithAttributes(attribute.String("mch_id", mchID)))
			}
			return nil
		}, expiry)
	}
	if err := errors.Join(errs[:]...); err != nil {
		return nil, err
	}
	return o, nil
}

// Close stops reporting hongbao.cert.expiry; the other instruments record
// as long as their clients and handlers are used.
func (o *Observer) Close() error {
	return o.reg.Unregister()
}

// callKey holds the *callState of the innermost call in a context.
type callKey struct{}

// callState is what a call's span needs from its attempts.
type callState struct{ attempts int }

// CallStart starts the call's span.
func (o *Observer) CallStart(ctx context.Context, c hongbao.Call) context.Context {
	return o.callStart(ctx, "hongbao."+c.Op, c.Op, c.Billno)
}

// AttemptStart starts the attempt's span.
func (o *Observer) AttemptStart(ctx context.Context, c hongbao.Call) context.Context {
	return o.attemptStart(ctx, "hongbao."+c.Op+".attempt", c.Op, c.Billno, c.Attempt)
}

// AttemptEnd counts the attempt and ends its span.
func (o *Observer) AttemptEnd(ctx context.Context, c hongbao.Call, err *hongbao.Error) {
	o.attemptEnded(ctx, redPacketOutcome(c, err))
}

// CallEnd counts the call by outcome, records its duration and ends its
// span.
func (o *Observer) CallEnd(ctx context.Context, c hongbao.Call, err *hongbao.Error) {
	e := redPacketOutcome(c, err)
	if err != nil && err.Status != "" {
		e.extra = attribute.String("hongbao.status", string(err.Status))
	}
	o.callEnded(ctx, e, c.Elapsed)
}

// redPacketOutcome is the outcome of a red-packet call or attempt.
func redPacketOutcome(c hongbao.Call, err *hongbao.Error) outcome {
	e := outcome{rail: railRedPacket, op: c.Op}
	if err != nil {
		// gethbinfo's NOT_FOUND is an answer (the packet is not known,
		// or not yet), not a fault.
		e.err, e.code, e.unknown = err, err.ErrCode, err.Unknown
		e.answer = c.Op == "gethbinfo" && err.ErrCode == "NOT_FOUND"
	}
	return e
}

// outcome is what is recorded of an ended call or attempt, of either
// client.
type outcome struct {
	rail    attribute.KeyValue
	op      string
	err     error  // nil on success
	code    string // the platform's code
	unknown bool   // the platform may have acted
	answer  bool   // err is an answer (a query's NOT_FOUND), not a span error
	extra   attribute.KeyValue
}

// result is the result attribute: success, unknown or definitive.
func (e outcome) result() string {
	switch {
	case e.err == nil:
		return ResultSuccess
	case e.unknown:
		return ResultUnknown
	}
	return ResultDefinitive
}

// errCode is the err_code attribute: the platform's code, THROTTLED for a
// call held back by the flow control, else empty.
func (e outcome) errCode() string {
	switch {
	case e.err == nil:
		return ""
	case e.code != "":
		return e.code
	case errors.Is(e.err, hongbao.ErrThrottled):
		return ErrCodeThrottled
	}
	return ""
}

func (o *Observer) callStart(ctx context.Context, name, op, billno string) context.Context {
	ctx, _ = o.tracer.Start(ctx, name, trace.WithAttributes(
		attribute.String("hongbao.op", op),
		attribute.String("hongbao.billno", billno)))
	return context.WithValue(ctx, callKey{}, &callState{})
}

func (o *Observer) attemptStart(ctx context.Context, name, op, billno string, attempt int) context.Context {
	if st, ok := ctx.Value(callKey{}).(*callState); ok {
		st.attempts = attempt
	}
	ctx, _ = o.tracer.Start(ctx, name, trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(
		attribute.String("hongbao.op", op),
		attribute.String("hongbao.billno", billno),
		attribute.Int("hongbao.attempt", attempt)))
	return ctx
}

func (o *Observer) attemptEnded(ctx context.Context, e outcome) {
	code := e.errCode()
	o.attempts.Add(ctx, 1, metric.WithAttributes(e.rail,
		attribute.String("op", e.op),
		attribute.String("err_code", code)))
	span := trace.SpanFromContext(ctx)
	span.SetAttributes(attribute.String("hongbao.err_code", code))
	if e.err != nil {
		span.SetAttributes(attribute.Bool("hongbao.outcome_unknown", e.unknown))
		if e.extra.Valid() {
			span.SetAttributes(e.extra)
		}
		if !e.answer {
			span.SetStatus(codes.Error, e.err.Error())
		}
	}
	span.End()
}

func (o *Observer) callEnded(ctx context.Context, e outcome, elapsed time.Duration) {
	result, code := e.result(), e.errCode()
	o.sends.Add(ctx, 1, metric.WithAttributes(e.rail,
		attribute.String("op", e.op),
		attribute.String("result", result),
		attribute.String("err_code", code)))
	o.duration.Record(ctx, elapsed.Seconds(), metric.WithAttributes(e.rail,
		attribute.String("op", e.op),
		attribute.String("result", result)))
	span := trace.SpanFromContext(ctx)
	span.SetAttributes(
		attribute.String("hongbao.result", result),
		attribute.String("hongbao.err_code", code))
	if st, ok := ctx.Value(callKey{}).(*callState); ok {
		span.SetAttributes(attribute.Int("hongbao.attempts", st.attempts))
	}
	if e.extra.Valid() {
		span.SetAttributes(e.extra)
	}
	if e.err != nil && !e.answer {
		span.SetStatus(codes.Error, e.err.Error())
	}
	span.End()
}

// CertificateChanged makes leaf's expiry the one hongbao.cert.expiry
// reports for mchID.
func (o *Observer) CertificateChanged(mchID string, leaf *x509.Certificate) {
	if leaf == nil {
		return
	}
	o.mu.Lock()
	o.notAfter[mchID] = leaf.NotAfter
	o.mu.Unlock()
}

// TapStart starts the tap's span.
func (o *Observer) TapStart(ctx context.Context) context.Context {
	ctx, _ = o.tracer.Start(ctx, "hongbao.tap")
	return ctx
}

// TapEnd counts the tap and ends its span.
func (o *Observer) TapEnd(ctx context.Context, t claim.Tap) {
	o.taps.Add(ctx, 1, metric.WithAttributes(
		attribute.String("rail", t.Rail),
		attribute.Int("status", t.Status),
		attribute.String("code", t.Code),
		attribute.String("source", t.Source)))
	span := trace.SpanFromContext(ctx)
	attrs := make([]attribute.KeyValue, 0, 6)
	attrs = append(attrs, attribute.Int("http.response.status_code", t.Status))
	for _, kv := range [...]struct{ k, v string }{
		{"hongbao.rail", t.Rail}, {"hongbao.code", t.Code}, {"hongbao.source", t.Source}, {"hongbao.billno", t.Billno}, {"hongbao.err_code", t.ErrCode},
	} {
		if kv.v != "" {
			attrs = append(attrs, attribute.String(kv.k, kv.v))
		}
	}
	span.SetAttributes(attrs...)
	if t.Status >= 500 {
		span.SetStatus(codes.Error, t.Code)
	}
	span.End()
}

// Notified counts a notification and, when it recorded a number's final
// state, the time the number waited since its creation.
func (o *Observer) Notified(ctx context.Context, n claim.Notification) {
	o.notes.Add(ctx, 1, metric.WithAttributes(
		attribute.String("rail", n.Rail),
		attribute.String("result", n.Result),
		attribute.String("state", n.Status),
		attribute.String("reason", n.Reason)))
	if n.Result == claim.NotificationRecorded && n.Billno != "" && n.Waited > 0 {
		o.waits.Record(ctx, n.Waited.Seconds(), metric.WithAttributes(
			attribute.String("rail", n.Rail),
			attribute.String("state", n.Status)))
	}
}

// Result is the result attribute of a call that ended with err: success
// (nil), unknown (the platform may have paid) or definitive.
func Result(err *hongbao.Error) string {
	return redPacketOutcome(hongbao.Call{}, err).result()
}

// Budgets is what ObserveBudgets reads: a *claim.Handler.
type Budgets interface {
	Campaigns() []string
	Budget(ctx context.Context, campaign string) (store.BudgetState, bool, error)
}

// ObserveBudgets reports the campaign budgets of h at each collection:
// hongbao.budget.remaining (for each capped unit), hongbao.budget.reserved
// and hongbao.budget.committed, attributes campaign and unit (fen,
// packets). Each collection reads the accounts from the handler's Store
// (one call per campaign); an account that cannot be read is skipped.
// Unregister the returned registration to stop.
func (o *Observer) ObserveBudgets(h Budgets) (metric.Registration, error) {
	remaining, err1 := o.meter.Int64ObservableGauge(MetricBudgetRemaining,
		metric.WithDescription("What a campaign's budget has left under its cap: campaign, unit (fen, packets)."))
	reserved, err2 := o.meter.Int64ObservableGauge(MetricBudgetReserved,
		metric.WithDescription("What is reserved for sends in flight or of unknown outcome: campaign, unit."))
	committed, err3 := o.meter.Int64ObservableGauge(MetricBudgetCommitted,
		metric.WithDescription("What the platform paid out of a campaign's budget: campaign, unit."))
	if err := errors.Join(err1, err2, err3); err != nil {
		return nil, err
	}
	return o.meter.RegisterCallback(func(ctx context.Context, ob metric.Observer) error {
		for _, c := range h.Campaigns() {
			st, ok, err := h.Budget(ctx, c)
			if err != nil || !ok {
				continue
			}
			for _, u := range []struct {
				unit                     string
				cap, left, held, paidOut int64
			}{
				{"fen", st.Fen, st.RemainingFen(), st.ReservedFen, st.CommittedFen},
				{"packets", st.Packets, st.RemainingPackets(), st.ReservedPackets, st.CommittedPackets},
			} {
				attrs := metric.WithAttributes(attribute.String("campaign", c), attribute.String("unit", u.unit))
				if u.cap > 0 {
					ob.ObserveInt64(remaining, u.left, attrs)
				}
				ob.ObserveInt64(reserved, u.held, attrs)
				ob.ObserveInt64(committed, u.paidOut, attrs)
			}
		}
		return nil
	}, remaining, reserved, committed)
}
