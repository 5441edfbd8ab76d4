package main

import (
	"bufio"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"golang.org/x/time/rate"

	"github.com/hongbao-go/hongbao"
	"github.com/hongbao-go/hongbao/middleware/claim"
	"github.com/hongbao-go/hongbao/rail"
	"github.com/hongbao-go/hongbao/store"
	"github.com/hongbao-go/hongbao/store/redisstore"
	"github.com/hongbao-go/hongbao/transfer"
)

// Verdicts: what a row of reconcile says of one bill number.
const (
	// The Store and the platform agree.
	verdictOK = "ok"
	// The platform holds a paid packet (SENT, RECEIVED, RFUND_ING) that
	// the Store does not record as paid. The user's next tap sends the
	// same number again and gets its package; nothing can be written,
	// since gethbinfo does not give the package.
	verdictPaidUnrecorded = "paid_unrecorded"
	// Without a Store: the platform holds a paid packet (SENT,
	// RECEIVED, RFUND_ING).
	verdictPaid = "paid"
	// The platform reports the packet SENDING.
	verdictSending = "sending"
	// The platform holds nothing under the number (NOT_FOUND) and the
	// Store records no payment: nothing was paid under it.
	verdictNotSent = "not_sent"
	// The platform reports the number closed (FAILED, or REFUND) and the
	// Store does not know it: -resolve writes it.
	verdictClosed = "closed"
	// -resolve wrote the closed state the platform reported.
	verdictResolved = "resolved"
	// -resolve wrote nothing: a send of the number held its lock.
	verdictBusy = "busy"
	// The Store and the platform contradict each other: look at it.
	verdictMismatch = "mismatch"
	// The platform (or the Store) did not answer.
	verdictError = "error"
	// Not a bill number of this merchant: not asked about.
	verdictSkipped = "skipped"

	// Transfer bills (the APIv3 rail).

	// The bill waits for the user's confirmation (WAIT_USER_CONFIRM):
	// the user's next tap answers its package_info; hongbao cancel
	// closes it at the campaign's end.
	verdictWaiting = "waiting"
	// The platform is still processing the bill (ACCEPTED, PROCESSING,
	// TRANSFERING after the user confirmed, CANCELING).
	verdictPending = "pending"
	// The user confirmed (SUCCESS) and the Store does not know it yet (a
	// notification not received yet, or lost): -resolve records it paid
	// and commits its amount to its campaign's budget.
	verdictConfirmed = "confirmed"
)

// What the Store holds for a bill number.
const (
	storedNone       = "none"       // no result: never sent, or the outcome was unknown
	storedPaid       = "paid"       // a successful send, with its package
	storedPending    = "pending"    // a result that is neither paid, closed nor refused
	storedUnreadable = "unreadable" // the Store failed
	storedNoStore    = "no_store"   // no HONGBAO_REDIS_URL
	// closed:STATUS and refused:ERR_CODE are built from the result.
)

var csvHeader = []string{"billno", "grant", "attempt", "openid", "stored", "platform", "verdict", "stored_amount", "platform_amount", "send_time", "detail"}

// row is one bill number of reconcile's CSV.
type row struct {
	billno, grant  string
	attempt        int // -1 when unknown
	openid         string
	stored         string
	platform       string // a gethbinfo status, NOT_FOUND, or "error"
	verdict        string
	storedAmount   int64
	platformAmount int64
	sendTime       time.Time
	detail         []string
	closed         bool // the Store or the platform reports the number closed
}

func (r *row) note(format string, a ...any) { r.detail = append(r.detail, fmt.Sprintf(format, a...)) }

func (r *row) record() []string {
	attempt, send := "", ""
	if r.attempt >= 0 {
		attempt = strconv.Itoa(r.attempt)
	}
	if !r.sendTime.IsZero() {
		send = r.sendTime.In(beijing).Format(time.RFC3339)
	}
	return []string{r.billno, r.grant, attempt, r.openid, r.stored, r.platform, r.verdict,
		fen(r.storedAmount), fen(r.platformAmount), send, strings.Join(r.detail, "; ")}
}

