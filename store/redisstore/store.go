package redisstore

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/hongbao-go/hongbao/rail"
	"github.com/hongbao-go/hongbao/store"
)

// DefaultPrefix is the key prefix when Options.Prefix is empty.
const DefaultPrefix = "hongbao:"

// Key spaces under the prefix.
const (
	termsSpace  = "terms:"
	resultSpace = "result:"
	lockSpace   = "lock:"
	rateSpace   = "rate:"
)

// DefaultTimeout is the bound of one call when Options.Timeout is zero.
const DefaultTimeout = time.Second

// Options configures a Store.
type Options struct {
	// Prefix starts every key the Store writes, so that several
	// applications (or several environments) can share one Redis
	// database: keys are Prefix+"terms:"+grant, Prefix+"result:"+billno,
	// Prefix+"lock:"+key and Prefix+"rate:"+key. It is used as given (end it with a separator
	// such as ":"). Default DefaultPrefix, "hongbao:".
	Prefix string
	// Timeout bounds each call of the Store (a context deadline on top of
	// the caller's), so that an unreachable Redis turns quickly into an
	// error and the handler degrades instead of holding the tap. Every
	// call is one command or one short script. Default DefaultTimeout (1
	// second); negative is an error. See New for the client settings it
	// depends on.
	Timeout time.Duration
}

// Store is a store.Store on Redis. It is safe for concurrent use, and
// any number of Stores (in one process or in many) with the same Prefix on
// the same Redis share their results, locks and rate-limit counters.
type Store struct {
	client  redis.UniversalClient
	prefix  string
	timeout time.Duration
	owned   bool // the client was created by NewFromURL: Close closes it
}

var _ store.Store = (*Store)(nil)

// Lua scripts. Each touches one key, so they also run on Redis Cluster.
var (
	// releaseScript deletes the lock only while it still holds the
	// releasing holder's token: a lock that expired and was taken by
	// someone else is left alone.
	releaseScript = redis.NewScript(`
if redis.call("GET", KEYS[1]) == ARGV[1] then
	return redis.call("DEL", KEYS[1])
end
return 0
`)

	// addTermsScript sets the key to ARGV[1] with a PX of ARGV[2] unless
	// it exists, and returns {value, 1} when it set it, {existing, 0}
	// otherwise: the first terms recorded win, atomically.
	addTermsScript = redis.NewScript(`
local v = redis.call("GET", KEYS[1])
if v then
	return {v, 0}
end
redis.call("SET", KEYS[1], ARGV[1], "PX", ARGV[2])
return {ARGV[1], 1}
`)

	// allowScript counts one event and starts the window on the first
	// one; it returns the count and the milliseconds left in the window.
	// A counter found without an expiry (written by something else) gets
	// one, so that it can never block a key forever.
	allowScript = redis.NewScript(`
local n = redis.call("INCR", KEYS[1])
if n == 1 then
	redis.call("PEXPIRE", KEYS[1], ARGV[1])
end
local ttl = redis.call("PTTL", KEYS[1])
if ttl < 0 then
	redis.call("PEXPIRE", KEYS[1], ARGV[1])
	ttl = tonumber(ARGV[1])
end
return {n, ttl}
`)
)

var (
	errNilClient = errors.New("redisstore: the Redis client is nil")
	errEmptyKey  = errors.New("redisstore: empty key")
	errTTL       = errors.New("redisstore: ttl must be positive")
	errLimit     = errors.New("redisstore: rate limit and window must be positive")
	errTimeout   = errors.New("redisstore: Options.Timeout must not be negative")
)

