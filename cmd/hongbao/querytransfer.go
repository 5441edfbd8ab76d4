package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/hongbao-go/hongbao/apiv3"
	"github.com/hongbao-go/hongbao/transfer"
)

// How query names transfer bills: by out_bill_no, by the platform's
// transfer_bill_no, or by the grants of openids (derived out_bill_no).
const (
	byOutBillNo = iota
	byTransferBillNo
	byGrant
)

// billState is one transfer bill as query prints it.
type billState struct {
	OutBillNo      string `json:"out_bill_no,omitempty"`
	TransferBillNo string `json:"transfer_bill_no,omitempty"`
	// Campaign and Attempt are set for a bill of a grant (-grants).
	Campaign string `json:"campaign,omitempty"`
	Attempt  *int   `json:"attempt,omitempty"`
	// State is the bill's state, NOT_FOUND, or empty after an error.
	State      string    `json:"state,omitempty"`
	Amount     int64     `json:"amount,omitempty"` // fen
	OpenID     string    `json:"openid,omitempty"`
	Remark     string    `json:"remark,omitempty"`
	CreateTime time.Time `json:"create_time,omitzero"`
	UpdateTime time.Time `json:"update_time,omitzero"`
	FailReason string    `json:"fail_reason,omitempty"`
	Error      string    `json:"error,omitempty"` // the query failed: no answer from the platform
}

func billStateOf(b *transfer.Bill, err error) billState {
	var s billState
	switch {
	case err == nil:
		s = billState{OutBillNo: b.OutBillNo, TransferBillNo: b.TransferBillNo, State: string(b.State), Amount: b.Amount,
			OpenID: b.OpenID, Remark: b.Remark, CreateTime: b.CreateTime, UpdateTime: b.UpdateTime, FailReason: b.FailReason}
	case errors.Is(err, apiv3.ErrNotFound):
		s.State = statusNotFound
	default:
		s.Error = err.Error()
	}
	return s
}

// queryTransfers is query for transfer bills: how says what the operands
// are.
func queryTransfers(ctx context.Context, e *env, fs *flag.FlagSet, how int, operands []string, campaignFlag string, attemptsFlag int, asJSON bool, timeout time.Duration) int {
	var grant string
	var attempts int
	var key []byte
	if how == byGrant {
		var err error
		if attempts, err = maxAttempts(attemptsFlag, e.getenv); err != nil {
			return e.usageError(fs, "%v", err)
		}
		if key, err = billnoKey(e.getenv); err != nil {
			e.errorf("%v", err)
			return exitProblems
		}
		grant = campaign(campaignFlag, e.getenv)
	}
	r, closeRail, err := transferRail(ctx, e, key, timeout)
	if err != nil {
		e.errorf("%v", err)
		return exitProblems
	}
	defer closeRail()
	c := r.Client()

	var states []billState
	failed, asked := 0, 0
	add := func(s billState) {
		if s.Error != "" {
			failed++
		}
		states = append(states, s)
	}
	for _, op := range operands {
		if ctx.Err() != nil {
			break
		}
		asked++
		switch how {
		case byOutBillNo:
			b, err := c.QueryByOutBillNo(ctx, op)
			s := billStateOf(b, err)
			s.OutBillNo = op
			add(s)
		case byTransferBillNo:
			b, err := c.QueryByTransferBillNo(ctx, op)
			s := billStateOf(b, err)
			s.TransferBillNo = op
			add(s)
		case byGrant:
			// Attempt 0, and the next while the one before is closed, as
			// the claim handler moves on.
			for a := range attempts {
				n, err := c.OutBillNo(grant, op, a)
				if err != nil {
					add(billState{OpenID: op, Campaign: grant, Attempt: &a, Error: err.Error()})
					break
				}
				b, err := c.QueryByOutBillNo(ctx, n)
				s := billStateOf(b, err)
				s.OutBillNo, s.Campaign, s.Attempt = n, grant, &a
				if s.OpenID == "" {
					s.OpenID = op
				}
				add(s)
				if err != nil || !b.State.Closed() {
					break
				}
			}
		}
	}
	if asJSON {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		if states == nil {
			states = []billState{}
		}
		if err := enc.Encode(states); err != nil {
			e.errorf("%v", err)
			return exitProblems
		}
	} else {
		printBills(e.stdout, states, how == byGrant)
	}
	if ctx.Err() != nil {
		e.errorf("interrupted after %d of %d %s", asked, len(operands), plural(len(operands), "argument", "arguments"))
		return exitProblems
	}
	if failed > 0 {
		e.errorf("%d of %d transfer bills could not be queried", failed, len(states))
		return exitProblems
	}
	return exitOK
}

// printBills writes the table of transfer bills; grants adds the openid
// and attempt of each bill's grant in front.
func printBills(w io.Writer, states []billState, grants bool) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	if grants {
		fmt.Fprintln(tw, "OPENID\tATTEMPT\tOUT_BILL_NO\tTRANSFER_BILL_NO\tSTATE\tYUAN\tCREATED\tUPDATED\tDETAIL")
	} else {
		fmt.Fprintln(tw, "OUT_BILL_NO\tTRANSFER_BILL_NO\tSTATE\tYUAN\tOPENID\tCREATED\tUPDATED\tDETAIL")
	}
	for _, s := range states {
		state, amount, detail := s.State, "", s.FailReason
		if s.Error != "" {
			state, detail = "ERROR", s.Error
		}
		if s.Amount > 0 {
			amount = yuan(s.Amount)
		}
		cols := []string{s.OutBillNo, s.TransferBillNo, state, amount}
		if grants {
			attempt := ""
			if s.Attempt != nil {
				attempt = strconv.Itoa(*s.Attempt)
			}
			cols = append([]string{s.OpenID, attempt}, cols...)
		} else {
			cols = append(cols, s.OpenID)
		}
		cols = append(cols, platformTime(s.CreateTime), platformTime(s.UpdateTime), detail)
		for i, c := range cols {
			if i > 0 {
				fmt.Fprint(tw, "\t")
			}
			fmt.Fprint(tw, dash(c))
		}
		fmt.Fprintln(tw)
	}
	tw.Flush()
}
