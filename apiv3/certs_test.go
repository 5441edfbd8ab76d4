package apiv3_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hongbao-go/hongbao/apiv3"
)

// certConfig is a platform-certificate mode Config (no public key).
func (p *platform) certConfig() apiv3.Config {
	cfg := p.config()
	cfg.PublicKeyID, cfg.PublicKeyPEM = "", nil
	cfg.PlatformCertificates = true
	return cfg
}

// signWith makes the platform sign its answers with c.
func (p *platform) signWith(c platformCert) {
	p.set(func(p *platform) { p.signKey, p.signSerial = c.key, c.serial() })
}

func get(t *testing.T, tr *apiv3.Transport, url string) error {
	t.Helper()
	resp, err := tr.Client().Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if b, _ := io.ReadAll(resp.Body); string(b) != `{"ok":true}` {
		t.Errorf("body %q", b)
	}
	return nil
}

func serials(tr *apiv3.Transport) string {
	var s []string
	for _, c := range tr.PlatformCertificates() {
		s = append(s, c.Serial)
	}
	return strings.Join(s, ",")
}

func TestCertificatesDownload(t *testing.T) {
	p := newPlatform(t)
	now := time.Now()
	a := newPlatformCert(t, "platform", 0x0A, now.Add(-time.Hour), now.Add(365*24*time.Hour))
	p.set(func(p *platform) { p.certs = []platformCert{a} })
	p.signWith(a)
	tr := newTransport(t, p.certConfig())
	// The first call waits for the first download.
	if err := get(t, tr, p.srv.URL+"/v3/x"); err != nil {
		t.Fatal(err)
	}
	if serials(tr) != "0A" {
		t.Errorf("certificates %s", serials(tr))
	}
	recs := p.recorded()
	last := recs[len(recs)-1]
	if last.URI != "/v3/x" || last.Header.Get(apiv3.HeaderSerial) != "0A" {
		t.Errorf("request %s with Wechatpay-Serial %q", last.URI, last.Header.Get(apiv3.HeaderSerial))
	}
	if err := tr.RefreshCertificates(context.Background()); err != nil {
		t.Fatal(err)
	}
	if p.downloads.Load() < 2 {
		t.Errorf("%d downloads", p.downloads.Load())
	}
	for _, r := range recs {
		if r.URI == apiv3.PathCertificates && r.Header.Get("Authorization") == "" {
			t.Error("an unsigned certificate download")
		}
	}
}

