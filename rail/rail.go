package rail

import (
	"context"
	"time"
)

// Rail is one way of paying a grant, seen from the claim handler: derive a
// bill number, check a payout, send one number, ask the platform about one
// number, and build the page's answer. Implementations are safe for
// concurrent use; the handler calls them from many requests at once.
//
// The bill number is the only idempotency key: Send with a number the
// platform already holds must never pay again (the platform answers the
// first payout, or refuses it), and the handler moves a grant to a new
// number only after Query or Send reported the old one Closed, Returned or
// Cancelled (see State).
type Rail interface {
	// Name identifies the rail and the merchant account it pays from,
	// for example "redpacket:1900000109". It is stored with every result
	// (so that a result is never answered by another rail) and keys the
	// merchant gate, which every handler paying from one account through
	// one rail shares: they must report the same name. It never changes.
	Name() string

	// Billno returns the bill number of attempt n (n >= 0) of the grant
	// (grantKey, openID): the same inputs give the same number on every
	// replica and after every restart, different grants or attempts give
	// different numbers, and each rail derives in a domain of its own (a
	// number of one rail is never a number of another). It fails on an
	// empty grantKey or an openID the platform would refuse.
	Billno(grantKey, openID string, attempt int) (string, error)

	// Check reports whether Send would accept p, as the platform checks
	// it: amounts and text lengths, fields the rail needs. The error is
	// an *Error with State Invalid naming the field in its message. The
	// handler checks a grant's payout once, before recording it.
	Check(p Payout) error

	// Send pays p to openID under billno and returns what the page's
	// answer and the records need. A failure is an *Error (see State for
	// what each state means to the handler); an error of another type
	// counts as Unrecognized. Send never moves to another number, and
	// gives up within ctx's deadline, with State Unknown when the
	// platform may have paid. Sending a number the platform holds with
	// the same payout must return that payout's Sent (its answer
	// material), not a second payout; with another payout, State
	// Conflict.
	Send(ctx context.Context, billno, openID string, p Payout) (Sent, error)

	// Query asks the platform where billno stands. A number the platform
	// does not know is a Bill with State NotFound and a nil error; no
	// answer (network, timeouts, an unreadable or unverifiable reply) is
	// an error.
	Query(ctx context.Context, billno string) (Bill, error)

	// AppendAnswer appends to dst the JSON object the page passes to the
	// platform's mini-program API to open the payout, built from material
	// (Sent.Answer, as stored), and returns the extended buffer. It must
	// not call the platform and should not allocate beyond dst's growth:
	// every repeat tap calls it. Fresh values (a nonce, a timestamp and
	// the signature over them) are drawn on every call when the API wants
	// them.
	AppendAnswer(dst []byte, material string) ([]byte, error)
}

// Payout is what one bill number pays: a grant's payout terms, the one
// definition of them. The claim handler's Grant and its recorded terms
// carry a Payout; each rail converts it to its platform's request in one
// place (Send) and checks it (Check). Each rail documents which fields it
// sends; fields it has no use for are ignored, never an error.
//
// The red-packet rail (package hongbao) sends every field: Amount as
// total_amount, SendName, Wishing, ActName, Remark and Scene as scene_id
// (PRODUCT_1..PRODUCT_8, required below 100 or above 20000 fen).
type Payout struct {
	// Amount in fen (1/100 yuan).
	Amount int64 `json:"amount"`
	// SendName is the payer's name shown to the user.
	SendName string `json:"send_name"`
	// Wishing is the greeting.
	Wishing string `json:"wishing"`
	// ActName names the campaign.
	ActName string `json:"act_name"`
	// Remark is a note on the payout.
	Remark string `json:"remark"`
	// Scene is the red packet's scene_id (a hongbao.Scene's value).
	Scene string `json:"scene_id,omitempty"`
}

// Merge returns p with every field that q sets (a non-zero amount, a
// non-empty text) taken from q: the payout a platform reports for a number
// (q, with the fields it does not report left empty) over the current
// grant's (p).
func (p Payout) Merge(q Payout) Payout {
	if q.Amount != 0 {
		p.Amount = q.Amount
	}
	set := func(dst *string, v string) {
		if v != "" {
			*dst = v
		}
	}
	set(&p.SendName, q.SendName)
	set(&p.Wishing, q.Wishing)
	set(&p.ActName, q.ActName)
	set(&p.Remark, q.Remark)
	set(&p.Scene, q.Scene)
	return p
}

// Sent is a successful Send: the payout is offered to the user.
type Sent struct {
	// Answer is the material of the page's answer, kept in the Store and
	// handed to AppendAnswer on every tap: for the red packet the package
	// sendminiprogramhb returned, for the transfer the bill's
	// package_info. Never empty.
	Answer string
	// Order is the platform's own number of the payout (the red packet's
	// send_listid, the transfer's transfer_bill_no), for the records;
	// empty when the platform gives none.
	Order string
	// At is when the platform created the payout, when its answer says
	// (the transfer's create_time); zero otherwise (the red packet's
	// send answer carries no time).
	At time.Time
}

// Bill is the platform's answer to Query.
type Bill struct {
	// State is where the number stands: NotFound, Pending, Waiting, Paid,
	// Closed, Returned or Cancelled (Unknown for a state the rail does
	// not know).
	State State
	// Status is the platform's own word for it (SENT, REFUND,
	// WAIT_USER_CONFIRM, ...), for logs and operators.
	Status string
	// Reason is the platform's words on why the number failed or closed,
	// when it gives them.
	Reason string
	// Payout is what the platform holds for the number: the amount and
	// the texts it reports, the fields it does not report left empty (see
	// Payout.Merge).
	Payout Payout
	// At is when the platform created the payout (the red packet's
	// send_time, the transfer's create_time); zero when unknown.
	At time.Time
}
