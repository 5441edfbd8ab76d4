package transfer

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"unicode/utf8"

	"github.com/hongbao-go/hongbao"
	"github.com/hongbao-go/hongbao/apiv3"
	"github.com/hongbao-go/hongbao/rail"
)

// RailName is the rail's name in the page's answer ("rail":"transfer")
// and the head of its Name ("transfer:" + mch_id).
const RailName = "transfer"

// RailConfig configures the transfer rail of a Client.
type RailConfig struct {
	// NotifyURL is every bill's notify_url: the https URL, without query
	// string, where the platform posts MCHTRANSFER.BILL.FINISHED (served by
	// claim.Handler.NotificationHandler). Empty: the platform notifies
	// nothing, and the handler learns outcomes only by asking.
	NotifyURL string
	// Perception is user_recv_perception: PerceptionActivity (活动奖励)
	// when empty, or PerceptionCash (现金奖励).
	Perception Perception
}

// Rail is the claim handler's merchant-transfer rail (see package rail): a
// grant's payout becomes a transfer bill shown to the user as a red packet,
// opened by the page with wx.requestMerchantTransfer. Create it with
// Client.Rail; it is safe for concurrent use.
//
// A rail.Payout is sent as: Amount as transfer_amount, Wishing as
// transfer_remark (the text the user reads), ActName as the report info
// 活动名称 and Remark as 奖励说明 (scene 1000), each 1 to 32 characters;
// SendName and Scene are not sent (the platform shows the merchant's own
// name). user_recv_style is RED_PACKET and user_recv_perception
// RailConfig.Perception. A query reports Amount and Wishing back.
type Rail struct {
	c          *Client
	name       string
	notifyURL  string
	perception Perception
}

// Rail returns the client's transfer rail. Its Name is "transfer:"
// followed by the mch_id; its bill numbers are OutBillNo's.
func (c *Client) Rail(cfg RailConfig) (*Rail, error) {
	r := &Rail{c: c, name: RailName + ":" + c.mchID, notifyURL: cfg.NotifyURL, perception: cfg.Perception}
	if r.perception == "" {
		r.perception = PerceptionActivity
	}
	// The rail's own settings are checked as part of a request.
	if err := r.Check(rail.Payout{Amount: MinAmount, Wishing: "check", ActName: "check", Remark: "check"}); err != nil {
		return nil, fmt.Errorf("transfer: RailConfig: %w", err)
	}
	return r, nil
}

// Client returns the rail's client.
func (r *Rail) Client() *Client { return r.c }

// Name returns "transfer:" and the mch_id.
func (r *Rail) Name() string { return r.name }

// Billno returns OutBillNo(grantKey, openID, attempt).
func (r *Rail) Billno(grantKey, openID string, attempt int) (string, error) {
	if err := validateOpenID(openID); err != nil {
		return "", err
	}
	return r.c.OutBillNo(grantKey, openID, attempt)
}

// A bill number and an openid of valid shape, for checking a payout's own
// fields.
const (
	checkBillno = "CHECK000000000000000000000000000"
	checkOpenID = "oPayoutCheck"
)

// request is the one conversion of a payout to a create.
func (r *Rail) request(billno, openID string, p rail.Payout) *CreateRequest {
	return &CreateRequest{
		OutBillNo:    billno,
		OpenID:       openID,
		Amount:       p.Amount,
		Remark:       p.Wishing,
		ActivityName: p.ActName,
		RewardNote:   p.Remark,
		Perception:   r.perception,
		Style:        StyleRedPacket,
		NotifyURL:    r.notifyURL,
	}
}

// Check checks p as Create checks a create of it: transfer_amount from 10
// fen and below 2,000 yuan, Wishing (transfer_remark), ActName (活动名称)
// and Remark (奖励说明) 1 to 32 characters. The error is a *rail.Error with
// State rail.Invalid wrapping a *ValidationError naming the field.
func (r *Rail) Check(p rail.Payout) error {
	if err := r.request(checkBillno, checkOpenID, p).Validate(); err != nil {
		return &rail.Error{State: rail.Invalid, Err: err}
	}
	return nil
}

