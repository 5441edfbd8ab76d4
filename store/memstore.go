package store

import (
	"context"
	"errors"
	"math"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/patrickmn/go-cache"

	"github.com/hongbao-go/hongbao/rail"
)

// memoryCleanupInterval is how often expired terms and results are
// dropped from memory.
const memoryCleanupInterval = time.Minute

// lockSweepEvery is how many TryLock calls pass between two sweeps of
// expired locks.
const lockSweepEvery = 1024

// MemoryStore is a Store in the memory of one process: terms and results
// live in a github.com/patrickmn/go-cache cache with per-entry expiry,
// locks and rate-limit counters in maps with their own deadlines. It is safe for
// concurrent use, but shares nothing with other processes: with several
// replicas, use a shared Store so that a tap reaching another replica finds
// the result (the deterministic bill number still prevents a second payout
// without one; see the package documentation).
//
// Memory: a saved Result of a paid red packet costs 430-470 bytes of heap
// (measured with 1,000 to 20,000 results of real sends, the map included;
// the package string, about 190 bytes, is the largest field), kept for the
// ttl of SaveResult (claim.HandlerConfig.ResultTTL, 30 days by default): one
// million red packets a month take about 0.45 GB. It holds copies of its
// own fields, never the platform's whole reply.
// A rate-limit counter costs about 150 bytes for one window.
//
// Expiry follows the real clock (time.Now).
type MemoryStore struct {
	rails     names // of Result.Rail
	campaigns names // of Result.Campaign

	budgetMu sync.Mutex
	budgets  map[string]*memBudget

	termsMu sync.Mutex // makes AddTerms atomic
	terms   *cache.Cache
	results *cache.Cache

	countersMu sync.Mutex
	counters   map[string]*memCounter
	countCalls int

	mu     sync.Mutex
	locks  map[string]memLock
	nextID uint64
	calls  int
}

type memLock struct {
	id      uint64
	expires time.Time
}

var _ Store = (*MemoryStore)(nil)

// NewMemoryStore returns an empty MemoryStore.
func NewMemoryStore() *MemoryStore {
	return &MemoryStore{
		terms:    cache.New(cache.NoExpiration, memoryCleanupInterval),
		results:  cache.New(cache.NoExpiration, memoryCleanupInterval),
		counters: make(map[string]*memCounter),
		locks:    make(map[string]memLock),
	}
}

var (
	errTTL    = errors.New("store: store ttl must be positive")
	errLimit  = errors.New("store: store rate limit and window must be positive")
	errNilKey = errors.New("store: store key is empty")
)

// AddTerms implements Store.
func (m *MemoryStore) AddTerms(ctx context.Context, key string, t Terms, ttl time.Duration) (Terms, bool, error) {
	if err := checkKeyTTL(ctx, key, ttl); err != nil {
		return Terms{}, false, err
	}
	m.termsMu.Lock()
	defer m.termsMu.Unlock()
	if v, ok := m.terms.Get(key); ok {
		if old, ok := v.(Terms); ok {
			return old, false, nil
		}
	}
	m.terms.Set(key, t, ttl)
	return t, true, nil
}

// SaveTerms implements Store.
func (m *MemoryStore) SaveTerms(ctx context.Context, key string, t Terms, ttl time.Duration) error {
	if err := checkKeyTTL(ctx, key, ttl); err != nil {
		return err
	}
	m.termsMu.Lock()
	defer m.termsMu.Unlock()
	m.terms.Set(key, t, ttl)
	return nil
}

func checkKeyTTL(ctx context.Context, key string, ttl time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if key == "" {
		return errNilKey
	}
	if ttl <= 0 {
		return errTTL
	}
	return nil
}

// memBudget is a campaign's account.
type memBudget struct {
	entries map[string]budgetEntry // by bill number
	st      BudgetState            // the sums
}

type budgetEntry struct {
	amount    int64
	committed bool
}

// Budget implements Store. Accounts live as long as the process: a new
// process (a restart) starts with none open.
func (m *MemoryStore) Budget(ctx context.Context, campaign string, op BudgetOp) (BudgetState, bool, error) {
	if err := ctx.Err(); err != nil {
		return BudgetState{}, false, err
	}
	if campaign == "" || op.Step != BudgetRead && op.Step != BudgetOpen && op.Billno == "" {
		return BudgetState{}, false, errNilKey
	}
	m.budgetMu.Lock()
	defer m.budgetMu.Unlock()
	if m.budgets == nil {
		m.budgets = make(map[string]*memBudget)
	}
	b := m.budgets[campaign]
	if b == nil {
		b = &memBudget{entries: make(map[string]budgetEntry)}
	}
	ok := b.apply(op)
	if b.st.Open || len(b.entries) > 0 {
		m.budgets[campaign] = b // a missing account stays missing
	}
	st := b.st
	st.Budget = op.Limit
	return st, ok, nil
}