func fen(n int64) string {
	if n == 0 {
		return ""
	}
	return strconv.FormatInt(n, 10)
}

// reconciler holds what one run of reconcile shares.
type reconciler struct {
	client   *hongbao.Client   // nil when the red-packet rail is not configured
	store    *redisstore.Store // nil without HONGBAO_REDIS_URL
	rdb      redis.UniversalClient
	prefix   string
	mchID    string
	key      []byte // the bill number key; nil: later attempts are not followed
	campaign string
	attempts int
	limiter  *rate.Limiter
	resolve  bool
	ttl      time.Duration

	// transfers asks about transfer bills; nil when the transfer rail is
	// not configured (noTransfers says why, noPackets for the red
	// packet's). settler records what -resolve learns of them. transfer
	// says that the grants of -openids are paid on the transfer rail.
	transfers   *transfer.Rail
	noTransfers string
	noPackets   string
	settler     *claim.Handler
	transfer    bool

	// budgets are the campaigns with a budget account in the Store, read
	// for -resolve: a number written closed gives its amount back.
	budgets []string

	mu      sync.Mutex
	out     *csv.Writer
	outErr  error
	visited map[string]bool
	counts  map[string]int
	prog    *progress
}

// lockTTL bounds how long -resolve holds a bill number's lock.
const lockTTL = 30 * time.Second

