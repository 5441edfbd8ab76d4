package redisstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/hongbao-go/hongbao/store"
)

// budgetSpace holds one hash per campaign: Prefix+"budget:"+campaign. Its
// fields are the sums (rf, rp: reserved fen and packets; cf, cp:
// committed) and one entry per bill number, "b:"+billno = "<fen>:R" or
// "<fen>:C". One key per campaign keeps every step one script on one key
// (Redis Cluster places it on one node).
const budgetSpace = "budget:"

// budgetScript carries out one store.BudgetStep atomically. KEYS[1]
// is the account; ARGV: step (0 read, 1 reserve, 2 commit, 3 release),
// billno, amount, the caps in fen and packets (0: none), and the account's
// time to live in milliseconds. It returns {granted, rf, rp, cf, cp}.
var budgetScript = redis.NewScript(`
local key = KEYS[1]
local step = tonumber(ARGV[1])
local granted = 1
local function sum(name)
	return tonumber(redis.call("HGET", key, name) or "0")
end
local function add(state, fen, sign)
	if state == "C" then
		redis.call("HINCRBY", key, "cf", sign * fen)
		redis.call("HINCRBY", key, "cp", sign)
	else
		redis.call("HINCRBY", key, "rf", sign * fen)
		redis.call("HINCRBY", key, "rp", sign)
	end
end
if step ~= 0 then
	local field = "b:" .. ARGV[2]
	local amount = tonumber(ARGV[3])
	local entry = redis.call("HGET", key, field)
	local fen, state
	if entry then
		local sep = string.find(entry, ":", 1, true)
		fen = tonumber(string.sub(entry, 1, sep - 1))
		state = string.sub(entry, sep + 1)
	end
	if step == 1 then
		if entry then
			if state == "R" and fen ~= amount then
				add("R", fen, -1)
				add("R", amount, 1)
				redis.call("HSET", key, field, string.format("%d:R", amount))
			end
		else
			local capFen, capPackets = tonumber(ARGV[4]), tonumber(ARGV[5])
			if (capFen > 0 and sum("rf") + sum("cf") + amount > capFen) or
				(capPackets > 0 and sum("rp") + sum("cp") + 1 > capPackets) then
				granted = 0
			else
				redis.call("HSET", key, field, string.format("%d:R", amount))
				add("R", amount, 1)
			end
		end
	elseif step == 2 then
		if entry then
			if state ~= "C" then
				add("R", fen, -1)
				add("C", fen, 1)
				redis.call("HSET", key, field, string.format("%d:C", fen))
			end
		else
			redis.call("HSET", key, field, string.format("%d:C", amount))
			add("C", amount, 1)
		end
	elseif step == 3 then
		if entry then
			add(state, fen, -1)
			redis.call("HDEL", key, field)
		end
	end
	redis.call("PEXPIRE", key, ARGV[6])
end
return {granted, sum("rf"), sum("rp"), sum("cf"), sum("cp")}
`)

// budgetTTL is how long an account is kept after its last change: twice
// the platform's 30-day record window.
const budgetTTL = 60 * 24 * time.Hour

var errBudgetArgs = errors.New("redisstore: budget: empty campaign or bill number")

// Budget implements store.Store: one script on the campaign's hash.
func (s *Store) Budget(ctx context.Context, campaign string, op store.BudgetOp) (store.BudgetState, bool, error) {
	if campaign == "" || op.Step != store.BudgetRead && op.Billno == "" {
		return store.BudgetState{}, false, errBudgetArgs
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	v, err := budgetScript.Run(ctx, s.client, []string{s.prefix + budgetSpace + campaign},
		int(op.Step), op.Billno, op.Amount, op.Limit.Fen, op.Limit.Packets, budgetTTL.Milliseconds()).Int64Slice()
	if err != nil {
		return store.BudgetState{}, false, wrap("budget", err)
	}
	if len(v) != 5 {
		return store.BudgetState{}, false, fmt.Errorf("redisstore: budget: unexpected script reply of %d values", len(v))
	}
	st := store.BudgetState{Budget: op.Limit, ReservedFen: v[1], ReservedPackets: v[2], CommittedFen: v[3], CommittedPackets: v[4]}
	return st, v[0] == 1, nil
}
