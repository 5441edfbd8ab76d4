package wxpaytest_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/hongbao-go/hongbao/transport"
	"github.com/hongbao-go/hongbao/transport/wxpaytest"
)

func TestTransportConfig(t *testing.T) {
	srv := wxpaytest.Start(t, wxpaytest.Options{MchID: "1900000777", AppID: "wx1234567890abcdef"})
	cfg := srv.TransportConfig()
	if cfg.MchID != srv.MchID || cfg.APIKey != srv.APIKey || cfg.BaseURL != srv.URL {
		t.Fatalf("MchID %q, APIKey set %v, BaseURL %q; want %q, the server's key, %q",
			cfg.MchID, cfg.APIKey == srv.APIKey, cfg.BaseURL, srv.MchID, srv.URL)
	}
	if !bytes.Equal(cfg.CertPEM, srv.ClientCertPEM()) || !bytes.Equal(cfg.KeyPEM, srv.ClientKeyPEM()) {
		t.Fatal("CertPEM/KeyPEM are not the server's client certificate")
	}
	if cfg.RootCAs == nil || cfg.CertFile != "" || cfg.KeyFile != "" || cfg.P12File != "" || cfg.P12 != nil || cfg.Certificate != nil {
		t.Fatalf("want RootCAs and the PEM pair as the only certificate source, got %+v", cfg)
	}

	// Each call gives a Config of its own: changing one changes neither
	// the server nor the next.
	cfg.KeyPEM[0] ^= 0xff
	cfg.CertPEM[0] ^= 0xff
	again := srv.TransportConfig()
	if !bytes.Equal(again.KeyPEM, srv.ClientKeyPEM()) || !bytes.Equal(again.CertPEM, srv.ClientCertPEM()) || again.KeyPEM[0] == cfg.KeyPEM[0] {
		t.Fatal("a change to one Config reached the server or another Config")
	}

	// The Config works as it is, for a signed call over mutual TLS.
	tr, err := transport.New(srv.TransportConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer tr.CloseIdleConnections()
	if got := sendOne(t, tr, srv, "1900000777202401010000000001"); got != "SUCCESS" {
		t.Fatalf("result_code %q, want SUCCESS", got)
	}
	if srv.Handshakes() == 0 {
		t.Fatal("no verified TLS handshake")
	}

	// And with the certificate in files instead, as production has it.
	dir := t.TempDir()
	fcfg := srv.TransportConfig()
	fcfg.CertFile, fcfg.KeyFile = filepath.Join(dir, "apiclient_cert.pem"), filepath.Join(dir, "apiclient_key.pem")
	if err := os.WriteFile(fcfg.CertFile, fcfg.CertPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(fcfg.KeyFile, fcfg.KeyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	fcfg.CertPEM, fcfg.KeyPEM = nil, nil
	ftr, err := transport.New(fcfg)
	if err != nil {
		t.Fatal(err)
	}
	defer ftr.CloseIdleConnections()
	if got := sendOne(t, ftr, srv, "1900000777202401010000000002"); got != "SUCCESS" {
		t.Fatalf("result_code %q, want SUCCESS", got)
	}
}

// TestTransportConfigOtherServer: a Config trusts only its own server's CA.
func TestTransportConfigOtherServer(t *testing.T) {
	a := wxpaytest.Start(t, wxpaytest.Options{})
	b := wxpaytest.Start(t, wxpaytest.Options{})
	cfg := a.TransportConfig()
	cfg.BaseURL = b.URL
	tr, err := transport.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.CloseIdleConnections()
	req, err := transport.NewRequest(context.Background(), b.URL+wxpaytest.PathGetHBInfo,
		map[string]string{"mch_billno": "1900000109202401010000000001", "appid": b.AppID, "bill_type": "MCHT"})
	if err != nil {
		t.Fatal(err)
	}
	c := tr.Client()
	c.Timeout = 10 * time.Second
	resp, err := c.Do(req)
	if err == nil {
		resp.Body.Close()
		t.Fatal("a call to another server's host succeeded")
	}
	var te *transport.Error
	if errors.As(err, &te) && te.OutcomeUnknown() {
		t.Fatalf("a refused server certificate is not an unknown outcome: %v", err)
	}
}

func sendOne(t *testing.T, tr *transport.Transport, srv *wxpaytest.Server, billno string) string {
	t.Helper()
	req, err := transport.NewRequest(context.Background(), srv.URL+wxpaytest.PathSendMiniProgramHB, map[string]string{
		"mch_billno":   billno,
		"wxappid":      srv.AppID,
		"send_name":    "Shop",
		"re_openid":    openID,
		"total_amount": "100",
		"total_num":    "1",
		"wishing":      "Happy new year",
		"act_name":     "New year",
		"remark":       "Thanks",
		"notify_way":   "MINI_PROGRAM_JSAPI",
	})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := tr.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	reply, ok := transport.ReplyOf(resp)
	if !ok {
		t.Fatal("no decoded reply")
	}
	return reply.Fields["result_code"]
}
