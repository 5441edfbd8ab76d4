package wxpaytest_test

import (
	"bytes"
	"crypto/tls"
	"fmt"
	"net/http"

	"github.com/hongbao-go/hongbao/signer"
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
