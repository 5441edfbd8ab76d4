package transfer_test

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/hongbao-go/hongbao"
	"github.com/hongbao-go/hongbao/apiv3"
	"github.com/hongbao-go/hongbao/transfer"
	"github.com/hongbao-go/hongbao/transport/wxpaytest"
)

var testBillnoKey = []byte("0123456789abcdef-billno-key")

// quiet is a logger for tests that do not look at logs.
var quiet = slog.New(slog.DiscardHandler)

// fastRetry retries at once, so that tests of retries take no time.
var fastRetry = hongbao.RetryPolicy{Attempts: 4, BaseDelay: time.Millisecond, MaxDelay: 2 * time.Millisecond, AttemptTimeout: 5 * time.Second}

// v3Config returns the apiv3.Config of a client of srv in srv's trust
// mode.
func v3Config(srv *wxpaytest.Server) apiv3.Config {
	vc := srv.V3Config()
	cfg := apiv3.Config{
		MchID:    vc.MchID,
		CertPEM:  vc.CertPEM,
		KeyPEM:   vc.KeyPEM,
		APIv3Key: vc.APIv3Key,
		RootCAs:  vc.RootCAs,
		BaseURL:  vc.BaseURL,
		Logger:   quiet,
	}
	if srv.Trust() != wxpaytest.TrustCertificates {
		cfg.PublicKeyID, cfg.PublicKeyPEM = vc.PublicKeyID, vc.PublicKeyPEM
	}
	if srv.Trust() != wxpaytest.TrustPublicKey {
		cfg.PlatformCertificates = true
	}
	return cfg
}

func newTransport(t testing.TB, cfg apiv3.Config) *apiv3.Transport {
	t.Helper()
	tr, err := apiv3.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	return tr
}

// newClient returns a transfer client of srv, changed by tweak.
func newClient(t testing.TB, srv *wxpaytest.Server, tweak func(*transfer.Config)) *transfer.Client {
	t.Helper()
	cfg := transfer.Config{
		AppID:     srv.AppID,
		Transport: newTransport(t, v3Config(srv)),
		BillnoKey: testBillnoKey,
		Retry:     fastRetry,
		Logger:    quiet,
	}
	if tweak != nil {
		tweak(&cfg)
	}
	c, err := transfer.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// request returns a valid create request for the grant (grant, openid).
func request(t testing.TB, c *transfer.Client, grant, openid string) *transfer.CreateRequest {
	t.Helper()
	n, err := c.OutBillNo(grant, openid, 0)
	if err != nil {
		t.Fatal(err)
	}
	return &transfer.CreateRequest{
		OutBillNo:    n,
		OpenID:       openid,
		Amount:       188,
		Remark:       "新春红包",
		ActivityName: "猜灯谜抢红包活动",
		RewardNote:   "答对灯谜奖励",
		Perception:   transfer.PerceptionCash,
	}
}

// creates returns the create calls the host received.
func creates(srv *wxpaytest.Server) []wxpaytest.V3Request {
	var out []wxpaytest.V3Request
	for _, r := range srv.V3Requests() {
		if r.Method == "POST" && r.URI == transfer.PathTransferBills {
			out = append(out, r)
		}
	}
	return out
}

// sameBodies fails unless every request carried the same body, and
// returns how many there were.
func sameBodies(t *testing.T, reqs []wxpaytest.V3Request) int {
	t.Helper()
	for i := 1; i < len(reqs); i++ {
		if !bytes.Equal(reqs[i].Body, reqs[0].Body) {
			t.Errorf("attempt %d sent\n%s\nattempt 1 sent\n%s", i+1, reqs[i].Body, reqs[0].Body)
		}
		if reqs[i].Header.Get("Authorization") == reqs[0].Header.Get("Authorization") {
			t.Errorf("attempt %d reused the signature of attempt 1", i+1)
		}
	}
	return len(reqs)
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }
