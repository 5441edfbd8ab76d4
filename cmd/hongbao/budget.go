package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
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
	railFlag := fs.String("rail", "", "-rebuild: the `RAIL` the grants were paid on, "+railRedPacket+" or "+railTransfer+"; refused when the Store holds grants of the campaign on the other (default: each grant's, told by its bill number in the Store; with -openids $"+envRail+", else "+railRedPacket+")")
	perSecond := fs.Float64("rate", 10, "make at most `N` queries of the platform a second")
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
	case (*openidsFile != "" || *keyFlag != "" || *railFlag != "") && !*rebuild:
		return e.usageError(fs, "-openids, -key and -rail go with -rebuild")
	case *railFlag != "" && *railFlag != railRedPacket && *railFlag != railTransfer:
		return e.usageError(fs, "-rail is %s or %s, not %q", railRedPacket, railTransfer, *railFlag)
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
	st, err := openStore(ctx, redisURL, *prefix)
	if err != nil {
		e.errorf("%v", err)
		return exitProblems
	}
	defer st.Close()
	b := &budgeter{store: st, prefix: *prefix, campaign: c, env: e}
	switch {
	case *open:
		return b.open(ctx)
	case *rebuild:
		return b.rebuild(ctx, rebuildOptions{openidsFile: *openidsFile, grantKey: *keyFlag, rail: *railFlag, attempts: n, perSecond: *perSecond})
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

// rebuildTimeout bounds each call of a rebuild to the platform.
const rebuildTimeout = 15 * time.Second

// rebuildOptions are the flags of -rebuild.
type rebuildOptions struct {
	openidsFile, grantKey string
	rail                  string // -rail: "" (each grant's), railRedPacket or railTransfer
	attempts              int
	perSecond             float64
}

// railGrant is a grant of a rebuild and the rail it is paid on.
type railGrant struct {
	store.RebuildGrant
	// id is the key of the grant's terms: its attempt-0 number on its
	// rail.
	id string
	// rail is railRedPacket or railTransfer, told by id's length; "" when
	// id is neither rail's number.
	rail string
}

// railName is how the messages name a rail.
func railName(r string) string {
	if r == railTransfer {
		return "the transfer rail"
	}
	return "the red-packet rail"
}

// otherRail is the rail that is not r.
func otherRail(r string) string {
	if r == railTransfer {
		return railRedPacket
	}
	return railTransfer
}

// rebuild rebuilds the account from the platform, each grant through its
// rail: the Store's grants on the rail their number tells (-rail, when
// given, must agree), the grants of -openids on -rail, else $HONGBAO_RAIL,
// else the red packet's. Nothing is written before every rail needed is
// built and every grant's rail checked: a grant walked on a rail it was
// not paid on finds nothing there, and the account would be opened with a
// fresh count.
func (b *budgeter) rebuild(ctx context.Context, o rebuildOptions) int {
	e := b.env
	key, err := billnoKey(e.getenv)
	if err != nil {
		e.errorf("-rebuild derives the grants' bill numbers: %v", err)
		return exitProblems
	}
	stored, err := b.grants(ctx)
	if err != nil {
		e.errorf("reading the grants: %v", err)
		return exitProblems
	}
	var openids []string
	if o.openidsFile != "" {
		if openids, err = readOpenIDs(o.openidsFile); err != nil {
			e.errorf("%v", err)
			return exitProblems
		}
	}
	// chosen is the rail of -openids, and of a campaign without grants;
	// named as chose says.
	chosen, chose := o.rail, "-rail "+o.rail
	if chosen == "" && (o.openidsFile != "" || len(stored) == 0) {
		switch v := strings.ToLower(getter(e.getenv).get(envRail)); v {
		case "":
			chosen, chose = railRedPacket, "the default rail, "+railRedPacket+" (set -rail to choose)"
		case railRedPacket, railTransfer:
			chosen, chose = v, envRail+"="+v
		default:
			e.errorf("%s is %s or %s, not %q (or give -rail)", envRail, railRedPacket, railTransfer, v)
			return exitProblems
		}
	}

	// The Store's grants tell their rail; a rail chosen must agree.
	var unknown, others []string
	for _, g := range stored {
		switch {
		case g.rail == "" && o.openidsFile == "":
			unknown = append(unknown, g.id)
		case g.rail != "" && chosen != "" && g.rail != chosen:
			others = append(others, g.id)
		}
	}
	if len(unknown) > 0 {
		e.errorf("the Store holds terms of campaign %s under %s, %s of neither rail (%d characters for a red packet, %d for a transfer): %s rail is unknown; the account is left as it is",
			b.campaign, clip(unknown), plural(len(unknown), "a number", "numbers"), hongbao.MaxBillnoLength, hongbao.TransferBillnoLength,
			plural(len(unknown), "its grant's", "their grants'"))
		return exitProblems
	}
	if len(others) > 0 {
		e.errorf("%s, but the Store holds %d %s of campaign %s on %s (terms %s): walked on %s, %s would count nothing and the account would open with a fresh count; the account is left as it is. %s",
			chose, len(others), plural(len(others), "grant", "grants"), b.campaign, railName(otherRail(chosen)), clip(others),
			railName(chosen), plural(len(others), "it", "they"), fixRail(o))
		return exitProblems
	}
	grants := stored
	if o.openidsFile != "" {
		grants = nil
	}

	// Build the rails needed; a rail not configured names its variables.
	need := map[string]int{}
	for _, g := range grants {
		need[g.rail]++
	}
	if o.openidsFile != "" || len(grants) == 0 {
		need[chosen] += len(openids)
	}
	rails := map[string]store.Platform{}
	var bad []string
	for _, r := range []string{railRedPacket, railTransfer} {
		n, ok := need[r]
		if !ok {
			continue
		}
		p, closeRail, err := b.buildRail(ctx, r, key)
		if err != nil {
			why := fmt.Sprintf("%d %s of campaign %s", n, plural(n, "grant", "grants"), b.campaign)
			if o.openidsFile != "" || n == 0 {
				why = chose
			}
			bad = append(bad, fmt.Sprintf("%s, for %s: %v", railName(r), why, err))
			continue
		}
		defer closeRail()
		rails[r] = p
	}
	if len(bad) > 0 {
		e.errorf("-rebuild asks the platform through the grants' rails; the account is left as it is:\n  %s", strings.Join(bad, "\n  "))
		return exitProblems
	}

	if o.openidsFile != "" {
		if grants, err = b.openidGrants(ctx, openids, o.grantKey, chosen, chose, rails[chosen], key); err != nil {
			e.errorf("%v", err)
			return exitProblems
		}
	} else {
		// Each terms' key is its grant's attempt-0 number: one derived
		// otherwise means another key or merchant, whose numbers a
		// rebuild would ask about in vain.
		for _, g := range grants {
			n, err := rails[g.rail].Billno(g.Key, g.OpenID, 0)
			if err != nil || n != g.id {
				e.errorf("the terms %s name the grant %q of %q, whose number on %s is %s under this %s and %s: the services derived another; a rebuild would ask about numbers never used and count nothing. Set the services' %s and %s; the account is left as it is",
					g.id, g.Key, g.OpenID, railName(g.rail), cmp.Or(n, fmt.Sprint(err)), envBillnoKey, envMchID, envBillnoKey, envMchID)
				return exitProblems
			}
		}
	}
	primary := chosen
	if primary == "" {
		primary = grants[0].rail
	}
	counts := map[string]int{}
	rebuildGrants := make([]store.RebuildGrant, len(grants))
	for i, g := range grants {
		counts[g.rail]++
		rebuildGrants[i] = g.RebuildGrant
		rebuildGrants[i].Platform = rails[g.rail]
	}
	fmt.Fprintf(e.stderr, "hongbao: budget: rebuilding %s from the platform: %d %s (%d on the red-packet rail, %d on the transfer rail)\n",
		b.campaign, len(grants), plural(len(grants), "grant", "grants"), counts[railRedPacket], counts[railTransfer])
	limiter := rate.NewLimiter(rate.Limit(o.perSecond), 1)
	rep, err := store.RebuildBudget(ctx, store.RebuildConfig{
		Platform: rails[primary],
		Store:    b.store,
		Campaign: b.campaign,
		Grants:   rebuildGrants,
		Numbers:  o.attempts + 8,
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

// fixRail says how to rebuild a campaign whose Store's grants are on
// another rail than the one chosen.
func fixRail(o rebuildOptions) string {
	if o.openidsFile == "" {
		return "Run it without -rail: each grant's number tells its rail."
	}
	return "Give the rail the openids were paid on with -rail; a campaign paid on both rails is rebuilt from the Store's grants, without -openids."
}

// clip lists at most 3 of ids.
func clip(ids []string) string {
	if len(ids) <= 3 {
		return strings.Join(ids, ", ")
	}
	return strings.Join(ids[:3], ", ") + fmt.Sprintf(" and %d more", len(ids)-3)
}

// buildRail builds rail r of the merchant's variables, keyed with key,
// and the function that closes it.
func (b *budgeter) buildRail(ctx context.Context, r string, key []byte) (store.Platform, func(), error) {
	e := b.env
	if r == railTransfer {
		t, closeRail, err := transferRail(ctx, e, key, rebuildTimeout)
		if err != nil {
			return nil, nil, err
		}
		return t, closeRail, nil
	}
	m, bad := loadMerchant(e.getenv)
	if err := bad.err(); err != nil {
		return nil, nil, err
	}
	client, err := hongbao.New(m.clientConfig(key, hongbao.RetryPolicy{Attempts: 3, AttemptTimeout: rebuildTimeout}))
	if err != nil {
		return nil, nil, m.explainClientError(err)
	}
	return client.Rail(), client.Transport().CloseIdleConnections, nil
}

// openidGrants returns the grants of openids under grantKey (the campaign
// when empty) on rail r (p), named as chose says. Terms the Store kept
// (recorded since the loss, say) under a grant's number say when it was
// decided; terms under its number on the other rail mean it was paid
// there: an error, nothing written.
func (b *budgeter) openidGrants(ctx context.Context, openids []string, grantKey, r, chose string, p store.Platform, key []byte) ([]railGrant, error) {
	if grantKey == "" {
		grantKey = b.campaign
	}
	mchID := getter(b.env.getenv).get(envMchID) // checked when the rail was built
	derive := hongbao.DeriveTransferBillno
	if r == railTransfer {
		derive = hongbao.DeriveAttemptBillno
	}
	var out []railGrant
	var elsewhere []string
	for _, o := range openids {
		id, err := p.Billno(grantKey, o, 0)
		if err != nil {
			return nil, fmt.Errorf("-openids: the grant %q of %q: %v", grantKey, o, err)
		}
		g := railGrant{RebuildGrant: store.RebuildGrant{Key: grantKey, OpenID: o}, id: id, rail: r}
		if t, ok, err := b.terms(ctx, id); err != nil {
			return nil, fmt.Errorf("reading the terms %s: %v", id, err)
		} else if ok {
			// The account must count it.
			g.DecidedAt = t.DecidedAt
		}
		other, err := derive(key, mchID, grantKey, o, 0)
		if err != nil {
			return nil, fmt.Errorf("-openids: the grant %q of %q: %v", grantKey, o, err)
		}
		if _, ok, err := b.terms(ctx, other); err != nil {
			return nil, fmt.Errorf("reading the terms %s: %v", other, err)
		} else if ok {
			elsewhere = append(elsewhere, o+" (terms "+other+")")
		}
		out = append(out, g)
	}
	if len(elsewhere) > 0 {
		return nil, fmt.Errorf("%s, but the Store holds terms of %d %s of grant %q on %s: %s; walked on %s, %s would count nothing and the account would open with a fresh count; the account is left as it is. %s",
			chose, len(elsewhere), plural(len(elsewhere), "openid", "openids"), grantKey, railName(otherRail(r)), clip(elsewhere),
			railName(r), plural(len(elsewhere), "it", "they"), fixRail(rebuildOptions{openidsFile: "-"}))
	}
	return out, nil
}

// terms reads the terms under id; ok is false when the Store holds none.
func (b *budgeter) terms(ctx context.Context, id string) (t store.Terms, ok bool, err error) {
	raw, err := b.store.Client().Get(ctx, b.prefix+"terms:"+id).Bytes()
	switch {
	case errors.Is(err, redis.Nil):
		return t, false, nil
	case err != nil:
		return t, false, err
	}
	_ = json.Unmarshal(raw, &t) // terms of an older version: there, undated
	return t, true, nil
}

// grants lists the grants of the campaign the Store holds, with their
// rail: the terms whose Campaign is the campaign, or whose Key is when
// they name no Campaign.
func (b *budgeter) grants(ctx context.Context) ([]railGrant, error) {
	ts, err := campaignTerms(ctx, b.store.Client(), b.prefix, b.campaign, nil, func(id string) {
		fmt.Fprintf(b.env.stderr, "hongbao: budget: %s names no grant (terms of an older version): not counted\n", id)
	})
	if err != nil {
		return nil, err
	}
	var out []railGrant
	for _, g := range ts {
		t := g.terms
		out = append(out, railGrant{RebuildGrant: store.RebuildGrant{Key: t.Key, OpenID: t.OpenID, DecidedAt: t.DecidedAt}, id: g.id, rail: railOf(g.id)})
	}
	return out, nil
}