// TestCertificateRotation: a new certificate appears and the platform signs
// with it; the old one stays trusted until it expires, also after the list
// no longer shows it.
func TestCertificateRotation(t *testing.T) {
	p := newPlatform(t)
	now := time.Now()
	a := newPlatformCert(t, "platform", 0x0A, now.Add(-24*time.Hour), now.Add(2*time.Hour))
	b := newPlatformCert(t, "other", 0x0B, now.Add(-time.Minute), now.Add(365*24*time.Hour))
	p.set(func(p *platform) { p.certs = []platformCert{a} })
	p.signWith(a)
	tr := newTransport(t, p.certConfig())
	if err := tr.RefreshCertificates(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := get(t, tr, p.srv.URL+"/v3/x"); err != nil {
		t.Fatal(err)
	}

	// B appears and signs. Within a minute of the last download an
	// unknown serial does not make the Transport download again.
	p.set(func(p *platform) { p.certs = []platformCert{a, b} })
	p.signWith(b)
	downloads := p.downloads.Load()
	for range 3 {
		err := get(t, tr, p.srv.URL+"/v3/x")
		if !errors.Is(err, apiv3.ErrUnknownSerial) || !errors.Is(err, apiv3.ErrOutcomeUnknown) {
			t.Fatalf("an answer signed by a certificate not yet downloaded: %v", err)
		}
	}
	if d := p.downloads.Load() - downloads; d != 0 {
		t.Errorf("%d downloads within a minute of the last", d)
	}
	// A minute later it does, once, and B is trusted.
	p.clock.Advance(2 * time.Minute)
	if err := get(t, tr, p.srv.URL+"/v3/x"); err != nil {
		t.Fatalf("after the new certificate appeared: %v", err)
	}
	if d := p.downloads.Load() - downloads; d != 1 {
		t.Errorf("%d downloads for one unknown serial", d)
	}
	if serials(tr) != "0B,0A" {
		t.Errorf("certificates %s", serials(tr))
	}
	// Requests now name the newest certificate.
	if err := get(t, tr, p.srv.URL+"/v3/x"); err != nil {
		t.Fatal(err)
	}
	recs := p.recorded()
	if s := recs[len(recs)-1].Header.Get(apiv3.HeaderSerial); s != "0B" {
		t.Errorf("Wechatpay-Serial %q", s)
	}

	// The list drops A, but the platform may still sign with it: it is
	// kept until it expires.
	p.set(func(p *platform) { p.certs = []platformCert{b} })
	if err := tr.RefreshCertificates(context.Background()); err != nil {
		t.Fatal(err)
	}
	p.signWith(a)
	if err := get(t, tr, p.srv.URL+"/v3/x"); err != nil {
		t.Fatalf("the old certificate before it expires: %v", err)
	}

	// A expires: its signatures are refused; B's still pass.
	p.clock.Advance(3 * time.Hour)
	err := get(t, tr, p.srv.URL+"/v3/x")
	if !errors.Is(err, apiv3.ErrUnknownSerial) || !strings.Contains(err.Error(), "expired") {
		t.Fatalf("an answer signed by an expired certificate: %v", err)
	}
	p.signWith(b)
	if err := get(t, tr, p.srv.URL+"/v3/x"); err != nil {
		t.Fatal(err)
	}
	if err := tr.RefreshCertificates(context.Background()); err != nil {
		t.Fatal(err)
	}
	if serials(tr) != "0B" {
		t.Errorf("after the expiry: certificates %s", serials(tr))
	}
}

// TestCertificatesBackgroundRefresh: the Transport downloads on its own,
// picks up a new certificate without any call, and stops at Close.
func TestCertificatesBackgroundRefresh(t *testing.T) {
	p := newPlatform(t)
	now := time.Now()
	a := newPlatformCert(t, "platform", 0x0A, now.Add(-time.Hour), now.Add(24*time.Hour))
	b := newPlatformCert(t, "other", 0x0B, now.Add(-time.Minute), now.Add(48*time.Hour))
	p.set(func(p *platform) { p.certs = []platformCert{a} })
	p.signWith(a)
	cfg := p.certConfig()
	cfg.RefreshInterval = 20 * time.Millisecond
	tr := newTransport(t, cfg)
	waitFor(t, "three downloads", func() bool { return p.downloads.Load() >= 3 })
	p.set(func(p *platform) { p.certs = []platformCert{a, b} })
	waitFor(t, "the new certificate", func() bool { return serials(tr) == "0B,0A" })
	tr.Close()
	time.Sleep(50 * time.Millisecond)
	n := p.downloads.Load()
	time.Sleep(200 * time.Millisecond)
	if m := p.downloads.Load(); m != n {
		t.Errorf("%d downloads after Close", m-n)
	}
	// Closed, it still works.
	if err := get(t, tr, p.srv.URL+"/v3/x"); err != nil {
		t.Error(err)
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("no %s in 10 s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestCertificatesWrongAPIv3Key(t *testing.T) {
	p := newPlatform(t)
	now := time.Now()
	a := newPlatformCert(t, "platform", 0x0A, now.Add(-time.Hour), now.Add(24*time.Hour))
	p.set(func(p *platform) { p.certs = []platformCert{a}; p.apiv3Key = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345" })
	p.signWith(a)
	tr := newTransport(t, p.certConfig())
	err := tr.RefreshCertificates(context.Background())
	if !errors.Is(err, apiv3.ErrDecrypt) || !strings.Contains(err.Error(), "APIv3Key") {
		t.Fatalf("%v", err)
	}
	// A call cannot name a platform key: it is not sent.
	err = get(t, tr, p.srv.URL+"/v3/x")
	if !errors.Is(err, apiv3.ErrRequest) || errors.Is(err, apiv3.ErrOutcomeUnknown) {
		t.Errorf("%v", err)
	}
	for _, r := range p.recorded() {
		if r.URI != apiv3.PathCertificates {
			t.Errorf("%s was sent", r.URI)
		}
	}
}

// TestCertificatesListRefused: a certificate list signed by no key in it
// (or held), altered after signing, or listing a certificate under another
// serial is refused as a whole.
func TestCertificatesListRefused(t *testing.T) {
	now := time.Now()
	a := newPlatformCert(t, "platform", 0x0A, now.Add(-time.Hour), now.Add(24*time.Hour))
	x := newPlatformCert(t, "other", 0x0C, now.Add(-time.Hour), now.Add(24*time.Hour))
	cases := []struct {
		name   string
		setup  func(p *platform)
		target error
		say    string
	}{
		{"signed by a stranger", func(p *platform) { p.certSigner = &x }, apiv3.ErrUnknownSerial, "signs the certificate list"},
		{"altered", func(p *platform) {
			p.tamper = func(h http.Header, body []byte) []byte { return append(body, ' ') }
		}, apiv3.ErrSignature, ""},
		{"probe", func(p *platform) {
			p.tamper = func(h http.Header, body []byte) []byte {
				h.Set(apiv3.HeaderSignature, apiv3.ProbePrefix+"x")
				return body
			}
		}, apiv3.ErrProbe, ""},
		{"listed under another serial", func(p *platform) {
			p.tamper = func(h http.Header, body []byte) []byte {
				return []byte(strings.Replace(string(body), `"serial_no":"0A"`, `"serial_no":"0D"`, 1))
			}
		}, nil, "listed as 0D has serial 0A"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := newPlatform(t)
			p.set(func(p *platform) { p.certs = []platformCert{a} })
			p.signWith(a)
			p.set(c.setup)
			tr := newTransport(t, p.certConfig())
			err := tr.RefreshCertificates(context.Background())
			if err == nil || c.target != nil && !errors.Is(err, c.target) || !strings.Contains(err.Error(), c.say) {
				t.Fatalf("%v", err)
			}
			if len(tr.PlatformCertificates()) != 0 {
				t.Errorf("certificates %s kept", serials(tr))
			}
		})
	}
}

// TestBothModes: during a migration answers signed by the public key and
// by a platform certificate are both verified; requests name the public
// key.
func TestBothModes(t *testing.T) {
	p := newPlatform(t)
	now := time.Now()
	a := newPlatformCert(t, "other", 0x0A, now.Add(-time.Hour), now.Add(24*time.Hour))
	p.set(func(p *platform) { p.certs = []platformCert{a} }) // the list is signed by the public key
	cfg := p.config()
	cfg.PlatformCertificates = true
	tr := newTransport(t, cfg)
	if err := tr.RefreshCertificates(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := get(t, tr, p.srv.URL+"/v3/x"); err != nil {
		t.Fatalf("signed by the public key: %v", err)
	}
	p.signWith(a)
	if err := get(t, tr, p.srv.URL+"/v3/x"); err != nil {
		t.Fatalf("signed by the platform certificate: %v", err)
	}
	for _, r := range p.recorded() {
		if s := r.Header.Get(apiv3.HeaderSerial); s != testPubKeyID {
			t.Errorf("%s named %q", r.URI, s)
		}
	}
	// Neither: refused, naming both.
	p.set(func(p *platform) { p.signSerial = "PUB_KEY_ID_999" })
	err := get(t, tr, p.srv.URL+"/v3/x")
	if !errors.Is(err, apiv3.ErrUnknownSerial) || !strings.Contains(err.Error(), "neither PublicKeyID") {
		t.Errorf("%v", err)
	}
}

// TestPublicKeyModeUnknownSerial: the error names the setting to fix.
func TestPublicKeyModeUnknownSerial(t *testing.T) {
	p := newPlatform(t)
	p.set(func(p *platform) { p.signSerial = "PUB_KEY_ID_0119000001092026120300000009" })
	tr := newTransport(t, p.config())
	err := get(t, tr, p.srv.URL+"/v3/x")
	if !errors.Is(err, apiv3.ErrUnknownSerial) || !strings.Contains(err.Error(), "set PublicKeyID and PublicKeyPEM") {
		t.Errorf("%v", err)
	}
}

// TestCertificatesOneDownloadForABurst: calls that start before the first
// download share it.
func TestCertificatesOneDownloadForABurst(t *testing.T) {
	p := newPlatform(t)
	now := time.Now()
	a := newPlatformCert(t, "platform", 0x0A, now.Add(-time.Hour), now.Add(24*time.Hour))
	p.set(func(p *platform) { p.certs = []platformCert{a} })
	p.signWith(a)
	tr := newTransport(t, p.certConfig())
	errs := make(chan error, 16)
	for range cap(errs) {
		go func() { errs <- get(t, tr, p.srv.URL+"/v3/x") }()
	}
	for range cap(errs) {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	if n := p.downloads.Load(); n != 1 {
		t.Errorf("%d downloads", n)
	}
}
