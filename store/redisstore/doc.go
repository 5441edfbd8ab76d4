// Package redisstore is a store.Store on Redis, for running the
// red-packet handler on several replicas that share one Redis:
//
//	store, err := redisstore.NewFromURL(os.Getenv("HONGBAO_REDIS_URL"), redisstore.Options{})
//	if err != nil {
//		return err // a malformed URL; no connection is made yet
//	}
//	defer store.Close()
//	if err := store.Ping(ctx); err != nil {
//		return err // Redis does not answer, or the URL's form does not fit it
//	}
//	h, err := claim.NewHandler(claim.HandlerConfig{Client: client, Policy: policy, Store: store})
//
// It uses github.com/redis/go-redis/v9; the core packages do not import
// it, so applications without Redis do not depend on it. Any
// redis.UniversalClient works (New): a single server, Sentinel failover or
// Cluster (every command and script touches one key). NewFromURL builds
// the matching client from a URL of each kind:
//
//	redis://[user:password@]host:port/db                         one server (rediss:// for TLS)
//	redis://[user:password@]host:port?addr=host2:port2&addr=...  a Redis Cluster
//	redis://host:port/db?master_name=mymaster&addr=host2:port2   Sentinels and their master
//
// Call Ping at start-up: besides reaching every master, it refuses a
// single-server URL that points at a node of a cluster (most keys would
// answer MOVED), naming the cluster form.
//
// # What it stores
//
// Six kinds of keys, all under Options.Prefix ("hongbao:" by default),
// so that several applications can share one Redis database:
//
//	<prefix>terms:<billno>    the terms of a grant (keyed by its attempt-0
//	                          bill number): the JSON of a store.Terms,
//	                          first one wins (a Lua GET-or-SET), PX its TTL
//	<prefix>result:<billno>   the JSON of a store.Result (bill number,
//	                          openid, package, send_listid, amount, paid_at),
//	                          SET ... EX ResultTTL (30 days by default)
//	<prefix>lock:<billno>     the right to send that bill number: a random
//	                          token, SET ... NX PX LockTTL (2 minutes by default)
//	<prefix>rate:<openid>     a per-openid tap counter: INCR, PEXPIRE on the
//	                          first tap of a window, in one Lua script
//	<prefix>budget:<campaign> a campaign's budget account: one hash of sums
//	                          and one field per bill number, each step one
//	                          Lua script (see Budget)
//	<prefix>flow:send:<mch_id>
//	                          the merchant's shared send rate (Reserve): one
//	                          number, expiring once a whole burst is free again
//
// On Redis Cluster each key goes to the slot of its whole name (CRC16 of
// the key, modulo 16384): the prefix holds no {hash tag} (New refuses a
// '{' in it), so the keys of different bill numbers and openids spread
// over every slot, every master and its share of the load. Every command
// and every Lua script touches one key, so nothing needs two keys in one
// slot (no CROSSSLOT); the terms, result and lock of one bill number
// usually sit on different masters, and nothing reads them together. A
// campaign's budget is one key, so every step of one campaign goes to one
// master (and different campaigns to different ones). A
// slot that moves (resharding) is followed by the client: MOVED and ASK
// answers are redirections, not failures. Any new script must keep to one
// key, or to keys that share a hash tag on purpose.
//
// A lock is released by a Lua compare-and-delete of its token, so a
// holder whose lock expired never deletes the lock that another replica
// took since. A rate-limit answer "not allowed" carries the counter's PTTL
// as the Retry-After. No credential is stored: no API key, no JWT (the
// paySign of each answer is computed afresh with the merchant key). A
// result takes about 500 bytes of Redis memory for ResultTTL: about 0.5 GB
// for a million red packets a month.
//
// Every failure of Redis is returned as an error, prefixed with the
// package name ("redisstore: ..."), that never repeats the URL (which may
// hold a password); a missing key is not an error (Result answers
// ok=false). Each call is bounded by Options.Timeout (1 second by
// default).
//
// # One send rate for every replica
//
// Store implements hongbao.SharedLimiter: set it as the client's
// hongbao.Config.Flow.Shared, and the replicas of a merchant pace their
// sends on one send rate (1,800 a minute by default) instead of each
// taking the whole of it:
//
//	cfg.Flow.Shared = store
//	client, err := hongbao.New(cfg)
//
// Reserve is one Lua script on one key: the generic cell rate algorithm
// on the clock of Redis (TIME, of the node that holds the key on a
// cluster), so the replicas' clocks do not matter. In
// any stretch of time T, the replicas together are given no more than
// burst + rate×T sends; a send that would wait longer than the client's
// MaxWait takes nothing from the rate. When Redis fails, each client
// paces itself alone and logs a warning.
//
// # Behaviour under faults
//
// The Store makes taps cheaper and coalesces them across replicas; it is
// not what makes a red packet paid once. That is the bill number: it is
// derived from the grant's key and the openid, so every tap of one user on
// one grant carries the same number on every replica and after any
// restart, and the platform never pays one number twice (a repeat send
// returns the first packet).
//
//   - Redis unreachable (down, network split, timeouts): every method
//     returns an error, and the handler degrades to its own process, as
//     package claim documents: results, rate limits and coalescing are kept
//     in a private MemoryStore, a warning is logged for each failure, and
//     a send goes ahead without the cross-replica lock. Taps still get
//     answers. Two replicas may then send the same bill number at once;
//     the platform pays it once and both answer the same package. How fast
//     a dead Redis is noticed depends on Options.Timeout and the client's
//     settings (see New); after a failure the handler leaves the Store
//     alone for HandlerConfig.StoreRetryAfter (5 seconds), so only the
//     first tap of that span waits for it. The client reconnects by
//     itself once Redis is back.
//   - A replica dying mid-send: its lock is never released, and expires
//     after LockTTL. Until then taps on other replicas wait for it (up to
//     WaitTimeout, then 503 "in_progress" with Retry-After); after it,
//     the next tap takes the lock and sends the same bill number. If the
//     dead replica's send had gone through, the platform answers with that
//     packet; otherwise this send pays it. Either way it is paid once.
//   - Redis restarted without persistence, flushed, or failed over to a
//     replica that had not caught up: cached results, locks and counters
//     are lost, but no safety. The next tap of a paid user finds no result
//     and re-sends the same bill number; the platform answers with the
//     first packet, which is stored again. A lost lock may let two replicas
//     send at once, with the same outcome. Rate-limit windows restart.
//
// A value under a result key that is not the JSON of a Result for that
// bill number ("null", "{}", another bill number's result) is reported as
// an error rather than as a miss: the handler then treats Redis as
// unavailable, as above, for StoreRetryAfter.
package redisstore
