package transfer_test

import (
	"context"
	"fmt"
	"log"

	"github.com/hongbao-go/hongbao/apiv3"
	"github.com/hongbao-go/hongbao/transfer"
	"github.com/hongbao-go/hongbao/transport/wxpaytest"
)

// A transfer from creation to SUCCESS against the fake host: the page's
// confirmation is the fake's ConfirmTransfer.
func Example() {
	srv, err := wxpaytest.NewServer(wxpaytest.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	vc := srv.V3Config()
	t, err := apiv3.New(apiv3.Config{
		MchID: vc.MchID, CertPEM: vc.CertPEM, KeyPEM: vc.KeyPEM, APIv3Key: vc.APIv3Key,
		PublicKeyID: vc.PublicKeyID, PublicKeyPEM: vc.PublicKeyPEM,
		RootCAs: vc.RootCAs, BaseURL: vc.BaseURL, Logger: quiet,
	})
	if err != nil {
		log.Fatal(err)
	}
	defer t.Close()
	c, err := transfer.New(transfer.Config{AppID: srv.AppID, Transport: t, BillnoKey: []byte("a stable secret of 16+ bytes"), Logger: quiet})
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	n, err := c.OutBillNo("spring-2026", "oUser1", 0)
	if err != nil {
		log.Fatal(err)
	}
	bill, err := c.Create(ctx, &transfer.CreateRequest{
		OutBillNo: n, OpenID: "oUser1", Amount: 188,
		Remark: "新春红包", ActivityName: "猜灯谜", RewardNote: "答对奖励",
	})
	if err != nil {
		log.Fatal(err)
	}
	page, err := c.PageParams(bill)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(bill.State, page.Package != "")
	if _, err := srv.ConfirmTransfer(wxpaytest.TransferPage{MchID: page.MchID, AppID: page.AppID, Package: page.Package, OpenID: page.OpenID}); err != nil {
		log.Fatal(err)
	}
	bill, err = c.QueryByOutBillNo(ctx, n)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(bill.State, bill.State.Final(), bill.Amount)
	// Output:
	// WAIT_USER_CONFIRM true
	// SUCCESS true 188
}
