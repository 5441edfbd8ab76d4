package wxpaytest_test

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hongbao-go/hongbao/transport/wxpaytest"
)

// TestV3AnswerSignatures: a fault signs the next answer wrongly in each
// way a verifier must catch; the call is processed all the same (the
// platform acted), and the next answer is genuine again.
func TestV3AnswerSignatures(t *testing.T) {
	h := newV3(t, wxpaytest.Options{})
	for i, c := range brokenSignatures {
		t.Run(c.sig.String(), func(t *testing.T) {
			n := "SG" + string(rune('A'+i))
			h.srv.InjectV3(wxpaytest.V3Fault{Signature: c.sig})
			r := h.c.do(http.MethodPost, wxpaytest.PathTransferBills, jsonBody(t, billFields(h.srv.AppID, n, 100)))
			if r.status != 200 || !errors.Is(r.verifyErr, c.want) {
				t.Fatalf("status %d, verification %v, want %v", r.status, r.verifyErr, c.want)
			}
			if r.header.Get("Request-ID") == "" {
				t.Error("no Request-ID")
			}
			switch c.sig {
			case wxpaytest.SignProbe:
				if !strings.HasPrefix(r.header.Get("Wechatpay-Signature"), wxpaytest.ProbePrefix) {
					t.Errorf("signature %q", r.header.Get("Wechatpay-Signature"))
				}
			case wxpaytest.SignTampered:
				if !bytes.HasSuffix(r.body, []byte(" ")) {
					t.Errorf("tampered body %q", r.body)
				}
			case wxpaytest.SignUnknownSerial:
				if s := r.header.Get("Wechatpay-Serial"); !strings.HasPrefix(s, "PUB_KEY_ID_") || s == h.srv.PublicKeyID() {
					t.Errorf("serial %q", s)
				}
			}
			if _, ok := h.srv.Bill(n); !ok {
				t.Error("the call was not processed")
			}
			h.query(n)
		})
	}
	if wxpaytest.Signature(99).String() != "Signature(99)" || wxpaytest.TrustBoth.String() != "TrustBoth" {
		t.Error("String methods")
	}
}

// TestV3PublicKeyModeHasNoCertificates: in public-key mode the listing is
// empty and no certificate can be made.
func TestV3PublicKeyModeHasNoCertificates(t *testing.T) {
	h := newV3(t, wxpaytest.Options{})
	r := h.c.ok(http.MethodGet, wxpaytest.PathCertificates, nil)
	if string(r.body) != `{"data":[]}` {
		t.Errorf("listing %s", r.body)
	}
	if h.srv.PlatformCertificates() != nil {
		t.Error("PlatformCertificates in public-key mode")
	}
	if _, err := h.srv.AddPlatformCertificate(time.Time{}); err == nil {
		t.Error("AddPlatformCertificate in public-key mode")
	}
	if _, err := h.srv.RotatePlatformCertificate(); err == nil {
		t.Error("RotatePlatformCertificate in public-key mode")
	}
	if err := h.srv.UsePlatformCertificate("ABC"); err == nil {
		t.Error("UsePlatformCertificate of an unknown serial")
	}
}

