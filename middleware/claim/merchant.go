package claim

import (
	"context"
	"errors"
	"time"

	"github.com/hongbao-go/hongbao/rail"
)

// The merchant gate paces new bill numbers (a grant's attempt 1, 2, ...)
// while the merchant cannot pay (rail.RefusedMerchant: the red packet's
// NOTENOUGH, SENDAMOUNT_LIMIT, API_METHOD_CLOSED, PRODUCT_AUTHORITY_UNOPEN;
// the transfer's NOT_ENOUGH). When the platform records
// such refusals as FAILED, every number sent meanwhile is closed, and grants
// would use up their attempts during the outage.
//
// The gate is a lock in the Store, shared by every replica: a new number is
// sent only by the holder of the merchant's gate lock, one at a time. After
// a success the holder gives the lock up at once; after a merchant refusal
// (and after a merchant refusal of any number's first send) the lock is
// kept until it expires, MerchantProbe later: until then new numbers wait,
// and then one tap probes. Resends of a refused number (which the platform
// may pay once the operator has acted) are not gated.

// DefaultMerchantProbe is the default of HandlerConfig.MerchantProbe.
const DefaultMerchantProbe = 30 * time.Second

var errMerchantDown = errors.New("claim: the merchant could not pay lately; new bill numbers wait")

// gateKey is the Store lock of the merchant's gate: one per rail and
// merchant account (the rail's Name).
func (h *Handler) gateKey() string { return "merchant:" + h.railName }

// probe takes the gate for one new number; ok is false while it is held
// (another new number is in flight, or the merchant could not pay lately).
func (h *Handler) probe(ctx context.Context) (release func(), ok bool) {
	release, ok, err := h.shared().TryLock(ctx, h.gateKey(), h.merchantProbe)
	if err != nil {
		h.storeFailed(ctx, "TryLock", h.gateKey(), err)
		release, ok, _ = h.local.TryLock(context.WithoutCancel(ctx), h.gateKey(), h.merchantProbe)
	}
	return release, ok
}

// merchantDown closes the gate for MerchantProbe after a merchant refusal
// of a first send (when it is free; a probe in flight keeps it anyway).
func (h *Handler) merchantDown(ctx context.Context) {
	_, _ = h.probe(ctx)
}

// isMerchantRefusal reports whether err says the merchant cannot pay.
func isMerchantRefusal(err error) bool {
	return err != nil && rail.StateOf(err) == rail.RefusedMerchant
}
