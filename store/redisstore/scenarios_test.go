package redisstore_test

import (
	"testing"

	"github.com/hongbao-go/hongbao/middleware/claim/claimtest"
	"github.com/hongbao-go/hongbao/store"
)

// TestScenarios runs the claim handler's money-safety scenarios on Redis:
// each replica and each restarted process has a Store of its own on the
// scenario's prefix; a flush deletes every key of it, a loss of the
// grants' records their terms and results.
func TestScenarios(t *testing.T) {
	needRedis(t)
	claimtest.Run(t, func(t *testing.T) claimtest.Backend {
		prefix := newPrefix(t)
		return claimtest.Backend{
			Store: func(t *testing.T) store.Store { return newStore(t, prefix) },
			Flush: func(t *testing.T) { deletePrefix(t, prefix) },
			ForgetRecords: func(t *testing.T) {
				deletePrefix(t, prefix+"terms:")
				deletePrefix(t, prefix+"result:")
			},
			ForgetBudgets: func(t *testing.T) { deletePrefix(t, prefix+"budget:") },
		}
	})
}