// Send creates the bill billno for openID (Create, with its retries of
// the same body) and maps the answer to the rail's states:
//
//	WAIT_USER_CONFIRM (TRANSFERING) with package_info  Sent{Answer: package_info, Order: transfer_bill_no, At: create_time}
//	TRANSFERING without package_info, ACCEPTED,        rail.Unknown: the same number later
//	PROCESSING, CANCELING
//	SUCCESS                                            rail.Paid (the user has it; nothing to open)
//	FAIL with OVERDUE_CLOSE / other FAIL / CANCELLED   rail.Returned / rail.Closed / rail.Cancelled
//	403 NOT_ENOUGH, 403 NO_AUTH                        rail.RefusedMerchant: the same number after the operator acts
//	429 FREQUENCY_LIMITED, held back by pacing         rail.Throttled
//	5xx, timeouts, lost or unverifiable answers        rail.Unknown: the same number later, never a new one
//	400 INVALID_REQUEST, the bill exists               rail.Conflict (the number reused with other parameters)
//	400 INVALID_REQUEST, no such bill                  rail.Rejected (parameters the platform refuses)
//	400 PARAM_ERROR, 401 SIGN_ERROR                    rail.Rejected
//	an invalid payout, before anything is sent         rail.Invalid
//	any other code                                     rail.Unrecognized
//
// INVALID_REQUEST is told apart by querying the bill. Every failure is a
// *rail.Error wrapping the *Error (or *ValidationError), so that errors.Is
// reaches this package's and apiv3's sentinels.
func (r *Rail) Send(ctx context.Context, billno, openID string, p rail.Payout) (rail.Sent, error) {
	b, err := r.c.Create(ctx, r.request(billno, openID, p))
	if err != nil {
		e := railError(err, billno)
		if e.State == rail.Conflict {
			// The number exists with other parameters, or the platform
			// refuses these: only the bill tells.
			if q, qerr := r.Query(ctx, billno); qerr == nil && q.State == rail.NotFound {
				e.State = rail.Rejected
			}
		}
		return rail.Sent{}, e
	}
	if (b.State == StateWaitUserConfirm || b.State == StateTransfering) && b.PackageInfo != "" {
		return rail.Sent{Answer: b.PackageInfo, Order: b.TransferBillNo, At: b.CreateTime}, nil
	}
	st := stateOf(b.State, b.FailReason)
	if !st.Final() {
		// Nothing to open yet (or any more): the same number again later.
		st = rail.Unknown
	}
	code := string(b.State)
	if b.FailReason != "" {
		code += " " + b.FailReason
	}
	return rail.Sent{}, &rail.Error{State: st, Billno: billno, Code: code,
		Err: fmt.Errorf("transfer: create %s: the bill is %s, without package_info", billno, code)}
}

// Query asks the platform about billno (QueryByOutBillNo): 404 is
// rail.NotFound; WAIT_USER_CONFIRM rail.Waiting; ACCEPTED, PROCESSING,
// TRANSFERING and CANCELING rail.Pending; SUCCESS rail.Paid; FAIL with
// OVERDUE_CLOSE rail.Returned, any other FAIL rail.Closed; CANCELLED
// rail.Cancelled. The Bill's Payout has the Amount and the Wishing
// (transfer_remark) the platform holds, At the create_time.
func (r *Rail) Query(ctx context.Context, billno string) (rail.Bill, error) {
	b, err := r.c.QueryByOutBillNo(ctx, billno)
	if err != nil {
		if errors.Is(err, apiv3.ErrNotFound) {
			return rail.Bill{State: rail.NotFound, Status: "NOT_FOUND"}, nil
		}
		return rail.Bill{}, railError(err, billno)
	}
	return billOf(b), nil
}

// Cancel asks the platform to cancel billno, a bill still waiting for the
// user's confirmation (at a campaign's end), and returns where it stands:
// rail.Pending (CANCELING: the cancel completes on its own, and its
// CANCELLED is notified) or rail.Cancelled. When the platform refuses the
// cancel (INVALID_REQUEST: the user confirmed first, or the bill is final),
// the bill is queried and its state returned with a nil error. Record what
// is returned (claim.Handler.Cancel does).
func (r *Rail) Cancel(ctx context.Context, billno string) (rail.Bill, error) {
	b, err := r.c.Cancel(ctx, billno)
	if err == nil {
		return billOf(b), nil
	}
	var te *Error
	if errors.As(err, &te) && te.Code == "INVALID_REQUEST" {
		if q, qerr := r.Query(ctx, billno); qerr == nil && q.State != rail.NotFound {
			return q, nil
		}
	}
	return rail.Bill{}, railError(err, billno)
}

// AppendAnswer appends the page's answer for material (the bill's
// package_info): {"rail":"transfer","mchId":...,"appId":...,"package":...},
// the fields of wx.requestMerchantTransfer and the rail's name. Nothing
// is signed by the server for this call.
func (r *Rail) AppendAnswer(dst []byte, material string) ([]byte, error) {
	if material == "" || !utf8.ValidString(material) {
		return dst, errors.New("transfer: no package_info to answer")
	}
	// mchId is digits and appId was checked free of quotes and
	// backslashes (New): nothing to escape.
	dst = append(dst, `{"rail":"`+RailName+`","mchId":"`...)
	dst = append(dst, r.c.mchID...)
	dst = append(dst, `","appId":"`...)
	dst = append(dst, r.c.appID...)
	dst = append(dst, `","package":`...)
	dst = appendJSONString(dst, material)
	return append(dst, '}'), nil
}

