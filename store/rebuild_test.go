package store_test

import (
	"context"
	"crypto/rand"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/hongbao-go/hongbao"
	"github.com/hongbao-go/hongbao/apiv3"
	"github.com/hongbao-go/hongbao/transfer"
	"github.com/hongbao-go/hongbao/transport/wxpaytest"

	"github.com/hongbao-go/hongbao/store"
)

// twoRails is a campaign paid on both rails of one merchant: a fake host
// speaking APIv2 and APIv3 over TLS, a red-packet client and a transfer
// client with one bill number key.
type twoRails struct {
	t        *testing.T
	host     *wxpaytest.Server
	packets  *hongbao.Client
	transfer *transfer.Client
	redPkt   store.Platform
	trans    store.Platform
}

const migrating = "migrate-2026"

// quiet is the clients' logger: their records are not under test.
var quiet = slog.New(slog.DiscardHandler)

func newTwoRails(t *testing.T) *twoRails {
	t.Helper()
	host := wxpaytest.Start(t, wxpaytest.Options{})
	key := make([]byte, 32)
	rand.Read(key)
	retry := hongbao.RetryPolicy{Attempts: 2, BaseDelay: time.Millisecond, MaxDelay: 5 * time.Millisecond, AttemptTimeout: 5 * time.Second}
	packets, err := hongbao.New(hongbao.Config{AppID: host.AppID, Transport: host.TransportConfig(), BillnoKey: key, Retry: retry,
		Flow: hongbao.FlowControl{SendsPerMinute: -1}, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(packets.Transport().CloseIdleConnections)
	vc := host.V3Config()
	tr, err := apiv3.New(apiv3.Config{MchID: vc.MchID, CertPEM: vc.CertPEM, KeyPEM: vc.KeyPEM, APIv3Key: vc.APIv3Key,
		PublicKeyID: vc.PublicKeyID, PublicKeyPEM: vc.PublicKeyPEM, RootCAs: vc.RootCAs, BaseURL: vc.BaseURL, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	tc, err := transfer.New(transfer.Config{AppID: host.AppID, Transport: tr, BillnoKey: key, Retry: retry, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	trans, err := tc.Rail(transfer.RailConfig{})
	if err != nil {
		t.Fatal(err)
	}
	return &twoRails{t: t, host: host, packets: packets, transfer: tc, redPkt: packets.Rail(), trans: trans}
}

// number is attempt n's number of openid's grant on p.
func (w *twoRails) number(p store.Platform, openid string, n int) string {
	w.t.Helper()
	b, err := p.Billno(migrating, openid, n)
	if err != nil {
		w.t.Fatal(err)
	}
	return b
}

// send pays attempt n of openid's grant as a red packet of fen.
func (w *twoRails) send(openid string, n int, fen int64) string {
	w.t.Helper()
	b := w.number(w.redPkt, openid, n)
	if _, err := w.packets.SendMiniProgramHB(context.Background(), &hongbao.SendRequest{Billno: b, OpenID: openid, Amount: fen,
		SendName: "shop", Wishing: "happy new year", ActName: "new year", Remark: "thanks"}); err != nil {
		w.t.Fatalf("sending %s: %v", b, err)
	}
	return b
}

// offer creates attempt n of openid's grant as a transfer bill of fen,
// confirmed by the user when confirmed.
func (w *twoRails) offer(openid string, n int, fen int64, confirmed bool) string {
	w.t.Helper()
	no := w.number(w.trans, openid, n)
	b, err := w.transfer.Create(context.Background(), &transfer.CreateRequest{OutBillNo: no, OpenID: openid, Amount: fen,
		Remark: "new year", ActivityName: "lantern riddles", RewardNote: "a right answer"})
	if err != nil {
		w.t.Fatalf("creating %s: %v", no, err)
	}
	if confirmed {
		page, err := w.transfer.PageParams(b)
		if err != nil {
			w.t.Fatal(err)
		}
		if _, err := w.host.ConfirmTransfer(wxpaytest.TransferPage{MchID: page.MchID, AppID: page.AppID, Package: page.Package, OpenID: page.OpenID}); err != nil {
			w.t.Fatal(err)
		}
	}
	return no
}

// asked returns the numbers the host was asked about on each rail.
func (w *twoRails) asked() (packets, bills map[string]bool) {
	packets, bills = map[string]bool{}, map[string]bool{}
	for _, r := range w.host.Requests() {
		if r.Path == wxpaytest.PathGetHBInfo {
			packets[r.Params["mch_billno"]] = true
		}
	}
	for _, r := range w.host.V3Requests() {
		if no, ok := strings.CutPrefix(r.URI, wxpaytest.PathTransferBillByOutBillNo); ok && r.Method == "GET" {
			bills[no] = true
		}
	}
	return packets, bills
}

// A campaign paid on both rails (moving from the red packet to the
// transfer) is rebuilt in one call, each grant on its own rail, whichever
// rail is RebuildConfig.Platform: the red packet's SENT committed (not
// held as an offer), the transfer's SUCCESS committed and its
// WAIT_USER_CONFIRM reserved (not committed), the closed numbers of both
// released and the next ones followed; each number is asked about on its
// rail only. Walked on one rail, the other rail's grants count nothing.
func TestRebuildBudgetOnBothRails(t *testing.T) {
	w := newTwoRails(t)
	ctx := context.Background()
	// The red packets: sent (SENT); attempt 0 failed, attempt 1 opened.
	sent := w.send("oPacketSent", 0, 100)
	failed := w.send("oPacketAgain", 0, 150)
	if err := w.host.SetStatus(failed, wxpaytest.StatusFailed); err != nil {
		t.Fatal(err)
	}
	received := w.send("oPacketAgain", 1, 200)
	if err := w.host.MarkReceived(received); err != nil {
		t.Fatal(err)
	}
	// The transfers: confirmed (SUCCESS); offered, not confirmed yet
	// (WAIT_USER_CONFIRM); closed (FAIL), nothing after it.
	paid := w.offer("oTransferPaid", 0, 300, true)
	offered := w.offer("oTransferOffer", 0, 400, false)
	closed := w.offer("oTransferFail", 0, 500, false)
	if _, err := w.host.FailTransfer(closed, wxpaytest.FailOverdueClose); err != nil {
		t.Fatal(err)
	}
	packetGrants := []string{"oPacketSent", "oPacketAgain"}
	transferGrants := []string{"oTransferPaid", "oTransferOffer", "oTransferFail"}

	for _, tc := range []struct {
		name       string
		def, other store.Platform
		others     []string // the grants on other
		mine       []string // the grants on def
	}{
		{"red packet default", w.redPkt, w.trans, transferGrants, packetGrants},
		{"transfer default", w.trans, w.redPkt, packetGrants, transferGrants},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := store.NewMemoryStore()
			var grants []store.RebuildGrant
			for _, o := range tc.mine {
				grants = append(grants, store.RebuildGrant{Key: migrating, OpenID: o})
			}
			for _, o := range tc.others {
				grants = append(grants, store.RebuildGrant{Key: migrating, OpenID: o, Platform: tc.other})
			}
			rep, err := store.RebuildBudget(ctx, store.RebuildConfig{Platform: tc.def, Store: st, Campaign: migrating, Grants: grants})
			if err != nil {
				t.Fatal(err)
			}
			s := rep.State
			if rep.Grants != 5 || rep.Committed != 3 || rep.CommittedFen != 600 || rep.Reserved != 1 || rep.ReservedFen != 400 ||
				rep.Released != 2 || len(rep.Failed) != 0 {
				t.Errorf("report %+v; want 100 + 200 + 300 fen committed, the offer's 400 reserved, 2 released", rep)
			}
			if !s.Open || s.CommittedPackets != 3 || s.CommittedFen != 600 || s.ReservedPackets != 1 || s.ReservedFen != 400 {
				t.Errorf("account %+v", s)
			}
		})
	}

	packets, bills := w.asked()
	for _, n := range []string{sent, failed, received} {
		if !packets[n] || bills[n] {
			t.Errorf("red packet %s: asked by gethbinfo %v, as a transfer bill %v", n, packets[n], bills[n])
		}
	}
	for _, n := range []string{paid, offered, closed, w.number(w.trans, "oTransferFail", 1)} {
		if !bills[n] || packets[n] {
			t.Errorf("transfer bill %s: asked as a transfer bill %v, by gethbinfo %v", n, bills[n], packets[n])
		}
	}

	// One rail for every grant: the transfers are not found on the red
	// packet's rail, and count nothing.
	var all []store.RebuildGrant
	for _, o := range append(packetGrants, transferGrants...) {
		all = append(all, store.RebuildGrant{Key: migrating, OpenID: o})
	}
	rep, err := store.RebuildBudget(ctx, store.RebuildConfig{Platform: w.redPkt, Store: store.NewMemoryStore(), Campaign: migrating, Grants: all})
	if err != nil || rep.Committed != 2 || rep.CommittedFen != 300 || rep.Reserved != 0 {
		t.Errorf("on the red packet's rail alone: %+v %v", rep, err)
	}
}
