package transport_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/hongbao-go/hongbao/transport"
	"github.com/hongbao-go/hongbao/transport/wxpaytest"
)

// Reload re-reads the certificate files, e.g. on SIGHUP after the
// merchant replaced a certificate about to expire: calls from then on
// present the new one, without a restart. A file that fails the checks of
// New is refused, and the current certificate stays.
func ExampleTransport_Reload() {
	srv, err := wxpaytest.NewServer(wxpaytest.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	dir, err := os.MkdirTemp("", "hongbao-reload")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	cfg := srv.TransportConfig()
	cfg.CertFile, cfg.KeyFile = filepath.Join(dir, "apiclient_cert.pem"), filepath.Join(dir, "apiclient_key.pem")
	install := func(certPEM, keyPEM []byte) {
		if err := errors.Join(os.WriteFile(cfg.CertFile, certPEM, 0o600), os.WriteFile(cfg.KeyFile, keyPEM, 0o600)); err != nil {
			log.Fatal(err)
		}
	}
	install(cfg.CertPEM, cfg.KeyPEM)
	cfg.CertPEM, cfg.KeyPEM = nil, nil // the files are the source
	t, err := transport.New(cfg)
	if err != nil {
		log.Fatal(err)
	}
	presented := func() string {
		c, err := t.GetClientCertificate(nil)
		if err != nil {
			log.Fatal(err)
		}
		return string(c.Certificate[0])
	}
	first := presented()

	// The renewed certificate replaces the files.
	certPEM, keyPEM, err := srv.IssueClientCert(srv.MchID, time.Now().Add(365*24*time.Hour))
	if err != nil {
		log.Fatal(err)
	}
	install(certPEM, keyPEM)
	fmt.Println("reload:", t.Reload(), "new certificate:", presented() != first)
	renewed := presented()
	req, err := transport.NewRequest(context.Background(), t.BaseURL()+wxpaytest.PathGetHBInfo,
		map[string]string{"mch_billno": "1900000109202401010000000001", "appid": srv.AppID, "bill_type": "MCHT"})
	if err != nil {
		log.Fatal(err)
	}
	resp, err := t.Client().Do(req)
	if err != nil {
		log.Fatal(err)
	}
	resp.Body.Close()
	fmt.Println("call:", resp.StatusCode)

	// Another merchant's certificate is refused; the renewed one stays.
	certPEM, keyPEM, err = srv.IssueClientCert("1900000999", time.Now().Add(365*24*time.Hour))
	if err != nil {
		log.Fatal(err)
	}
	install(certPEM, keyPEM)
	err = t.Reload()
	fmt.Println("refused:", errors.Is(err, transport.ErrCertCN), "kept:", presented() == renewed)

	// A certificate given in memory has no file to re-read.
	inMemory, err := transport.New(srv.TransportConfig())
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(errors.Is(inMemory.Reload(), transport.ErrNoReload))
	// Output:
	// reload: <nil> new certificate: true
	// call: 200
	// refused: true kept: true
	// true
}
