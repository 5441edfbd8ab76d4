package transport

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// TestNewPool: the pool verifies the server with the roots it is given,
// speaks HTTP/1.1 to a server offering HTTP/2, and keeps its bounds.
func TestNewPool(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, r.Proto)
	}))
	srv.EnableHTTP2 = true
	srv.StartTLS()
	defer srv.Close()
	roots := x509.NewCertPool()
	roots.AddCert(srv.Certificate())

	p := NewPool(&tls.Config{MinVersion: tls.VersionTLS12, RootCAs: roots, NextProtos: []string{"http/1.1"}}, 3)
	defer p.CloseIdleConnections()
	if p.MaxConnsPerHost != 3 || p.MaxIdleConnsPerHost != MaxIdleConnsPerHost || p.IdleConnTimeout != 90*time.Second ||
		p.TLSHandshakeTimeout != 10*time.Second || p.Proxy == nil || p.DisableCompression {
		t.Fatalf("pool %+v", p)
	}
	res, err := (&http.Client{Transport: p}).Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.ProtoMajor != 1 || string(body) != "HTTP/1.1" {
		t.Fatalf("proto %s, the server saw %q", res.Proto, body)
	}

	// Other roots: the server is refused.
	other := NewPool(&tls.Config{MinVersion: tls.VersionTLS12, RootCAs: x509.NewCertPool()}, 0)
	defer other.CloseIdleConnections()
	if _, err := (&http.Client{Transport: other}).Get(srv.URL); err == nil {
		t.Fatal("a server outside the roots was accepted")
	}
}
