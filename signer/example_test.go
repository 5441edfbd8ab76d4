package signer_test

import (
	"bytes"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/hongbao-go/hongbao/signer"
)

// The platform's own worked example: the key and fields of its signature
// page give its published sign.
func ExampleNew() {
	s, err := signer.New("192006250b4c09247ec02edce69f6a2d")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(s) // the key is never printed

	_, err = signer.New("too short")
	fmt.Println(errors.Is(err, signer.ErrKeyLength))
	// Output:
	// signer.Signer{key: [redacted]}
	// true
}

// Sign chooses MD5, or HMAC-SHA256 when sign_type asks for it; Verify
// checks a sign in constant time.
func ExampleSigner_Sign() {
	s, err := signer.New("192006250b4c09247ec02edce69f6a2d")
	if err != nil {
		log.Fatal(err)
	}
	params := map[string]string{
		"appid":       "wxd930ea5d5a258f4f",
		"mch_id":      "10000100",
		"device_info": "1000",
		"body":        "test",
		"nonce_str":   "ibuaiVcKdpRxkhJA",
	}
	sign, err := s.Sign(params)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(sign)
	fmt.Println(s.SignWith(signer.HMACSHA256, params))

	params["sign"] = sign
	fmt.Println(s.Verify(params))
	params["body"] = "changed"
	fmt.Println(errors.Is(s.Verify(params), signer.ErrSignMismatch))
	// Output:
	// 9A0A8659F005D6984697E2CA0A9CF3B7
	// 6A9AE1657590FD6257D693A078E1C3E4BB6BA4DC30B23E0EE2496E54170DACD6
	// <nil>
	// true
}

// BizRedPacketParams turns the package of a successful sendminiprogramhb
// into the object the page hands to wx.sendBizRedPacket. Now and Rand are
// fixed here so that the output is the same on every run; in production
// leave them nil (time.Now, crypto/rand).
func ExampleSigner_BizRedPacketParams() {
	s, err := signer.New("0123456789abcdef0123456789abcdef")
	if err != nil {
		log.Fatal(err)
	}
	pkg := "sendid=242e8abd163d300019b2cae74ba8e8c06e3f0e51ab84d16b3c80decd22a5b672&ver=8&sign=4110d649a5aef52dd6b95654ddf91ca7d5411ac159ace4e1a766b2d3f1bbe1ab&mchid=11475856&appid=wxd27ebc41b85ce36d"
	p, err := s.BizRedPacketParams("wxd27ebc41b85ce36d", pkg, &signer.BizOptions{
		Now:  func() time.Time { return time.Unix(1700000000, 0) },
		Rand: bytes.NewReader(bytes.Repeat([]byte{7, 42, 199}, 40)),
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(p.TimeStamp)
	fmt.Println(p.NonceStr)
	fmt.Println(p.Package)
	fmt.Println(p.SignType, p.PaySign)
	// Output:
	// 1700000000
	// 7gD7gD7gD7gD7gD7gD7gD7gD7gD7gD7g
	// sendid%3D242e8abd163d300019b2cae74ba8e8c06e3f0e51ab84d16b3c80decd22a5b672%26ver%3D8%26sign%3D4110d649a5aef52dd6b95654ddf91ca7d5411ac159ace4e1a766b2d3f1bbe1ab%26mchid%3D11475856%26appid%3Dwxd27ebc41b85ce36d
	// MD5 6c432b4aaeaeb2d67a5a88f8bd511f28
}

// VerifyBizRedPacket checks the parameters as wx.sendBizRedPacket would:
// a test stand-in for the mini program, or a way to see which rule a
// paySign was made with.
func ExampleSigner_VerifyBizRedPacket() {
	s, err := signer.New("0123456789abcdef0123456789abcdef")
	if err != nil {
		log.Fatal(err)
	}
	const appID = "wxd27ebc41b85ce36d"
	p, err := s.BizRedPacketParams(appID, "sendid=242e8abd&ver=8&mchid=11475856&appid="+appID, nil)
	if err != nil {
		log.Fatal(err)
	}
	for _, rule := range []signer.PackageRule{signer.EncodedLowerRule, signer.EncodedUpperRule, signer.RawPackageRule} {
		err := s.VerifyBizRedPacket(appID, p, rule)
		fmt.Println(rule, err == nil, errors.Is(err, signer.ErrSignMismatch))
	}
	// Output:
	// encoded true false
	// encoded-upper false true
	// raw false true
}
