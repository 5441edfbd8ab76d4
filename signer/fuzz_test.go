package signer_test

import (
	"errors"
	"testing"

	"github.com/hongbao-go/hongbao/signer"
)

// FuzzVerify checks that Verify never panics, accepts exactly the signs the
// signer produces, and refuses any change to a signed field.
func FuzzVerify(f *testing.F) {
	f.Add("return_code", "SUCCESS", "A3F75B94BB93591BA9065556F70855FA", "")
	f.Add("appid", "wxd930ea5d5a258f4f", "6A9AE1657590FD6257D693A078E1C3E4BB6BA4DC30B23E0EE2496E54170DACD6", "HMAC-SHA256")
	f.Add("", "", "", "MD5")
	f.Add("k", "红包", "zz", "SHA1")
	s, err := signer.New("192006250b4c09247ec02edce69f6a2d")
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, k, v, sign, signType string) {
		p := map[string]string{k: v, "sign": sign, "sign_type": signType}
		err := s.Verify(p)
		if err == nil {
			// Only a correct sign may pass.
			alg := signer.MD5
			if len(sign) == 64 {
				alg = signer.HMACSHA256
			}
			if want := s.SignWith(alg, p); !equalFold(want, sign) {
				t.Fatalf("accepted %q, want %q", sign, want)
			}
		}
		for _, alg := range []signer.Algorithm{signer.MD5, signer.HMACSHA256} {
			if signType != "" && signType != string(alg) {
				continue
			}
			p["sign"] = s.SignWith(alg, p)
			if err := s.Verify(p); err != nil && !errors.Is(err, signer.ErrUnknownSignType) {
				t.Fatalf("own %s sign refused: %v", alg, err)
			}
			if k != "sign" && v != "" {
				p[k] = v + "x"
				if err := s.Verify(p); err == nil {
					t.Fatalf("changed field %q accepted", k)
				}
				p[k] = v
			}
		}
	})
}

func equalFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'a' <= y && y <= 'f' {
			y -= 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}
