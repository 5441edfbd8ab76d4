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
// Store implements hongbao.SharedLimiter: set as hongbao.Config.Flow.Shared,
// the replicas of a merchant pace their sends on one send rate (1,800 a
// minute by default). Reserve is one Lua script on one key, the generic
// cell rate algorithm on the clock of Redis: in any stretch of time T the
// replicas together get no more than burst + rate×T sends. When Redis
// fails, each client paces itself alone and logs a warning.
//
// How the keys spread over a Redis Cluster, and what the handler does when
// Redis fails, restarts or fails over, is in docs/design.md of the
// repository ("The Redis store"): the Store makes taps cheaper and
// coalesces them across replicas; the derived bill number, not the Store,
// is what makes a red packet paid once.
package redisstore