func runReconcile(ctx context.Context, e *env, args []string) int {
	fs := e.newFlags("reconcile")
	openidsFile := fs.String("openids", "", "reconcile the grants of the openids in `FILE` (one a line; the first field of CSV lines) instead of every grant in the Store")
	campaignFlag := fs.String("campaign", "", "the campaign `KEY` (grant key) of -openids, and of the grants whose later attempts are followed (default: $HONGBAO_CAMPAIGN, else "+defaultCampaign+")")
	attempts := fs.Int("attempts", 0, "a grant may use attempts 0 to `N`-1 (default: $HONGBAO_MAX_ATTEMPTS, else 3)")
	perSecond := fs.Float64("rate", 10, "make at most `N` gethbinfo queries a second")
	workers := fs.Int("workers", 4, "reconcile `N` grants at once")
	resolve := fs.Bool("resolve", false, "write to the Store what the platform reports of numbers it closed (FAILED, REFUND) and the Store does not know closed")
	prefix := fs.String("prefix", redisstore.DefaultPrefix, "the Store's key `PREFIX` (redisstore.Options.Prefix)")
	ttl := fs.Duration("ttl", claim.DefaultResultTTL, "keep a result written by -resolve for `DURATION` when the grant's keys have no expiry")
	interval := fs.Duration("progress", 0, "write the progress line to stderr every `DURATION` (default: 250ms on a terminal, else 10s)")
	transferFlag := fs.Bool("transfer", false, "-openids: the grants are paid on the transfer rail (APIv3 transfer bills); the default when only the APIv3 variables are set")
	timeout := fs.Duration("timeout", 15*time.Second, "give up each call to the platform after `DURATION`")
	operands, code, done := parse(fs, args)
	if done {
		return code
	}
	switch {
	case len(operands) > 0:
		return e.usageError(fs, "no arguments expected, got %q", operands)
	case *perSecond <= 0:
		return e.usageError(fs, "-rate must be positive")
	case *workers < 1:
		return e.usageError(fs, "-workers must be at least 1")
	case *ttl <= 0:
		return e.usageError(fs, "-ttl must be positive")
	case *interval < 0:
		return e.usageError(fs, "-progress must not be negative")
	case *timeout <= 0:
		return e.usageError(fs, "-timeout must be positive")
	case *transferFlag && *openidsFile == "":
		return e.usageError(fs, "-transfer goes with -openids (the Store's bill numbers tell their rail)")
	}
	n, err := maxAttempts(*attempts, e.getenv)
	if err != nil {
		return e.usageError(fs, "%v", err)
	}
	redisURL := getter(e.getenv).get(envRedisURL)
	switch {
	case *openidsFile == "" && redisURL == "":
		return e.usageError(fs, "set %s to reconcile the grants of the Store, or name the openids with -openids FILE", envRedisURL)
	case *resolve && redisURL == "":
		return e.usageError(fs, "-resolve writes to the Store: set %s", envRedisURL)
	}

	var openids []string
	if *openidsFile != "" {
		if openids, err = readOpenIDs(*openidsFile); err != nil {
			e.errorf("%v", err)
			return exitProblems
		}
	}
	key, keyErr := billnoKey(e.getenv)
	if keyErr != nil && *openidsFile != "" {
		e.errorf("-openids: %v", keyErr)
		return exitProblems
	}
	// The rails configured: the red packet's when HONGBAO_API_KEY is set
	// or no APIv3 variable is, the transfer's when one is.
	m := readMerchant(e.getenv)
	rc := &reconciler{
		transfer: *transferFlag || *openidsFile != "" && !m.v2(),
		prefix:   *prefix,
		mchID:    m.mchID,
		key:      key,
		campaign: campaign(*campaignFlag, e.getenv),
		attempts: n,
		limiter:  rate.NewLimiter(rate.Limit(*perSecond), 1),
		resolve:  *resolve,
		ttl:      *ttl,
		out:      csv.NewWriter(e.stdout),
		visited:  make(map[string]bool),
		counts:   make(map[string]int),
	}
	if m.v2() {
		client, err := newClient(e.getenv, hongbao.RetryPolicy{Attempts: 3})
		if err != nil {
			e.errorf("%v", err)
			return exitProblems
		}
		defer client.Transport().CloseIdleConnections()
		rc.client, rc.mchID = client, client.MchID()
	} else {
		rc.noPackets = "the red-packet rail is not configured: set " + envAPIKey
	}
	if m.v3() {
		r, closeRail, err := transferRail(ctx, e, key, *timeout)
		if err != nil {
			e.errorf("%v", err)
			return exitProblems
		}
		defer closeRail()
		rc.transfers, rc.mchID = r, r.Client().MchID()
	} else {
		rc.noTransfers = "the transfer rail is not configured: set the APIv3 variables (" + envPublicKeyID + " and " + envPublicKeyFile + ", or " + envPlatformCerts + "=true, with " + envAPIv3Key + ")"
		if rc.transfer {
			e.errorf("-transfer: %s", rc.noTransfers)
			return exitProblems
		}
	}
	if redisURL != "" {
		store, err := openStore(ctx, redisURL, *prefix)
		if err != nil {
			e.errorf("%v", err)
			return exitProblems
		}
		defer store.Close()
		rc.store, rc.rdb = store, store.Client()
		if rc.budgets, err = rc.scan(ctx, "budget:"); err != nil {
			e.errorf("reading the campaigns' budgets: %v", err)
			return exitProblems
		}
		if rc.transfers != nil && *resolve {
			if rc.settler, err = settler(rc.transfers, store, rc.budgets); err != nil {
				e.errorf("%v", err)
				return exitProblems
			}
		}
	}
	if keyErr != nil {
		fmt.Fprintf(e.stderr, "hongbao: reconcile: %v; later attempts of grants are not followed\n", keyErr)
	}

	rc.prog = newProgress(e.stderr, *interval)
	rc.write(csvHeader)
	var grants []string
	var orphans func() []string
	if openids != nil {
		grants = openids
	} else {
		rc.prog.setPhase("scanning the Store", 0)
		if grants, err = rc.scan(ctx, "terms:"); err != nil {
			rc.prog.stop()
			e.errorf("reading the grants: %v", err)
			return exitProblems
		}
		results, err := rc.scan(ctx, "result:")
		if err != nil {
			rc.prog.stop()
			e.errorf("reading the results: %v", err)
			return exitProblems
		}
		orphans = func() []string {
			var out []string
			for _, b := range results {
				if !rc.visited[b] {
					out = append(out, b)
				}
			}
			return out
		}
	}

	if openids != nil {
		rc.prog.setPhase("openids", len(grants))
	} else {
		rc.prog.setPhase("grants", len(grants))
	}
	rc.each(ctx, grants, *workers, func(g string) {
		if openids != nil {
			rc.walkOpenID(ctx, g)
		} else {
			rc.walkGrant(ctx, g)
		}
	})
	if orphans != nil && ctx.Err() == nil {
		// Results that no grant's walk reached: attempts of grants whose
		// terms expired, or of another campaign.
		rest := orphans()
		rc.prog.setPhase("other results", len(rest))
		rc.each(ctx, rest, *workers, func(b string) {
			if r, ok := rc.check(ctx, "", -1, b, ""); ok {
				rc.emit(r)
			}
		})
	}
	rc.out.Flush()
	rc.prog.stop()
	return rc.summary(ctx, e)
}

