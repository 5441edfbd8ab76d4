package hongbao_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/hongbao-go/hongbao"
	"github.com/hongbao-go/hongbao/transport"
	"github.com/hongbao-go/hongbao/transport/wxpaytest"
)

// A Client pays one red packet and signs its wx.sendBizRedPacket
// parameters. The bill number is derived from the grant and the openid, so
// running this twice pays once.
func ExampleClient_SendMiniProgramHB() {
	host, err := wxpaytest.NewServer(wxpaytest.Options{}) // a fake platform
	if err != nil {
		log.Fatal(err)
	}
	defer host.Close()

	client, err := hongbao.New(hongbao.Config{
		AppID: host.AppID,
		Transport: transport.Config{
			MchID:   host.MchID,
			APIKey:  host.APIKey,
			CertPEM: host.ClientCertPEM(), // in production: CertFile and KeyFile, or P12File
			KeyPEM:  host.ClientKeyPEM(),
			RootCAs: host.RootCAs(), // in production: leave out
			BaseURL: host.URL,       // in production: leave out
		},
		BillnoKey: []byte("a stable secret of 16+ bytes"),
	})
	if err != nil {
		log.Fatal(err)
	}

	ctx := context.Background()
	openid := "oxTWIuGaIt6gTKsQRLau2M0yL16E"
	billno, err := client.Billno("lantern-festival-2026", openid) // same inputs, same number
	if err != nil {
		log.Fatal(err)
	}
	var listIDs []string
	for range 2 {
		res, err := client.SendMiniProgramHB(ctx, &hongbao.SendRequest{
			Billno:   billno,
			OpenID:   openid,
			Amount:   188, // fen
			SendName: "天虹百货",
			Wishing:  "元宵节快乐",
			ActName:  "猜灯谜",
			Remark:   "猜越多得越多",
		})
		switch {
		case errors.Is(err, hongbao.ErrOutcomeUnknown): // may have paid: resend the SAME billno later
			log.Fatal("may have paid: resend the same bill number later: ", err)
		case errors.Is(err, hongbao.ErrNotEnough): // top up the merchant balance
			log.Fatal("top up the merchant balance: ", err)
		case err != nil:
			log.Fatal(err)
		}
		params, err := client.BizRedPacketParams(res) // for wx.sendBizRedPacket
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(params.SignType, len(params.PaySign))
		listIDs = append(listIDs, res.SendListID)
	}
	info, err := client.QueryHB(ctx, billno) // gethbinfo: Status, Received (hblist), times
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("one payout:", listIDs[0] == listIDs[1], info.Amount, info.Status)
	// Output:
	// MD5 32
	// MD5 32
	// one payout: true 188 SENT
}

// New checks the whole configuration at start-up: a mistake is an error
// here, not a failed payout later.
func ExampleNew() {
	host, err := wxpaytest.NewServer(wxpaytest.Options{}) // a fake platform
	if err != nil {
		log.Fatal(err)
	}
	defer host.Close()

	// In production Transport is transport.Config{MchID: ..., APIKey: ...,
	// CertFile: "apiclient_cert.pem", KeyFile: "apiclient_key.pem"}.
	cfg := hongbao.Config{
		AppID:     host.AppID,
		Transport: host.TransportConfig(),
		BillnoKey: []byte("a stable secret of 16+ bytes"),
	}
	client, err := hongbao.New(cfg)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(client.AppID(), client.MchID())

	noKey := cfg
	noKey.BillnoKey = nil
	_, err = hongbao.New(noKey)
	fmt.Println(err)

	otherMerchant := cfg
	otherMerchant.Transport.MchID = "1900000110" // not the certificate's
	_, err = hongbao.New(otherMerchant)
	fmt.Println(errors.Is(err, transport.ErrCertCN))
	// Output:
	// wx8888888888888888 1900000109
	// hongbao: BillnoKey (the bill number key) must be set, at least 16 bytes, and kept stable
	// true
}

// QueryHB asks gethbinfo what became of a red packet: sent, opened by its
// receiver, refunded.
func ExampleClient_QueryHB() {
	sentAt := time.Date(2026, 2, 12, 10, 0, 0, 0, time.UTC)
	host, err := wxpaytest.NewServer(wxpaytest.Options{Now: func() time.Time { return sentAt }})
	if err != nil {
		log.Fatal(err)
	}
	defer host.Close()
	client, err := hongbao.New(hongbao.Config{
		AppID:     host.AppID,
		Transport: host.TransportConfig(),
		BillnoKey: []byte("a stable secret of 16+ bytes"),
	})
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	openid := "oxTWIuGaIt6gTKsQRLau2M0yL16E"
	billno, err := client.Billno("lantern-festival-2026", openid)
	if err != nil {
		log.Fatal(err)
	}

	// Nothing was sent under this number yet.
	_, err = client.QueryHB(ctx, billno)
	fmt.Println(errors.Is(err, hongbao.ErrNotFound))

	res, err := client.SendMiniProgramHB(ctx, &hongbao.SendRequest{Billno: billno, OpenID: openid, Amount: 188,
		SendName: "天虹百货", Wishing: "元宵节快乐", ActName: "猜灯谜", Remark: "猜越多得越多"})
	if err != nil {
		log.Fatal(err)
	}
	info, err := client.QueryHB(ctx, billno)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(info.Status, info.Amount, info.SendTime.UTC())

	// The user opens it in the mini program.
	params, err := client.BizRedPacketParams(res)
	if err != nil {
		log.Fatal(err)
	}
	if _, err := host.Open(params, 1047); err != nil {
		log.Fatal(err)
	}
	info, err = client.QueryHB(ctx, billno)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(info.Status, info.Received[0].OpenID, info.Received[0].Amount)
	// Output:
	// true
	// SENT 188 2026-02-12 10:00:00 +0000 UTC
	// RECEIVED oxTWIuGaIt6gTKsQRLau2M0yL16E 188
}
