package xml_test

import (
	"errors"
	"maps"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/hongbao-go/hongbao/xml"
)

// FuzzDecode checks that Decode never panics, that its errors carry the package prefix, and
// that whatever it decodes encodes and decodes back to the same fields.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		sendReply, failReply, hbInfoReply, htmlPage,
		`{"return_code":"FAIL","return_msg":"system error"}`,
		"\x00\xff\xfe garbage \x1b[0m",
		"<xml><mch_id>1900000109</mch_id><send_name><![CDATA[天虹百货 & <co>]]></send_name><sign>mock</sign></xml>",
		"\uFEFF<?xml version=\"1.0\"?><!-- c --><xml a='1'><a>&#13;&lt;&#x1F600;<![CDATA[x]]]]><![CDATA[>]]> </a><b/></xml>",
		"<xml><l><i><a>1</a></i><i/></l><l2>\r\n</l2></xml>",
		`<!DOCTYPE xml [<!ENTITY x SYSTEM "file:///etc/passwd">]><xml><a>&x;</a></xml>`,
		"<xml><a>1</a><a>2</a></xml>",
		"<xml><a><b><c><d>deep</d></c></b></a></xml>",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		doc, err := xml.Unmarshal(data)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "xml: ") {
				t.Fatalf("error without prefix: %v", err)
			}
			return
		}
		for _, fields := range append([]map[string]string{doc.Fields}, listItems(doc.Lists)...) {
			body, err := xml.Marshal(fields)
			if err != nil {
				t.Fatalf("Marshal(%q): %v", fields, err)
			}
			again, err := xml.Unmarshal(body)
			if err != nil || !maps.Equal(again.Fields, fields) {
				t.Fatalf("decode(encode(%q)) = %v, %v", fields, again, err)
			}
		}
	})
}

func listItems(lists map[string][]map[string]string) (items []map[string]string) {
	for _, l := range lists {
		items = append(items, l...)
	}
	return items
}

// FuzzRoundTrip checks that Marshal refuses exactly the names and values XML cannot carry,
// that encoding/xml reads its output back unchanged, and that Decode reads it back trimmed.
func FuzzRoundTrip(f *testing.F) {
	f.Add("mch_id", "1900000109", "send_name", "天虹百货 & <co>", "sign", "mock")
	f.Add("a", " x]]>y\r\n", "b", "<![CDATA[", "c", "&#13;\t\r")
	f.Add("a", "\x00", "b", "\xff", "c", "\uFFFE")
	f.Add("a b", "v", "", "v", "名", "v")
	f.Fuzz(func(t *testing.T, k1, v1, k2, v2, k3, v3 string) {
		p := map[string]string{k1: v1, k2: v2, k3: v3}
		badName, badValue := false, false
		for k, v := range p {
			badName = badName || !simpleName.MatchString(k)
			badValue = badValue || !xmlText(v)
		}
		body, err := xml.Marshal(p)
		switch {
		case err == nil && (badName || badValue):
			t.Fatalf("Marshal(%q) = %q, want an error", p, body)
		case err != nil && !(errors.Is(err, xml.ErrInvalidName) && badName || errors.Is(err, xml.ErrInvalidChar) && badValue):
			t.Fatalf("Marshal(%q): %v", p, err)
		case err != nil:
			return
		}
		if got, err := stdFields(body); err != nil || !maps.Equal(got, p) {
			t.Fatalf("encoding/xml read %q as %q, %v; want %q", body, got, err, p)
		}
		doc, err := xml.Unmarshal(body)
		if want := trimmed(p); err != nil || !maps.Equal(doc.Fields, want) {
			t.Fatalf("Unmarshal(%q) = %v, %v; want %q", body, doc, err, want)
		}
	})
}

var simpleName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.-]*$`)

// xmlText reports whether s is UTF-8 made of XML 1.0 Chars only.
func xmlText(s string) bool {
	for _, r := range s {
		switch {
		case r == '\t', r == '\n', r == '\r', r >= 0x20 && r < 0xD800, r >= 0xE000 && r < 0xFFFE, r >= 0x10000:
		default:
			return false
		}
	}
	return utf8.ValidString(s)
}