// each runs f on every item with the given number of workers, counting
// progress, until ctx ends.
func (rc *reconciler) each(ctx context.Context, items []string, workers int, f func(string)) {
	jobs := make(chan string)
	var wg sync.WaitGroup
	for range min(workers, max(len(items), 1)) {
		wg.Go(func() {
			for it := range jobs {
				f(it)
				rc.prog.done()
			}
		})
	}
	for _, it := range items {
		if ctx.Err() != nil {
			break
		}
		jobs <- it
	}
	close(jobs)
	wg.Wait()
}

// scan lists the keys of one key space of the Store (terms: or result:),
// without the prefix and space, sorted and without duplicates.
func (rc *reconciler) scan(ctx context.Context, space string) ([]string, error) {
	return scanSpace(ctx, rc.rdb, rc.prefix, space)
}

// scanSpace lists the keys of the Store under prefix in space ("terms:",
// "result:", "budget:"), without prefix and space, sorted and without
// duplicates.
func scanSpace(ctx context.Context, rdb redis.UniversalClient, prefix, space string) ([]string, error) {
	head := prefix + space
	seen := make(map[string]bool)
	err := scanKeys(ctx, rdb, globEscape(head)+"*", func(key string) {
		if k, ok := strings.CutPrefix(key, head); ok && k != "" {
			seen[k] = true
		}
	})
	if err != nil {
		return nil, err
	}
	keys := make([]string, 0, len(seen))
	for k := range seen {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys, nil
}

// openStore connects to the Store at redisURL, its keys under prefix, and
// checks that it answers.
func openStore(ctx context.Context, redisURL, prefix string) (*redisstore.Store, error) {
	st, err := redisstore.NewFromURL(redisURL, redisstore.Options{Prefix: prefix, Timeout: 5 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("%s: %v", envRedisURL, err)
	}
	if err := st.Ping(ctx); err != nil {
		st.Close()
		return nil, fmt.Errorf("%s: Redis at %s does not answer: %v", envRedisURL, redisAddr(redisURL), err)
	}
	return st, nil
}

// scanKeys calls f with each key that matches pattern. A SCAN sees the
// keys of one node: on a Redis Cluster it runs on every master (f is then
// called from several goroutines, one at a time).
func scanKeys(ctx context.Context, c redis.UniversalClient, pattern string, f func(key string)) error {
	scan := func(ctx context.Context, node redis.Cmdable, f func(string)) error {
		iter := node.Scan(ctx, 0, pattern, 1000).Iterator()
		for iter.Next(ctx) {
			f(iter.Val())
		}
		return iter.Err()
	}
	cc, ok := c.(*redis.ClusterClient)
	if !ok {
		return scan(ctx, c, f)
	}
	var mu sync.Mutex
	return cc.ForEachMaster(ctx, func(ctx context.Context, node *redis.Client) error {
		return scan(ctx, node, func(key string) {
			mu.Lock()
			defer mu.Unlock()
			f(key)
		})
	})
}

// globEscape escapes the pattern characters of Redis's MATCH.
func globEscape(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`*?[]\`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// walkGrant reconciles the grant of the Store whose attempt-0 bill number
// is id.
func (rc *reconciler) walkGrant(ctx context.Context, id string) {
	// Terms recorded by this version of the handler name their grant
	// (key and openid), so its later attempts can be followed whatever
	// its campaign; older ones leave it to -campaign.
	t := rc.terms(ctx, id)
	rc.walk(ctx, id, t.OpenID, t.Key)
}

// terms reads the grant's recorded terms (zero when unreadable).
func (rc *reconciler) terms(ctx context.Context, id string) store.Terms {
	var t store.Terms
	b, err := rc.rdb.Get(ctx, rc.prefix+"terms:"+id).Bytes()
	if err == nil {
		_ = json.Unmarshal(b, &t)
	}
	return t
}

// walkOpenID reconciles the grant of the campaign for openid.
func (rc *reconciler) walkOpenID(ctx context.Context, openid string) {
	id, err := rc.derive(rc.transfer, rc.campaign, openid, 0)
	if err != nil {
		r := row{grant: "", attempt: 0, openid: openid, verdict: verdictError, stored: "", platform: ""}
		r.note("%v", err)
		rc.emit(r)
		return
	}
	rc.walk(ctx, id, openid, rc.campaign)
}

// walk reconciles the attempts of the grant id: attempt 0, and each next
// attempt while the one before it is closed, as the handler moves on. A
// later attempt the platform and the Store know nothing of gets no row.
func (rc *reconciler) walk(ctx context.Context, id, openid, grantKey string) {
	billno := id
	for n := 0; n < rc.attempts; n++ {
		r, ok := rc.check(ctx, id, n, billno, openid)
		if !ok {
			return
		}
		if n > 0 && r.stored == storedNone && r.platform == statusNotFound {
			return // a number never used
		}
		if openid == "" {
			openid = r.openid
		}
		next := ""
		if r.closed && n+1 < rc.attempts {
			var why string
			next, why = rc.nextBillno(id, openid, grantKey, n+1)
			if why != "" {
				r.note("attempt %d not followed: %s", n+1, why)
			}
		}
		rc.emit(r)
		if next == "" {
			return
		}
		billno = next
	}
}

// nextBillno derives the bill number of attempt n of the grant id, whose
// key is grantKey (the campaign of -campaign when unknown), or says why it
// cannot.
func (rc *reconciler) nextBillno(id, openid, grantKey string, n int) (string, string) {
	switch {
	case rc.key == nil:
		return "", envBillnoKey + " is not set"
	case openid == "":
		return "", "the openid is unknown"
	}
	if grantKey == "" {
		grantKey = rc.campaign
	}
	transfer := isTransferBillno(id)
	first, err := rc.derive(transfer, grantKey, openid, 0)
	if err != nil {
		return "", err.Error()
	}
	if first != id {
		return "", "not a grant of campaign " + strconv.Quote(grantKey) + " under this " + envBillnoKey
	}
	b, err := rc.derive(transfer, grantKey, openid, n)
	if err != nil {
		return "", err.Error()
	}
	return b, ""
}

// derive returns the bill number of attempt n of the grant (grantKey,
// openid) on the transfer rail or the red packet's.
func (rc *reconciler) derive(transfer bool, grantKey, openid string, n int) (string, error) {
	if transfer {
		return hongbao.DeriveTransferBillno(rc.key, rc.mchID, grantKey, openid, n)
	}
	return hongbao.DeriveAttemptBillno(rc.key, rc.mchID, grantKey, openid, n)
}

// check compares the Store's and the platform's state of billno, and
// with -resolve writes what the platform closed. ok is false when ctx
// ended first.
func (rc *reconciler) check(ctx context.Context, grant string, attempt int, billno, openid string) (row, bool) {
	r := row{billno: billno, grant: grant, attempt: attempt, openid: openid, stored: storedNoStore}
	rc.mu.Lock()
	rc.visited[billno] = true
	rc.mu.Unlock()
	transfer := isTransferBillno(billno)
	var prev store.Result
	if rc.store != nil {
		res, have, err := rc.store.Result(ctx, billno)
		switch {
		case err != nil:
			r.stored = storedUnreadable
			r.note("the Store: %v", err)
		case have:
			prev = res
			r.stored, r.storedAmount = describe(res), res.Amount
			if transfer {
				r.stored = describeTransfer(res)
			}
			r.closed = res.Closed != ""
			if r.openid == "" {
				r.openid = res.OpenID
			}
		default:
			r.stored = storedNone
		}
	}
	if !strings.HasPrefix(billno, rc.mchID) {
		r.verdict = verdictSkipped
		r.note("not a bill number of merchant %s", rc.mchID)
		return r, true
	}
	if transfer {
		return rc.checkTransfer(ctx, r, prev)
	}
	if rc.client == nil {
		r.platform, r.verdict = "error", verdictError
		r.note("a red packet's number: %s", rc.noPackets)
		return r, true
	}
	if err := rc.limiter.Wait(ctx); err != nil {
		return r, false
	}
	info, err := rc.client.QueryHB(ctx, billno)
	switch {
	case err == nil:
		r.platform, r.platformAmount, r.sendTime = string(info.Status), info.Amount, info.SendTime
		if info.Reason != "" {
			r.note("platform: %s", info.Reason)
		}
		if info.Status == hongbao.StatusFailed || info.Status == hongbao.StatusRefunded {
			r.closed = true
		}
		if r.openid == "" && len(info.Received) > 0 {
			r.openid = info.Received[0].OpenID
		}
	case errors.Is(err, hongbao.ErrNotFound):
		r.platform = statusNotFound
	default:
		if ctx.Err() != nil {
			return r, false
		}
		r.platform = "error"
		r.note("gethbinfo: %v", err)
	}
	r.verdict = judge(r.stored, prev, r.platform)
	if r.verdict == verdictClosed && rc.resolve {
		rc.resolveClosed(ctx, &r, info)
	}
	return r, true
}

// describe is the stored column of a result.
func describe(res store.Result) string {
	switch {
	case res.Closed != "":
		return "closed:" + closedWord(res.Closed)
	case res.Paid():
		return storedPaid
	case res.Refused != "":
		return "refused:" + res.Refused
	}
	return storedPending
}

// closedWord is the gethbinfo status of a stored closing state, as the
// stored column shows it: closed:FAILED, closed:REFUND.
func closedWord(s rail.State) string {
	switch s {
	case rail.Closed:
		return string(hongbao.StatusFailed)
	case rail.Returned:
		return string(hongbao.StatusRefunded)
	}
	return string(s)
}

// closedState is the rail state the handler stores for a gethbinfo status
// that closes a number (FAILED, REFUND).
func closedState(s hongbao.Status) rail.State {
	if s == hongbao.StatusRefunded {
		return rail.Returned
	}
	return rail.Closed
}

// judge is the verdict of a bill number from what the Store holds (stored,
// prev) and what the platform says.
func judge(stored string, prev store.Result, platform string) string {
	switch {
	case platform == "error" || stored == storedUnreadable:
		return verdictError
	case stored == storedNoStore:
		// Only the platform's side: what it means for the grant.
		switch hongbao.Status(platform) {
		case hongbao.StatusFailed, hongbao.StatusRefunded:
			return verdictClosed
		case hongbao.StatusSending:
			return verdictSending
		case hongbao.StatusSent, hongbao.StatusReceived, hongbao.StatusRefunding:
			return verdictPaid
		}
		return verdictNotSent
	}
	paid, closed := prev.Paid(), prev.Closed
	switch st := hongbao.Status(platform); {
	case platform == statusNotFound:
		if paid || closed != "" {
			return verdictMismatch
		}
		return verdictNotSent
	case st == hongbao.StatusFailed:
		switch {
		case closed == rail.Closed:
			return verdictOK
		case paid || closed != "":
			return verdictMismatch
		}
		return verdictClosed
	case st == hongbao.StatusRefunded:
		switch {
		case closed == rail.Returned || paid:
			return verdictOK
		case closed != "":
			return verdictMismatch
		}
		return verdictClosed
	case closed != "":
		// The Store says closed; the platform holds a live packet.
		return verdictMismatch
	case paid:
		return verdictOK
	case st == hongbao.StatusSending:
		return verdictSending
	}
	return verdictPaidUnrecorded
}

// resolveClosed writes the closed state the platform reported for r's
// bill number, as the handler would have on learning it: under the
// number's lock, only when the Store still does not know it closed or
// paid, with the time to live of the grant's keys.
func (rc *reconciler) resolveClosed(ctx context.Context, r *row, info *hongbao.HBInfo) {
	release, ok, err := rc.store.TryLock(ctx, r.billno, lockTTL)
	switch {
	case err != nil:
		r.verdict = verdictError
		r.note("-resolve: taking the lock: %v", err)
		return
	case !ok:
		r.verdict = verdictBusy
		r.note("-resolve: a send of this number is in progress; run reconcile again later")
		return
	}
	defer release()
	cur, have, err := rc.store.Result(ctx, r.billno)
	if err != nil {
		r.verdict = verdictError
		r.note("-resolve: reading the Store again: %v", err)
		return
	}
	if have && (cur.Paid() || cur.Closed != "") {
		r.stored = describe(cur)
		r.verdict = judge(r.stored, cur, r.platform)
		r.note("-resolve: the Store was updated meanwhile; nothing written")
		return
	}
	res := store.Result{
		Billno: r.billno,
		OpenID: cur.OpenID,
		Rail:   rc.client.Rail().Name(),
		Amount: info.Amount,
		Closed: closedState(info.Status),
		At:     time.Now(),
	}
	if res.OpenID == "" {
		res.OpenID = r.openid
	}
	if res.Amount == 0 {
		res.Amount = cur.Amount
	}
	if err := rc.store.SaveResult(ctx, r.billno, res, rc.ttlFor(ctx, r)); err != nil {
		r.verdict = verdictError
		r.note("-resolve: writing: %v", err)
		return
	}
	r.verdict = verdictResolved
	r.note("-resolve: wrote closed:%s", info.Status)
	rc.releaseBudget(ctx, r)
}

// releaseBudget gives the amount of a number written closed back to the
// budget of its campaign, as the handler does when it learns a number
// closed: the budget step is idempotent, and a number the account does not
// hold is left alone.
func (rc *reconciler) releaseBudget(ctx context.Context, r *row) {
	for _, campaign := range rc.budgets {
		held, err := rc.rdb.HExists(ctx, rc.prefix+"budget:"+campaign, "b:"+r.billno).Result()
		if err == nil && held {
			_, _, err = rc.store.Budget(ctx, campaign, store.BudgetOp{Step: store.BudgetRelease, Billno: r.billno})
			if err == nil {
				r.note("-resolve: released from the budget of %s", campaign)
				continue
			}
		}
		if err != nil {
			r.verdict = verdictError
			r.note("-resolve: the budget of %s: %v", campaign, err)
		}
	}
}

// ttlFor is the time to live of a result written for r: what is left of
// the number's result, else of the grant's terms, else -ttl.
func (rc *reconciler) ttlFor(ctx context.Context, r *row) time.Duration {
	keys := []string{rc.prefix + "result:" + r.billno}
	if r.grant != "" {
		keys = append(keys, rc.prefix+"terms:"+r.grant)
	}
	for _, k := range keys {
		if d, err := rc.rdb.PTTL(ctx, k).Result(); err == nil && d > 0 {
			return d
		}
	}
	return rc.ttl
}

// emit writes a row and counts its verdict.
func (rc *reconciler) emit(r row) {
	rc.mu.Lock()
	rc.counts[r.verdict]++
	rc.mu.Unlock()
	rc.prog.row(attention(r.verdict))
	rc.write(r.record())
}

func (rc *reconciler) write(rec []string) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if rc.outErr != nil {
		return
	}
	if err := rc.out.Write(rec); err != nil {
		rc.outErr = err
		return
	}
	rc.out.Flush()
	rc.outErr = rc.out.Error()
}

// attention reports whether a verdict asks the operator to look.
func attention(verdict string) bool {
	switch verdict {
	case verdictOK, verdictPaid, verdictNotSent, verdictResolved, verdictSkipped, verdictWaiting:
		return false
	}
	return true
}

// summary writes the counts of verdicts on stderr and returns the exit
// code: 1 when a query, a read or a write failed, or the run was cut
// short.
// listBudgets writes each campaign's budget account, as the Store holds it
// after the run (the caps are the handler's configuration, not stored).
func (rc *reconciler) listBudgets(ctx context.Context, e *env) {
	for _, campaign := range rc.budgets {
		st, _, err := rc.store.Budget(ctx, campaign, store.BudgetOp{Step: store.BudgetRead})
		if err != nil {
			e.errorf("the budget of %s: %v", campaign, err)
			continue
		}
		fmt.Fprintf(e.stderr, "hongbao: reconcile: budget %s: reserved %d fen in %d %s, committed %d fen in %d %s\n",
			campaign, st.ReservedFen, st.ReservedPackets, plural(int(st.ReservedPackets), "packet", "packets"),
			st.CommittedFen, st.CommittedPackets, plural(int(st.CommittedPackets), "packet", "packets"))
	}
}

func (rc *reconciler) summary(ctx context.Context, e *env) int {
	var parts []string
	total := 0
	for _, v := range []string{verdictOK, verdictPaid, verdictNotSent, verdictPaidUnrecorded, verdictSending, verdictWaiting, verdictPending,
		verdictConfirmed, verdictClosed, verdictResolved, verdictBusy, verdictMismatch, verdictError, verdictSkipped} {
		if n := rc.counts[v]; n > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", v, n))
			total += n
		}
	}
	if len(parts) == 0 {
		parts = append(parts, "nothing to reconcile")
	}
	fmt.Fprintf(e.stderr, "hongbao: reconcile: %d bill %s: %s\n", total, plural(total, "number", "numbers"), strings.Join(parts, ", "))
	rc.listBudgets(ctx, e)
	if n := rc.counts[verdictClosed] + rc.counts[verdictConfirmed]; n > 0 && rc.store != nil && !rc.resolve {
		what := "closed"
		switch {
		case rc.counts[verdictClosed] == 0:
			what = "confirmed"
		case rc.counts[verdictConfirmed] > 0:
			what = "closed and confirmed"
		}
		fmt.Fprintf(e.stderr, "hongbao: reconcile: run with -resolve to write the %d %s %s to the Store\n", n, what, plural(n, "number", "numbers"))
	}
	if n := rc.counts[verdictWaiting]; n > 0 {
		fmt.Fprintf(e.stderr, "hongbao: reconcile: %d transfer %s the users' confirmation; at the campaign's end, hongbao cancel closes them\n",
			n, plural(n, "bill waits for", "bills wait for"))
	}
	switch {
	case rc.outErr != nil:
		e.errorf("writing the CSV: %v", rc.outErr)
	case ctx.Err() != nil:
		e.errorf("reconcile interrupted: the CSV is incomplete")
	case rc.counts[verdictError] > 0:
		e.errorf("%d bill %s could not be reconciled: see the rows with verdict error", rc.counts[verdictError], plural(rc.counts[verdictError], "number", "numbers"))
	default:
		return exitOK
	}
	return exitProblems
}

// readOpenIDs reads the openids of a file: one a line, the first field of
// a CSV or whitespace-separated line; blank lines, # comments and a header
// "openid" are skipped, and repeats are read once.
func readOpenIDs(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("-openids: %v", err)
	}
	defer f.Close()
	var out []string
	seen := make(map[string]bool)
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.FieldsFunc(line, func(r rune) bool { return r == ',' || r == ';' || r == '\t' || r == ' ' })
		if len(fields) == 0 {
			continue
		}
		id := strings.Trim(fields[0], `"`)
		if strings.EqualFold(id, "openid") && len(out) == 0 {
			continue
		}
		if _, err := hongbao.DeriveBillno([]byte("openid format check"), "1", "check", id); err != nil {
			return nil, fmt.Errorf("%s:%d: %q is not an openid: %v", path, n, id, err)
		}
		if !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("-openids: %v", err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("-openids: %s lists no openid", path)
	}
	return out, nil
}
