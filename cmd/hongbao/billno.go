package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/hongbao-go/hongbao"
)

func runBillno(_ context.Context, e *env, args []string) int {
	fs := e.newFlags("billno")
	campaignFlag := fs.String("campaign", "", "the campaign `KEY` (grant key), as the services' HONGBAO_CAMPAIGN (default: $HONGBAO_CAMPAIGN, else "+defaultCampaign+")")
	attempts := fs.Int("attempts", 0, "print attempts 0 to `N`-1 of each grant (default: $HONGBAO_MAX_ATTEMPTS, else 3)")
	transferNos := fs.Bool("transfer", false, "print the out_bill_no of APIv3 transfer bills instead of red packets' mch_billno")
	openids, code, done := parse(fs, args)
	if done {
		return code
	}
	if len(openids) == 0 {
		return e.usageError(fs, "name at least one openid")
	}
	n, err := maxAttempts(*attempts, e.getenv)
	if err != nil {
		return e.usageError(fs, "%v", err)
	}
	mchID := getter(e.getenv).get(envMchID)
	if err := checkMchID(mchID); err != nil {
		e.errorf("%v", err)
		return exitProblems
	}
	key, err := billnoKey(e.getenv)
	if err != nil {
		e.errorf("%v", err)
		return exitProblems
	}
	grant := campaign(*campaignFlag, e.getenv)
	// Every number first, so that a bad openid prints nothing.
	rows := make([][]string, 0, len(openids)*n)
	for _, openid := range openids {
		for a := range n {
			derive := hongbao.DeriveAttemptBillno
			if *transferNos {
				derive = hongbao.DeriveTransferBillno
			}
			b, err := derive(key, mchID, grant, openid, a)
			if err != nil {
				e.errorf("openid %q: %v", openid, err)
				return exitProblems
			}
			rows = append(rows, []string{openid, grant, strconv.Itoa(a), b})
		}
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
	column := "BILLNO"
	if *transferNos {
		column = "OUT_BILL_NO"
	}
	fmt.Fprintln(tw, "OPENID\tCAMPAIGN\tATTEMPT\t"+column)
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	tw.Flush()
	return exitOK
}
