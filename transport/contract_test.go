package transport_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/hongbao-go/hongbao/signer"
	"github.com/hongbao-go/hongbao/transport"
	"github.com/hongbao-go/hongbao/transport/wxpaytest"
	"github.com/hongbao-go/hongbao/xml"
)

// TestRoundTripContract pins down what a bare http.Client over the
// Transport sees, as the package documentation and the README state it:
// a platform failure (return_code FAIL, a status other than 200) is an
// error and no response, a result_code FAIL reply is a response and no
// error, and a reply whose sign fails is never a response.
func TestRoundTripContract(t *testing.T) {
	srv := wxpaytest.Start(t, wxpaytest.Options{})
	tr := newFakeTransport(t, srv, nil)
	client := &http.Client{Transport: tr} // bare: no Timeout, no wrapping
	do := func(t *testing.T) (*http.Response, error) {
		t.Helper()
		req, err := transport.NewRequest(context.Background(), srv.URL+wxpaytest.PathSendMiniProgramHB, sendParams(srv.AppID, newBillno()))
		if err != nil {
			t.Fatal(err)
		}
		return client.Do(req)
	}
	// failure checks that the call came back as a *url.Error holding a
	// *transport.Error, with no response.
	failure := func(t *testing.T, resp *http.Response, err error) *transport.Error {
		t.Helper()
		if resp != nil {
			resp.Body.Close()
			t.Fatalf("a response (status %d) came back with error %v", resp.StatusCode, err)
		}
		var ue *url.Error
		if !errors.As(err, &ue) || ue.Op != "Post" {
			t.Errorf("error %v (%T), want a *url.Error from http.Client", err, err)
		}
		return asError(t, err)
	}

	t.Run("return_code FAIL with err_code SYSTEMERROR", func(t *testing.T) {
		srv.Inject(wxpaytest.Fault{ReturnFail: "系统繁忙", ErrCode: "SYSTEMERROR"})
		resp, err := do(t)
		te := failure(t, resp, err)
		if te.Kind != transport.KindReturnFail || te.StatusCode != 200 || te.ReturnCode != "FAIL" ||
			te.ReturnMsg != "系统繁忙" || te.ErrCode != "SYSTEMERROR" || !te.OutcomeUnknown() {
			t.Errorf("error %+v", te)
		}
	})
	t.Run("return_code FAIL without err_code", func(t *testing.T) {
		srv.Inject(wxpaytest.Fault{ReturnFail: "签名错误"})
		resp, err := do(t)
		te := failure(t, resp, err)
		if te.Kind != transport.KindReturnFail || te.ReturnMsg != "签名错误" || te.ErrCode != "" || te.OutcomeUnknown() {
			t.Errorf("error %+v", te)
		}
	})
	for _, status := range []int{500, 503} {
		t.Run("HTTP "+strconv.Itoa(status), func(t *testing.T) {
			srv.Inject(wxpaytest.Fault{Status: status})
			resp, err := do(t)
			te := failure(t, resp, err)
			if te.Kind != transport.KindStatus || te.StatusCode != status || !te.OutcomeUnknown() {
				t.Errorf("error %+v", te)
			}
		})
	}
	t.Run("result_code FAIL: a response, nil error", func(t *testing.T) {
		for _, code := range []string{"NOTENOUGH", "SYSTEMERROR"} {
			srv.Inject(wxpaytest.Fault{ErrCode: code})
			resp, err := do(t)
			if err != nil {
				t.Fatalf("%s: %v", code, err)
			}
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil || resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/xml; charset=utf-8" {
				t.Fatalf("status %d, header %v, %v", resp.StatusCode, resp.Header, err)
			}
			fromBody, err := xml.Unmarshal(body)
			if err != nil {
				t.Fatal(err)
			}
			doc, ok := transport.ReplyOf(resp)
			for _, f := range []map[string]string{fromBody.Fields, doc.Fields} {
				if !ok || f["return_code"] != "SUCCESS" || f["result_code"] != "FAIL" || f["err_code"] != code {
					t.Errorf("reply %v", f)
				}
			}
		}
	})
	t.Run("forged reply sign", func(t *testing.T) {
		srv.Inject(wxpaytest.Fault{ErrCode: "BAD_REPLY_SIGN"})
		resp, err := do(t)
		te := failure(t, resp, err)
		if te.Kind != transport.KindSign || !errors.Is(err, signer.ErrSignMismatch) || !te.OutcomeUnknown() {
			t.Errorf("error %+v", te)
		}
	})

	t.Run("resty", func(t *testing.T) {
		type result struct {
			ReturnCode string `xml:"return_code"`
			ResultCode string `xml:"result_code"`
			ErrCode    string `xml:"err_code"`
		}
		srv.Inject(wxpaytest.Fault{ReturnFail: "系统繁忙", ErrCode: "SYSTEMERROR"})
		var out result
		_, err := tr.Resty().R().SetBody(sendParams(srv.AppID, newBillno())).SetResult(&out).Post(wxpaytest.PathSendMiniProgramHB)
		if te := asError(t, err); te.Kind != transport.KindReturnFail || !te.OutcomeUnknown() || out != (result{}) {
			t.Errorf("error %v, result %+v", te, out)
		}
		srv.Inject(wxpaytest.Fault{ErrCode: "NOTENOUGH"})
		resp, err := tr.Resty().R().SetBody(sendParams(srv.AppID, newBillno())).SetResult(&out).Post(wxpaytest.PathSendMiniProgramHB)
		if err != nil || !resp.IsSuccess() || out != (result{"SUCCESS", "FAIL", "NOTENOUGH"}) {
			t.Errorf("error %v, result %+v", err, out)
		}
	})
}

