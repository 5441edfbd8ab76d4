package signer_test

import (
	"crypto/md5"
	"testing"

	"github.com/hongbao-go/hongbao/signer"
)

// The 12-field sendminiprogramhb body of the spec's example.
var hbBody = map[string]string{
	"wxappid":      "wx2421b1c4370ec43b",
	"mch_id":       "10000100",
	"mch_billno":   "2334580734271081478888000026",
	"send_name":    "miniprogramtest",
	"re_openid":    "oeDV3t7xy1IkfYFzgOsCZvdRjb45",
	"total_amount": "100",
	"total_num":    "1",
	"wishing":      "wishing",
	"act_name":     "act_name",
	"remark":       "remark",
	"notify_way":   "MINI_PROGRAM_JSAPI",
	"nonce_str":    "50780e0cca98c8c8e814883e5caa672e",
}

const hbKey = "192006250b4c09247ec02edce69f6a2d"

var sink string

// BenchmarkSign/baseline is bare md5.Sum over the already-built sign string:
// the floor any signer must pay. The ratio sign/baseline is the overhead of
// sorting, joining and hex-encoding.
func BenchmarkSign(b *testing.B) {
	s, err := signer.New(hbKey)
	if err != nil {
		b.Fatal(err)
	}
	const signString = "act_name=act_name&mch_billno=2334580734271081478888000026&mch_id=10000100&nonce_str=50780e0cca98c8c8e814883e5caa672e&notify_way=MINI_PROGRAM_JSAPI&re_openid=oeDV3t7xy1IkfYFzgOsCZvdRjb45&remark=remark&send_name=miniprogramtest&total_amount=100&total_num=1&wishing=wishing&wxappid=wx2421b1c4370ec43b&key=" + hbKey
	if got := s.SignWith(signer.MD5, hbBody); got != "A3F75B94BB93591BA9065556F70855FA" {
		b.Fatalf("sign %s", got)
	}
	b.Run("baseline-md5.Sum", func(b *testing.B) {
		b.ReportAllocs()
		in := []byte(signString)
		for b.Loop() {
			sum := md5.Sum(in)
			_ = sum
		}
	})
	b.Run("hongbao-MD5", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			sink = s.SignWith(signer.MD5, hbBody)
		}
	})
	b.Run("hongbao-HMAC-SHA256", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			sink = s.SignWith(signer.HMACSHA256, hbBody)
		}
	})
	b.Run("hongbao-Verify-MD5", func(b *testing.B) {
		b.ReportAllocs()
		p := map[string]string{"sign": "A3F75B94BB93591BA9065556F70855FA"}
		for k, v := range hbBody {
			p[k] = v
		}
		for b.Loop() {
			if err := s.Verify(p); err != nil {
				b.Fatal(err)
			}
		}
	})
}
