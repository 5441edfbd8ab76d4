package hongbao_test

import (
	"errors"
	"strconv"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/hongbao-go/hongbao"
	"github.com/hongbao-go/hongbao/xml"
)

// FuzzValidate checks that Validate never panics, that a refusal is a
// *ValidationError matching ErrInvalidRequest, and that every request it
// accepts keeps each rule of sendminiprogramhb and encodes as an XML body.
func FuzzValidate(f *testing.F) {
	ok := validRequest()
	add := func(edit func(r *hongbao.SendRequest)) {
		r := ok
		edit(&r)
		f.Add(r.Billno, r.OpenID, r.Amount, string(r.Scene), r.SendName, r.Wishing, r.ActName, r.Remark)
	}
	add(func(*hongbao.SendRequest) {})
	add(func(r *hongbao.SendRequest) { r.Billno = strings.Repeat("9", 28) })
	add(func(r *hongbao.SendRequest) { r.Billno = "1900-0109" })
	add(func(r *hongbao.SendRequest) { r.OpenID = "o_-" + strings.Repeat("x", 29) })
	add(func(r *hongbao.SendRequest) { r.OpenID = "o<x>" })
	add(func(r *hongbao.SendRequest) { r.Amount = 99; r.Scene = hongbao.SceneLottery })
	add(func(r *hongbao.SendRequest) { r.Amount = 20001 })
	add(func(r *hongbao.SendRequest) { r.Amount = -1 << 63 })
	add(func(r *hongbao.SendRequest) { r.Scene = "PRODUCT_9" })
	add(func(r *hongbao.SendRequest) { r.SendName = strings.Repeat("红", 31) })
	add(func(r *hongbao.SendRequest) { r.Wishing = strings.Repeat("🧧", 128) })
	add(func(r *hongbao.SendRequest) { r.ActName = "a\tb" })
	add(func(r *hongbao.SendRequest) { r.Remark = "a\xffb" })
	add(func(r *hongbao.SendRequest) { r.Remark = "<![CDATA[ ]]> & </xml>" })
	add(func(r *hongbao.SendRequest) { r.Wishing = "a\u0085b" })  // NEL, a C1 control
	add(func(r *hongbao.SendRequest) { r.Wishing = "a\ufffeb" })  // not an XML character
	add(func(r *hongbao.SendRequest) { r.SendName = "a\uffffb" }) // not an XML character

	f.Fuzz(func(t *testing.T, billno, openID string, amount int64, scene, sendName, wishing, actName, remark string) {
		r := &hongbao.SendRequest{
			Billno: billno, OpenID: openID, Amount: amount, Scene: hongbao.Scene(scene),
			SendName: sendName, Wishing: wishing, ActName: actName, Remark: remark,
		}
		err := r.Validate()
		if err != nil {
			var ve *hongbao.ValidationError
			if !errors.As(err, &ve) || ve.Field == "" || ve.Rule == "" || !errors.Is(err, hongbao.ErrInvalidRequest) {
				t.Fatalf("Validate(%+v) = %v, want a *ValidationError matching ErrInvalidRequest", r, err)
			}
			if !strings.HasPrefix(err.Error(), "hongbao: ") {
				t.Fatalf("error without the package prefix: %v", err)
			}
			return
		}

		if billno == "" || len(billno) > hongbao.MaxBillnoLength || strings.IndexFunc(billno, notAlnum) >= 0 {
			t.Fatalf("accepted mch_billno %q", billno)
		}
		if openID == "" || len(openID) > 32 || strings.IndexFunc(openID, func(c rune) bool { return notAlnum(c) && c != '_' && c != '-' }) >= 0 {
			t.Fatalf("accepted re_openid %q", openID)
		}
		if amount <= 0 {
			t.Fatalf("accepted total_amount %d", amount)
		}
		if !validScene(scene) {
			t.Fatalf("accepted scene_id %q", scene)
		}
		if scene == "" && (amount < hongbao.MinAmountWithoutScene || amount > hongbao.MaxAmountWithoutScene) {
			t.Fatalf("accepted total_amount %d without a scene_id", amount)
		}
		for _, text := range []struct {
			name, v string
			max     int // exclusive, in characters
		}{{"send_name", sendName, 32}, {"wishing", wishing, 128}, {"act_name", actName, 32}, {"remark", remark, 256}} {
			switch {
			case text.v == "":
				t.Fatalf("accepted an empty %s", text.name)
			case !utf8.ValidString(text.v):
				t.Fatalf("accepted %s %q: invalid UTF-8", text.name, text.v)
			case utf8.RuneCountInString(text.v) >= text.max:
				t.Fatalf("accepted %s of %d characters, want fewer than %d", text.name, utf8.RuneCountInString(text.v), text.max)
			case strings.IndexFunc(text.v, unicode.IsControl) >= 0:
				t.Fatalf("accepted %s %q: a control character", text.name, text.v)
			}
		}

		// The body the client sends for it must encode.
		params := map[string]string{
			"mch_billno":   billno,
			"mch_id":       "1900000109",
			"wxappid":      "wx8888888888888888",
			"send_name":    sendName,
			"re_openid":    openID,
			"total_amount": strconv.FormatInt(amount, 10),
			"total_num":    "1",
			"wishing":      wishing,
			"act_name":     actName,
			"remark":       remark,
			"notify_way":   "MINI_PROGRAM_JSAPI",
			"nonce_str":    "5K8264ILTKCH16CQ2502SI8ZNMTM67VS",
			"sign":         "0AEA33C58B3B323788A6C2FB3552B4BE",
		}
		if scene != "" {
			params["scene_id"] = scene
		}
		if _, err := xml.Marshal(params); err != nil {
			t.Fatalf("accepted %+v, whose body does not encode: %v", r, err)
		}
	})
}

func notAlnum(c rune) bool {
	return !('0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z')
}

// validScene is the scene rule written out independently of Scene.Valid.
func validScene(s string) bool {
	if s == "" {
		return true
	}
	for i := 1; i <= 8; i++ {
		if s == "PRODUCT_"+strconv.Itoa(i) {
			return true
		}
	}
	return false
}