// New returns a Store on client, which may be a *redis.Client, a
// *redis.ClusterClient, a failover client or a *redis.Ring. The client
// stays the caller's: Close does not close it. A Prefix with a '{' is
// refused: on Redis Cluster a {hash tag} would put every key on one node
// (see the package documentation).
//
// Options.Timeout bounds dialling and retries of any client, but reads and
// writes on an open connection only when the client has
// ContextTimeoutEnabled; otherwise its ReadTimeout and WriteTimeout (3
// seconds by default) apply. Set ContextTimeoutEnabled, or short timeouts,
// so that a Redis that stops answering is noticed quickly.
func New(client redis.UniversalClient, opts Options) (*Store, error) {
	if client == nil {
		return nil, errNilClient
	}
	if opts.Timeout < 0 {
		return nil, errTimeout
	}
	prefix := opts.Prefix
	if prefix == "" {
		prefix = DefaultPrefix
	}
	if err := checkPrefix(prefix); err != nil {
		return nil, err
	}
	timeout := opts.Timeout
	if timeout == 0 {
		timeout = DefaultTimeout
	}
	return &Store{client: client, prefix: prefix, timeout: timeout}, nil
}

// NewFromURL returns a Store on a new client for rawURL, in one of the
// forms go-redis parses:
//
//   - one server: redis://[user:password@]host:port/db, or rediss://... for
//     TLS (redis.ParseURL);
//   - a Redis Cluster, from its seed nodes:
//     redis://[user:password@]host:port?addr=host2:port2&addr=host3:port3
//     (redis.ParseClusterURL);
//   - Sentinel, from the Sentinels and the name of the master they watch:
//     redis://[user:password@]host:port/db?master_name=name&addr=host2:port2
//     (redis.ParseFailoverURL).
//
// The query tells them apart: master_name makes it Sentinel, addr without
// master_name a cluster (with a single seed node, repeat it:
// ?addr=host:port). A cluster has only database 0. In the Sentinel form
// the user information is the Sentinels' credentials; the master's go in
// the query (&username=...&password=...). Client options such as
// dial_timeout=1s&max_retries=1 go in the query of every form. The client
// honours context deadlines (ContextTimeoutEnabled); Close closes it. No
// connection is made here: call Ping at start-up, which also refuses a
// single-server URL that points at a node of a cluster.
//
// Errors never repeat the URL, which may hold a password.
func NewFromURL(rawURL string, opts Options) (*Store, error) {
	if opts.Timeout < 0 {
		return nil, errTimeout
	}
	client, err := newURLClient(rawURL)
	if err != nil {
		return nil, err
	}
	s, err := New(client, opts)
	if err != nil {
		client.Close()
		return nil, err
	}
	s.owned = true
	return s, nil
}

// bound applies the Store's timeout to ctx.
func (s *Store) bound(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, s.timeout)
}

// Prefix returns the key prefix in use.
func (s *Store) Prefix() string { return s.prefix }

// Client returns the Redis client.
func (s *Store) Client() redis.UniversalClient { return s.client }

// Ping checks that Redis answers and that the client fits it; call it at
// start-up. A cluster client pings every master. A single-server (or
// Sentinel) client also asks INFO cluster: a node of a Redis Cluster
// reached as one server is an error that says to use the cluster form,
// rather than a MOVED answer for most keys under traffic.
func (s *Store) Ping(ctx context.Context) error {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	return ping(ctx, s.client)
}

// Close closes the client when NewFromURL created it; a client given to
// New is left open for its owner to close.
func (s *Store) Close() error {
	if !s.owned {
		return nil
	}
	if err := s.client.Close(); err != nil {
		return wrap("close", err)
	}
	return nil
}

func (s *Store) termsKey(key string) string     { return s.prefix + termsSpace + key }
func (s *Store) resultKey(billno string) string { return s.prefix + resultSpace + billno }
func (s *Store) lockKey(key string) string      { return s.prefix + lockSpace + key }
func (s *Store) rateKey(key string) string      { return s.prefix + rateSpace + key }

// AddTerms implements store.Store with one script on one key: GET,
// and SET key json PX ttl when there was nothing.
func (s *Store) AddTerms(ctx context.Context, key string, t store.Terms, ttl time.Duration) (store.Terms, bool, error) {
	if key == "" {
		return store.Terms{}, false, errEmptyKey
	}
	if ttl <= 0 {
		return store.Terms{}, false, errTTL
	}
	b, err := json.Marshal(t)
	if err != nil {
		return store.Terms{}, false, fmt.Errorf("redisstore: encoding terms: %w", err)
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	v, err := addTermsScript.Run(ctx, s.client, []string{s.termsKey(key)}, b, atLeastMs(ttl).Milliseconds()).Slice()
	if err != nil {
		return store.Terms{}, false, wrap("add terms", err)
	}
	if len(v) != 2 {
		return store.Terms{}, false, fmt.Errorf("redisstore: add terms: unexpected script reply of %d values", len(v))
	}
	raw, _ := v[0].(string)
	added, _ := v[1].(int64)
	var got store.Terms
	if err := json.Unmarshal([]byte(raw), &got); err != nil || got.Amount <= 0 {
		return store.Terms{}, false, errors.New("redisstore: stored terms are not the JSON of terms")
	}
	return got, added == 1, nil
}

// SaveTerms implements store.Store with SET key json PX ttl.
func (s *Store) SaveTerms(ctx context.Context, key string, t store.Terms, ttl time.Duration) error {
	if key == "" {
		return errEmptyKey
	}
	if ttl <= 0 {
		return errTTL
	}
	b, err := json.Marshal(t)
	if err != nil {
		return fmt.Errorf("redisstore: encoding terms: %w", err)
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	if err := s.client.Set(ctx, s.termsKey(key), b, atLeastMs(ttl)).Err(); err != nil {
		return wrap("set terms", err)
	}
	return nil
}

// Result implements store.Store with GET. A missing key is ok=false
// with a nil error; a value that is not the JSON of a Result for billno
// (including "null", "{}" or another bill number's result) is an error.
func (s *Store) Result(ctx context.Context, billno string) (store.Result, bool, error) {
	if billno == "" {
		return store.Result{}, false, errEmptyKey
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	b, err := s.client.Get(ctx, s.resultKey(billno)).Bytes()
	if errors.Is(err, redis.Nil) {
		return store.Result{}, false, nil
	}
	if err != nil {
		return store.Result{}, false, wrap("get result", err)
	}
	var r store.Result
	if err := json.Unmarshal(b, &r); err != nil {
		return store.Result{}, false, fmt.Errorf("redisstore: stored result is not valid JSON: %w", err)
	}
	if r.Billno != billno {
		return store.Result{}, false, errors.New("redisstore: stored result is not a result for this bill number")
	}
	r.Closed = legacyClosed(r.Closed)
	return r, true, nil
}

// legacyClosed reads the closing state of a result saved before rails,
// which held the red packet's gethbinfo status: FAILED is rail.Closed,
// REFUND rail.Returned. Any other state is returned as it is.
func legacyClosed(s rail.State) rail.State {
	switch s {
	case "FAILED":
		return rail.Closed
	case "REFUND":
		return rail.Returned
	}
	return s
}

// SaveResult implements store.Store with SET key json EX ttl (PX when
// ttl is not a whole number of seconds).
func (s *Store) SaveResult(ctx context.Context, billno string, r store.Result, ttl time.Duration) error {
	if billno == "" {
		return errEmptyKey
	}
	if ttl <= 0 {
		return errTTL
	}
	b, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("redisstore: encoding result: %w", err)
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	if err := s.client.Set(ctx, s.resultKey(billno), b, atLeastMs(ttl)).Err(); err != nil {
		return wrap("set result", err)
	}
	return nil
}

// TryLock implements store.Store with SET key token NX PX ttl, where
// token is rand.Text (at least 128 random bits). release runs a
// compare-and-delete script: it deletes the key only while it still holds
// this token. release is safe to call more than once and after ttl; it has
// no context of its own (it is bounded by Options.Timeout) and no error: a
// failed release is harmless, the lock expires after ttl.
//
// When SET fails (a timeout, a dropped connection), Redis may still have
// applied it: TryLock then releases the token itself in the background,
// once at once and once more after Options.Timeout (for a SET that reaches
// Redis late), so that no lock outlives a call that reported failure.
func (s *Store) TryLock(ctx context.Context, key string, ttl time.Duration) (func(), bool, error) {
	return s.tryLock(ctx, key, ttl, rand.Text())
}

func (s *Store) tryLock(ctx context.Context, key string, ttl time.Duration, token string) (func(), bool, error) {
	if key == "" {
		return nil, false, errEmptyKey
	}
	if ttl <= 0 {
		return nil, false, errTTL
	}
	rkey := s.lockKey(key)
	ctx, cancel := s.bound(ctx)
	defer cancel()
	ok, err := s.client.SetNX(ctx, rkey, token, atLeastMs(ttl)).Result()
	if err != nil {
		go s.abandon(rkey, token)
		return nil, false, wrap("lock", err)
	}
	if !ok {
		return nil, false, nil
	}
	var once sync.Once
	release := func() {
		once.Do(func() { s.release(rkey, token) })
	}
	return release, true, nil
}

// release deletes rkey while it holds token.
func (s *Store) release(rkey, token string) error {
	rctx, cancel := s.bound(context.Background())
	defer cancel()
	return releaseScript.Run(rctx, s.client, []string{rkey}, token).Err()
}

// abandon gives up a lock whose SET reported an error but may have been
// applied: a release now, and one more after the Store's timeout for a
// SET still on its way. Each release may take abandonTimeout, longer than
// the Store's timeout (a link slow enough to lose the SET's reply may need
// it just to open a connection), and sends the script itself (EVAL, not
// EVALSHA): on such a link only the full script is sure to run.
func (s *Store) abandon(rkey, token string) {
	for i := range 2 {
		if i > 0 {
			time.Sleep(s.timeout)
		}
		ctx, cancel := context.WithTimeout(context.Background(), max(abandonTimeout, s.timeout))
		_ = releaseScript.Eval(ctx, s.client, []string{rkey}, token).Err()
		cancel()
	}
}

// abandonTimeout bounds each release of an abandoned lock.
const abandonTimeout = 5 * time.Second

// Allow implements store.Store with a fixed window per key: one Lua
// script runs INCR, PEXPIRE window when the count is 1, and PTTL, so the
// counter always expires and concurrent calls from any number of replicas
// count exactly.
func (s *Store) Allow(ctx context.Context, key string, limit int, window time.Duration) (bool, time.Duration, error) {
	if key == "" {
		return false, 0, errEmptyKey
	}
	if limit <= 0 || window <= 0 {
		return false, 0, errLimit
	}
	ms := atLeastMs(window).Milliseconds()
	ctx, cancel := s.bound(ctx)
	defer cancel()
	v, err := allowScript.Run(ctx, s.client, []string{s.rateKey(key)}, ms).Int64Slice()
	if err != nil {
		return false, 0, wrap("rate limit", err)
	}
	if len(v) != 2 {
		return false, 0, fmt.Errorf("redisstore: rate limit: unexpected script reply of %d values", len(v))
	}
	if v[0] <= int64(limit) {
		return true, 0, nil
	}
	return false, max(time.Duration(v[1])*time.Millisecond, time.Millisecond), nil
}

// atLeastMs rounds d up to a whole millisecond, the resolution of PX and
// PEXPIRE.
func atLeastMs(d time.Duration) time.Duration {
	return (d + time.Millisecond - 1).Truncate(time.Millisecond)
}

func wrap(op string, err error) error {
	if _, moved := redis.IsMovedError(err); moved {
		return fmt.Errorf("redisstore: %s: %w (the key is on another node of a Redis Cluster: use the cluster URL form, see NewFromURL)", op, err)
	}
	return fmt.Errorf("redisstore: %s: %w", op, err)
}
