package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"golang.org/x/time/rate"

	"github.com/hongbao-go/hongbao"
	"github.com/hongbao-go/hongbao/store"
	"github.com/hongbao-go/hongbao/store/redisstore"
)

// runBudget shows a campaign's budget account in the Store, opens it for a
// new campaign (-open), or rebuilds it from the platform (-rebuild).
func runBudget(ctx context.Context, e *env, args []string) int {
	fs := e.newFlags("budget")
	campaignFlag := fs.String("campaign", "", "the campaign `NAME` of the account: the grants' Campaign, or their key (default: $HONGBAO_CAMPAIGN, else "+defaultCampaign+")")
	open := fs.Bool("open", false, "open the account of a new campaign; refused when the Store holds grants of the campaign (rebuild instead)")
	rebuild := fs.Bool("rebuild", false, "rebuild the account from the platform: commit what it reports paid, reserve what may still pay, then open it")
	openidsFile := fs.String("openids", "", "-rebuild: the grants of the openids in `FILE` (one a line; the first field of CSV lines), instead of every grant of the campaign the Store holds")
	keyFlag := fs.String("key", "", "-rebuild -openids: the grant `KEY` of the openids (default: the campaign)")
	attempts := fs.Int("attempts", 0, "the handler's MaxAttempts, `N` (default: $HONGBAO_MAX_ATTEMPTS, else 3); numbers are followed up to N+8")
	perSecond := fs.Float64("rate", 10, "make at most `N` queries (gethbinfo) a second")
	prefix := fs.String("prefix", redisstore.DefaultPrefix, "the Store's key `PREFIX` (redisstore.Options.Prefix)")
	operands, code, done := parse(fs, args)
	if done {
		return code
	}
	switch {
	case len(operands) > 0:
		return e.usageError(fs, "no arguments expected, got %q", operands)
	case *open && *rebuild:
		return e.usageError(fs, "-open and -rebuild exclude each other")
	case (*openidsFile != "" || *keyFlag != "") && !*rebuild:
		return e.usageError(fs, "-openids and -key go with -rebuild")
	case *perSecond <= 0:
		return e.usageError(fs, "-rate must be positive")
	}
	n, err := maxAttempts(*attempts, e.getenv)
	if err != nil {
		return e.usageError(fs, "%v", err)
	}
	redisURL := getter(e.getenv).get(envRedisURL)
	if redisURL == "" {
		return e.usageError(fs, "set %s: the account lives in the Store", envRedisURL)
	}
	c := campaign(*campaignFlag, e.getenv)
	st, err := redisstore.NewFromURL(redisURL, redisstore.Options{Prefix: *prefix, Timeout: 5 * time.Second})
	if err != nil {
		e.errorf("%s: %v", envRedisURL, err)
		return exitProblems
	}
	defer st.Close()
	if err := st.Ping(ctx); err != nil {
		e.errorf("%s: Redis at %s does not answer: %v", envRedisURL, redisAddr(redisURL), err)
		return exitProblems
	}
	b := &budgeter{store: st, prefix: *prefix, campaign: c, env: e}
	switch {
	case *open:
		return b.open(ctx)
	case *rebuild:
		return b.rebuild(ctx, *openidsFile, *keyFlag, n, *perSecond)
	}
	return b.show(ctx)
}

// budgeter is one run of the budget command.
type budgeter struct {
	store    *redisstore.Store
	prefix   string
	campaign string
	env      *env
}

// show writes the account on stdout.
func (b *budgeter) show(ctx context.Context) int {
	st, _, err := b.store.Budget(ctx, b.campaign, store.BudgetOp{Step: store.BudgetRead})
	if err != nil {
		b.env.errorf("reading the budget of %s: %v", b.campaign, err)
		return exitProblems
	}
	b.print(st)
	return exitOK
}

func (b *budgeter) print(st store.BudgetState) {
	state := "not open: budgeted taps are answered 503 budget_unavailable (open a new campaign's account with -open; rebuild a lost one with -rebuild)"
	if st.Open {
		state = "open"
		if !st.OpenedAt.IsZero() {
			state += " since " + st.OpenedAt.In(beijing).Format(time.RFC3339)
		}
	}
	fmt.Fprintf(b.env.stdout, "budget %s: %s; reserved %d fen in %d %s, committed %d fen in %d %s\n", b.campaign, state,
		st.ReservedFen, st.ReservedPackets, plural(int(st.ReservedPackets), "packet", "packets"),
		st.CommittedFen, st.CommittedPackets, plural(int(st.CommittedPackets), "packet", "packets"))
}

