package httperr

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

// catalogueCodes are the codes every answer of the package may carry; each
// must have both languages.
var catalogueCodes = []string{
	"missing_token", "malformed_authorization", "authorization_too_large", "token_expired",
	"token_not_yet_valid", "token_issued_in_future", "token_missing_exp", "invalid_issuer",
	"invalid_audience", "unknown_key", "invalid_algorithm", "missing_openid", "invalid_token",
	"malformed_body", "rate_limited", "method_not_allowed", "not_found",
	"outcome_unknown", "rate_limited_upstream", "risk_control", "user_limit_reached",
	"grant_conflict", "merchant_unavailable", "send_failed", "platform_rejected", "platform_error",
	"internal_error", "policy_error", "in_progress", "claim_window_expired", "body_too_large",
	"refused", "scene_not_supported", "attempts_exhausted", "budget_exhausted", "budget_unavailable",
	"recovered_terms_invalid", "already_received", "scene_required",
}

func hasHan(s string) bool {
	for _, r := range s {
		if unicode.Is(unicode.Han, r) {
			return true
		}
	}
	return false
}

func TestCatalogueHasBothLanguages(t *testing.T) {
	for _, code := range catalogueCodes {
		m, ok := messages[code]
		if !ok {
			t.Errorf("%s: not in the catalogue", code)
			continue
		}
		if m.en == "" || hasHan(m.en) || strings.ContainsAny(m.en, `"\`) {
			t.Errorf("%s: English %q", code, m.en)
		}
		if !hasHan(m.zh) || strings.ContainsAny(m.zh, `"\`) {
			t.Errorf("%s: Chinese %q is not Chinese", code, m.zh)
		}
		if n := utf8.RuneCountInString(m.zh); n > 20 {
			t.Errorf("%s: Chinese %q has %d characters, too long for a dialog", code, m.zh, n)
		}
	}
	if len(messages) != len(catalogueCodes) {
		t.Errorf("the catalogue has %d codes, the test knows %d", len(messages), len(catalogueCodes))
	}
}

func TestPreferredLanguage(t *testing.T) {
	cases := []struct {
		header []string
		want   Language
	}{
		{nil, English},
		{[]string{""}, English},
		{[]string{"zh-CN"}, Chinese},
		{[]string{"zh"}, Chinese},
		{[]string{"zh-Hans"}, Chinese},
		{[]string{"zh-Hans-CN"}, Chinese},
		{[]string{"zh-TW"}, Chinese},
		{[]string{"zh_CN"}, Chinese}, // as WeChat reports it
		{[]string{"ZH-cn"}, Chinese},
		{[]string{"zh-CN,zh;q=0.9,en;q=0.8"}, Chinese},
		{[]string{"zh;q=0.9,en;q=0.8"}, Chinese},
		{[]string{"en;q=0.8, zh;q=0.9"}, Chinese},
		{[]string{"en-US"}, English},
		{[]string{"en-US,en;q=0.9,zh-CN;q=0.8"}, English},
		{[]string{"en, zh"}, English}, // equal weights: the first listed
		{[]string{"zh, en"}, Chinese}, // equal weights: the first listed
		{[]string{"zh;q=0.5, en;q=0.500"}, Chinese},
		{[]string{"fr-FR, zh;q=0.1"}, Chinese},
		{[]string{"fr-FR, de"}, English}, // nothing of the catalogue: default
		{[]string{"*"}, English},         // anything: default
		{[]string{"en;q=0, *"}, Chinese}, // "*" is every language not listed
		{[]string{"zh;q=0, *"}, English}, // zh excluded
		{[]string{"zh;q=0"}, English},    // zh excluded, no other: default
		{[]string{"zh-TW;q=0, zh-CN"}, Chinese},
		{[]string{"fr", "zh-CN;q=0.7"}, Chinese}, // several header lines
		{[]string{" zh-CN ; q=0.7 , en ;q=0.6"}, Chinese},
		{[]string{"zh;Q=0.7, en;q=0.6"}, Chinese},
		// Malformed ranges and weights are skipped.
		{[]string{"garbage!!"}, English},
		{[]string{";;;,,,"}, English},
		{[]string{"zh;q=2"}, English},
		{[]string{"zh;q=1.5, en;q=0.1"}, English},
		{[]string{"zh;q=abc"}, English},
		{[]string{"zh;q=0.1234"}, English},
		{[]string{"zh;q=.5"}, English},
		{[]string{"zh;q="}, English},
		{[]string{"zhongwen-CN"}, English}, // primary subtag over 8 letters
		{[]string{"z1"}, English},
		{[]string{"zh-"}, English},
		{[]string{"-zh"}, English},
		{[]string{"中文"}, English},
		{[]string{"zh\x00"}, English},
		{[]string{"en;q=0.1, zh;level=1"}, Chinese}, // unknown parameters are ignored
		{[]string{strings.Repeat("fr,", 10000) + "zh"}, Chinese},
	}
	for _, c := range cases {
		r := httptest.NewRequest(http.MethodPost, "/", nil)
		for _, v := range c.header {
			r.Header.Add("Accept-Language", v)
		}
		name := strings.Join(c.header, " | ")
		if len(name) > 60 {
			name = name[:60] + "..."
		}
		if got := PreferredLanguage(r); got != c.want {
			t.Errorf("Accept-Language %q: %s, want %s", name, got, c.want)
		}
	}
	if got := PreferredLanguage(nil); got != English {
		t.Errorf("nil request: %s", got)
	}
}

