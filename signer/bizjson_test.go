package signer_test

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/hongbao-go/hongbao/signer"
)

// AppendBizRedPacket writes, for the same inputs, exactly the parameters of
// BizRedPacketParams, in every rule, as a JSON object that decodes to them.
func TestAppendBizRedPacketMatchesParams(t *testing.T) {
	s, err := signer.New("192006250b4c09247ec02edce69f6a2d")
	if err != nil {
		t.Fatal(err)
	}
	now := func() time.Time { return time.Unix(1_700_000_123, 0) }
	packages := []string{
		"sendid=242e8abd163d300019b2cae74ba8e8c06e3f0e51ab84d16b3c80decd22a5b672&ver=8&sign=4110d649a5aef52dd6b95654ddf91ca7d5411ac159ace4e1a766b2d3f2f66efa&mchid=11475856&appid=wxbf3b8ba6d3c1d1d8",
		"a", "a b", "ü&=?/%+'()*!~-_.", strings.Repeat("x", 600),
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 50 {
		b := make([]byte, rng.IntN(300)+1)
		for i := range b {
			b[i] = byte(rng.IntN(256))
		}
		packages = append(packages, string(b))
	}
	for _, rule := range []signer.PackageRule{signer.EncodedLowerRule, signer.EncodedUpperRule, signer.RawPackageRule} {
		for _, pkg := range packages {
			seed := bytes.Repeat([]byte{7, 42, 200, 13, 61, 99}, 20)
			want, err := s.BizRedPacketParams("wxbf3b8ba6d3c1d1d8", pkg, &signer.BizOptions{Rule: rule, Now: now, Rand: bytes.NewReader(seed)})
			if err != nil {
				t.Fatal(err)
			}
			out, err := s.AppendBizRedPacket([]byte("x"), "wxbf3b8ba6d3c1d1d8", pkg, &signer.BizOptions{Rule: rule, Now: now, Rand: bytes.NewReader(seed)})
			if err != nil {
				t.Fatal(err)
			}
			if out[0] != 'x' {
				t.Fatal("dst was not extended")
			}
			var got signer.BizRedPacket
			dec := json.NewDecoder(bytes.NewReader(out[1:]))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&got); err != nil {
				t.Fatalf("%s: %v", out, err)
			}
			if got != want {
				t.Fatalf("rule %v, package %q:\n got %+v\nwant %+v", rule, pkg, got, want)
			}
			if err := s.VerifyBizRedPacket("wxbf3b8ba6d3c1d1d8", got, rule); err != nil {
				t.Fatalf("rule %v: %v", rule, err)
			}
			if want, _ := json.Marshal(want); !bytes.Equal(out[1:], want) {
				t.Fatalf("not the bytes of encoding/json:\n%s\n%s", out[1:], want)
			}
		}
	}
	for _, c := range []struct{ appID, pkg string }{{"", "p"}, {"wx", ""}} {
		if _, err := s.AppendBizRedPacket(nil, c.appID, c.pkg, nil); err == nil {
			t.Errorf("%+v: no error", c)
		}
	}
	if _, err := s.AppendBizRedPacket(nil, "wx", "p", &signer.BizOptions{Rule: 9}); err == nil {
		t.Error("an unknown rule")
	}
}
