package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/hongbao-go/hongbao"
)

// statusNotFound stands for gethbinfo's NOT_FOUND in the status column:
// the platform holds no packet under the bill number (never sent, refused
// without a record, or outside the platform's record window).
const statusNotFound = "NOT_FOUND"

// packetState is one bill number as query prints it.
type packetState struct {
	Billno       string    `json:"billno"`
	Status       string    `json:"status,omitempty"` // a gethbinfo status, NOT_FOUND, or empty after an error
	Amount       int64     `json:"amount,omitempty"` // fen
	DetailID     string    `json:"detail_id,omitempty"`
	SendTime     time.Time `json:"send_time,omitzero"`
	RefundAmount int64     `json:"refund_amount,omitempty"`
	RefundTime   time.Time `json:"refund_time,omitzero"`
	Received     []receipt `json:"received,omitempty"`
	Reason       string    `json:"reason,omitempty"` // why it failed, when it did
	Error        string    `json:"error,omitempty"`  // the query failed: no answer from the platform
}

type receipt struct {
	OpenID     string    `json:"openid"`
	Amount     int64     `json:"amount"`
	ReceivedAt time.Time `json:"received_at,omitzero"`
}

func stateOf(billno string, info *hongbao.HBInfo, err error) packetState {
	s := packetState{Billno: billno}
	switch {
	case err == nil:
		s.Status = string(info.Status)
		s.Amount, s.DetailID, s.Reason = info.Amount, info.DetailID, info.Reason
		s.SendTime, s.RefundTime, s.RefundAmount = info.SendTime, info.RefundTime, info.RefundAmount
		for _, rc := range info.Received {
			s.Received = append(s.Received, receipt{OpenID: rc.OpenID, Amount: rc.Amount, ReceivedAt: rc.ReceivedAt})
		}
	case errors.Is(err, hongbao.ErrNotFound):
		s.Status = statusNotFound
	default:
		s.Error = err.Error()
	}
	return s
}

func runQuery(ctx context.Context, e *env, args []string) int {
	fs := e.newFlags("query")
	asJSON := fs.Bool("json", false, "print a JSON array instead of a table")
	timeout := fs.Duration("timeout", 15*time.Second, "give each attempt of a query `DURATION` at most")
	transfers := fs.Bool("transfer", false, "the arguments are out_bill_no of APIv3 transfer bills, not red packets")
	byNo := fs.Bool("transfer-bill-no", false, "the arguments are the platform's transfer_bill_no of APIv3 transfer bills")
	grants := fs.Bool("grants", false, "the arguments are openids: query the transfer bills of their grants (attempt 0, and each next one while the one before is closed)")
	campaignFlag := fs.String("campaign", "", "with -grants: the campaign `KEY` (default: $HONGBAO_CAMPAIGN, else "+defaultCampaign+")")
	attempts := fs.Int("attempts", 0, "with -grants: query at most `N` attempts of each grant (default: $HONGBAO_MAX_ATTEMPTS, else 3)")
	billnos, code, done := parse(fs, args)
	if done {
		return code
	}
	if *timeout <= 0 {
		return e.usageError(fs, "-timeout must be positive")
	}
	how, modes := byOutBillNo, 0
	for _, m := range []struct {
		on  bool
		how int
	}{{*transfers, byOutBillNo}, {*byNo, byTransferBillNo}, {*grants, byGrant}} {
		if m.on {
			how, modes = m.how, modes+1
		}
	}
	switch {
	case modes > 1:
		return e.usageError(fs, "use one of -transfer, -transfer-bill-no and -grants")
	case modes == 0 && (*campaignFlag != "" || *attempts != 0):
		return e.usageError(fs, "-campaign and -attempts go with -grants")
	case len(billnos) == 0 && *grants:
		return e.usageError(fs, "name at least one openid")
	case len(billnos) == 0:
		return e.usageError(fs, "name at least one bill number")
	case modes == 1:
		return queryTransfers(ctx, e, fs, how, billnos, *campaignFlag, *attempts, *asJSON, *timeout)
	}
	client, err := newClient(e.getenv, hongbao.RetryPolicy{Attempts: 3, AttemptTimeout: *timeout})
	if err != nil {
		e.errorf("%v", err)
		return exitProblems
	}
	defer client.Transport().CloseIdleConnections()

	states := make([]packetState, 0, len(billnos))
	failed := 0
	for _, b := range billnos {
		if ctx.Err() != nil {
			break
		}
		info, err := client.QueryHB(ctx, b)
		s := stateOf(b, info, err)
		if s.Error != "" {
			failed++
		}
		states = append(states, s)
	}
	if *asJSON {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(states); err != nil {
			e.errorf("%v", err)
			return exitProblems
		}
	} else {
		printStates(e.stdout, states)
	}
	if ctx.Err() != nil {
		e.errorf("interrupted after %d of %d bill numbers", len(states), len(billnos))
		return exitProblems
	}
	if failed > 0 {
		e.errorf("%d of %d bill numbers could not be queried", failed, len(billnos))
		return exitProblems
	}
	return exitOK
}

// printStates writes the table of query.
func printStates(w io.Writer, states []packetState) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "BILLNO\tSTATUS\tYUAN\tSENT\tRECEIVED\tREFUNDED\tDETAIL")
	for _, s := range states {
		status, amount := s.Status, ""
		if s.Error != "" {
			status = "ERROR"
		}
		if s.Amount > 0 {
			amount = yuan(s.Amount)
		}
		var received []string
		for _, rc := range s.Received {
			received = append(received, rc.OpenID+" "+platformTime(rc.ReceivedAt))
		}
		refunded := platformTime(s.RefundTime)
		if s.RefundAmount > 0 {
			refunded = strings.TrimSpace(refunded + " " + yuan(s.RefundAmount))
		}
		detail := s.Reason
		if s.Error != "" {
			detail = s.Error
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", s.Billno, dash(status), dash(amount), dash(platformTime(s.SendTime)),
			dash(strings.Join(received, ", ")), dash(refunded), dash(detail))
	}
	tw.Flush()
}

// yuan writes an amount in fen as yuan, "1.00".
func yuan(fen int64) string {
	return strconv.FormatInt(fen/100, 10) + "." + fmt.Sprintf("%02d", fen%100)
}

// beijing is the platform's time zone (UTC+8).
var beijing = time.FixedZone("CST", 8*3600)

// platformTime writes t as the platform does, in Beijing time; "" for the
// zero time.
func platformTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.In(beijing).Format(time.DateTime)
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