// appendJSONString appends s as a JSON string (s is valid UTF-8).
func appendJSONString(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"' || c == '\\':
			dst = append(dst, '\\', c)
		case c < 0x20 || c == '<' || c == '>' || c == '&':
			dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		default:
			dst = append(dst, c)
		}
	}
	return append(dst, '"')
}

// PaidOnConfirmation reports true: a bill is paid only once the user
// confirmed it and the platform reports SUCCESS (see
// rail.ConfirmedPayout).
func (r *Rail) PaidOnConfirmation() bool { return true }

// LaunchScenesLimited reports false: wx.requestMerchantTransfer opens a
// bill from any page, whatever the launch scene (see rail.SceneLimited).
func (r *Rail) LaunchScenesLimited() bool { return false }

// ParseNotification verifies and decrypts a notification
// (apiv3.Transport.ParseNotification: body exactly as received) and
// returns what MCHTRANSFER.BILL.FINISHED reports: the out_bill_no, the
// openid and the bill's final state as Query maps it, with the amount and
// the create_time. Another event is a Notice without Billno. An
// unverified notification matches apiv3.ErrUnverified.
func (r *Rail) ParseNotification(ctx context.Context, header http.Header, body []byte) (rail.Notice, error) {
	n, err := r.c.transport.ParseNotification(ctx, header, body)
	if err != nil {
		return rail.Notice{}, err
	}
	return noticeOf(n), nil
}

// NotificationHandler returns the handler of the notify URL
// (apiv3.Transport.NotificationHandler): it answers 204 only after fn
// returned nil, 401 to a notification that does not verify (forged,
// altered, stale, probe-signed), which never reaches fn, and 500 when fn
// fails, so that the platform sends it again.
func (r *Rail) NotificationHandler(fn func(ctx context.Context, n rail.Notice) error) (http.Handler, error) {
	if fn == nil {
		return nil, errors.New("transfer: NotificationHandler needs a function")
	}
	return r.c.transport.NotificationHandler(func(ctx context.Context, n *apiv3.Notification) error {
		return fn(ctx, noticeOf(n))
	})
}

func noticeOf(n *apiv3.Notification) rail.Notice {
	out := rail.Notice{ID: n.ID}
	tb := n.TransferBill
	if tb == nil {
		return out
	}
	out.Billno, out.OpenID = tb.OutBillNo, tb.OpenID
	out.Bill = rail.Bill{
		State:  stateOf(State(tb.State), tb.FailReason),
		Status: tb.State,
		Reason: tb.FailReason,
		Payout: rail.Payout{Amount: tb.TransferAmount},
		At:     tb.CreateTime,
	}
	return out
}

// billOf is a bill as the rail reports it.
func billOf(b *Bill) rail.Bill {
	return rail.Bill{
		State:  stateOf(b.State, b.FailReason),
		Status: string(b.State),
		Reason: b.FailReason,
		Payout: rail.Payout{Amount: b.Amount, Wishing: b.Remark},
		At:     b.CreateTime,
	}
}

// stateOf maps a bill's state to the rail's.
func stateOf(s State, failReason string) rail.State {
	switch s {
	case StateWaitUserConfirm:
		return rail.Waiting
	case StateAccepted, StateProcessing, StateTransfering, StateCanceling:
		return rail.Pending
	case StateSuccess:
		return rail.Paid
	case StateFail:
		if failReason == FailOverdueClose {
			return rail.Returned
		}
		return rail.Closed
	case StateCancelled:
		return rail.Cancelled
	}
	return rail.Unknown
}

// railError wraps an error of the client in a *rail.Error with the state
// the claim handler acts on.
func railError(err error, billno string) *rail.Error {
	e := &rail.Error{State: rail.StateOf(err), Billno: billno, Err: err}
	var te *Error
	if errors.As(err, &te) {
		e.Code, e.RetryAfter = te.Code, te.RetryAfter
	}
	return e
}

// RailState is the rail state of a validation error: rail.Invalid.
func (e *ValidationError) RailState() rail.State { return rail.Invalid }

// RailState maps e to the state the claim handler acts on (see rail.State):
// an unknown outcome is rail.Unknown; 429 and a call held back by the
// pacing rail.Throttled; NOT_ENOUGH and NO_AUTH rail.RefusedMerchant;
// INVALID_REQUEST rail.Conflict (Rail.Send tells a reused number from a
// refused request); PARAM_ERROR and SIGN_ERROR rail.Rejected; anything else
// rail.Unrecognized.
func (e *Error) RailState() rail.State {
	switch {
	case e.Unknown:
		return rail.Unknown
	case e.Status == http.StatusTooManyRequests || errors.Is(e.Err, hongbao.ErrThrottled):
		return rail.Throttled
	}
	switch e.Code {
	case "NOT_ENOUGH", "NO_AUTH":
		return rail.RefusedMerchant
	case "INVALID_REQUEST":
		return rail.Conflict
	case "PARAM_ERROR", "SIGN_ERROR":
		return rail.Rejected
	}
	return rail.Unrecognized
}
