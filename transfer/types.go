package transfer

import (
	"fmt"
	"net/url"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/hongbao-go/hongbao"
)

// SceneCashMarketing is transfer_scene_id 1000, 现金营销 (cash marketing),
// the scene of campaigns and the only one this package sends.
const SceneCashMarketing = "1000"

// The report infos scene 1000 requires.
const (
	InfoActivityName = "活动名称" // the activity's name
	InfoRewardNote   = "奖励说明" // what the reward is for
)

// Limits checked before sending.
const (
	// MaxOutBillNoLength is the longest out_bill_no.
	MaxOutBillNoLength = 32
	// MinAmount is the least transfer, in fen (0.1 yuan).
	MinAmount = 10
	// UserNameAmount is the amount, in fen (2,000 yuan), from which the
	// platform requires the user's encrypted name, which this package
	// does not send: Create refuses such amounts.
	UserNameAmount = 200000
	// MaxRemarkLength and MaxInfoLength are in characters (a Chinese
	// character is one).
	MaxRemarkLength = 32
	MaxInfoLength   = 32
)

// State is the state of a transfer bill.
type State string

// The states of a bill. ACCEPTED → PROCESSING → WAIT_USER_CONFIRM →
// TRANSFERING → SUCCESS or FAIL; CANCELING → CANCELLED.
const (
	StateAccepted        State = "ACCEPTED"
	StateProcessing      State = "PROCESSING"
	StateWaitUserConfirm State = "WAIT_USER_CONFIRM"
	StateTransfering     State = "TRANSFERING" // the platform's spelling
	StateSuccess         State = "SUCCESS"
	StateFail            State = "FAIL"
	StateCanceling       State = "CANCELING"
	StateCancelled       State = "CANCELLED"
)

// FailOverdueClose is the fail_reason of a bill the user did not confirm
// within 24 hours (reported in the platform's forum; the close may come
// somewhat after 24 h).
const FailOverdueClose = "OVERDUE_CLOSE"

// Known reports whether s is one of the eight states.
func (s State) Known() bool {
	switch s {
	case StateAccepted, StateProcessing, StateWaitUserConfirm, StateTransfering,
		StateSuccess, StateFail, StateCanceling, StateCancelled:
		return true
	}
	return false
}

// Final reports whether s is SUCCESS, FAIL or CANCELLED: the bill will not
// change again.
func (s State) Final() bool { return s == StateSuccess || s == StateFail || s == StateCancelled }

// Closed reports whether s is FAIL or CANCELLED: the bill paid nothing and
// never will, so, and only then, the grant may move to a new number.
func (s State) Closed() bool { return s == StateFail || s == StateCancelled }

// Perception is user_recv_perception, what the user is told the money is.
type Perception string

// The perceptions scene 1000 accepts.
const (
	PerceptionActivity Perception = "活动奖励" // the platform's default
	PerceptionCash     Perception = "现金奖励"
)

// Style is user_recv_style.type, how the user receives the transfer.
type Style string

// The receiving styles.
const (
	// StyleRedPacket shows the transfer as a red packet. Its limit of 200
	// yuan a transfer is reported but not confirmed in the platform's
	// text: this package does not enforce it (the platform refuses with
	// INVALID_REQUEST if it applies).
	StyleRedPacket   Style = "RED_PACKET"
	StyleConfirmPage Style = "CONFIRM_PAGE"
)

// CreateRequest is one transfer to create. Every field is checked by
// Validate before anything is sent.
type CreateRequest struct {
	// OutBillNo is the idempotency key: 1-32 letters and digits, derived
	// with Client.OutBillNo. The same number is one payout, whatever
	// happens; a new number is a new payout.
	OutBillNo string
	// OpenID is the user, under the client's AppID.
	OpenID string
	// Amount is in fen: at least MinAmount, below UserNameAmount.
	Amount int64
	// Remark is transfer_remark, shown to the user: 1-32 characters.
	Remark string
	// ActivityName and RewardNote are scene 1000's report infos 活动名称
	// and 奖励说明: 1-32 characters each.
	ActivityName string
	RewardNote   string
	// Perception is user_recv_perception; empty leaves it out (the
	// platform then uses 活动奖励).
	Perception Perception
	// Style is user_recv_style.type; StyleRedPacket when empty.
	Style Style
	// NotifyURL, when set, receives MCHTRANSFER.BILL.FINISHED: https, no
	// query string, at most 256 characters.
	NotifyURL string
}

// ValidationError names the field of a request and the rule it breaks. It
// matches hongbao.ErrInvalidRequest: nothing was sent.
type ValidationError struct {
	Field string // the platform's field name, e.g. "out_bill_no"
	Rule  string
}