func TestParseWeight(t *testing.T) {
	for s, want := range map[string]int{"0": 0, "1": 1000, "0.": 0, "0.5": 500, "0.05": 50, "0.005": 5, "1.0": 1000, "1.000": 1000, "0.999": 999} {
		if got, ok := parseWeight(s); !ok || got != want {
			t.Errorf("parseWeight(%q) = %d, %v; want %d", s, got, ok, want)
		}
	}
	for _, s := range []string{"", "2", "1.001", "0.0001", "-0", "0,5", "+1", "1e0", ".1", "01"} {
		if got, ok := parseWeight(s); ok {
			t.Errorf("parseWeight(%q) = %d, accepted", s, got)
		}
	}
}

func TestMessageAndLocalize(t *testing.T) {
	zh := httptest.NewRequest(http.MethodPost, "/", nil)
	zh.Header.Set("Accept-Language", "zh-CN")
	en := httptest.NewRequest(http.MethodPost, "/", nil)

	if got := Message("token_expired", zh); got != "登录已过期，请重新登录" {
		t.Errorf("Message(token_expired, zh) = %q", got)
	}
	if got := Message("token_expired", en); got != "the token has expired" {
		t.Errorf("Message(token_expired, en) = %q", got)
	}
	if got := Message("token_expired", nil); got != "the token has expired" {
		t.Errorf("Message(token_expired, nil) = %q", got)
	}
	if got := Message("campaign_over", zh); got != "" {
		t.Errorf("Message of an unknown code = %q", got)
	}

	cases := []struct {
		r             *http.Request
		code, message string
		want          string
	}{
		// A more specific English text is kept for English readers.
		{en, "invalid_token", "the token signature is invalid", "the token signature is invalid"},
		{zh, "invalid_token", "the token signature is invalid", "登录信息无效，请重新登录"},
		{en, "rate_limited", "", "too many requests; retry later"},
		{zh, "rate_limited", "", "操作太频繁，请稍后再试"},
		// The detail after the English text is kept.
		{zh, "policy_error", "the red packet could not be granted: send_name", "暂时无法发放红包，请稍后再试：send_name"},
		{en, "policy_error", "the red packet could not be granted: send_name", "the red packet could not be granted: send_name"},
		{zh, "policy_error", "the red packet could not be granted", "暂时无法发放红包，请稍后再试"},
		// Codes outside the catalogue keep their message.
		{zh, "campaign_over", "活动已结束", "活动已结束"},
		{zh, "campaign_over", "the campaign is over", "the campaign is over"},
		{nil, "send_failed", "the red packet could not be sent", "the red packet could not be sent"},
	}
	for _, c := range cases {
		if got := Localize(c.r, c.code, c.message); got != c.want {
			t.Errorf("Localize(%s, %q) = %q, want %q", c.code, c.message, got, c.want)
		}
	}
}

// FuzzPreferredLanguage: any header gives a language of the catalogue, and
// Chinese only when a range names zh.
func FuzzPreferredLanguage(f *testing.F) {
	for _, s := range []string{"", "zh-CN,zh;q=0.9,en;q=0.8", "en;q=0, *", "zh_TW;q=0.5", "*;q=0.1, fr", "zh;q=1.000", ";;,", "zh-Hans-CN-x-private"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, header string) {
		got := preferredLanguage([]string{header})
		if got != English && got != Chinese {
			t.Fatalf("%q: %q", header, got)
		}
		if got == Chinese && !strings.Contains(strings.ToLower(header), "zh") && !strings.Contains(header, "*") {
			t.Fatalf("%q: Chinese without a zh or * range", header)
		}
	})
}
