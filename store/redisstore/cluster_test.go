package redisstore_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/hongbao-go/hongbao/middleware/claim"
	"github.com/hongbao-go/hongbao/store/redisstore"
)

// redirects counts the MOVED and ASK answers that the nodes of a cluster
// client gave (and the client followed).
type redirects struct{ moved, ask atomic.Int64 }

func (r *redirects) DialHook(next redis.DialHook) redis.DialHook { return next }
func (r *redirects) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		err := next(ctx, cmd)
		r.count(err)
		return err
	}
}
func (r *redirects) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		err := next(ctx, cmds)
		for _, cmd := range cmds {
			r.count(cmd.Err())
		}
		return err
	}
}
func (r *redirects) count(err error) {
	if _, ok := redis.IsMovedError(err); ok {
		r.moved.Add(1)
	}
	if _, ok := redis.IsAskError(err); ok {
		r.ask.Add(1)
	}
}

// clusterStore returns a Store on the cluster under test whose node
// clients report their redirections to r. Its Timeout is 3 seconds: a
// redirection that fails does so at once, while a node that stalls on a
// busy machine (each slot that changes hands makes the nodes fsync
// nodes.conf) is not what the resharding test is about.
func clusterStore(t *testing.T, prefix string, r *redirects) *redisstore.Store {
	t.Helper()
	s, err := redisstore.NewFromURL(redisURL, redisstore.Options{Prefix: prefix, Timeout: 3 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	cc, ok := s.Client().(*redis.ClusterClient)
	if !ok {
		t.Fatalf("client %T, want *redis.ClusterClient", s.Client())
	}
	cc.OnNewNode(func(node *redis.Client) { node.AddHook(r) })
	if err := s.Ping(context.Background()); err != nil {
		t.Fatal(err)
	}
	return s
}

// clusterMaster is a master of the cluster under test.
type clusterMaster struct{ id, addr string }

// clusterMasters lists the masters of the cluster under test, from
// CLUSTER NODES.
func clusterMasters(t *testing.T) []clusterMaster {
	t.Helper()
	c := newClient(t, redisURL)
	out, err := c.ClusterNodes(context.Background()).Result()
	if err != nil {
		t.Fatal(err)
	}
	var masters []clusterMaster
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 3 || !strings.Contains(f[2], "master") || strings.Contains(f[2], "fail") {
			continue
		}
		addr, _, _ := strings.Cut(f[1], "@") // host:port@bus-port
		masters = append(masters, clusterMaster{id: f[0], addr: addr})
	}
	if len(masters) < 2 {
		t.Fatalf("the cluster under test has %d master(s); resharding needs 2 or more", len(masters))
	}
	return masters
}

// reshard moves slots from one master to another with redis-cli --cluster
// reshard (MIGRATE of every key of each slot, then CLUSTER SETSLOT NODE).
func reshard(ctx context.Context, from, to clusterMaster, slots int) error {
	cmd := exec.CommandContext(ctx, "redis-cli", "--cluster", "reshard", to.addr,
		"--cluster-from", from.id, "--cluster-to", to.id,
		"--cluster-slots", strconv.Itoa(slots), "--cluster-yes")
	if u, err := url.Parse(redisURL); err == nil {
		if pw, ok := u.User.Password(); ok {
			cmd.Env = append(os.Environ(), "REDISCLI_AUTH="+pw)
		}
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		lines := strings.Split(strings.TrimSpace(out.String()), "\n")
		return fmt.Errorf("redis-cli --cluster reshard %d slots from %s to %s: %v: %s",
			slots, from.addr, to.addr, err, strings.Join(lines[max(0, len(lines)-5):], "\n"))
	}
	return nil
}

// slotMover moves single slots between the masters of the cluster under
// test the way redis-cli does (CLUSTER SETSLOT IMPORTING and MIGRATING,
// MIGRATE of the slot's keys, CLUSTER SETSLOT NODE on every master), but
// holds the slot open for a while before and after its keys move, so that
// taps meet it mid-migration and are answered ASK.
type slotMover struct {
	masters []clusterMaster
	nodes   map[string]*redis.Client // by address
	user    string
	pw      string
}

func newSlotMover(t *testing.T, masters []clusterMaster) *slotMover {
	t.Helper()
	m := &slotMover{masters: masters, nodes: map[string]*redis.Client{}}
	if u, err := url.Parse(redisURL); err == nil {
		m.user = u.User.Username()
		m.pw, _ = u.User.Password()
	}
	for _, ms := range masters {
		c := redis.NewClient(&redis.Options{Addr: ms.addr, Username: m.user, Password: m.pw})
		t.Cleanup(func() { c.Close() })
		m.nodes[ms.addr] = c
	}
	return m
}

// owner returns the master that serves slot now.
func (m *slotMover) owner(ctx context.Context, slot int) (clusterMaster, error) {
	ranges, err := m.nodes[m.masters[0].addr].ClusterSlots(ctx).Result()
	if err != nil {
		return clusterMaster{}, err
	}
	for _, r := range ranges {
		if int64(r.Start) <= int64(slot) && int64(slot) <= int64(r.End) && len(r.Nodes) > 0 {
			for _, ms := range m.masters {
				if ms.addr == r.Nodes[0].Addr || ms.id == r.Nodes[0].ID {
					return ms, nil
				}
			}
		}
	}
	return clusterMaster{}, fmt.Errorf("no master serves slot %d", slot)
}

// move moves the slot of key to the next master, holding it open before
// and after its keys migrate: each time it calls during, then waits for
// pause.
func (m *slotMover) move(ctx context.Context, key string, pause time.Duration, during func()) (err error) {
	slot64, err := m.nodes[m.masters[0].addr].ClusterKeySlot(ctx, key).Result()
	if err != nil {
		return err
	}
	slot := int(slot64)
	from, err := m.owner(ctx, slot)
	if err != nil {
		return err
	}
	var to clusterMaster
	for i, ms := range m.masters {
		if ms.id == from.id {
			to = m.masters[(i+1)%len(m.masters)]
		}
	}
	src, dst := m.nodes[from.addr], m.nodes[to.addr]
	defer func() {
		if err != nil { // no slot left open for the next user of the cluster
			for _, c := range []*redis.Client{dst, src} {
				c.Do(context.Background(), "CLUSTER", "SETSLOT", slot, "STABLE")
			}
		}
	}()
	if err := dst.Do(ctx, "CLUSTER", "SETSLOT", slot, "IMPORTING", from.id).Err(); err != nil {
		return fmt.Errorf("slot %d: IMPORTING: %w", slot, err)
	}
	if err := src.Do(ctx, "CLUSTER", "SETSLOT", slot, "MIGRATING", to.id).Err(); err != nil {
		return fmt.Errorf("slot %d: MIGRATING: %w", slot, err)
	}
	during() // new keys of the slot are created on the target (ASK)
	time.Sleep(pause)
	host, port, _ := strings.Cut(to.addr, ":")
	for {
		keys, err := src.ClusterGetKeysInSlot(ctx, slot, 100).Result()
		if err != nil {
			return fmt.Errorf("slot %d: GETKEYSINSLOT: %w", slot, err)
		}
		if len(keys) == 0 {
			break
		}
		args := []any{"MIGRATE", host, port, "", 0, 5000}
		switch {
		case m.user != "":
			args = append(args, "AUTH2", m.user, m.pw)
		case m.pw != "":
			args = append(args, "AUTH", m.pw)
		}
		args = append(args, "KEYS")
		for _, k := range keys {
			args = append(args, k)
		}
		if err := src.Do(ctx, args...).Err(); err != nil {
			return fmt.Errorf("slot %d: MIGRATE: %w", slot, err)
		}
	}
	during() // the slot's keys are on the target, reached by ASK
	time.Sleep(pause)
	for _, c := range []*redis.Client{dst, src} {
		if err := c.Do(ctx, "CLUSTER", "SETSLOT", slot, "NODE", to.id).Err(); err != nil {
			return fmt.Errorf("slot %d: NODE: %w", slot, err)
		}
	}
	for _, ms := range m.masters {
		if ms.id != from.id && ms.id != to.id {
			if err := m.nodes[ms.addr].Do(ctx, "CLUSTER", "SETSLOT", slot, "NODE", to.id).Err(); err != nil {
				return fmt.Errorf("slot %d: NODE: %w", slot, err)
			}
		}
	}
	return nil
}

// TestReshardWhileReplicasTap moves thousands of slots between the masters
// of the cluster under test (redis-cli --cluster reshard), then the slots
// of some users' results one by one, each held open mid-migration, while
// two handler replicas take taps of 100 users: every user is paid once under one number, every answer carries
// the platform's package, and no Store call fails (the handler logs a
// warning per failure and would fall back to its own process).
func TestReshardWhileReplicasTap(t *testing.T) {
	needTopology(t, cluster)
	if _, err := exec.LookPath("redis-cli"); err != nil {
		if inCI() {
			t.Fatalf("no redis-cli on PATH under CI: %s", howToRun)
		}
		t.Skip("resharding needs redis-cli on PATH")
	}
	const (
		users  = 100
		rounds = 3   // redis-cli reshards, each from one master to the next
		slots  = 500 // slots moved per reshard
		held   = 6   // slots of users' results then moved one by one, held open
		pause  = 200 * time.Millisecond
	)
	masters := clusterMasters(t)
	mover := newSlotMover(t, masters)
	prefix := newPrefix(t)
	w := newWorld(t)
	var red redirects
	withRateLimit := func(c *claim.HandlerConfig) { c.RateLimit = 1000; c.RateWindow = time.Minute }
	a := w.replica(t, "A", clusterStore(t, prefix, &red), withRateLimit)
	b := w.replica(t, "B", clusterStore(t, prefix, &red), withRateLimit)

	openIDs := make([]string, users)
	tokens := make([]string, users)
	for i := range users {
		openIDs[i] = fmt.Sprintf("oReshard%03d_%s", i, rand.Text()[:12])
		tokens[i] = w.token(t, openIDs[i])
	}
	warnBefore := w.logs.warnings.Load()

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var (
		mu       sync.Mutex
		statuses = map[int]int{}
		pkgs     = make([]map[string]int, users)
		errs     []error
		taps     int
	)
	for i := range pkgs {
		pkgs[i] = map[string]int{}
	}
	record := func(i int, ans answer) {
		mu.Lock()
		defer mu.Unlock()
		taps++
		if ans.err != nil {
			errs = append(errs, ans.err)
			return
		}
		statuses[ans.status]++
		if ans.status == http.StatusOK {
			pkgs[i][ans.pkg]++
		}
	}

	var bulk time.Duration // the redis-cli reshards
	reshardDone := make(chan error, 1)
	firstWave := make(chan struct{})
	start := time.Now()
	go func() {
		for r := range rounds {
			from, to := masters[r%len(masters)], masters[(r+1)%len(masters)]
			if err := reshard(ctx, from, to, slots); err != nil {
				reshardDone <- err
				return
			}
		}
		bulk = time.Since(start)
		<-firstWave // the results exist
		for i := range held {
			// The user whose result is in the slot taps on both replicas
			// while the slot is open: the result is read through ASK.
			u := i * users / held
			during := func() {
				record(u, tap(a, tokens[u]))
				record(u, tap(b, tokens[u]))
			}
			if err := mover.move(ctx, prefix+"result:"+w.billno(t, openIDs[u]), pause, during); err != nil {
				reshardDone <- err
				return
			}
		}
		reshardDone <- nil
	}()

	// Waves of taps: each user taps once on each replica, 8 taps at a
	// time, until the resharding is over; then one more wave.
	wave := func() {
		sem := make(chan struct{}, 8)
		var wg sync.WaitGroup
		for i := range users {
			for _, r := range []*replica{a, b} {
				sem <- struct{}{}
				wg.Go(func() {
					defer func() { <-sem }()
					record(i, tap(r, tokens[i]))
				})
			}
		}
		wg.Wait()
	}
	var reshardErr error
	waves := 0
	for done := false; !done; {
		wave()
		if waves++; waves == 1 {
			close(firstWave)
		}
		select {
		case reshardErr = <-reshardDone:
			done = true
		default:
		}
	}
	resharded := time.Since(start)
	wave()
	waves++

	if reshardErr != nil {
		t.Fatal(reshardErr)
	}
	warnings := w.logs.warnings.Load() - warnBefore
	sends := 0
	for i, openID := range openIDs {
		billno := w.billno(t, openID)
		n := w.fake.Sends(billno)
		sends += n
		if n != 1 {
			t.Errorf("user %d: %d sends of %s, want 1", i, n, billno)
		}
		want := w.packageOf(t, billno)
		if len(pkgs[i]) != 1 || pkgs[i][want] == 0 {
			t.Errorf("user %d: answers carry packages %v, want only the platform's", i, pkgs[i])
		}
		if paid := w.fake.PacketsOf(openID); len(paid) != 1 {
			t.Errorf("user %d: %d packets, want 1", i, len(paid))
		}
	}
	t.Logf("%d x %d slots resharded (%v) and %d slots moved one by one in %v while 2 replicas took %d taps of %d users in %d waves: statuses %v, %d sends, "+
		"%d MOVED and %d ASK answers followed, %d Store failures logged",
		rounds, slots, bulk.Round(time.Millisecond), held, resharded.Round(time.Millisecond), taps, users, waves, statuses, sends,
		red.moved.Load(), red.ask.Load(), warnings)
	if len(errs) > 0 {
		t.Errorf("tap errors: %v", errs[:min(len(errs), 5)])
	}
	if statuses[http.StatusOK] != taps {
		t.Errorf("statuses %v, want %d x 200", statuses, taps)
	}
	if warnings != 0 {
		t.Errorf("%d Store failures logged during the resharding: the handler fell back to its own process; first: %q",
			warnings, w.logs.firstWarnings())
	}
	if red.moved.Load() == 0 || red.ask.Load() == 0 {
		t.Errorf("%d MOVED and %d ASK answers: the resharding never crossed the keys in use, the test proves little",
			red.moved.Load(), red.ask.Load())
	}
}
