package rail_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/hongbao-go/hongbao/rail"
)

// ownError stands for a rail's own error type that knows its state.
type ownError struct{ code string }

func (e *ownError) Error() string         { return "own: " + e.code }
func (e *ownError) RailState() rail.State { return rail.RefusedUser }
func (e *ownError) Is(target error) bool  { return target == errOwnSentinel && e.code == "LIMIT" }

var errOwnSentinel = errors.New("own: the user's limit")

func TestStates(t *testing.T) {
	final := map[rail.State]bool{rail.Paid: true, rail.Closed: true, rail.Returned: true, rail.Cancelled: true}
	refused := map[rail.State]bool{rail.RefusedMerchant: true, rail.RefusedUser: true, rail.RefusedRisk: true}
	for _, s := range []rail.State{rail.Unknown, rail.NotFound, rail.Pending, rail.Waiting, rail.Paid, rail.Closed,
		rail.Returned, rail.Cancelled, rail.Conflict, rail.Failed, rail.RefusedMerchant, rail.RefusedUser,
		rail.RefusedRisk, rail.Throttled, rail.Rejected, rail.Invalid, rail.Unrecognized} {
		if s.Final() != final[s] || s.Refused() != refused[s] {
			t.Errorf("%q: Final %v Refused %v", s, s.Final(), s.Refused())
		}
	}
}

func TestClassify(t *testing.T) {
	wrapped := fmt.Errorf("send: %w", &rail.Error{State: rail.RefusedMerchant, Code: "NOT_ENOUGH", Err: &ownError{"LIMIT"}})
	cases := []struct {
		err   error
		state rail.State
		ok    bool
	}{
		{nil, rail.Unknown, false},
		{errors.New("plain"), rail.Unknown, false},
		{&rail.Error{}, rail.Unknown, true},
		{wrapped, rail.RefusedMerchant, true},        // the *Error wins over the error it wraps
		{&ownError{"LIMIT"}, rail.RefusedUser, true}, // a rail's own error
		{fmt.Errorf("x: %w", &ownError{}), rail.RefusedUser, true},
	}
	for _, c := range cases {
		if s, ok := rail.Classify(c.err); s != c.state || ok != c.ok {
			t.Errorf("Classify(%v) = %q %v, want %q %v", c.err, s, ok, c.state, c.ok)
		}
	}
	if rail.StateOf(nil) != rail.Unknown || rail.StateOf(errors.New("plain")) != rail.Unrecognized || rail.StateOf(wrapped) != rail.RefusedMerchant {
		t.Error("StateOf")
	}
	if !errors.Is(wrapped, errOwnSentinel) {
		t.Error("the rail's own sentinel is not reachable through the *Error")
	}
	for err, want := range map[*rail.Error]string{
		{State: rail.Unknown}:                      "rail: outcome unknown",
		{State: rail.Throttled, Code: "FREQ"}:      "rail: throttled: FREQ",
		{State: rail.Closed, Err: errors.New("x")}: "x",
	} {
		if err.Error() != want {
			t.Errorf("%#v: %q, want %q", err, err.Error(), want)
		}
	}
}

func TestPayoutMerge(t *testing.T) {
	grant := rail.Payout{Amount: 100, SendName: "shop", Wishing: "w", ActName: "a", Remark: "r", Scene: "PRODUCT_1"}
	platform := rail.Payout{Amount: 150, Wishing: "W2", Remark: "R2"}
	want := rail.Payout{Amount: 150, SendName: "shop", Wishing: "W2", ActName: "a", Remark: "R2", Scene: "PRODUCT_1"}
	if got := grant.Merge(platform); got != want {
		t.Errorf("Merge = %+v, want %+v", got, want)
	}
	if got := grant.Merge(rail.Payout{}); got != grant {
		t.Errorf("Merge of nothing = %+v", got)
	}
}