// open opens the account of a new campaign. A campaign whose grants the
// Store holds is not new: its account was lost, and opening it would
// start a fresh count.
func (b *budgeter) open(ctx context.Context) int {
	st, _, err := b.store.Budget(ctx, b.campaign, store.BudgetOp{Step: store.BudgetRead})
	if err != nil {
		b.env.errorf("reading the budget of %s: %v", b.campaign, err)
		return exitProblems
	}
	if st.Open {
		fmt.Fprintf(b.env.stdout, "budget %s: already open; nothing changed\n", b.campaign)
		b.print(st)
		return exitOK
	}
	grants, err := b.grants(ctx)
	if err != nil {
		b.env.errorf("reading the grants: %v", err)
		return exitProblems
	}
	if len(grants) > 0 || st.CommittedPackets > 0 || st.ReservedPackets > 0 {
		b.env.errorf("the Store holds %d %s and %d counted %s of campaign %s: its account was lost, not new; opening it would start a fresh count and pay again what it had counted. Rebuild it: hongbao budget -campaign %s -rebuild",
			len(grants), plural(len(grants), "grant", "grants"), st.CommittedPackets+st.ReservedPackets,
			plural(int(st.CommittedPackets+st.ReservedPackets), "number", "numbers"), b.campaign, b.campaign)
		return exitProblems
	}
	st, _, err = b.store.Budget(ctx, b.campaign, store.BudgetOp{Step: store.BudgetOpen, At: time.Now()})
	if err != nil {
		b.env.errorf("opening the budget of %s: %v", b.campaign, err)
		return exitProblems
	}
	b.print(st)
	return exitOK
}

// rebuild rebuilds the account from the platform.
func (b *budgeter) rebuild(ctx context.Context, openidsFile, grantKey string, attempts int, perSecond float64) int {
	e := b.env
	m, bad := loadMerchant(e.getenv)
	if err := bad.err(); err != nil {
		e.errorf("%v", err)
		return exitProblems
	}
	key, err := billnoKey(e.getenv)
	if err != nil {
		e.errorf("-rebuild derives the grants' bill numbers: %v", err)
		return exitProblems
	}
	client, err := hongbao.New(m.clientConfig(key, hongbao.RetryPolicy{Attempts: 3}))
	if err != nil {
		e.errorf("%v", m.explainClientError(err))
		return exitProblems
	}
	defer client.Transport().CloseIdleConnections()
	var grants []store.RebuildGrant
	if openidsFile != "" {
		openids, err := readOpenIDs(openidsFile)
		if err != nil {
			e.errorf("%v", err)
			return exitProblems
		}
		if grantKey == "" {
			grantKey = b.campaign
		}
		for _, o := range openids {
			g := store.RebuildGrant{Key: grantKey, OpenID: o}
			// Terms the Store kept (recorded since the loss, say) say
			// when the grant was decided: the account must count it.
			if id, err := client.Rail().Billno(grantKey, o, 0); err == nil {
				if raw, err := b.store.Client().Get(ctx, b.prefix+"terms:"+id).Bytes(); err == nil {
					var t store.Terms
					if json.Unmarshal(raw, &t) == nil {
						g.DecidedAt = t.DecidedAt
					}
				}
			}
			grants = append(grants, g)
		}
	} else if grants, err = b.grants(ctx); err != nil {
		e.errorf("reading the grants: %v", err)
		return exitProblems
	}
	fmt.Fprintf(e.stderr, "hongbao: budget: rebuilding %s from the platform: %d %s\n", b.campaign, len(grants), plural(len(grants), "grant", "grants"))
	limiter := rate.NewLimiter(rate.Limit(perSecond), 1)
	rep, err := store.RebuildBudget(ctx, store.RebuildConfig{
		Platform: client.Rail(),
		Store:    b.store,
		Campaign: b.campaign,
		Grants:   grants,
		Numbers:  attempts + 8,
		Wait:     limiter.Wait,
	})
	fmt.Fprintf(e.stdout, "budget %s: rebuilt from %d %s: committed %d fen in %d %s, reserved %d fen in %d %s, released %d %s\n",
		b.campaign, rep.Grants, plural(rep.Grants, "grant", "grants"),
		rep.CommittedFen, rep.Committed, plural(rep.Committed, "number", "numbers"),
		rep.ReservedFen, rep.Reserved, plural(rep.Reserved, "number", "numbers"),
		rep.Released, plural(rep.Released, "number", "numbers"))
	if err != nil {
		if len(rep.Failed) > 0 {
			e.errorf("the platform did not answer for %s: the account stays closed; run the rebuild again", strings.Join(rep.Failed, ", "))
		} else {
			e.errorf("rebuild: %v", err)
		}
		return exitProblems
	}
	b.print(rep.State)
	return exitOK
}

// grants lists the grants of the campaign the Store holds: the terms whose
// Campaign is the campaign, or whose Key is when they name no Campaign.
func (b *budgeter) grants(ctx context.Context) ([]store.RebuildGrant, error) {
	head := b.prefix + "terms:"
	var keys []string
	err := scanKeys(ctx, b.store.Client(), globEscape(head)+"*", func(k string) { keys = append(keys, k) })
	if err != nil {
		return nil, err
	}
	var out []store.RebuildGrant
	for _, k := range keys {
		raw, err := b.store.Client().Get(ctx, k).Bytes()
		if err != nil {
			continue // expired since the scan
		}
		var t store.Terms
		if json.Unmarshal(raw, &t) != nil || t.Key == "" || t.OpenID == "" {
			fmt.Fprintf(b.env.stderr, "hongbao: budget: %s names no grant (terms of an older version): not counted\n", strings.TrimPrefix(k, head))
			continue
		}
		c := t.Campaign
		if c == "" {
			c = t.Key
		}
		if c == b.campaign {
			out = append(out, store.RebuildGrant{Key: t.Key, OpenID: t.OpenID, DecidedAt: t.DecidedAt})
		}
	}
	return out, nil
}
