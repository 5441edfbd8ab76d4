package xml_test

import (
	"bytes"
	stdxml "encoding/xml"
	"io"
	"maps"
	"slices"
	"testing"

	"github.com/hongbao-go/hongbao/xml"
)

// The comparisons do the same job with encoding/xml:
//   - encode: xml.Marshal of a struct with one string field per key (tags in key order), and
//     an xml.Encoder writing tokens for the sorted map. For this body all three write the
//     same bytes (checked in setup); encoding/xml would need a ",cdata" field to write CDATA,
//     which costs it more, so plain strings are its best case.
//   - decode: xml.Unmarshal into that struct, and xml.Decoder.Token into a map (stdFields),
//     the form this package returns.

// sendRequest holds the 13 fields of the sendminiprogramhb body.
type sendRequest struct {
	XMLName     stdxml.Name `xml:"xml"`
	ActName     string      `xml:"act_name"`
	MchBillno   string      `xml:"mch_billno"`
	MchID       string      `xml:"mch_id"`
	NonceStr    string      `xml:"nonce_str"`
	NotifyWay   string      `xml:"notify_way"`
	ReOpenid    string      `xml:"re_openid"`
	Remark      string      `xml:"remark"`
	SendName    string      `xml:"send_name"`
	Sign        string      `xml:"sign"`
	TotalAmount string      `xml:"total_amount"`
	TotalNum    string      `xml:"total_num"`
	Wishing     string      `xml:"wishing"`
	Wxappid     string      `xml:"wxappid"`
}

func newSendRequest(p map[string]string) *sendRequest {
	return &sendRequest{
		ActName: p["act_name"], MchBillno: p["mch_billno"], MchID: p["mch_id"], NonceStr: p["nonce_str"],
		NotifyWay: p["notify_way"], ReOpenid: p["re_openid"], Remark: p["remark"], SendName: p["send_name"],
		Sign: p["sign"], TotalAmount: p["total_amount"], TotalNum: p["total_num"], Wishing: p["wishing"],
		Wxappid: p["wxappid"],
	}
}

// stdEncode writes p as <xml> with an encoding/xml token encoder, keys sorted.
func stdEncode(w io.Writer, p map[string]string) error {
	e := stdxml.NewEncoder(w)
	root := stdxml.StartElement{Name: stdxml.Name{Local: "xml"}}
	if err := e.EncodeToken(root); err != nil {
		return err
	}
	for _, k := range slices.Sorted(maps.Keys(p)) {
		start := stdxml.StartElement{Name: stdxml.Name{Local: k}}
		if err := e.EncodeElement(p[k], start); err != nil {
			return err
		}
	}
	if err := e.EncodeToken(root.End()); err != nil {
		return err
	}
	return e.Flush()
}

// stdFields decodes the children of the root into a map with encoding/xml tokens, values
// untrimmed.
func stdFields(data []byte) (map[string]string, error) {
	d := stdxml.NewDecoder(bytes.NewReader(data))
	m := map[string]string{}
	var name string
	var text []byte
	depth := 0
	for {
		tok, err := d.Token()
		if err == io.EOF {
			return m, nil
		}
		if err != nil {
			return nil, err
		}
		switch tok := tok.(type) {
		case stdxml.StartElement:
			if depth++; depth == 2 {
				name, text = tok.Name.Local, text[:0]
			}
		case stdxml.CharData:
			if depth == 2 {
				text = append(text, tok...)
			}
		case stdxml.EndElement:
			if depth == 2 {
				m[name] = string(text)
			}
			depth--
		}
	}
}

func BenchmarkMarshal(b *testing.B) {
	p := sendBody(b)
	want, _ := xml.Marshal(p)
	if got, _ := stdxml.Marshal(newSendRequest(p)); !bytes.Equal(got, want) {
		b.Fatalf("encoding/xml wrote %s, want %s", got, want)
	}
	b.Run("hongbao", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := xml.Marshal(p); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("hongbao-append", func(b *testing.B) {
		b.ReportAllocs()
		buf := make([]byte, 0, 1024)
		for b.Loop() {
			if _, err := xml.AppendMarshal(buf[:0], p); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encoding-xml-struct", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			// The struct is filled from the map each time, as a caller holding a map must.
			if _, err := stdxml.Marshal(newSendRequest(p)); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encoding-xml-tokens", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var buf bytes.Buffer
			if err := stdEncode(&buf, p); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkUnmarshal(b *testing.B) {
	p := sendBody(b)
	body, _ := xml.Marshal(p)
	if m, err := stdFields(body); err != nil || !maps.Equal(m, p) {
		b.Fatalf("stdFields = %v, %v", m, err)
	}
	b.Run("hongbao", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := xml.Unmarshal(body); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encoding-xml-struct", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var r sendRequest
			if err := stdxml.Unmarshal(body, &r); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encoding-xml-tokens", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := stdFields(body); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkUnmarshalReply decodes a success reply as the platform writes it: CDATA
// values, one per line.
func BenchmarkUnmarshalReply(b *testing.B) {
	body := []byte(sendReply)
	b.Run("hongbao", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := xml.Unmarshal(body); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encoding-xml-tokens", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := stdFields(body); err != nil {
				b.Fatal(err)
			}
		}
	})
}
