package hongbao

import (
	"context"
	"errors"

	"github.com/hongbao-go/hongbao/rail"
	"github.com/hongbao-go/hongbao/signer"
)

// Rail returns the client as the claim handler's red-packet rail (see
// package rail): bill numbers from BillnoKey (DeriveAttemptBillno), a
// payout sent with sendminiprogramhb, queried with gethbinfo, and answered
// with the wx.sendBizRedPacket parameters of BizRedPacketParams, after
// "rail":"redpacket" (the page's answer names its rail, so that one page
// serves both rails). Its Name is "redpacket:" followed by the mch_id.
//
// Every field of a rail.Payout is sent: Amount as total_amount, SendName,
// Wishing, ActName, Remark, and Scene as scene_id. gethbinfo reports the
// amount, wishing, act_name and remark of a number, not its send_name and
// scene_id.
func (c *Client) Rail() rail.Rail {
	return &redPacketRail{
		c:    c,
		name: RailName + ":" + c.mchID,
		macs: newBillnoMACs(c.billnoKey),
		biz:  signer.BizOptions{Rule: c.rule, Now: c.now},
	}
}

type redPacketRail struct {
	c    *Client
	name string
	macs *billnoMACs // keyed with the client's BillnoKey, reused
	biz  signer.BizOptions
}

func (r *redPacketRail) Name() string { return r.name }

func (r *redPacketRail) Billno(grantKey, openID string, attempt int) (string, error) {
	return r.macs.derive("", r.c.mchID, grantKey, openID, attempt, MaxBillnoLength)
}

func (r *redPacketRail) Check(p rail.Payout) error {
	return railError(CheckPayout(p))
}

func (r *redPacketRail) Send(ctx context.Context, billno, openID string, p rail.Payout) (rail.Sent, error) {
	res, err := r.c.SendMiniProgramHB(ctx, sendRequest(billno, openID, p))
	if err != nil {
		return rail.Sent{}, railError(err)
	}
	return rail.Sent{Answer: res.Package, Order: res.SendListID}, nil
}

func (r *redPacketRail) Query(ctx context.Context, billno string) (rail.Bill, error) {
	info, err := r.c.QueryHB(ctx, billno)
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			return rail.Bill{State: rail.NotFound, Status: "NOT_FOUND"}, nil
		}
		return rail.Bill{}, railError(err)
	}
	return rail.Bill{
		State:  railState(info.Status),
		Status: string(info.Status),
		Reason: info.Reason,
		Payout: rail.Payout{Amount: info.Amount, Wishing: info.Wishing, ActName: info.ActName, Remark: info.Remark},
		At:     info.SendTime,
	}, nil
}

func (r *redPacketRail) AppendAnswer(dst []byte, material string) ([]byte, error) {
	// The rail's name first ("rail", which the page reads to choose the
	// API and leaves out of the call), then the signer's object without
	// its opening brace: moved in place, nothing allocated.
	dst = append(dst, `{"rail":"`+RailName+`",`...)
	mark := len(dst)
	out, err := r.c.signer.AppendBizRedPacket(dst, r.c.appID, material, &r.biz)
	if err != nil {
		return dst[:mark-len(`{"rail":"`+RailName+`",`)], err
	}
	copy(out[mark:], out[mark+1:])
	return out[:len(out)-1], nil
}

// RailName is the red-packet rail's name in the page's answer
// ("rail":"redpacket") and the head of its Name ("redpacket:" + mch_id).
const RailName = "redpacket"

// sendRequest is the one conversion of a payout to a send.
func sendRequest(billno, openID string, p rail.Payout) *SendRequest {
	return &SendRequest{
		Billno:   billno,
		OpenID:   openID,
		Amount:   p.Amount,
		SendName: p.SendName,
		Wishing:  p.Wishing,
		ActName:  p.ActName,
		Remark:   p.Remark,
		Scene:    Scene(p.Scene),
	}
}

// A bill number and an openid of valid shape, for checking a payout's own
// fields.
const (
	checkBillno = "1900000109000000000000000000"
	checkOpenID = "oPayoutCheck"
)

// CheckPayout checks p as the platform checks a send of it: the amount,
// the texts' lengths, scene_id where the amount needs one. The error is a
// *ValidationError naming the field.
func CheckPayout(p rail.Payout) error {
	return sendRequest(checkBillno, checkOpenID, p).Validate()
}

// railState maps a gethbinfo status to the rail's states.
func railState(s Status) rail.State {
	switch s {
	case StatusSending, StatusRefunding:
		return rail.Pending
	case StatusSent:
		return rail.Waiting
	case StatusReceived:
		return rail.Paid
	case StatusFailed:
		return rail.Closed
	case StatusRefunded:
		return rail.Returned
	}
	return rail.Unknown
}

// The err_codes of each refusal state.
var (
	merchantRefusals = []error{ErrNotEnough, ErrSendAmountLimit, ErrAPIMethodClosed, ErrProductAuthorityUnopen}
	userRefusals     = []error{ErrSendNumLimit, ErrReceivedAmountLimit}
	rejections       = []error{ErrCA, ErrSign, ErrXML, ErrParam, ErrMoneyLimit, ErrIllegalAppID, ErrOpenID,
		ErrMsgAppID, ErrAcceptMode, ErrReturnFail, ErrTLS}
)

// railError wraps an error of the client in a *rail.Error with the state
// the claim handler acts on; nil stays nil.
func railError(err error) error {
	if err == nil {
		return nil
	}
	e := &rail.Error{State: rail.StateOf(err), Err: err}
	var pe *Error
	if errors.As(err, &pe) {
		e.Billno, e.Code, e.RetryAfter = pe.Billno, pe.ErrCode, pe.RetryAfter
	}
	return e
}

// RailState is the rail state of a validation error: rail.Invalid.
func (e *ValidationError) RailState() rail.State { return rail.Invalid }

// RailState maps e to the state the claim handler acts on (see rail.State):
// an unknown outcome is rail.Unknown; PROCESSING then FAILED is
// rail.Closed; FATAL_ERROR rail.Conflict; SEND_FAILED rail.Failed;
// NOTENOUGH, SENDAMOUNT_LIMIT, API_METHOD_CLOSED and
// PRODUCT_AUTHORITY_UNOPEN rail.RefusedMerchant; SENDNUM_LIMIT and
// RCVDAMOUNT_LIMIT rail.RefusedUser; NO_AUTH rail.RefusedRisk; FREQ_LIMIT
// and ErrThrottled rail.Throttled; the configuration codes, return_code
// FAIL and a refused TLS handshake (ErrTLS) rail.Rejected; anything else
// rail.Unrecognized.
func (e *Error) RailState() rail.State {
	is := func(targets ...error) bool {
		for _, t := range targets {
			if errors.Is(e, t) {
				return true
			}
		}
		return false
	}
	switch {
	case e.Unknown:
		return rail.Unknown
	case e.Status == StatusFailed:
		return rail.Closed
	case is(ErrFatal):
		return rail.Conflict
	case is(ErrSendFailed):
		return rail.Failed
	case is(merchantRefusals...):
		return rail.RefusedMerchant
	case is(userRefusals...):
		return rail.RefusedUser
	case is(ErrNoAuth):
		return rail.RefusedRisk
	case is(ErrFrequency, ErrThrottled):
		return rail.Throttled
	case is(rejections...):
		return rail.Rejected
	}
	return rail.Unrecognized
}
