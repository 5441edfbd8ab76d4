package otelhongbao

import (
	"context"
	"errors"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/hongbao-go/hongbao"
	"github.com/hongbao-go/hongbao/transfer"
)

// railTransfer is the rail attribute of the transfer client's calls.
var railTransfer = attribute.String("rail", transfer.RailName)

// Transfer returns the transfer client's Observer (transfer.Config.Observer):
// its calls and attempts are recorded in the same instruments as the red
// packet's (hongbao.sends, hongbao.send.duration, hongbao.send.attempts),
// with rail transfer, op create, query or cancel, and err_code the
// platform's code (NOT_ENOUGH, ...); spans hongbao.transfer.<op> and
// hongbao.transfer.<op>.attempt. A query's NOT_FOUND (the bill does not
// exist, or not yet) is an answer, not a span error.
func (o *Observer) Transfer() transfer.Observer { return transferObserver{o} }

type transferObserver struct{ o *Observer }

var _ transfer.Observer = transferObserver{}

func (t transferObserver) CallStart(ctx context.Context, c transfer.Call) context.Context {
	ctx, _ = t.o.tracer.Start(ctx, "hongbao.transfer."+c.Op, trace.WithAttributes(
		attribute.String("hongbao.op", c.Op),
		attribute.String("hongbao.billno", c.OutBillNo)))
	return context.WithValue(ctx, callKey{}, &callState{})
}

func (t transferObserver) AttemptStart(ctx context.Context, c transfer.Call) context.Context {
	if st, ok := ctx.Value(callKey{}).(*callState); ok {
		st.attempts = c.Attempt
	}
	ctx, _ = t.o.tracer.Start(ctx, "hongbao.transfer."+c.Op+".attempt", trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(
		attribute.String("hongbao.op", c.Op),
		attribute.String("hongbao.billno", c.OutBillNo),
		attribute.Int("hongbao.attempt", c.Attempt)))
	return ctx
}

func (t transferObserver) AttemptEnd(ctx context.Context, c transfer.Call, err *transfer.Error) {
	code := transferCode(err)
	t.o.attempts.Add(ctx, 1, metric.WithAttributes(
		railTransfer,
		attribute.String("op", c.Op),
		attribute.String("err_code", code)))
	span := trace.SpanFromContext(ctx)
	span.SetAttributes(attribute.String("hongbao.err_code", code))
	if err != nil {
		span.SetAttributes(attribute.Bool("hongbao.outcome_unknown", err.Unknown))
		if err.Status != 0 {
			span.SetAttributes(attribute.Int("http.response.status_code", err.Status))
		}
		if !notFound(c, err) {
			span.SetStatus(codes.Error, err.Error())
		}
	}
	span.End()
}

func (t transferObserver) CallEnd(ctx context.Context, c transfer.Call, err *transfer.Error) {
	result, code := transferResult(err), transferCode(err)
	t.o.sends.Add(ctx, 1, metric.WithAttributes(
		railTransfer,
		attribute.String("op", c.Op),
		attribute.String("result", result),
		attribute.String("err_code", code)))
	t.o.duration.Record(ctx, c.Elapsed.Seconds(), metric.WithAttributes(
		railTransfer,
		attribute.String("op", c.Op),
		attribute.String("result", result)))
	span := trace.SpanFromContext(ctx)
	span.SetAttributes(
		attribute.String("hongbao.result", result),
		attribute.String("hongbao.err_code", code))
	if st, ok := ctx.Value(callKey{}).(*callState); ok {
		span.SetAttributes(attribute.Int("hongbao.attempts", st.attempts))
	}
	if err != nil && err.RequestID != "" {
		span.SetAttributes(attribute.String("hongbao.request_id", err.RequestID))
	}
	if err != nil && !notFound(c, err) {
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}

// notFound reports a query answered NOT_FOUND: an answer, not a fault.
func notFound(c transfer.Call, err *transfer.Error) bool {
	return c.Op == transfer.OpQuery && err.Code == "NOT_FOUND"
}

// transferResult is the result attribute of a transfer call that ended
// with err.
func transferResult(err *transfer.Error) string {
	switch {
	case err == nil:
		return ResultSuccess
	case err.Unknown:
		return ResultUnknown
	}
	return ResultDefinitive
}

// transferCode is the err_code attribute of a transfer call's outcome.
func transferCode(err *transfer.Error) string {
	switch {
	case err == nil:
		return ""
	case err.Code != "":
		return err.Code
	case errors.Is(err, hongbao.ErrThrottled):
		return ErrCodeThrottled
	}
	return ""
}
