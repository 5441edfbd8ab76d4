package hongbao_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/hongbao-go/hongbao"
)

func validRequest() hongbao.SendRequest {
	return hongbao.SendRequest{
		Billno:   "1900000109x7rhUBJ28onPYlVmCd",
		OpenID:   "oxTWIuGaIt6gTKsQRLau2M0yL16E",
		Amount:   100,
		SendName: "天虹百货",
		Wishing:  "感谢您参加猜灯谜活动，祝您元宵节快乐！",
		ActName:  "猜灯谜抢红包活动",
		Remark:   "猜越多得越多，快来抢！",
	}
}

func TestValidate(t *testing.T) {
	ok := validRequest()
	if err := ok.Validate(); err != nil {
		t.Fatalf("valid request refused: %v", err)
	}
	cases := []struct {
		name  string
		edit  func(r *hongbao.SendRequest)
		field string // "" = valid
	}{
		{"billno empty", func(r *hongbao.SendRequest) { r.Billno = "" }, "mch_billno"},
		{"billno 28", func(r *hongbao.SendRequest) { r.Billno = strings.Repeat("a", 28) }, ""},
		{"billno 29", func(r *hongbao.SendRequest) { r.Billno = strings.Repeat("a", 29) }, "mch_billno"},
		{"billno dash", func(r *hongbao.SendRequest) { r.Billno = "1900-0109" }, "mch_billno"},
		{"billno chinese", func(r *hongbao.SendRequest) { r.Billno = "红包1" }, "mch_billno"},
		{"openid empty", func(r *hongbao.SendRequest) { r.OpenID = "" }, "re_openid"},
		{"openid 33", func(r *hongbao.SendRequest) { r.OpenID = strings.Repeat("o", 33) }, "re_openid"},
		{"openid injection", func(r *hongbao.SendRequest) { r.OpenID = "o<x>" }, "re_openid"},
		{"amount zero", func(r *hongbao.SendRequest) { r.Amount = 0 }, "total_amount"},
		{"amount negative", func(r *hongbao.SendRequest) { r.Amount = -100 }, "total_amount"},
		{"amount 99 no scene", func(r *hongbao.SendRequest) { r.Amount = 99 }, "scene_id"},
		{"amount 99 with scene", func(r *hongbao.SendRequest) { r.Amount = 99; r.Scene = hongbao.SceneLottery }, ""},
		{"amount 20000 no scene", func(r *hongbao.SendRequest) { r.Amount = 20000 }, ""},
		{"amount 20001 no scene", func(r *hongbao.SendRequest) { r.Amount = 20001 }, "scene_id"},
		{"amount 20001 with scene", func(r *hongbao.SendRequest) { r.Amount = 20001; r.Scene = hongbao.ScenePromotion }, ""},
		{"bad scene", func(r *hongbao.SendRequest) { r.Scene = "PRODUCT_9" }, "scene_id"},
		{"send_name empty", func(r *hongbao.SendRequest) { r.SendName = "" }, "send_name"},
		{"send_name 31 chinese", func(r *hongbao.SendRequest) { r.SendName = strings.Repeat("红", 31) }, ""},
		{"send_name 32 chinese", func(r *hongbao.SendRequest) { r.SendName = strings.Repeat("红", 32) }, "send_name"},
		{"act_name 32", func(r *hongbao.SendRequest) { r.ActName = strings.Repeat("a", 32) }, "act_name"},
		{"act_name 31", func(r *hongbao.SendRequest) { r.ActName = strings.Repeat("a", 31) }, ""},
		{"wishing 127 emoji", func(r *hongbao.SendRequest) { r.Wishing = strings.Repeat("🧧", 127) }, ""},
		{"wishing 128", func(r *hongbao.SendRequest) { r.Wishing = strings.Repeat("w", 128) }, "wishing"},
		{"remark 255", func(r *hongbao.SendRequest) { r.Remark = strings.Repeat("备", 255) }, ""},
		{"remark 256", func(r *hongbao.SendRequest) { r.Remark = strings.Repeat("备", 256) }, "remark"},
		{"remark empty", func(r *hongbao.SendRequest) { r.Remark = "" }, "remark"},
		{"wishing control char", func(r *hongbao.SendRequest) { r.Wishing = "a\x00b" }, "wishing"},
		{"wishing bad utf8", func(r *hongbao.SendRequest) { r.Wishing = "a\xffb" }, "wishing"},
		{"act_name C1 control", func(r *hongbao.SendRequest) { r.ActName = "a\u0085b" }, "act_name"},
		{"remark U+FFFE", func(r *hongbao.SendRequest) { r.Remark = "a\ufffeb" }, "remark"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := validRequest()
			c.edit(&r)
			err := r.Validate()
			if c.field == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			var ve *hongbao.ValidationError
			if !errors.As(err, &ve) || ve.Field != c.field || !errors.Is(err, hongbao.ErrInvalidRequest) {
				t.Fatalf("err = %v, want a ValidationError on %s", err, c.field)
			}
			if !strings.Contains(err.Error(), c.field) || ve.Rule == "" {
				t.Fatalf("message %q does not name the field and rule", err)
			}
		})
	}
}

