package xml_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"os"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/hongbao-go/hongbao/xml"
)

// Reply bodies in the shape the platform sends them.
const (
	sendReply = `<xml>
<return_code><![CDATA[SUCCESS]]></return_code>
<return_msg><![CDATA[发放成功]]></return_msg>
<result_code><![CDATA[SUCCESS]]></result_code>
<err_code><![CDATA[SUCCESS]]></err_code>
<err_code_des><![CDATA[发放成功]]></err_code_des>
<mch_billno><![CDATA[0010010404201411170000046545]]></mch_billno>
<mch_id><![CDATA[10010404]]></mch_id>
<wxappid><![CDATA[wx6fa7e3bab7e15415]]></wxappid>
<re_openid><![CDATA[onqOjjmM1tad-3ROpncN-yUfa6uI]]></re_openid>
<total_amount>100</total_amount>
<send_listid><![CDATA[100000000020150520314766074200]]></send_listid>
<package><![CDATA[sendid=242e8abd163d300019b2cae74ba8e8c06e3f0e51ab84d16b3c80decd22a5b672&ver=8&sign=4110d649a5aef52dd6b95654ddf91ca7d5411ac159ace4e1a766b2d3f1bbe1ab&mchid=11475856&appid=wxd27ebc41b85ce36d]]></package>
</xml>`
	failReply = `<xml>
<return_code><![CDATA[FAIL]]></return_code>
<return_msg><![CDATA[签名错误]]></return_msg>
</xml>`
	hbInfoReply = `<?xml version="1.0" encoding="UTF-8"?>
<xml>
<return_code><![CDATA[SUCCESS]]></return_code>
<return_msg><![CDATA[OK]]></return_msg>
<result_code><![CDATA[SUCCESS]]></result_code>
<err_code><![CDATA[SUCCESS]]></err_code>
<err_code_des><![CDATA[OK]]></err_code_des>
<mch_billno><![CDATA[9010080799701411170000046603]]></mch_billno>
<mch_id><![CDATA[11475856]]></mch_id>
<detail_id><![CDATA[10000417012016080830956240040]]></detail_id>
<status><![CDATA[RECEIVED]]></status>
<send_type><![CDATA[API]]></send_type>
<hb_type><![CDATA[NORMAL]]></hb_type>
<total_num>1</total_num>
<total_amount>100</total_amount>
<send_time><![CDATA[2016-08-08 21:49:22]]></send_time>
<wishing><![CDATA[恭喜发财]]></wishing>
<remark><![CDATA[新年红包]]></remark>
<act_name><![CDATA[新年红包]]></act_name>
<hblist>
<hbinfo>
<openid><![CDATA[oHkLxtzmyOwA4vS2dgGe-PFYxtTw]]></openid>
<amount>100</amount>
<rcv_time><![CDATA[2016-08-08 21:49:46]]></rcv_time>
</hbinfo>
</hblist>
</xml>`
	htmlPage = "<!DOCTYPE html>\n<html><head><title>502 Bad Gateway</title></head>\n" +
		"<body><center><h1>502 Bad Gateway</h1></center><hr><center>stgw</center></body></html>\n"
)

type vectors struct {
	Sign []struct {
		Name   string
		Params map[string]string
	}
	XML []struct {
		Name   string
		Params map[string]string
		XML    string
	}
}

