package rail

import (
	"context"
	"net/http"
)

// A Notifier is a rail whose platform pushes the settlement of its numbers
// to a URL of the merchant (the transfer's MCHTRANSFER.BILL.FINISHED). The
// claim handler serves that URL with it (claim.Handler.NotificationHandler)
// and records each Notice forward only, as it records a Query.
type Notifier interface {
	Rail
	// ParseNotification verifies a notification (its headers and its body
	// exactly as received) and returns what it reports. A notification
	// whose signature does not verify is an error (the rail's own,
	// matching its sentinel of an unverified message), and so is one that
	// cannot be read; nothing of it may be acted on. A verified
	// notification of an event the rail does not settle numbers with is
	// a Notice with an empty Billno.
	ParseNotification(ctx context.Context, header http.Header, body []byte) (Notice, error)
	// NotificationHandler returns the http.Handler of the notify URL: it
	// reads each request within the rail's limits, verifies it as
	// ParseNotification does, calls fn with what it reports, and answers
	// the platform's success only after fn returned nil; otherwise the
	// platform's failure, so that the platform sends it again. A
	// notification that does not verify never reaches fn.
	NotificationHandler(fn func(ctx context.Context, n Notice) error) (http.Handler, error)
}

// Notice is a verified notification: where one number stands now.
type Notice struct {
	// ID is the notification's id, the same on every resend of it.
	ID string
	// Billno is the number it is about; empty for an event that settles
	// no number.
	Billno string
	// OpenID is the user the number pays, when the notification says.
	OpenID string
	// Bill is the number's state (Paid, Closed, Returned or Cancelled for
	// the transfer's final states), the platform's words (Status,
	// Reason), the amount it reports (Payout.Amount) and the creation
	// time (At).
	Bill Bill
}

// A ConfirmedPayout rail offers a payout that the user must still accept
// before it is paid: Send's Sent is an offer (Waiting), and the money
// leaves the merchant only when the platform reports the number Paid (the
// transfer's WAIT_USER_CONFIRM, then SUCCESS). The red packet is not one:
// its money leaves at the send (SENT), and comes back on REFUND.
//
// The claim handler commits a number's amount to its campaign's budget
// when the money leaves: for such a rail on Paid, not on the offer (the
// amount stays reserved, and counts against the cap, meanwhile).
type ConfirmedPayout interface {
	PaidOnConfirmation() bool
}

// PaidOnConfirmation reports whether r is a ConfirmedPayout rail whose
// payouts are paid only on the user's confirmation.
func PaidOnConfirmation(r Rail) bool {
	c, ok := r.(ConfirmedPayout)
	return ok && c.PaidOnConfirmation()
}

// A Canceller rail can withdraw an offer the user has not accepted yet
// (the transfer's cancel, at a campaign's end).
type Canceller interface {
	// Cancel asks the platform to withdraw billno and returns where it
	// stands after the request: Cancelled, Pending while the cancel
	// completes, or the state the platform reports when it refused the
	// cancel (Paid: the user accepted first).
	Cancel(ctx context.Context, billno string) (Bill, error)
}

// A SceneLimited rail says whether its page API opens a payout only from
// some of the mini program's launch scenes (wx.sendBizRedPacket: QR and
// mini-program codes). The claim handler's scene gate applies by default
// to such rails and to rails that do not say; a rail that reports false
// (wx.requestMerchantTransfer opens from any page) is not gated unless the
// handler is configured with scenes of its own.
type SceneLimited interface {
	LaunchScenesLimited() bool
}

// LaunchScenesLimited reports whether r's payouts open only from some
// launch scenes: true unless r is a SceneLimited rail that says otherwise.
func LaunchScenesLimited(r Rail) bool {
	s, ok := r.(SceneLimited)
	return !ok || s.LaunchScenesLimited()
}
