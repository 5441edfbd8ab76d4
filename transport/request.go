package transport

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"

	"github.com/hongbao-go/hongbao/signer"
	"github.com/hongbao-go/hongbao/xml"
)

// paramsKey is the context key under which NewRequest stores the params.
type paramsKey struct{}

// NewRequest returns a POST request to the absolute url whose APIv2
// parameters ride in its context, unencoded, for an http.Client over the
// Transport: RoundTrip signs and encodes them when it sends the request.
// params is not modified, by NewRequest or by the Transport, and must not
// be modified until the call returns. A relative url is an error: use
// Resty for paths relative to the BaseURL. Call takes the parameters
// directly, without a request.
func NewRequest(ctx context.Context, url string, params map[string]string) (*http.Request, error) {
	req, err := http.NewRequestWithContext(context.WithValue(ctx, paramsKey{}, params), http.MethodPost, url, nil)
	if err != nil {
		return nil, fmt.Errorf("transport: NewRequest: %w", err)
	}
	if !req.URL.IsAbs() || req.URL.Host == "" {
		return nil, fmt.Errorf("transport: NewRequest needs an absolute URL, got %q", url)
	}
	return req, nil
}

// errNotNew is the error of a Transport not created by New.
var errNotNew = errors.New("transport: Transport not created by New")

// takeParams returns a fresh map with the call's parameters, from the
// context (NewRequest) or the body. It closes req.Body, if any, exactly
// once, whatever happens.
func takeParams(req *http.Request) (map[string]string, error) {
	body := req.Body
	if body == http.NoBody {
		body = nil
	}
	if p, ok := req.Context().Value(paramsKey{}).(map[string]string); ok {
		if body != nil {
			body.Close()
			return nil, errors.New("params given both by NewRequest and as a body")
		}
		return cloneParams(p), nil
	}
	if body == nil {
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, errors.New("no params: use NewRequest or send a form, JSON or XML body")
	}
	data, err := io.ReadAll(io.LimitReader(body, maxRequestBytes+1))
	body.Close()
	if err != nil {
		return nil, fmt.Errorf("reading the request body: %w", err)
	}
	if len(data) > maxRequestBytes {
		return nil, fmt.Errorf("request body larger than %d bytes", maxRequestBytes)
	}
	return parseBody(req.Header.Get("Content-Type"), data)
}

// cloneParams returns a copy of p with room for the mch_id, nonce_str
// and sign that prepare adds.
func cloneParams(p map[string]string) map[string]string {
	out := make(map[string]string, len(p)+3)
	for k, v := range p {
		out[k] = v
	}
	return out
}

// parseBody converts a form, JSON object or <xml> body into params. Without
// a Content-Type, the first non-blank byte decides: '<' XML, '{' JSON,
// anything else a form.
func parseBody(contentType string, data []byte) (map[string]string, error) {
	kind := ""
	if contentType != "" {
		mt, _, err := mime.ParseMediaType(contentType)
		if err != nil {
			return nil, fmt.Errorf("bad Content-Type %q", contentType)
		}
		switch {
		case mt == "application/x-www-form-urlencoded":
			kind = "form"
		case mt == "application/json" || strings.HasSuffix(mt, "+json"):
			kind = "json"
		case mt == "text/xml" || mt == "application/xml" || strings.HasSuffix(mt, "+xml"):
			kind = "xml"
		case mt == "text/plain" || mt == "application/octet-stream":
			// http.DetectContentType's guesses: decide by content.
		default:
			return nil, fmt.Errorf("unsupported Content-Type %q: send a form, JSON object or <xml> body", mt)
		}
	}
	if kind == "" {
		switch t := bytes.TrimLeft(data, " \t\r\n"); {
		case len(t) > 0 && t[0] == '<':
			kind = "xml"
		case len(t) > 0 && t[0] == '{':
			kind = "json"
		default:
			kind = "form"
		}
	}
	switch kind {
	case "xml":
		doc, err := xml.Unmarshal(data)
		if err != nil {
			return nil, err
		}
		if len(doc.Lists) > 0 {
			return nil, errors.New("an APIv2 request body holds fields only, not nested elements")
		}
		return doc.Fields, nil
	case "json":
		return parseJSON(data)
	}
	form, err := url.ParseQuery(string(data))
	if err != nil {
		return nil, fmt.Errorf("bad form body: %w", err)
	}
	p := make(map[string]string, len(form)+3)
	for k, vs := range form {
		if len(vs) != 1 {
			return nil, fmt.Errorf("form field %q given %d times", clip(k), len(vs))
		}
		p[k] = vs[0]
	}
	return p, nil
}

// parseJSON converts a JSON object whose values are strings, numbers
// (kept as written), booleans or null (field left out) into params. A name
// given twice is refused, as in a form, rather than the last one winning.
func parseJSON(data []byte) (map[string]string, error) {
	const bad = "bad JSON body (want an object of strings, numbers and booleans)"
	dec := json.NewDecoder(bytes.NewReader(data))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, errors.New(bad)
	}
	p := make(map[string]string)
	seen := make(map[string]bool)
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", bad, err)
		}
		k := tok.(string) // a name: the decoder is inside an object
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, fmt.Errorf("%s: %w", bad, err)
		}
		if seen[k] {
			return nil, fmt.Errorf("JSON field %q given twice", clip(k))
		}
		seen[k] = true
		switch c := v[0]; {
		case c == '"':
			var s string
			if err := json.Unmarshal(v, &s); err != nil {
				return nil, fmt.Errorf("JSON field %q: %w", clip(k), err)
			}
			p[k] = s
		case c == 'n': // null
		case c == 't' || c == 'f' || c == '-' || '0' <= c && c <= '9':
			p[k] = string(v)
		default:
			return nil, fmt.Errorf("JSON field %q: objects and arrays cannot be sent", clip(k))
		}
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return nil, fmt.Errorf("%s: %w", bad, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New(bad + ": data after the object")
	}
	return p, nil
}

func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}

// prepare fills in mch_id and nonce_str and signs p in place.
func (t *Transport) prepare(p map[string]string) error {
	if id, ok := p["mchid"]; ok && p["mch_id"] == "" {
		// Transfers name the merchant field mchid.
		if id != t.mchID {
			return fmt.Errorf("mchid %q is not the configured MchID %q", clip(id), t.mchID)
		}
	} else if id := p["mch_id"]; id == "" {
		p["mch_id"] = t.mchID
	} else if id != t.mchID {
		return fmt.Errorf("mch_id %q is not the configured MchID %q", clip(id), t.mchID)
	}
	if p["nonce_str"] == "" {
		n, err := signer.NewNonce(t.rand)
		if err != nil {
			return err
		}
		p["nonce_str"] = n
	}
	sign, err := t.signer.Sign(p)
	if err != nil {
		return err
	}
	p["sign"] = sign
	return nil
}