func readVectors(t testing.TB) vectors {
	t.Helper()
	data, err := os.ReadFile("../testdata/vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var v vectors
	if err := json.Unmarshal(data, &v); err != nil {
		t.Fatal(err)
	}
	if len(v.XML) == 0 {
		t.Fatal("no xml vectors")
	}
	return v
}

// sendBody is the sendminiprogramhb vector's params plus a sign: 13 fields.
func sendBody(t testing.TB) map[string]string {
	for _, s := range readVectors(t).Sign {
		if s.Name == "sendminiprogramhb body" {
			p := maps.Clone(s.Params)
			p["sign"] = "A3F75B94BB93591BA9065556F70855FA"
			return p
		}
	}
	t.Fatal("no sendminiprogramhb vector")
	return nil
}

func TestVectors(t *testing.T) {
	for _, v := range readVectors(t).XML {
		t.Run(v.Name, func(t *testing.T) {
			got, err := xml.Marshal(v.Params)
			if err != nil || string(got) != v.XML {
				t.Fatalf("Marshal = %s, %v; want %s", got, err, v.XML)
			}
			doc, err := xml.Unmarshal([]byte(v.XML))
			if err != nil || !maps.Equal(doc.Fields, v.Params) {
				t.Fatalf("Unmarshal = %v, %v; want %v", doc, err, v.Params)
			}
		})
	}
}

func TestMarshal(t *testing.T) {
	many := map[string]string{}
	var want strings.Builder
	want.WriteString("<xml>")
	for i := range 40 {
		k := fmt.Sprintf("k%02d", i)
		many[k] = "v"
		fmt.Fprintf(&want, "<%s>v</%s>", k, k)
	}
	want.WriteString("</xml>")

	for _, tc := range []struct {
		name string
		p    map[string]string
		want string
	}{
		{"nil", nil, "<xml></xml>"},
		{"byte order", map[string]string{"remark": "a", "RE_OPENID": "b", "re_openid": "c", "REMARK": "d"},
			"<xml><REMARK>d</REMARK><RE_OPENID>b</RE_OPENID><re_openid>c</re_openid><remark>a</remark></xml>"},
		{"empty value", map[string]string{"a": ""}, "<xml><a></a></xml>"},
		{"plain unicode", map[string]string{"a": "感谢您参加😀 \"q\" 'a'\t\n"}, "<xml><a>感谢您参加😀 \"q\" 'a'\t\n</a></xml>"},
		{"ampersand", map[string]string{"a": "x&y"}, "<xml><a><![CDATA[x&y]]></a></xml>"},
		{"gt", map[string]string{"a": "x>y"}, "<xml><a><![CDATA[x>y]]></a></xml>"},
		{"cdata end", map[string]string{"a": "<]]>x]]>"}, "<xml><a><![CDATA[<]]]]><![CDATA[>x]]]]><![CDATA[>]]></a></xml>"},
		{"brackets only", map[string]string{"a": "x]]"}, "<xml><a>x]]</a></xml>"},
		{"CR escaped", map[string]string{"a": "l1\r\nl2 <&>]]>"}, "<xml><a>l1&#13;\nl2 &lt;&amp;&gt;]]&gt;</a></xml>"},
		{"surrounding spaces kept", map[string]string{"a": "  x  "}, "<xml><a>  x  </a></xml>"},
		{"names", map[string]string{"_a-1.b": "v"}, "<xml><_a-1.b>v</_a-1.b></xml>"},
		{"more than 32 keys", many, want.String()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := xml.Marshal(tc.p)
			if err != nil || string(got) != tc.want {
				t.Fatalf("Marshal = %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

func TestMarshalErrors(t *testing.T) {
	for _, tc := range []struct {
		name, k, v string
		want       error
	}{
		{"empty name", "", "v", xml.ErrInvalidName},
		{"digit first", "1a", "v", xml.ErrInvalidName},
		{"dash first", "-a", "v", xml.ErrInvalidName},
		{"space", "a b", "v", xml.ErrInvalidName},
		{"colon", "ns:a", "v", xml.ErrInvalidName},
		{"markup", "a><b", "v", xml.ErrInvalidName},
		{"non-ASCII name", "名字", "v", xml.ErrInvalidName},
		{"NUL", "a", "secret\x00", xml.ErrInvalidChar},
		{"C0 control", "a", "secret\x1b[0m", xml.ErrInvalidChar},
		{"U+FFFE", "a", "secret\uFFFE", xml.ErrInvalidChar},
		{"U+FFFF", "a", "secret\uFFFF", xml.ErrInvalidChar},
		{"invalid UTF-8", "a", "secret\xff", xml.ErrInvalidChar},
		{"truncated UTF-8", "a", "secret\xe5\xa4", xml.ErrInvalidChar},
		{"lone surrogate", "a", "secret\xed\xa0\x80", xml.ErrInvalidChar},
	} {
		t.Run(tc.name, func(t *testing.T) {
			prefix := []byte("keep")
			got, err := xml.AppendMarshal(prefix, map[string]string{tc.k: tc.v, "ok": "fine"})
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if string(got) != "keep" {
				t.Errorf("dst = %q, want it unchanged", got)
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, "xml: ") || strings.Contains(msg, "secret") {
				t.Errorf("message %q: want the xml: prefix and no value", msg)
			}
			if tc.want == xml.ErrInvalidChar && !strings.Contains(msg, "field a") {
				t.Errorf("message %q does not name the field", msg)
			}
		})
	}
}

func TestAppendMarshal(t *testing.T) {
	got, err := xml.AppendMarshal([]byte("body="), map[string]string{"a": "1"})
	if err != nil || string(got) != "body=<xml><a>1</a></xml>" {
		t.Fatalf("AppendMarshal = %q, %v", got, err)
	}
	p := sendBody(t)
	if n := testing.AllocsPerRun(100, func() { _, _ = xml.Marshal(p) }); n > 1 {
		t.Errorf("Marshal of %d fields: %v allocations, want 1", len(p), n)
	}
	buf := make([]byte, 0, 1024)
	if n := testing.AllocsPerRun(100, func() { _, _ = xml.AppendMarshal(buf[:0], p) }); n > 0 {
		t.Errorf("AppendMarshal into a large enough buffer: %v allocations, want 0", n)
	}
}

func TestUnmarshal(t *testing.T) {
	type lists = map[string][]map[string]string
	for _, tc := range []struct {
		name   string
		body   string
		fields map[string]string
		lists  lists
	}{
		{"empty root", "<xml></xml>", map[string]string{}, nil},
		{"self-closing root", "<xml/>", map[string]string{}, nil},
		{"declaration, BOM, comments, PIs, spaces",
			"\uFEFF<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!-- c -->\n<xml >\n\t<a>1</a >\n <!-- c --> <?pi x?>\n</xml>\n<!-- end -->\n",
			map[string]string{"a": "1"}, nil},
		{"attributes ignored", `<xml a="1" b:c = '>' ><f x="y"/><g d="&lt;">v</g></xml>`,
			map[string]string{"f": "", "g": "v"}, nil},
		{"trimmed", "<xml><a> \r\n\tx y\t\n </a></xml>", map[string]string{"a": "x y"}, nil},
		{"trimmed inside CDATA", "<xml><a>\n<![CDATA[ x ]]>\n</a></xml>", map[string]string{"a": "x"}, nil},
		{"CDATA specials", "<xml><a><![CDATA[天虹百货 & <co> </a>]]></a></xml>", map[string]string{"a": "天虹百货 & <co> </a>"}, nil},
		{"CDATA sections joined", "<xml><a><![CDATA[x]]]]><![CDATA[>y]]></a></xml>", map[string]string{"a": "x]]>y"}, nil},
		{"text and CDATA mixed", "<xml><a>1 <![CDATA[2]]> <!-- c -->3&amp;<![CDATA[]]>4 </a></xml>", map[string]string{"a": "1 2 3&4"}, nil},
		{"blank between pieces kept", "<xml><a><![CDATA[x]]> <![CDATA[y]]>\n</a></xml>", map[string]string{"a": "x y"}, nil},
		{"entities", "<xml><a>&lt;&gt;&amp;&apos;&quot;</a></xml>", map[string]string{"a": `<>&'"`}, nil},
		{"character references", "<xml><a>&#65;&#x42;&#x4a;&#x4A;&#0000067;&#x5929;&#x1F600;</a></xml>", map[string]string{"a": "ABJJC天😀"}, nil},
		{"line ends normalised", "<xml><a>1\r\n2\r3<![CDATA[\r\n]]>4</a></xml>", map[string]string{"a": "1\n2\n3\n4"}, nil},
		{"escaped CR kept", "<xml><a>1&#13;\n2&#xD;</a></xml>", map[string]string{"a": "1\r\n2"}, nil},
		{"empty fields", "<xml><a></a><b/><c>  </c><d><![CDATA[]]></d></xml>", map[string]string{"a": "", "b": "", "c": "", "d": ""}, nil},
		{"field named xml", "<xml><xml>x</xml></xml>", map[string]string{"xml": "x"}, nil},
		{"list", "<xml><n>2</n><hblist>\n<hbinfo><openid>a</openid><amount>1</amount></hbinfo>\n<hbinfo><openid>b</openid><rcv_time/></hbinfo><other/></hblist></xml>",
			map[string]string{"n": "2"},
			lists{"hblist": {{"openid": "a", "amount": "1"}, {"openid": "b", "rcv_time": ""}, {}}}},
		{"two lists", "<xml><l1><i><a>1</a></i></l1><l2><i><a>2</a></i></l2></xml>",
			map[string]string{}, lists{"l1": {{"a": "1"}}, "l2": {{"a": "2"}}}},
		{"success reply", sendReply, map[string]string{
			"return_code": "SUCCESS", "return_msg": "发放成功", "result_code": "SUCCESS", "err_code": "SUCCESS",
			"err_code_des": "发放成功", "mch_billno": "0010010404201411170000046545", "mch_id": "10010404",
			"wxappid": "wx6fa7e3bab7e15415", "re_openid": "onqOjjmM1tad-3ROpncN-yUfa6uI", "total_amount": "100",
			"send_listid": "100000000020150520314766074200",
			"package":     "sendid=242e8abd163d300019b2cae74ba8e8c06e3f0e51ab84d16b3c80decd22a5b672&ver=8&sign=4110d649a5aef52dd6b95654ddf91ca7d5411ac159ace4e1a766b2d3f1bbe1ab&mchid=11475856&appid=wxd27ebc41b85ce36d",
		}, nil},
		{"fail reply", failReply, map[string]string{"return_code": "FAIL", "return_msg": "签名错误"}, nil},
		{"gethbinfo reply", hbInfoReply, map[string]string{
			"return_code": "SUCCESS", "return_msg": "OK", "result_code": "SUCCESS", "err_code": "SUCCESS",
			"err_code_des": "OK", "mch_billno": "9010080799701411170000046603", "mch_id": "11475856",
			"detail_id": "10000417012016080830956240040", "status": "RECEIVED", "send_type": "API",
			"hb_type": "NORMAL", "total_num": "1", "total_amount": "100", "send_time": "2016-08-08 21:49:22",
			"wishing": "恭喜发财", "remark": "新年红包", "act_name": "新年红包",
		}, lists{"hblist": {{"openid": "oHkLxtzmyOwA4vS2dgGe-PFYxtTw", "amount": "100", "rcv_time": "2016-08-08 21:49:46"}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			doc, err := xml.Unmarshal([]byte(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(doc.Fields, tc.fields) {
				t.Errorf("Fields = %q, want %q", doc.Fields, tc.fields)
			}
			if !reflect.DeepEqual(doc.Lists, tc.lists) {
				t.Errorf("Lists = %q, want %q", doc.Lists, tc.lists)
			}
		})
	}
}

func TestUnmarshalErrors(t *testing.T) {
	const xxe = `<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><xml><a>&xxe;</a></xml>`
	const laughs = `<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;">]><xml><a>&lol2;</a></xml>`
	deep := "<xml><l><i><f><g>x</g></f></i></l></xml>"
	for _, tc := range []struct {
		name string
		d    xml.Decoder
		body string
		want error  // nil: a syntax error
		msg  string // in the message
	}{
		{"XXE", xml.Decoder{}, xxe, xml.ErrDoctype, "offset 21"},
		{"billion laughs", xml.Decoder{}, laughs, xml.ErrDoctype, ""},
		{"lower-case doctype", xml.Decoder{}, "<!doctype xml><xml/>", xml.ErrDoctype, ""},
		{"ENTITY in body", xml.Decoder{}, "<xml><!ENTITY a 'b'></xml>", xml.ErrDoctype, ""},
		{"DOCTYPE after root", xml.Decoder{}, "<xml/><!DOCTYPE x>", xml.ErrDoctype, ""},
		{"HTML page", xml.Decoder{}, htmlPage, xml.ErrNotXML, `received "<!DOCTYPE html>\n<html><head><title>502 Bad Gateway</title></head..."`},
		{"HTML without doctype", xml.Decoder{}, "\n<html><body>error</body></html>", xml.ErrNotXML, `"<html><body>error</body></html>"`},
		{"JSON", xml.Decoder{}, `{"return_code":"FAIL"}`, xml.ErrNotXML, `received "{\"return_code\":\"FAIL\"}"`},
		{"plain text", xml.Decoder{}, "Bad Gateway", xml.ErrNotXML, ""},
		{"clipped on a rune boundary", xml.Decoder{}, "xx" + strings.Repeat("系统繁忙", 10), xml.ErrNotXML, `"xx系统繁忙系统繁忙系统繁忙系统繁忙系统繁忙..."`},
		{"malformed root tag", xml.Decoder{}, "<xml!>", xml.ErrInvalidName, ""},
		{"control characters escaped", xml.Decoder{}, "\x00\x1b[31m\xff", xml.ErrNotXML, `"\x00\x1b[31m\xff"`},
		{"empty", xml.Decoder{}, " \n", xml.ErrNotXML, "empty body"},
		{"other root", xml.Decoder{}, "<root><a>1</a></root>", xml.ErrNotXML, ""},
		{"upper-case root", xml.Decoder{}, "<XML><a>1</a></XML>", xml.ErrNotXML, ""},
		{"mismatched", xml.Decoder{}, "<xml><a>1</b></xml>", nil, "want </a>"},
		{"end tag prefix", xml.Decoder{}, "<xml><a>1</ab></xml>", nil, "want </a>"},
		{"unclosed root", xml.Decoder{}, "<xml><a>1</a>", nil, "unexpected end of input"},
		{"truncated", xml.Decoder{}, sendReply[:200], nil, "unexpected end of input"},
		{"unclosed CDATA", xml.Decoder{}, "<xml><a><![CDATA[x</a></xml>", nil, "unexpected end of input"},
		{"unclosed comment", xml.Decoder{}, "<xml><!-- x</xml>", nil, "unexpected end of input"},
		{"unclosed tag", xml.Decoder{}, "<xml><a", nil, "unexpected end of input"},
		{"unclosed attribute", xml.Decoder{}, "<xml a='1></xml>", nil, "unexpected end of input"},
		{"mismatched list", xml.Decoder{}, "<xml><l><i/></m></xml>", nil, "want </l>"},
		{"trailing garbage", xml.Decoder{}, "<xml></xml>x", nil, "content after </xml>"},
		{"second root", xml.Decoder{}, "<xml></xml><xml></xml>", nil, "content after </xml>"},
		{"text in root", xml.Decoder{}, "<xml>hello<a>1</a></xml>", nil, "text mixed with elements in <xml>"},
		{"text in list", xml.Decoder{}, "<xml><l><i/>x</l></xml>", nil, "text mixed with elements in <l>"},
		{"text before element", xml.Decoder{}, "<xml><l>x<i/></l></xml>", nil, "text mixed with elements in <l>"},
		{"empty name", xml.Decoder{}, "<xml>< a/></xml>", nil, "element name expected"},
		{"malformed tag", xml.Decoder{}, `<xml><a"b"/></xml>`, xml.ErrInvalidName, `"a\"b\""`},
		{"attribute without space", xml.Decoder{}, `<xml><a x="1"y="2"/></xml>`, nil, "malformed start tag <a>"},
		{"attribute without value", xml.Decoder{}, `<xml><a x/></xml>`, nil, "malformed attribute"},
		{"< in attribute", xml.Decoder{}, `<xml><a x="<"/></xml>`, nil, "malformed attribute"},
		{"unknown <!", xml.Decoder{}, "<xml><![if x]></xml>", nil, "unexpected <!"},
		{"non-ASCII name", xml.Decoder{}, "<xml><名>1</名></xml>", xml.ErrInvalidName, ""},
		{"namespaced name", xml.Decoder{}, "<xml><a:b>1</a:b></xml>", xml.ErrInvalidName, ""},
		{"too large", xml.Decoder{MaxBytes: 10}, "<xml></xml>", xml.ErrTooLarge, "more than 10 bytes"},
		{"too deep", xml.Decoder{}, deep, xml.ErrTooDeep, "depth 5"},
		{"too deep for MaxDepth 10", xml.Decoder{MaxDepth: 10}, deep, xml.ErrTooDeep, "limit 4"},
		{"list beyond MaxDepth 2", xml.Decoder{MaxDepth: 2}, hbInfoReply, xml.ErrTooDeep, "depth 3"},
		{"item field beyond MaxDepth 3", xml.Decoder{MaxDepth: 3}, hbInfoReply, xml.ErrTooDeep, "depth 4"},
		{"invalid UTF-8", xml.Decoder{}, "<xml><a>\xff</a></xml>", xml.ErrInvalidChar, "offset 8"},
		{"invalid UTF-8 in comment", xml.Decoder{}, "<xml><!--\xc3--></xml>", xml.ErrInvalidChar, ""},
		{"lone surrogate", xml.Decoder{}, "<xml><a>\xed\xa0\x80</a></xml>", xml.ErrInvalidChar, ""},
		{"NUL", xml.Decoder{}, "<xml><a>\x00</a></xml>", xml.ErrInvalidChar, ""},
		{"U+FFFF in CDATA", xml.Decoder{}, "<xml><a><![CDATA[\uFFFF]]></a></xml>", xml.ErrInvalidChar, ""},
		{"reference to NUL", xml.Decoder{}, "<xml><a>&#0;</a></xml>", xml.ErrInvalidChar, `"&#0;" at offset 8`},
		{"reference to control", xml.Decoder{}, "<xml><a>&#x1B;</a></xml>", xml.ErrInvalidChar, ""},
		{"reference to surrogate", xml.Decoder{}, "<xml><a>&#xD800;</a></xml>", xml.ErrInvalidChar, ""},
		{"reference to U+FFFE", xml.Decoder{}, "<xml><a>&#65534;</a></xml>", xml.ErrInvalidChar, ""},
		{"reference beyond Unicode", xml.Decoder{}, "<xml><a>&#x110000;</a></xml>", xml.ErrInvalidChar, ""},
		{"huge reference", xml.Decoder{}, "<xml><a>&#99999999999999;</a></xml>", nil, "malformed character reference"},
		{"upper-case X reference", xml.Decoder{}, "<xml><a>&#X41;</a></xml>", nil, "malformed character reference"},
		{"empty reference", xml.Decoder{}, "<xml><a>&#;</a></xml>", nil, "malformed character reference"},
		{"unknown entity", xml.Decoder{}, "<xml><a>&nbsp;</a></xml>", nil, `unknown entity "&nbsp;"`},
		{"bare ampersand", xml.Decoder{}, "<xml><a>a & b</a></xml>", nil, "unterminated reference"},
		{"duplicate sign", xml.Decoder{}, "<xml><sign>A</sign><sign>B</sign></xml>", xml.ErrDuplicate, "<sign> at offset 19"},
		{"duplicate in item", xml.Decoder{}, "<xml><l><i><a>1</a><a>2</a></i></l></xml>", xml.ErrDuplicate, "<a>"},
		{"duplicate list", xml.Decoder{}, "<xml><l><i/></l><l><i/></l></xml>", xml.ErrDuplicate, "<l>"},
		{"list after field", xml.Decoder{}, "<xml><l>x</l><l><i/></l></xml>", xml.ErrDuplicate, "<l>"},
		{"field after list", xml.Decoder{}, "<xml><l><i/></l><l>x</l></xml>", xml.ErrDuplicate, "<l>"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			doc, err := tc.d.Decode([]byte(tc.body))
			if err == nil {
				t.Fatalf("Decode = %v, want an error", doc)
			}
			msg := err.Error()
			if tc.want != nil && !errors.Is(err, tc.want) || !strings.HasPrefix(msg, "xml: ") || !strings.Contains(msg, tc.msg) {
				t.Fatalf("err = %q, want %v with %q", msg, tc.want, tc.msg)
			}
			if tc.want == nil && !strings.HasPrefix(msg, "xml: syntax error") {
				t.Fatalf("err = %q, want a syntax error", msg)
			}
			if len(msg) > 200 {
				t.Errorf("message of %d bytes", len(msg))
			}
		})
	}
}

// TestDecodeErrorsQuoteNoValue: a stray '&' in a value makes an error
// that names no part of the value.
func TestDecodeErrorsQuoteNoValue(t *testing.T) {
	for _, body := range []string{
		"<xml><package>sendid=1&sign=SECRET0123456789&mchid=1</package></xml>",
		"<xml><a>AT&T SECRET; yes</a></xml>",
		"<xml><a>x &SECRET0123456789abcdef; y</a></xml>",
	} {
		_, err := xml.Unmarshal([]byte(body))
		if err == nil || strings.Contains(err.Error(), "SECRET") {
			t.Errorf("%q: err = %v", body, err)
		}
	}
}

func TestDecodeCopies(t *testing.T) {
	data := []byte(failReply)
	doc, err := xml.Unmarshal(data)
	if err != nil {
		t.Fatal(err)
	}
	for i := range data {
		data[i] = 'x'
	}
	if doc.Fields["return_code"] != "FAIL" || doc.Fields["return_msg"] != "签名错误" {
		t.Fatalf("Fields changed with the input: %q", doc.Fields)
	}
}

func TestDecodeReader(t *testing.T) {
	doc, err := xml.Decoder{}.DecodeReader(iotest.OneByteReader(strings.NewReader(sendReply)))
	if err != nil || doc.Fields["return_code"] != "SUCCESS" {
		t.Fatalf("DecodeReader = %v, %v", doc, err)
	}
	exact := xml.Decoder{MaxBytes: int64(len(failReply))}
	if _, err := exact.DecodeReader(strings.NewReader(failReply)); err != nil {
		t.Fatalf("body of exactly MaxBytes: %v", err)
	}

	// An endless body is cut at MaxBytes+1 bytes.
	endless := &countingReader{r: io.MultiReader(strings.NewReader("<xml><a>"), infinite{})}
	if _, err := (xml.Decoder{MaxBytes: 4096}).DecodeReader(endless); !errors.Is(err, xml.ErrTooLarge) {
		t.Fatalf("err = %v, want ErrTooLarge", err)
	}
	if endless.n > 4097 {
		t.Errorf("read %d bytes for MaxBytes 4096", endless.n)
	}

	boom := errors.New("connection reset")
	if _, err := (xml.Decoder{}).DecodeReader(iotest.ErrReader(boom)); !errors.Is(err, boom) || !strings.HasPrefix(err.Error(), "xml: ") {
		t.Fatalf("err = %v, want the read error wrapped", err)
	}
}

type infinite struct{}

func (infinite) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 'x'
	}
	return len(p), nil
}

type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

// randomParams returns a map with valid names and values built from pieces that test the
// encoder: markup, "]]>", line ends, multi-byte runes, blanks.
func randomParams(r *rand.Rand) map[string]string {
	pieces := []string{
		"a", "Z", "0", " ", "\t", "\n", "\r", "\r\n", "&", "<", ">", `"`, "'", "]]>", "]]", "]", "<![CDATA[",
		"&amp;", "&#13;", "</xml>", "天虹百货", "😀", "\u00a0", "\u2028", "\uFFFD", "\U0010FFFF", "\x7f", "\u0085",
	}
	const nameStart = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_"
	const nameByte = nameStart + "0123456789-."
	p := map[string]string{}
	for range r.IntN(20) {
		k := []byte{nameStart[r.IntN(len(nameStart))]}
		for range r.IntN(12) {
			k = append(k, nameByte[r.IntN(len(nameByte))])
		}
		var v strings.Builder
		for range r.IntN(10) {
			v.WriteString(pieces[r.IntN(len(pieces))])
		}
		p[string(k)] = v.String()
	}
	return p
}

// trimmed returns p with its values trimmed the way Decode trims them.
func trimmed(p map[string]string) map[string]string {
	q := make(map[string]string, len(p))
	for k, v := range p {
		q[k] = strings.Trim(v, " \t\r\n")
	}
	return q
}

// TestRoundTrip checks decode(encode(p)).Fields == p for values without surrounding
// whitespace, and == p trimmed for any value.
func TestRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 5000 {
		p := randomParams(r)
		body, err := xml.Marshal(p)
		if err != nil {
			t.Fatalf("Marshal(%q): %v", p, err)
		}
		doc, err := xml.Unmarshal(body)
		if err != nil {
			t.Fatalf("Unmarshal(%q): %v", body, err)
		}
		if want := trimmed(p); !maps.Equal(doc.Fields, want) {
			t.Fatalf("round trip of %q via %q = %q", want, body, doc.Fields)
		}
		if doc.Lists != nil {
			t.Fatalf("Lists = %q", doc.Lists)
		}
	}
}

func ExampleMarshal() {
	body, err := xml.Marshal(map[string]string{"mch_id": "1900000109", "send_name": "天虹百货 & <co>"})
	fmt.Println(string(body), err)
	// Output: <xml><mch_id>1900000109</mch_id><send_name><![CDATA[天虹百货 & <co>]]></send_name></xml> <nil>
}

func ExampleUnmarshal() {
	doc, err := xml.Unmarshal([]byte(`<xml>
<return_code><![CDATA[SUCCESS]]></return_code>
<hblist><hbinfo><openid>oHkLx</openid><amount>100</amount></hbinfo></hblist>
</xml>`))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(doc.Fields["return_code"], doc.Lists["hblist"][0]["amount"])
	// Output: SUCCESS 100
}
