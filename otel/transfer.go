package otelhongbao

import (
	"context"

	"go.opentelemetry.io/otel/attribute"

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
	return t.o.callStart(ctx, "hongbao.transfer."+c.Op, c.Op, c.OutBillNo)
}

func (t transferObserver) AttemptStart(ctx context.Context, c transfer.Call) context.Context {
	return t.o.attemptStart(ctx, "hongbao.transfer."+c.Op+".attempt", c.Op, c.OutBillNo, c.Attempt)
}

func (t transferObserver) AttemptEnd(ctx context.Context, c transfer.Call, err *transfer.Error) {
	e := transferOutcome(c, err)
	if err != nil && err.Status != 0 {
		e.extra = attribute.Int("http.response.status_code", err.Status)
	}
	t.o.attemptEnded(ctx, e)
}

func (t transferObserver) CallEnd(ctx context.Context, c transfer.Call, err *transfer.Error) {
	e := transferOutcome(c, err)
	if err != nil && err.RequestID != "" {
		e.extra = attribute.String("hongbao.request_id", err.RequestID)
	}
	t.o.callEnded(ctx, e, c.Elapsed)
}

// transferOutcome is the outcome of a transfer call or attempt; a query's
// NOT_FOUND (the bill does not exist, or not yet) is an answer.
func transferOutcome(c transfer.Call, err *transfer.Error) outcome {
	e := outcome{rail: railTransfer, op: c.Op}
	if err != nil {
		e.err, e.code, e.unknown = err, err.Code, err.Unknown
		e.answer = c.Op == transfer.OpQuery && err.Code == "NOT_FOUND"
	}
	return e
}