// TestRoundTripForgedSign: a forged reply never reaches an http.Client as
// a response.
func TestRoundTripForgedSign(t *testing.T) {
	forgedReplies(t, func(t *testing.T, srv *tlsServer, tr *transport.Transport, path string) {
		req, _ := transport.NewRequest(context.Background(), srv.URL+path, map[string]string{"a": "1"})
		resp, err := (&http.Client{Transport: tr}).Do(req)
		if resp != nil {
			resp.Body.Close()
			t.Fatal("a forged reply came back as a response")
		}
		te := asError(t, err)
		if te.Kind != transport.KindSign || !errors.Is(err, signer.ErrSignMismatch) || !te.OutcomeUnknown() {
			t.Errorf("kind %v unknown %v: %v", te.Kind, te.OutcomeUnknown(), err)
		}
	})
}

// TestRoundTripNoRedirect: a 3xx is an error, so http.Client never sends
// a signed call on to another location.
func TestRoundTripNoRedirect(t *testing.T) {
	ca := newCA(t, "test CA")
	var elsewhere atomic.Int32
	target := newTLSServer(t, ca, ca, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		elsewhere.Add(1)
		newReplier(t, nil, false).ServeHTTP(w, r)
	}))
	for _, status := range []int{http.StatusFound, http.StatusTemporaryRedirect, http.StatusPermanentRedirect} {
		t.Run(http.StatusText(status), func(t *testing.T) {
			srv := newTLSServer(t, ca, ca, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				http.Redirect(w, r, target.URL+r.URL.Path, status)
			}))
			tr := newTestTransport(t, ca, srv, nil)
			req, _ := transport.NewRequest(context.Background(), srv.URL+hbPath, map[string]string{"a": "1"})
			resp, err := (&http.Client{Transport: tr}).Do(req)
			if resp != nil {
				resp.Body.Close()
				t.Fatalf("a redirect came back as a response: %d", resp.StatusCode)
			}
			te := asError(t, err)
			if te.Kind != transport.KindStatus || te.StatusCode != status || te.OutcomeUnknown() {
				t.Errorf("error %+v", te)
			}
			if _, err := tr.Call(context.Background(), hbPath, map[string]string{"a": "1"}); asError(t, err).StatusCode != status {
				t.Errorf("Call: %v", err)
			}
			if n := elsewhere.Load(); n != 0 {
				t.Errorf("the redirect's target got %d calls", n)
			}
		})
	}
}
