package main

import (
	"context"
	"crypto/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hongbao-go/hongbao/middleware/claim/claimtest"
	"github.com/hongbao-go/hongbao/rail"
	"github.com/hongbao-go/hongbao/store"
	"github.com/hongbao-go/hongbao/store/redisstore"
	"github.com/hongbao-go/hongbao/transport/wxpaytest"
)

// redisBackend is a claimtest.Backend on the tests' Redis under a prefix
// of its own, whose lost accounts the budget command rebuilds, as an
// operator would.
func redisBackend(t *testing.T) claimtest.Backend {
	if testRedisURL == "" {
		t.Skip("no Redis: install redis-server or set " + envTestRedis)
	}
	prefix := "hongbao-cmd-test:" + rand.Text()[:10] + ":"
	newStore := func(t *testing.T) *redisstore.Store {
		s, err := redisstore.NewFromURL(testRedisURL, redisstore.Options{Prefix: prefix})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	admin := newStore(t)
	del := func(pattern string) {
		ctx := context.Background()
		var keys []string
		_ = scanKeys(ctx, admin.Client(), pattern, func(k string) { keys = append(keys, k) })
		for _, k := range keys {
			admin.Client().Del(ctx, k)
		}
	}
	t.Cleanup(func() { del(prefix + "*") })
	return claimtest.Backend{
		Store:         func(t *testing.T) store.Store { return newStore(t) },
		Flush:         func(*testing.T) { del(prefix + "*") },
		ForgetRecords: func(*testing.T) { del(prefix + "terms:*"); del(prefix + "result:*") },
		ForgetBudgets: func(*testing.T) { del(prefix + "budget:*") },
		Rebuild: func(t *testing.T, req claimtest.RebuildRequest) {
			env := hostEnv(t, req.Host, req.BillnoKey)
			env[envRedisURL] = testRedisURL
			args := []string{"budget", "-campaign", req.Campaign, "-rebuild", "-prefix", prefix}
			if !req.FromStore {
				args = append(args, "-openids", writeOpenIDs(t, req.OpenIDs))
			}
			r := runWith(t, env, args...)
			r.wantCode(t, exitOK)
			r.wantOut(t, "budget "+req.Campaign+": rebuilt from", "budget "+req.Campaign+": open since")
			t.Logf("hongbao %s:\n%s", strings.Join(args, " "), r.stdout)
		},
	}
}

// hostEnv is the environment that points the command at host.
func hostEnv(t *testing.T, host *wxpaytest.Server, billnoKey []byte) map[string]string {
	dir := t.TempDir()
	file := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	return map[string]string{
		envMchID:     host.MchID,
		envAppID:     host.AppID,
		envAPIKey:    host.APIKey,
		envCertFile:  file("apiclient_cert.pem", host.ClientCertPEM()),
		envKeyFile:   file("apiclient_key.pem", host.ClientKeyPEM()),
		envCAFile:    file("ca.pem", host.CACertPEM()),
		envBaseURL:   host.URL,
		envBillnoKey: string(billnoKey),
	}
}

func writeOpenIDs(t *testing.T, openids []string) string {
	p := filepath.Join(t.TempDir(), "openids.txt")
	if err := os.WriteFile(p, []byte("openid\n"+strings.Join(openids, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestBudgetRebuildFlushed: Redis flushed mid-campaign; taps are refused
// until the operator rebuilds the account from the platform for the
// campaign's openids; then the cap holds.
func TestBudgetRebuildFlushed(t *testing.T) {
	claimtest.FlushedBudget(t, redisBackend)
}

// TestBudgetRebuildLostAccount: the account alone lost; the operator
// rebuilds it from the grants the Store still holds.
func TestBudgetRebuildLostAccount(t *testing.T) {
	claimtest.LostAccount(t, redisBackend)
}

// TestBudgetShowAndOpen: the account shown; -open opens a new campaign's
// account, and refuses one whose grants the Store holds (its account was
// lost); the flags are checked.
func TestBudgetShowAndOpen(t *testing.T) {
	st, prefix := needRedis(t)
	f := newFixture(t, wxpaytest.Options{})
	env := f.with(envRedisURL, testRedisURL)
	run := func(args ...string) result {
		return runWith(t, env, append(append([]string{"budget"}, args...), "-prefix", prefix)...)
	}
	r := run("-campaign", "spring")
	r.wantCode(t, exitOK)
	r.wantOut(t, "budget spring: not open", "reserved 0 fen in 0 packets, committed 0 fen in 0 packets")
	r = run("-campaign", "spring", "-open")
	r.wantCode(t, exitOK)
	r.wantOut(t, "budget spring: open since ")
	run("-campaign", "spring", "-open").wantOut(t, "already open; nothing changed")

	// A campaign whose grants the Store holds is not new.
	ctx := context.Background()
	if _, _, err := st.AddTerms(ctx, "1900000109autumn0000000000001", store.Terms{Payout: rail.Payout{Amount: 100}, Key: "autumn", OpenID: "oAutumn1",
		DecidedAt: time.Now()}, time.Hour); err != nil {
		t.Fatal(err)
	}
	r = run("-campaign", "autumn", "-open")
	r.wantCode(t, exitProblems)
	r.wantErr(t, "holds 1 grant", "Rebuild it: hongbao budget -campaign autumn -rebuild")
	if s, _, _ := st.Budget(ctx, "autumn", store.BudgetOp{Step: store.BudgetRead}); s.Open {
		t.Error("opened anyway")
	}

	for _, bad := range [][]string{{"-open", "-rebuild"}, {"-openids", "x"}, {"-rate", "0"}, {"extra"}} {
		run(bad...).wantCode(t, exitUsage)
	}
	runWith(t, f.env, "budget").wantCode(t, exitUsage) // no Redis
}
