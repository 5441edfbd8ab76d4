package transport_test

import (
	"context"
	"errors"
	"fmt"
	"log"

	"github.com/hongbao-go/hongbao/transport"
	"github.com/hongbao-go/hongbao/transport/wxpaytest"
)

// newExampleTransport starts a fake platform and a Transport for it. A
// real merchant passes the downloaded certificate files and leaves
// RootCAs and BaseURL out.
func newExampleTransport() (*wxpaytest.Server, *transport.Transport) {
	srv, err := wxpaytest.NewServer(wxpaytest.Options{})
	if err != nil {
		log.Fatal(err)
	}
	t, err := transport.New(transport.Config{
		MchID:   srv.MchID,
		APIKey:  srv.APIKey,
		CertPEM: srv.ClientCertPEM(), // or CertFile/KeyFile, P12File
		KeyPEM:  srv.ClientKeyPEM(),
		RootCAs: srv.RootCAs(),
		BaseURL: srv.URL,
	})
	if err != nil {
		log.Fatal(err)
	}
	return srv, t
}

// Resty sends a map (as JSON, which the transport turns into a signed XML
// call) and decodes the XML reply into a struct.
func ExampleTransport_Resty() {
	srv, t := newExampleTransport()
	defer srv.Close()

	var out struct {
		ReturnCode string `xml:"return_code"`
		ResultCode string `xml:"result_code"`
		MchBillno  string `xml:"mch_billno"`
		SendListID string `xml:"send_listid"`
		Package    string `xml:"package"`
	}
	resp, err := t.Resty().R().
		SetBody(map[string]string{
			"mch_billno":   "1900000109202401010000000001",
			"wxappid":      srv.AppID,
			"send_name":    "Coffee Shop",
			"re_openid":    "oxTWIuGaIt6gTKsQRLau2M0yL16E",
			"total_amount": "100",
			"total_num":    "1",
			"wishing":      "Thank you",
			"act_name":     "Opening",
			"remark":       "first order",
			"notify_way":   "MINI_PROGRAM_JSAPI",
		}).
		SetResult(&out).
		Post("/mmpaymkttransfers/sendminiprogramhb")
	if err != nil {
		log.Fatal(err)
	}
	doc, ok := transport.ReplyOf(resp.RawResponse) // the decoded reply, every field
	if !ok {
		log.Fatal("no decoded reply")
	}
	fmt.Println(resp.StatusCode(), out.ReturnCode, out.ResultCode, out.MchBillno)
	fmt.Println(out.SendListID == doc.Fields["send_listid"], out.Package != "")
	// Output:
	// 200 SUCCESS SUCCESS 1900000109202401010000000001
	// true true
}

// Call sends the parameters and returns the decoded reply. A refusal
// reported in result_code is a reply like any other; return_code FAIL, a
// status other than 200 and a bad reply sign are a *transport.Error.
func ExampleTransport_Call() {
	srv, t := newExampleTransport()
	defer srv.Close()
	ctx := context.Background()

	params := map[string]string{
		"mch_billno":   "1900000109202401010000000004",
		"wxappid":      srv.AppID,
		"send_name":    "Coffee Shop",
		"re_openid":    "oxTWIuGaIt6gTKsQRLau2M0yL16E",
		"total_amount": "100",
		"total_num":    "1",
		"wishing":      "Thank you",
		"act_name":     "Opening",
		"remark":       "first order",
		"notify_way":   "MINI_PROGRAM_JSAPI",
	}
	reply, err := t.Call(ctx, "/mmpaymkttransfers/sendminiprogramhb", params)
	if err != nil {
		log.Fatal(err) // a *transport.Error or a network error
	}
	fmt.Println(reply.Fields["result_code"], reply.Fields["total_amount"], reply.Fields["send_listid"] != "")

	params["mch_billno"] = "1900000109202401010000000005"
	srv.Inject(wxpaytest.Fault{ErrCode: "NOTENOUGH"}) // return_code SUCCESS, result_code FAIL
	reply, err = t.Call(ctx, "/mmpaymkttransfers/sendminiprogramhb", params)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(reply.Fields["result_code"], reply.Fields["err_code"])

	srv.Inject(wxpaytest.Fault{ReturnFail: "系统繁忙", ErrCode: "SYSTEMERROR"}) // return_code FAIL
	reply, err = t.Call(ctx, "/mmpaymkttransfers/sendminiprogramhb", params)
	var te *transport.Error
	if !errors.As(err, &te) {
		log.Fatalf("error %v", err)
	}
	fmt.Println(reply == nil, te.Kind, te.ErrCode, te.OutcomeUnknown()) // unknown: send again, same mch_billno
	// Output:
	// SUCCESS 100 true
	// FAIL NOTENOUGH
	// true return-fail SYSTEMERROR true
}

// NewRequest carries the parameters in the request's context; any
// http.Client whose Transport is t sends it, and ReplyOf gives the decoded
// reply of the response.
func ExampleNewRequest() {
	srv, t := newExampleTransport()
	defer srv.Close()

	req, err := transport.NewRequest(context.Background(), t.BaseURL()+"/mmpaymkttransfers/sendminiprogramhb", map[string]string{
		"mch_billno":   "1900000109202401010000000002",
		"wxappid":      srv.AppID,
		"send_name":    "Coffee Shop",
		"re_openid":    "oxTWIuGaIt6gTKsQRLau2M0yL16E",
		"total_amount": "100",
		"total_num":    "1",
		"wishing":      "Thank you",
		"act_name":     "Opening",
		"remark":       "first order",
		"notify_way":   "MINI_PROGRAM_JSAPI",
	})
	if err != nil {
		log.Fatal(err)
	}
	resp, err := t.Client().Do(req)
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	reply, ok := transport.ReplyOf(resp)
	if !ok {
		log.Fatal("no decoded reply")
	}
	fmt.Println(resp.Header.Get("Content-Type"))
	fmt.Println(reply.Fields["result_code"], reply.Fields["total_amount"])
	// Output:
	// text/xml; charset=utf-8
	// SUCCESS 100
}

// A reply the transport rejects is a *transport.Error; OutcomeUnknown
// says whether the platform may have acted on the call anyway.
func ExampleError() {
	srv, t := newExampleTransport()
	defer srv.Close()

	for _, fault := range []wxpaytest.Fault{
		{Status: 502, HTML: true},
		{ErrCode: "SIGN_ERROR"},
	} {
		srv.Inject(fault)
		req, err := transport.NewRequest(context.Background(), t.BaseURL()+"/mmpaymkttransfers/gethbinfo",
			map[string]string{"mch_billno": "1900000109202401010000000003", "appid": srv.AppID, "bill_type": "MCHT"})
		if err != nil {
			log.Fatal(err)
		}
		resp, err := t.Client().Do(req)
		if err == nil {
			resp.Body.Close()
		}
		var te *transport.Error
		if errors.As(err, &te) {
			fmt.Println(te.Kind, te.StatusCode, te.ErrCode, te.OutcomeUnknown())
		}
	}
	// Output:
	// status 502  true
	// return-fail 200 SIGN_ERROR false
}
