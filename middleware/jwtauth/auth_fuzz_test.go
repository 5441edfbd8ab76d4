package jwtauth

import (
	"encoding/base64"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"
)

func FuzzBearerToken(f *testing.F) {
	for _, s := range []string{
		"Bearer abc.def.ghi", "bearer abc", "BEARER  a-b_c~d+e/f==", "Bearer", "Bearer ",
		"Basic dXNlcjpwYXNz", "Bearerabc", " Bearer abc ", "Bearer a b", "Bearer ab=c",
		"Bearer \x00", "Bearer é", "\tBearer\tabc", "",
	} {
		f.Add(s, "", false, 0)
	}
	f.Add("Bearer abc", "Bearer abc", true, 0)
	f.Add("Bearer "+strings.Repeat("a", 100), "", false, 64)
	f.Fuzz(func(t *testing.T, v, second string, two bool, max int) {
		h := http.Header{"Authorization": {v}}
		if two {
			h["Authorization"] = append(h["Authorization"], second)
		}
		tok, err := BearerToken(h, max)
		if err != nil {
			if tok != "" {
				t.Fatalf("token %q returned with error %v", tok, err)
			}
			if !errors.Is(err, ErrNoToken) && !errors.Is(err, ErrMalformedHeader) && !errors.Is(err, ErrHeaderTooLarge) {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		if two {
			t.Fatal("token accepted from two Authorization headers")
		}
		bound := max
		if bound <= 0 {
			bound = defaultMaxHeaderBytes
		}
		if len(v) > bound {
			t.Fatalf("header of %d bytes accepted with bound %d", len(v), bound)
		}
		if tok == "" || strings.ContainsAny(tok, " \t\r\n") || !isB64Token(tok) {
			t.Fatalf("bad token %q from %q", tok, v)
		}
		trimmed := strings.Trim(v, " \t")
		if len(trimmed) < 7 || !strings.EqualFold(trimmed[:7], "bearer ") {
			t.Fatalf("token %q from header without the Bearer scheme: %q", tok, v)
		}
		if !strings.HasSuffix(trimmed, " "+tok) || strings.TrimLeft(trimmed[7:], " ") != tok {
			t.Fatalf("token %q is not the credentials of %q", tok, v)
		}
	})
}

// FuzzVerifyToken varies the header and payload of tokens whose signature
// is fixed: a token may only be accepted when its signing input is exactly
// the one that was signed.
func FuzzVerifyToken(f *testing.F) {
	k := getKeys()
	a := newAuth(f, []Key{
		must(HMACKey("", k.hmac)),
		must(PublicKeyPEM("ec", k.ecPEM)),
		must(PublicKeyPEM("rsa", k.rsaPEM)),
	}, nil)
	tokens := []string{
		sign(f, jwt.SigningMethodHS256, k.hmac, "", goodClaims(nil)),
		sign(f, jwt.SigningMethodES256, k.ec, "ec", goodClaims(nil)),
		sign(f, jwt.SigningMethodRS256, k.rsa, "rsa", goodClaims(nil)),
	}
	type signed struct{ input, sig string }
	var fixed []signed
	for _, tok := range tokens {
		if _, err := a.VerifyToken(tok); err != nil {
			f.Fatalf("seed token refused: %v", err)
		}
		i := strings.LastIndexByte(tok, '.')
		fixed = append(fixed, signed{tok[:i], tok[i+1:]})
	}
	dec := func(s string) []byte {
		b, err := base64.RawURLEncoding.DecodeString(s)
		if err != nil {
			f.Fatal(err)
		}
		return b
	}
	for i, s := range fixed {
		h, p, _ := strings.Cut(s.input, ".")
		f.Add(dec(h), dec(p), uint8(i), false)
		f.Add([]byte(h), []byte(p), uint8(i), true)
		f.Add([]byte(`{"alg":"none"}`), dec(p), uint8(i), false)
		f.Add([]byte(`{"alg":"HS256","kid":"rsa"}`), dec(p), uint8(i), false)
		f.Add([]byte(`{"alg":"ES256","kid":"ec","crit":["b64"],"b64":false}`), dec(p), uint8(i), false)
		f.Add(dec(h), []byte(`{"sub":"attacker","exp":9999999999}`), uint8(i), false)
		f.Add(dec(h), []byte(`{"sub":"`+testOpenID+`","iss":"`+testIssuer+`","aud":"`+testAudience+`","exp":1700003600} `), uint8(i), false)
	}
	f.Fuzz(func(t *testing.T, header, payload []byte, which uint8, raw bool) {
		s := fixed[int(which)%len(fixed)]
		hs, ps := string(header), string(payload)
		if !raw {
			hs = base64.RawURLEncoding.EncodeToString(header)
			ps = base64.RawURLEncoding.EncodeToString(payload)
		}
		tok := hs + "." + ps + "." + s.sig
		u, err := a.VerifyToken(tok)
		if err != nil {
			if !errors.Is(err, ErrInvalidToken) {
				t.Fatalf("error %v does not wrap ErrInvalidToken", err)
			}
			if len(ps) > 8 && strings.Contains(err.Error(), ps) {
				t.Fatal("error text contains the payload")
			}
			return
		}
		if hs+"."+ps != s.input {
			t.Fatalf("accepted a token that was not signed: header %q payload %q", header, payload)
		}
		if u.OpenID != testOpenID {
			t.Fatalf("accepted token has openid %q", u.OpenID)
		}
	})
}