// apply carries out op on the account (see BudgetStep and BudgetOp).
func (b *memBudget) apply(op BudgetOp) bool {
	e, has := b.entries[op.Billno]
	add := func(e budgetEntry, sign int64) {
		if e.committed {
			b.st.CommittedFen += sign * e.amount
			b.st.CommittedPackets += sign
		} else {
			b.st.ReservedFen += sign * e.amount
			b.st.ReservedPackets += sign
		}
	}
	switch op.Step {
	case BudgetOpen:
		if !op.At.IsZero() && (!b.st.Open || !b.st.OpenedAt.IsZero() && op.At.Before(b.st.OpenedAt)) {
			b.st.OpenedAt = op.At
		}
		b.st.Open = true
	case BudgetReserve:
		if has {
			if !e.committed && e.amount != op.Amount {
				add(e, -1)
				e.amount = op.Amount
				add(e, 1)
				b.entries[op.Billno] = e
			}
			return true
		}
		if !b.st.Open || b.st.Younger(op.At) {
			return false
		}
		if op.Limit.Fen > 0 && b.st.ReservedFen+b.st.CommittedFen+op.Amount > op.Limit.Fen ||
			op.Limit.Packets > 0 && b.st.ReservedPackets+b.st.CommittedPackets+1 > op.Limit.Packets {
			return false
		}
		e = budgetEntry{amount: op.Amount}
		b.entries[op.Billno] = e
		add(e, 1)
	case BudgetRestore:
		if has && (e.committed || e.amount == op.Amount) {
			return true
		}
		if has {
			add(e, -1)
		}
		e = budgetEntry{amount: op.Amount}
		b.entries[op.Billno] = e
		add(e, 1)
	case BudgetCommit:
		if has {
			if e.committed && (op.Amount <= 0 || e.amount == op.Amount) {
				return true
			}
			add(e, -1)
		}
		if op.Amount > 0 {
			e.amount = op.Amount // what the platform paid
		}
		e.committed = true
		b.entries[op.Billno] = e
		add(e, 1)
	case BudgetRelease:
		if has {
			add(e, -1)
			delete(b.entries, op.Billno)
		}
	}
	return true
}

// Result implements Store.
func (m *MemoryStore) Result(ctx context.Context, billno string) (Result, bool, error) {
	if err := ctx.Err(); err != nil {
		return Result{}, false, err
	}
	v, ok := m.results.Get(billno)
	if !ok {
		return Result{}, false, nil
	}
	switch r := v.(type) {
	case *packedResult:
		return r.unpack(m.rails.all(), m.campaigns.all()), true, nil
	case Result:
		return r, true, nil
	}
	return Result{}, false, nil
}

// SaveResult implements Store. The result is kept packed (see
// packedResult): its times come back without their monotonic clock
// reading, as from a Store that serialises them.
func (m *MemoryStore) SaveResult(ctx context.Context, billno string, r Result, ttl time.Duration) error {
	if err := checkKeyTTL(ctx, billno, ttl); err != nil {
		return err
	}
	p, ok := pack(r, &m.rails, &m.campaigns)
	if !ok {
		m.results.Set(billno, r, ttl)
		return nil
	}
	if r.Billno == billno {
		billno = p.s[:len(billno)] // the key shares the packed strings
	}
	m.results.Set(billno, p, ttl)
	return nil
}

// packedResult is a Result as MemoryStore keeps it: its strings in one
// allocation, its times as seconds and nanoseconds in one location. It
// takes about 100 bytes less than a Result and its separate strings.
type packedResult struct {
	// s holds Billno, OpenID, Package, SendListID, Closed, Refusal and
	// Refused, back to back; lens are the lengths of the first six.
	s      string
	amount int64
	sec    [4]int64       // PaidAt, At, CheckedAt, LostAt
	loc    *time.Location // of every time that is not zero
	nsec   [4]int32
	lens   [6]uint16
	zero   uint8 // bit i: time i is the zero time
	exact  bool
	// rail is Result.Rail's index in MemoryStore.rails plus one (0: no
	// rail): every result of a handler names the same rail, kept once.
	// campaign is Result.Campaign's the same way.
	rail, campaign uint8
}

// names interns the few names that results repeat (the rails, the
// campaigns): a packed result keeps a one-byte index into it.
type names struct {
	mu   sync.Mutex
	list atomic.Pointer[[]string] // written under mu
}

