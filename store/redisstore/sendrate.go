package redisstore

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/hongbao-go/hongbao"
)

// flowSpace is the key space of shared send rates, under the prefix.
const flowSpace = "flow:"

var _ hongbao.SharedLimiter = (*Store)(nil)

var errRate = errors.New("redisstore: the send rate must be positive and finite")

// reserveScript takes one slot of a shared send rate with the generic cell
// rate algorithm (GCRA), on the clock of Redis (TIME), so the clocks of the
// replicas do not matter. The key holds the theoretical arrival time (TAT,
// microseconds): the moment a whole burst would be free again. A slot at now
// moves it one interval on; its send may go once the TAT is no more than
// burst intervals ahead. A slot that would wait longer than maxWait is not
// taken. The key expires when a whole burst is free again.
//
// ARGV: the interval between sends (µs), burst, maxWait (µs). Returns
// {wait in µs, 1 when taken}.
var reserveScript = redis.NewScript(`
if redis.replicate_commands then
	redis.replicate_commands()
end
local t = redis.call("TIME")
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local maxwait = tonumber(ARGV[3])
local tat = tonumber(redis.call("GET", KEYS[1]) or "")
if tat == nil or tat < now then
	tat = now
end
local next = tat + interval
local wait = next - burst * interval - now
if wait < 0 then
	wait = 0
end
if wait > maxwait then
	return {math.ceil(wait), 0}
end
redis.call("SET", KEYS[1], string.format("%.3f", next), "PX", math.ceil((next - now) / 1000) + 1)
return {math.ceil(wait), 1}
`)

// Reserve implements hongbao.SharedLimiter, so that every replica of a
// merchant paces its sends on one rate (hongbao.FlowControl.Shared):
// key's allowance refills at perSecond up to burst sends. Reserve takes one
// slot and returns how long the caller must wait before its send; when
// that wait would exceed maxWait it takes nothing and returns ok=false
// with the wait that would have been needed.
//
// It is one Lua script on one key, <prefix>flow:<key> (so it runs on Redis
// Cluster too): the generic cell rate algorithm on the clock of Redis, so
// replicas whose clocks disagree still share one pace. In any stretch of
// time T, no more than burst + perSecond×T sends are given slots, from all
// replicas together. The key holds one number and expires once a whole
// burst is free again. A Redis that fails is an error; the client then paces
// the process alone.
func (s *Store) Reserve(ctx context.Context, key string, perSecond float64, burst int, maxWait time.Duration) (time.Duration, bool, error) {
	if key == "" {
		return 0, false, errEmptyKey
	}
	if !(perSecond > 0) || math.IsInf(perSecond, 1) {
		return 0, false, errRate
	}
	burst = max(burst, 1)
	maxWait = max(maxWait, 0)
	// µs between sends, rounded up at the nanosecond the script keeps, so
	// that the pace is never faster than asked.
	interval := math.Ceil(1e9/perSecond) / 1000
	ctx, cancel := s.bound(ctx)
	defer cancel()
	v, err := reserveScript.Run(ctx, s.client, []string{s.flowKey(key)},
		strconv.FormatFloat(interval, 'f', 3, 64), burst, maxWait.Microseconds()).Int64Slice()
	if err != nil {
		return 0, false, wrap("reserve a send", err)
	}
	if len(v) != 2 {
		return 0, false, fmt.Errorf("redisstore: reserve a send: unexpected script reply of %d values", len(v))
	}
	return time.Duration(v[0]) * time.Microsecond, v[1] == 1, nil
}

func (s *Store) flowKey(key string) string { return s.prefix + flowSpace + key }
