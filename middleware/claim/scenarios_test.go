package claim_test

import (
	"testing"

	"github.com/hongbao-go/hongbao/middleware/claim/claimtest"
)

// TestScenarios runs the money-safety scenarios on the MemoryStore.
func TestScenarios(t *testing.T) {
	claimtest.Run(t, claimtest.Memory)
}
