package transfer_test

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/hongbao-go/hongbao/apiv3"
	"github.com/hongbao-go/hongbao/transfer"
	"github.com/hongbao-go/hongbao/transport/wxpaytest"
)

// testClock is a clock the host and the client share, moved by hand.
type testClock struct {
	mu  sync.Mutex
	off time.Duration
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.off)
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.off += d
	c.mu.Unlock()
}

// TestCertificateRotation: in platform-certificate mode the host publishes
// a new certificate, switches to it, and later the old one expires; the
// client follows without a failed payout, and refuses the expired one.
func TestCertificateRotation(t *testing.T) {
	clock := new(testClock)
	srv := wxpaytest.Start(t, wxpaytest.Options{Now: clock.Now, V3: wxpaytest.V3Options{
		Trust: wxpaytest.TrustCertificates, CertificateLifetime: 30 * 24 * time.Hour,
	}})
	cfg := v3Config(srv)
	cfg.Now = clock.Now
	tr := newTransport(t, cfg)
	c := newClient(t, srv, func(cfg *transfer.Config) { cfg.Transport = tr })
	create := func(openid string) (*transfer.Bill, error) { return c.Create(ctx, request(t, c, "rotation", openid)) }
	if _, err := create("oUserR1"); err != nil {
		t.Fatal(err)
	}
	first := srv.PlatformCertificates()[0].Serial

	// Published ahead, as the platform does: the background download
	// (here RefreshCertificates) fetches it before it signs.
	long := clock.Now().Add(10 * 365 * 24 * time.Hour)
	b, err := srv.AddPlatformCertificate(long)
	if err != nil {
		t.Fatal(err)
	}
	if err := tr.RefreshCertificates(ctx); err != nil {
		t.Fatal(err)
	}
	if err := srv.UsePlatformCertificate(b.Serial); err != nil {
		t.Fatal(err)
	}
	if _, err := create("oUserR2"); err != nil {
		t.Fatalf("signed by the certificate published ahead: %v", err)
	}

	// Switched to without notice: the unknown serial makes the client
	// download (at most once a minute; a minute has passed) and the
	// answer verifies.
	x, err := srv.AddPlatformCertificate(long)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.UsePlatformCertificate(x.Serial); err != nil {
		t.Fatal(err)
	}
	clock.Advance(2 * time.Minute)
	r := request(t, c, "rotation", "oUserR3")
	if _, err := c.Create(ctx, r); err != nil {
		t.Fatalf("signed by a certificate not yet downloaded: %v", err)
	}
	held := map[string]bool{}
	for _, pc := range tr.PlatformCertificates() {
		held[pc.Serial] = true
	}
	if !held[first] || !held[b.Serial] || !held[x.Serial] {
		t.Errorf("held %v; want %s, %s, %s", held, first, b.Serial, x.Serial)
	}

	// The first certificate expires (30 days): the client drops it at
	// the next download and refuses what it signs.
	clock.Advance(31 * 24 * time.Hour)
	if err := tr.RefreshCertificates(ctx); err != nil {
		t.Fatal(err)
	}
	for _, pc := range tr.PlatformCertificates() {
		if pc.Serial == first {
			t.Error("the expired certificate is still held")
		}
	}
	if err := srv.UsePlatformCertificate(first); err != nil {
		t.Fatal(err)
	}
	srv.Reset()
	_, err = create("oUserR4")
	if !errors.Is(err, apiv3.ErrUnknownSerial) || !errors.Is(err, apiv3.ErrOutcomeUnknown) {
		t.Fatalf("signed by the expired certificate: %v", err)
	}
	if err := srv.UsePlatformCertificate(x.Serial); err != nil {
		t.Fatal(err)
	}
	if _, err := create("oUserR4"); err != nil {
		t.Fatal(err)
	}
	if n := srv.BillsCreated(); n != 4 {
		t.Errorf("%d bills for 4 grants", n)
	}
}
