package apiv3_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net/http"
	"os"

	"github.com/hongbao-go/hongbao/apiv3"
)

// The Authorization header of a request, from the known-answer vectors: the
// same key, time and nonce always give the same header.
func ExampleSigner_Authorization() {
	data, err := os.ReadFile("testdata/v3-vectors.json")
	if err != nil {
		log.Fatal(err)
	}
	v := loadVectors(nil, data)
	s := &apiv3.Signer{MchID: v.Keys.MchID, Serial: v.Keys.MerchantSerialNo, Key: mustRSAPrivate(nil, v.Keys.MerchantPrivateKeyPEM)}
	auth, err := s.Authorization("GET", "/v3/certificates?algorithm_type=RSA", nil, 1802618176, "PTOVxVYmxBjkoUgeTkxWSu2GcWCTLlJV")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(auth)
	// Output:
	// WECHATPAY2-SHA256-RSA2048 mchid="1900000109",serial_no="5157F09EFDC096DE15EBE81A47057A7232F1B8E1",timestamp="1802618176",nonce_str="PTOVxVYmxBjkoUgeTkxWSu2GcWCTLlJV",signature="kYG2sEUQhgul2XmQVo19Zr0FOx5kSLqJse8E8Qump1+952bI2O3DbnEMpvTQYu084u/KVCsDoKwpDI1i3n0yMx5d/oivH4shJG5jlscSAQwKTJY9MI6/vjyWIib4txfgO7aNyjNA8MrqPms6C6zhL7gcYl4/ZuV5zBCZA0UeMpNV4JQXHsy8vfamSBhWYuuXc8qMSpp3wCXz+8WUMDf4bS4GQBF9sSib01A2p4Kz9J8pTn19qBqqVVi5lYlu2DC+tZ+XGuvfF21Ib9mYoiBmZk1XU3XKF8DiA3YGhCchUQnIosuzcKdIWOWEVIITat/6AzvGz9Mj//0iC3ZJrpoGyw=="
}

// Receiving MCHTRANSFER.BILL.FINISHED on the notify URL.
func ExampleTransport_NotificationHandler() {
	t, err := apiv3.New(apiv3.Config{
		MchID:         "1900000109",
		KeyFile:       "apiclient_key.pem",
		CertSerial:    "5157F09EFDC096DE15EBE81A47057A7232F1B8E1",
		APIv3Key:      os.Getenv("WECHATPAY_APIV3_KEY"),
		PublicKeyID:   "PUB_KEY_ID_0119000001092026120300000001",
		PublicKeyFile: "pub_key.pem",
	})
	if err != nil {
		log.Fatal(err)
	}
	h, err := t.NotificationHandler(func(ctx context.Context, n *apiv3.Notification) error {
		if b := n.TransferBill; b != nil {
			// Record b.State for b.OutBillNo, moving it only forward;
			// return nil once it is stored.
			fmt.Println(b.OutBillNo, b.State, b.FailReason)
		}
		return nil
	})
	if err != nil {
		log.Fatal(err)
	}
	http.Handle("POST /wechatpay/notify", h)
}

// Telling the outcome of a call.
func ExampleError() {
	var err error = &apiv3.Error{Method: "POST", Path: "/v3/fund-app/mch-transfer/transfer-bills", Status: 403, Code: "NOT_ENOUGH", Message: "资金不足", RequestID: "08B3A1C2D4"}
	var e *apiv3.Error
	switch {
	case errors.Is(err, apiv3.ErrOutcomeUnknown):
		fmt.Println("the platform may have acted: repeat the same request, or query")
	case errors.Is(err, apiv3.ErrNotEnough):
		fmt.Println("top up, then send the same out_bill_no again")
	case errors.As(err, &e):
		fmt.Println(e.Code)
	}
	// Output:
	// top up, then send the same out_bill_no again
}
