package hongbao_test

import (
	"context"
	"errors"
	"fmt"
	"log"

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
