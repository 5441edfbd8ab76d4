package claim

import (
	"bytes"
	"encoding/json"
	"testing"
)

// FuzzSceneMember: for every valid JSON object body the scanner handles, it
// finds the value encoding/json decodes into the scene field.
func FuzzSceneMember(f *testing.F) {
	for _, s := range []string{`{}`, `{"scene": 1047}`, `{"scene":1047,"scene":1011}`, `{"SCENE": 1}`,
		`{"a":{"scene":1},"scene":[1,{"x":"}"}]}`, `{"scene":null}`, `{"scene":"1047"}`, ` { "sCeNe" : -5 } `,
		`{"scene":1e3}`, `{"x":"y"}`, `{"scene":{}}`, `{"scene ":1}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		body = bytes.TrimSpace(body)
		if !json.Valid(body) || len(body) == 0 || body[0] != '{' {
			return
		}
		raw, ok := sceneMember(body)
		var v struct {
			Scene json.RawMessage `json:"scene"`
		}
		if err := json.Unmarshal(body, &v); err != nil {
			t.Fatalf("%q: valid JSON that does not decode: %v", body, err)
		}
		if ok && !bytes.Equal(raw, v.Scene) {
			t.Fatalf("%q: scanner %q, encoding/json %q", body, raw, v.Scene)
		}
		if !ok && !bytes.ContainsAny(body, "\\") && bytes.IndexFunc(body, func(r rune) bool { return r >= 0x80 }) < 0 {
			t.Fatalf("%q: printable ASCII without escapes, not handled", body)
		}
	})
}
