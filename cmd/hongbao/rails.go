package main

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"log/slog"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/hongbao-go/hongbao"
	"github.com/hongbao-go/hongbao/middleware/claim"
	"github.com/hongbao-go/hongbao/middleware/jwtauth"
	"github.com/hongbao-go/hongbao/store"
	"github.com/hongbao-go/hongbao/transfer"
)

// The rails, as HONGBAO_RAIL and budget -rail name them.
const (
	railRedPacket = hongbao.RailName  // "redpacket": APIv2 red packets
	railTransfer  = transfer.RailName // "transfer": APIv3 transfer bills
)

// railOf names the rail of billno by its length (railRedPacket,
// railTransfer), "" when it is neither rail's.
func railOf(billno string) string {
	switch len(billno) {
	case hongbao.TransferBillnoLength:
		return railTransfer
	case hongbao.MaxBillnoLength:
		return railRedPacket
	}
	return ""
}

// isTransferBillno reports whether billno is a number of the transfer
// rail: the services derive out_bill_no 32 characters long
// (hongbao.DeriveTransferBillno), the red packets' mch_billno 28.
func isTransferBillno(billno string) bool { return len(billno) == hongbao.TransferBillnoLength }

// transferRail reads and checks the transfer rail's variables and returns
// its rail, keyed with key (nil: a random key, for a rail that derives no
// number), and the function that closes it.
func transferRail(ctx context.Context, e *env, key []byte, timeout time.Duration) (*transfer.Rail, func(), error) {
	t, m, err := newV3Transport(ctx, e.getenv, e.clock(), timeout)
	if err != nil {
		return nil, nil, err
	}
	appID := m.appID
	if appID == "" {
		// Queries and cancels do not send the appid; the client wants one
		// all the same.
		appID = "hongbao-operator"
	}
	if key == nil {
		key = []byte(rand.Text())
	}
	c, err := transfer.New(transfer.Config{
		AppID: appID, Transport: t, BillnoKey: key,
		Retry:  hongbao.RetryPolicy{Attempts: 3, AttemptTimeout: timeout},
		Logger: slog.New(slog.DiscardHandler),
		Now:    e.clock(),
	})
	if err != nil {
		t.Close()
		return nil, nil, err
	}
	r, err := c.Rail(transfer.RailConfig{})
	if err != nil {
		t.Close()
		return nil, nil, err
	}
	return r, func() { t.Close() }, nil
}

// errOperator refuses every grant: the operator's handler pays no one.
var errOperator = errors.New("hongbao: the operator's handler pays no grant")

// settler is a claim handler of the transfer rail r on st, used only to
// record what the platform reports of numbers as the services do
// (Handler.Settle, Handler.Cancel: under the number's lock, forward only,
// with the budget step), never to pay. campaigns are the budget accounts
// the Store holds: a number's release or commitment reaches its account.
// The caps are the services' configuration; a release or a commitment
// needs none, so the handler is given an unreachable one.
func settler(r *transfer.Rail, st store.Store, campaigns []string) (*claim.Handler, error) {
	budgets := make(map[string]store.Budget, len(campaigns))
	for _, c := range campaigns {
		budgets[c] = store.Budget{Fen: math.MaxInt64}
	}
	return claim.NewHandler(claim.HandlerConfig{
		Rail:    r,
		Policy:  claim.PolicyFunc(func(context.Context, jwtauth.User, []byte) (claim.Grant, error) { return claim.Grant{}, errOperator }),
		Store:   st,
		Budgets: budgets,
		Logger:  slog.New(slog.DiscardHandler),
	})
}

// grantTerms are the terms of a grant the Store holds, under id, the
// grant's attempt-0 number.
type grantTerms struct {
	id    string
	terms store.Terms
}

// campaignTerms lists, in the order of their ids, the terms of the Store
// (rdb, under prefix) of campaign's grants: those whose Campaign is
// campaign, or whose Key is when they name no Campaign. keep (nil: all)
// picks the ids whose terms are read; unnamed is called with the id of
// terms that name no grant (key and openid).
func campaignTerms(ctx context.Context, rdb redis.UniversalClient, prefix, campaign string, keep func(id string) bool, unnamed func(id string)) ([]grantTerms, error) {
	head := prefix + "terms:"
	var keys []string
	err := scanKeys(ctx, rdb, globEscape(head)+"*", func(k string) { keys = append(keys, k) })
	if err != nil {
		return nil, err
	}
	slices.Sort(keys)
	var out []grantTerms
	for _, k := range keys {
		id := strings.TrimPrefix(k, head)
		if keep != nil && !keep(id) {
			continue
		}
		raw, err := rdb.Get(ctx, k).Bytes()
		if err != nil {
			continue // expired since the scan
		}
		var t store.Terms
		if json.Unmarshal(raw, &t) != nil || t.Key == "" || t.OpenID == "" {
			unnamed(id)
			continue
		}
		if cmp.Or(t.Campaign, t.Key) == campaign {
			out = append(out, grantTerms{id: id, terms: t})
		}
	}
	return out, nil
}
