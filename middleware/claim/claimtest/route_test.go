package claimtest_test

import (
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/hongbao-go/hongbao/middleware/claim"
	"github.com/hongbao-go/hongbao/middleware/claim/claimtest"
)

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("full") }

func TestRoute(t *testing.T) {
	r, err := claimtest.NewRoute()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	mux := http.NewServeMux()
	claim.Mount(mux, "/hongbao/send", r.Auth, r.Handler)
	var out strings.Builder
	if err := r.Show(&out, mux, "/hongbao/send", "/elsewhere"); err != nil {
		t.Fatal(err)
	}
	want := "POST /hongbao/send 200 [nonceStr package paySign rail signType timeStamp]\n" +
		"GET /hongbao/send 405 method_not_allowed Allow: POST\n" +
		"GET /elsewhere 404 404 page not found\n"
	if out.String() != want {
		t.Fatalf("Show wrote\n%s\nwant\n%s", out.String(), want)
	}
	// The claim paid the token's user, once.
	if p := r.Host.PacketsOf(claimtest.RouteOpenID); len(p) != 1 || p[0].Amount != 100 {
		t.Fatalf("packets of the user: %+v", p)
	}
	if err := r.Show(failWriter{}, mux, "/hongbao/send"); err == nil || err.Error() != "full" {
		t.Fatalf("Show to a failing writer: %v", err)
	}
	if p := r.Host.PacketsOf(claimtest.RouteOpenID); len(p) != 1 {
		t.Fatalf("a repeated claim paid again: %d packets", len(p))
	}
}