func (e *ValidationError) Error() string {
	return fmt.Sprintf("transfer: invalid request: %s must be %s", e.Field, e.Rule)
}

// Is makes errors.Is(err, hongbao.ErrInvalidRequest) true.
func (e *ValidationError) Is(target error) bool { return target == hongbao.ErrInvalidRequest }

// Validate checks r against the platform's rules for scene 1000.
func (r *CreateRequest) Validate() error {
	if err := validateOutBillNo(r.OutBillNo); err != nil {
		return err
	}
	if err := validateOpenID(r.OpenID); err != nil {
		return err
	}
	switch {
	case r.Amount < MinAmount:
		return &ValidationError{"transfer_amount", fmt.Sprintf("at least %d fen, not %d", MinAmount, r.Amount)}
	case r.Amount >= UserNameAmount:
		return &ValidationError{"transfer_amount", fmt.Sprintf("below %d fen (from 2,000 yuan the platform needs user_name, which is not sent), not %d", UserNameAmount, r.Amount)}
	}
	for _, f := range []struct{ name, value string }{
		{"transfer_remark", r.Remark},
		{"transfer_scene_report_infos " + InfoActivityName + " (ActivityName)", r.ActivityName},
		{"transfer_scene_report_infos " + InfoRewardNote + " (RewardNote)", r.RewardNote},
	} {
		if err := validateText(f.name, f.value, MaxInfoLength); err != nil {
			return err
		}
	}
	switch r.Perception {
	case "", PerceptionActivity, PerceptionCash:
	default:
		return &ValidationError{"user_recv_perception", "活动奖励 or 现金奖励 for scene 1000"}
	}
	switch r.Style {
	case "", StyleRedPacket, StyleConfirmPage:
	default:
		return &ValidationError{"user_recv_style", "RED_PACKET or CONFIRM_PAGE"}
	}
	if r.NotifyURL != "" {
		u, err := url.Parse(r.NotifyURL)
		if err != nil || u.Scheme != "https" || u.Host == "" || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || len(r.NotifyURL) > 256 {
			return &ValidationError{"notify_url", "an https URL without query string, at most 256 characters"}
		}
	}
	return nil
}

func validateOutBillNo(n string) error {
	if n == "" || len(n) > MaxOutBillNoLength {
		return &ValidationError{"out_bill_no", fmt.Sprintf("1 to %d characters (derive it with Client.OutBillNo)", MaxOutBillNoLength)}
	}
	for i := 0; i < len(n); i++ {
		if c := n[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z') {
			return &ValidationError{"out_bill_no", "made of 0-9, a-z and A-Z only"}
		}
	}
	return nil
}

func validateOpenID(id string) error {
	if id == "" || len(id) > 128 {
		return &ValidationError{"openid", "1 to 128 characters"}
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c == '_' || c == '-') {
			return &ValidationError{"openid", "made of 0-9, a-z, A-Z, '_' and '-' only"}
		}
	}
	return nil
}

// validateText checks a required text: valid UTF-8 without control
// characters, 1 to max characters.
func validateText(field, v string, max int) error {
	if v == "" {
		return &ValidationError{field, "non-empty"}
	}
	if !utf8.ValidString(v) {
		return &ValidationError{field, "valid UTF-8"}
	}
	n := 0
	for _, c := range v {
		if unicode.IsControl(c) {
			return &ValidationError{field, "free of control characters"}
		}
		n++
	}
	if n > max {
		return &ValidationError{field, fmt.Sprintf("at most %d characters, not %d", max, n)}
	}
	if strings.TrimSpace(v) == "" {
		return &ValidationError{field, "more than white space"}
	}
	return nil
}

// Bill is a transfer bill as an answer of the platform showed it. Which
// fields are set depends on the call: see Create, QueryByOutBillNo and
// Cancel.
type Bill struct {
	MchID          string
	AppID          string
	OutBillNo      string
	TransferBillNo string
	State          State
	// FailReason is set for FAIL, e.g. OVERDUE_CLOSE.
	FailReason string
	// Amount is transfer_amount, in fen.
	Amount int64
	Remark string
	OpenID string
	// PackageInfo is the package of wx.requestMerchantTransfer, set by
	// Create while the state is WAIT_USER_CONFIRM.
	PackageInfo string
	CreateTime  time.Time
	UpdateTime  time.Time
}

// PageParams is what the mini program passes to
// wx.requestMerchantTransfer, JSON-encoded with its names.
type PageParams struct {
	MchID   string `json:"mchId"`
	AppID   string `json:"appId"`
	Package string `json:"package"`
	// OpenID, when set, makes the page refuse a WeChat account other than
	// the bill's.
	OpenID string `json:"openId,omitempty"`
}