// index returns the index plus one of name, adding it; 0 for the empty
// name, and ok=false when 255 names are known already.
func (t *names) index(name string) (idx uint8, ok bool) {
	if name == "" {
		return 0, true
	}
	for i, n := range t.all() {
		if n == name {
			return uint8(i + 1), true
		}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	known := t.all()
	for i, n := range known {
		if n == name {
			return uint8(i + 1), true
		}
	}
	if len(known) >= math.MaxUint8 {
		return 0, false
	}
	grown := append(slices.Clip(known), strings.Clone(name))
	t.list.Store(&grown)
	return uint8(len(grown)), true
}

// all returns the names known, in the order of their indexes.
func (t *names) all() []string {
	if p := t.list.Load(); p != nil {
		return *p
	}
	return nil
}

// name returns the name of index idx (0: none).
func name(list []string, idx uint8) string {
	if idx > 0 && int(idx) <= len(list) {
		return list[idx-1]
	}
	return ""
}

// pack packs r; ok is false when a string is too long to pack or the
// times are in different locations.
func pack(r Result, rails, campaigns *names) (*packedResult, bool) {
	railIdx, railOK := rails.index(r.Rail)
	campaignIdx, campaignOK := campaigns.index(r.Campaign)
	if !railOK || !campaignOK {
		return nil, false
	}
	parts := [...]string{r.Billno, r.OpenID, r.Package, r.SendListID, string(r.Closed), string(r.Refusal), r.Refused}
	p := &packedResult{amount: r.Amount, exact: r.Exact, rail: railIdx, campaign: campaignIdx}
	n := 0
	for i, s := range parts {
		if i < len(p.lens) {
			if len(s) > math.MaxUint16 {
				return nil, false
			}
			p.lens[i] = uint16(len(s))
		}
		n += len(s)
	}
	var b strings.Builder
	b.Grow(n)
	for _, s := range parts {
		b.WriteString(s)
	}
	p.s = b.String()
	for i, t := range [...]time.Time{r.PaidAt, r.At, r.CheckedAt, r.LostAt} {
		if t.IsZero() {
			p.zero |= 1 << i
			continue
		}
		if p.loc == nil {
			p.loc = t.Location()
		} else if t.Location() != p.loc {
			return nil, false
		}
		p.sec[i], p.nsec[i] = t.Unix(), int32(t.Nanosecond())
	}
	return p, true
}

// unpack returns the Result; its strings share p's memory.
func (p *packedResult) unpack(rails, campaigns []string) Result {
	var parts [7]string
	rest := p.s
	for i, n := range p.lens {
		parts[i], rest = rest[:n], rest[n:]
	}
	parts[6] = rest
	var times [4]time.Time
	for i := range times {
		if p.zero&(1<<i) == 0 {
			times[i] = time.Unix(p.sec[i], int64(p.nsec[i])).In(p.loc)
		}
	}
	return Result{
		Rail:       name(rails, p.rail),
		Campaign:   name(campaigns, p.campaign),
		Billno:     parts[0],
		OpenID:     parts[1],
		Package:    parts[2],
		SendListID: parts[3],
		Closed:     rail.State(parts[4]),
		Refusal:    rail.State(parts[5]),
		Refused:    parts[6],
		Amount:     p.amount,
		PaidAt:     times[0],
		Exact:      p.exact,
		At:         times[1],
		CheckedAt:  times[2],
		LostAt:     times[3],
	}
}

// TryLock implements Store. The lock is held in this process only.
func (m *MemoryStore) TryLock(ctx context.Context, key string, ttl time.Duration) (func(), bool, error) {
	if err := ctx.Err(); err != nil {
		return nil, false, err
	}
	if key == "" {
		return nil, false, errNilKey
	}
	if ttl <= 0 {
		return nil, false, errTTL
	}
	now := time.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.calls++; m.calls >= lockSweepEvery {
		m.calls = 0
		for k, l := range m.locks {
			if !now.Before(l.expires) {
				delete(m.locks, k)
			}
		}
	}
	if l, held := m.locks[key]; held && now.Before(l.expires) {
		return nil, false, nil
	}
	m.nextID++
	id := m.nextID
	m.locks[key] = memLock{id: id, expires: now.Add(ttl)}
	var released atomic.Bool
	release := func() {
		if released.Swap(true) {
			return
		}
		m.mu.Lock()
		if l, held := m.locks[key]; held && l.id == id {
			delete(m.locks, key)
		}
		m.mu.Unlock()
	}
	return release, true, nil
}

// memCounter is the events of one key in its current window.
type memCounter struct {
	n       int64
	expires int64 // unix nanoseconds: the end of the window
}

// Allow implements Store with a fixed window per key. Counters of ended
// windows are dropped every lockSweepEvery calls.
func (m *MemoryStore) Allow(ctx context.Context, key string, limit int, window time.Duration) (bool, time.Duration, error) {
	if err := ctx.Err(); err != nil {
		return false, 0, err
	}
	if key == "" {
		return false, 0, errNilKey
	}
	if limit <= 0 || window <= 0 {
		return false, 0, errLimit
	}
	now := time.Now().UnixNano()
	m.countersMu.Lock()
	defer m.countersMu.Unlock()
	if m.countCalls++; m.countCalls >= lockSweepEvery {
		m.countCalls = 0
		for k, c := range m.counters {
			if now >= c.expires {
				delete(m.counters, k)
			}
		}
	}
	c := m.counters[key]
	if c == nil || now >= c.expires {
		// The first event of a window starts it.
		if c == nil {
			c = &memCounter{}
			m.counters[strings.Clone(key)] = c
		}
		c.n, c.expires = 1, now+int64(window)
		return true, 0, nil
	}
	c.n++
	if c.n <= int64(limit) {
		return true, 0, nil
	}
	return false, max(time.Duration(c.expires-now), time.Millisecond), nil
}
