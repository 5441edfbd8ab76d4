package wxpaytest_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/hongbao-go/hongbao"
	"github.com/hongbao-go/hongbao/signer"
	"github.com/hongbao-go/hongbao/transport"
	"github.com/hongbao-go/hongbao/transport/wxpaytest"
	"github.com/hongbao-go/hongbao/xml"
)

func Example() {
	srv, err := wxpaytest.NewServer(wxpaytest.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Close()

	// A request signed by hand: MD5 over the fields, no sign_type.
	params := map[string]string{
		"nonce_str":    signer.Nonce(),
		"mch_billno":   "190000010920240101" + "0000000001",
		"mch_id":       srv.MchID,
		"wxappid":      srv.AppID,
		"send_name":    "Shop",
		"re_openid":    "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o",
		"total_amount": "100",
		"total_num":    "1",
		"wishing":      "Happy new year",
		"act_name":     "New year",
		"remark":       "Thanks",
		"notify_way":   "MINI_PROGRAM_JSAPI",
	}
	sg, err := signer.New(srv.APIKey)
	if err != nil {
		fmt.Println(err)
		return
	}
	params["sign"] = sg.SignWith(signer.MD5, params)
	body, err := xml.Marshal(params)
	if err != nil {
		fmt.Println(err)
		return
	}

	// Trust the server's CA and present the merchant certificate.
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{
		RootCAs:      srv.RootCAs(),
		Certificates: []tls.Certificate{srv.ClientCertificate()},
	}}}
	resp, err := client.Post(srv.URL+wxpaytest.PathSendMiniProgramHB, "text/xml", bytes.NewReader(body))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()
	reply, err := xml.Decoder{}.DecodeReader(resp.Body)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(reply.Fields["result_code"])
	// Output: SUCCESS
}

// TransportConfig is everything a transport.Config needs to reach the
// server; a hongbao.Config is one literal away:
//
//	hongbao.Config{AppID: srv.AppID, Transport: srv.TransportConfig(), BillnoKey: billnoKey}
func ExampleServer_TransportConfig() {
	srv, err := wxpaytest.NewServer(wxpaytest.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Close()

	t, err := transport.New(srv.TransportConfig())
	if err != nil {
		fmt.Println(err)
		return
	}
	req, err := transport.NewRequest(context.Background(), t.BaseURL()+wxpaytest.PathGetHBInfo, map[string]string{
		"mch_billno": "1900000109202401010000000001",
		"appid":      srv.AppID,
		"bill_type":  "MCHT",
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	resp, err := t.Client().Do(req)
	if err != nil {
		fmt.Println(err)
		return
	}
	resp.Body.Close()
	reply, ok := transport.ReplyOf(resp)
	if !ok {
		fmt.Println("no reply")
		return
	}
	// No packet has this number yet.
	fmt.Println(reply.Fields["result_code"], reply.Fields["err_code"])
	// Output: FAIL NOT_FOUND
}

// Inject makes the next calls fail the way the platform can, so that a
// test sees how the code under test copes.
func ExampleServer_Inject() {
	srv, err := wxpaytest.NewServer(wxpaytest.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Close()
	client, err := hongbao.New(hongbao.Config{
		AppID:     srv.AppID,
		Transport: srv.TransportConfig(),
		BillnoKey: []byte("a stable secret of 16+ bytes"),
		Retry:     hongbao.RetryPolicy{Attempts: 5, BaseDelay: time.Millisecond, MaxDelay: 2 * time.Millisecond},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	openid := "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"
	billno, err := client.Billno("spring-2026", openid)
	if err != nil {
		fmt.Println(err)
		return
	}
	req := &hongbao.SendRequest{Billno: billno, OpenID: openid, Amount: 100,
		SendName: "Shop", Wishing: "Happy new year", ActName: "New year", Remark: "Thanks"}
	ctx := context.Background()

	// The merchant's balance is too low: not retried, nothing paid.
	srv.Inject(wxpaytest.Fault{ErrCode: "NOTENOUGH"})
	_, err = client.SendMiniProgramHB(ctx, req)
	fmt.Println("NOTENOUGH:", errors.Is(err, hongbao.ErrNotEnough), len(srv.PacketsOf(openid)))

	// Two SYSTEMERRORs, then the connection dropped after the platform
	// paid: the client resends the same bill number until it learns the
	// outcome, and the platform pays it once.
	srv.Inject(wxpaytest.Fault{ErrCode: "SYSTEMERROR", Times: 2})
	srv.Inject(wxpaytest.Fault{DropAfter: true})
	res, err := client.SendMiniProgramHB(ctx, req)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("paid:", res.Amount, "calls:", len(srv.Requests()), "packets:", len(srv.PacketsOf(openid)))
	// Output:
	// NOTENOUGH: true 0
	// paid: 100 calls: 5 packets: 1
}