// TestV3CertificateMode: the client fetches the certificates (encrypted
// under the APIv3 key), verifies answers with them, and follows a
// rotation: a new certificate appears, signs after the switch, and the
// old one expires on the server clock.
func TestV3CertificateMode(t *testing.T) {
	h := newV3(t, wxpaytest.Options{V3: wxpaytest.V3Options{Trust: wxpaytest.TrustCertificates, CertificateLifetime: 10 * 24 * time.Hour}})
	cfg := h.srv.V3Config()
	if cfg.PublicKeyID != "" || cfg.PublicKeyPEM != nil || h.srv.PublicKeyID() != "" {
		t.Fatalf("public key offered in certificate mode: %q", cfg.PublicKeyID)
	}
	// Without the certificates nothing verifies.
	if r := h.c.do(http.MethodGet, uriOut("NONE"), nil); r.status != 404 {
		t.Fatalf("status %d", r.status)
	}
	if r := h.c.do(http.MethodPost, wxpaytest.PathTransferBills, jsonBody(t, billFields(h.srv.AppID, "CM0", 100))); r.status != 200 || !errors.Is(r.verifyErr, errUnknownKey) {
		t.Fatalf("before fetching the certificates: %d %v", r.status, r.verifyErr)
	}
	serials, err := h.c.fetchCertificates()
	if err != nil || len(serials) != 1 {
		t.Fatalf("fetch: %v %v", serials, err)
	}
	old := serials[0]
	certs := h.srv.PlatformCertificates()
	if len(certs) != 1 || certs[0].Serial != old || !certs[0].Signing || certs[0].NotAfter.Sub(certs[0].NotBefore) != 10*24*time.Hour+time.Hour {
		t.Fatalf("PlatformCertificates %+v", certs)
	}
	block, _ := pem.Decode(certs[0].PEM)
	if c, err := x509.ParseCertificate(block.Bytes); err != nil || !c.Equal(certs[0].Certificate) {
		t.Fatalf("PEM %v", err)
	}
	r := h.create("CM1", 100)
	if r.header.Get("Wechatpay-Serial") != old {
		t.Fatalf("signed by %q, want %q", r.header.Get("Wechatpay-Serial"), old)
	}

	// A new certificate appears; answers stay signed by the old one.
	h.clock.Add(5 * 24 * time.Hour)
	added, err := h.srv.AddPlatformCertificate(time.Time{})
	if err != nil || added.Signing {
		t.Fatalf("AddPlatformCertificate: %+v %v", added, err)
	}
	if r := h.query("CM1"); r.header.Get("Wechatpay-Serial") != old {
		t.Fatalf("signed by %q before the switch", r.header.Get("Wechatpay-Serial"))
	}
	// The platform switches before the client refreshed: an unknown serial.
	if err := h.srv.UsePlatformCertificate(added.Serial); err != nil {
		t.Fatal(err)
	}
	if r := h.c.do(http.MethodGet, uriOut("CM1"), nil); !errors.Is(r.verifyErr, errUnknownKey) {
		t.Fatalf("before the refresh: %v", r.verifyErr)
	}
	serials, err = h.c.fetchCertificates()
	if err != nil || len(serials) != 2 || serials[1] != added.Serial {
		t.Fatalf("refresh: %v %v", serials, err)
	}
	if r := h.query("CM1"); r.header.Get("Wechatpay-Serial") != added.Serial {
		t.Fatalf("signed by %q after the switch", r.header.Get("Wechatpay-Serial"))
	}

	// The old certificate expires: no longer listed.
	h.clock.Add(5*24*time.Hour + time.Second)
	serials, err = h.c.fetchCertificates()
	if err != nil || len(serials) != 1 || serials[0] != added.Serial {
		t.Fatalf("after the old expired: %v %v", serials, err)
	}
	if n := len(h.srv.PlatformCertificates()); n != 1 {
		t.Errorf("%d certificates listed", n)
	}
	h.c.forget(old)
	h.query("CM1")

	// Rotate in one step.
	rot, err := h.srv.RotatePlatformCertificate()
	if err != nil || !rot.Signing {
		t.Fatal(rot, err)
	}
	if r := h.c.do(http.MethodGet, uriOut("CM1"), nil); !errors.Is(r.verifyErr, errUnknownKey) {
		t.Fatalf("after a rotation: %v", r.verifyErr)
	}
	if _, err := h.c.fetchCertificates(); err != nil {
		t.Fatal(err)
	}
	if r := h.query("CM1"); r.header.Get("Wechatpay-Serial") != rot.Serial {
		t.Fatalf("signed by %q", r.header.Get("Wechatpay-Serial"))
	}
	// A certificate that would end before it starts is refused.
	if _, err := h.srv.AddPlatformCertificate(h.clock.Now().Add(-2 * time.Hour)); err == nil {
		t.Error("a certificate expired at birth")
	}
}

// TestV3TrustBoth: during a migration both keys are served; an answer is
// signed with the key the request's Wechatpay-Serial names.
func TestV3TrustBoth(t *testing.T) {
	h := newV3(t, wxpaytest.Options{V3: wxpaytest.V3Options{Trust: wxpaytest.TrustBoth}})
	if h.srv.PublicKeyID() == "" || h.srv.Trust() != wxpaytest.TrustBoth {
		t.Fatal("no public key in TrustBoth")
	}
	serials, err := h.c.fetchCertificates() // signed with the public key: no Wechatpay-Serial sent
	if err != nil || len(serials) != 1 {
		t.Fatalf("%v %v", serials, err)
	}
	cert := serials[0]
	for _, c := range []struct{ send, want string }{
		{"", h.srv.PublicKeyID()},
		{h.srv.PublicKeyID(), h.srv.PublicKeyID()},
		{cert, cert},
		{"PUB_KEY_ID_0000", h.srv.PublicKeyID()},
	} {
		h.c.wechatpaySerial = c.send
		if r := h.c.ok(http.MethodGet, wxpaytest.PathCertificates, nil); r.header.Get("Wechatpay-Serial") != c.want {
			t.Errorf("Wechatpay-Serial %q: signed by %q, want %q", c.send, r.header.Get("Wechatpay-Serial"), c.want)
		}
	}
}