func TestScene(t *testing.T) {
	for i := '1'; i <= '8'; i++ {
		if _, err := hongbao.ParseScene("PRODUCT_" + string(i)); err != nil {
			t.Error(err)
		}
	}
	for _, s := range []string{"PRODUCT_0", "PRODUCT_9", "product_1", "PRODUCT_10", "X"} {
		if _, err := hongbao.ParseScene(s); err == nil {
			t.Errorf("%s accepted", s)
		}
	}
	if sc, err := hongbao.ParseScene(""); err != nil || sc != hongbao.SceneNone {
		t.Error("empty scene")
	}
}

func TestStatus(t *testing.T) {
	for _, s := range []hongbao.Status{hongbao.StatusSending, hongbao.StatusSent, hongbao.StatusFailed, hongbao.StatusReceived, hongbao.StatusRefunding, hongbao.StatusRefunded} {
		if !s.Known() {
			t.Errorf("%s unknown", s)
		}
	}
	if hongbao.StatusRefunding != "RFUND_ING" {
		t.Error("the platform spells it RFUND_ING")
	}
	if hongbao.Status("REFUNDING").Known() || hongbao.StatusFailed.Paid() || hongbao.StatusSending.Paid() || !hongbao.StatusReceived.Paid() {
		t.Error("Known/Paid")
	}
}

func TestErrorIs(t *testing.T) {
	codes := map[string]error{
		"SYSTEMERROR": hongbao.ErrSystem, "PROCESSING": hongbao.ErrProcessing, "FREQ_LIMIT": hongbao.ErrFrequency,
		"SEND_FAILED": hongbao.ErrSendFailed, "FATAL_ERROR": hongbao.ErrFatal, "NO_AUTH": hongbao.ErrNoAuth,
		"SENDNUM_LIMIT": hongbao.ErrSendNumLimit, "RCVDAMOUNT_LIMIT": hongbao.ErrReceivedAmountLimit,
		"SENDAMOUNT_LIMIT": hongbao.ErrSendAmountLimit, "MONEY_LIMIT": hongbao.ErrMoneyLimit,
		"ILLEGAL_APPID": hongbao.ErrIllegalAppID, "OPENID_ERROR": hongbao.ErrOpenID, "MSGAPPID_ERROR": hongbao.ErrMsgAppID,
		"ACCEPTMODE_ERROR": hongbao.ErrAcceptMode, "CA_ERROR": hongbao.ErrCA, "SIGN_ERROR": hongbao.ErrSign,
		"XML_ERROR": hongbao.ErrXML, "PARAM_ERROR": hongbao.ErrParam, "API_METHOD_CLOSED": hongbao.ErrAPIMethodClosed,
		"NOTENOUGH": hongbao.ErrNotEnough, "PRODUCT_AUTHORITY_UNOPEN": hongbao.ErrProductAuthorityUnopen,
		"NOT_FOUND": hongbao.ErrNotFound,
	}
	for code, sentinel := range codes {
		err := error(&hongbao.Error{Op: "sendminiprogramhb", ErrCode: code})
		if !errors.Is(err, sentinel) {
			t.Errorf("%s does not match its sentinel", code)
		}
		for other, s := range codes {
			if other != code && errors.Is(err, s) {
				t.Errorf("%s matches %s's sentinel", code, other)
			}
		}
	}
	unknown := &hongbao.Error{Op: "sendminiprogramhb", Unknown: true}
	if !errors.Is(unknown, hongbao.ErrOutcomeUnknown) || errors.Is(&hongbao.Error{ErrCode: "NOTENOUGH"}, hongbao.ErrOutcomeUnknown) {
		t.Error("ErrOutcomeUnknown")
	}
	failed := &hongbao.Error{ErrCode: "PROCESSING", Status: hongbao.StatusFailed}
	if !errors.Is(failed, hongbao.ErrSendFailed) || !errors.Is(failed, hongbao.ErrProcessing) {
		t.Error("PROCESSING then FAILED")
	}
	if !errors.Is(&hongbao.Error{ReturnCode: "FAIL"}, hongbao.ErrReturnFail) {
		t.Error("ErrReturnFail")
	}
	if fail := (&hongbao.Error{ReturnCode: "FAIL", ErrCode: "SIGN_ERROR"}); !errors.Is(fail, hongbao.ErrReturnFail) || !errors.Is(fail, hongbao.ErrSign) {
		t.Error("return_code FAIL with an err_code")
	}
	if errors.Is(&hongbao.Error{ErrCode: "SOMETHING_NEW"}, hongbao.ErrSystem) {
		t.Error("unknown code matched")
	}
}
