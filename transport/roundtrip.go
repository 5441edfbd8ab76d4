package transport

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"

	"github.com/hongbao-go/hongbao/xml"
)

// xmlContentType is the Content-Type of the signed request and of the
// reply handed back.
const xmlContentType = "text/xml; charset=utf-8"

// replyKey is the context key of the *replyBody of a call.
type replyKey struct{}

// replyBody is the body of a reply handed back: the XML bytes in memory,
// with the decoded document. It is also stored in the context of the
// request sent, which becomes resp.Request, so that ReplyOf finds the
// document even when a client wraps the body (http.Client with a Timeout
// does).
type replyBody struct {
	bytes.Reader
	doc *xml.Document
}

// Close does nothing: the body is in memory and stays readable.
func (*replyBody) Close() error { return nil }

// ReplyOf returns the decoded reply of a response RoundTrip handed back:
// resp from http.Client.Do, or a resty Response's RawResponse. It finds
// the document through resp.Body or, when a client wrapped the body (an
// http.Client with a Timeout does), through resp.Request's context. It
// reports false for any other response. Call returns the document itself.
func ReplyOf(resp *http.Response) (*xml.Document, bool) {
	if resp == nil {
		return nil, false
	}
	if b, ok := resp.Body.(*replyBody); ok && b.doc != nil {
		return b.doc, true
	}
	if resp.Request == nil {
		return nil, false
	}
	if b, ok := resp.Request.Context().Value(replyKey{}).(*replyBody); ok && b.doc != nil {
		return b.doc, true
	}
	return nil, false
}

// RoundTrip sends one APIv2 call for an http.Client or resty. It takes the
// call's parameters from the request's context (NewRequest) or from its
// body: application/x-www-form-urlencoded (each field once),
// application/json (one object of strings, numbers kept as written, or
// booleans, each field once; null leaves the field out), or text/xml or
// application/xml (an <xml> document of fields). Without a Content-Type,
// or with text/plain, the first byte decides: '<' XML, '{' JSON, else a
// form. Resty's SetBody(map) arrives as JSON, SetFormData as a form.
//
// It prepares and signs the parameters as Call does and sends them through
// Base on a copy of req (req.WithContext, its own header): POST, the XML
// body, Content-Type "text/xml; charset=utf-8", ContentLength and GetBody.
// req, its header and body are not modified, and req.Body is closed
// exactly once, on every path.
//
// It returns a response only for a reply that Call would return: a 200
// with return_code SUCCESS whose sign verifies. Its body is the XML, in
// memory (an io.Seeker when unwrapped, so it can be read again), with
// Content-Type "text/xml; charset=utf-8" and ContentLength set, so that
// resty's SetResult decodes it into a struct with xml tags; ReplyOf
// returns the decoded document, and resp.Request is the request sent.
// Anything else is an *Error (or a network error from Base) and no
// response, a non-200 status and return_code FAIL included: see "Errors"
// in the package documentation for why RoundTrip departs from the
// http.RoundTripper rule there.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	if t.signer == nil || t.Base == nil || req.URL == nil {
		if req.Body != nil {
			req.Body.Close()
		}
		if t.signer == nil || t.Base == nil {
			return nil, &Error{Kind: KindRequest, Err: errNotNew}
		}
		return nil, &Error{Kind: KindRequest, Err: errors.New("nil URL")}
	}
	path := req.URL.Path
	params, err := takeParams(req)
	if err != nil {
		return nil, &Error{Kind: KindRequest, Path: path, Err: err}
	}
	if req.Method != http.MethodPost {
		return nil, &Error{Kind: KindRequest, Path: path, Err: errors.New("APIv2 calls are POST, got " + strconv.Quote(req.Method))}
	}
	if req.URL.Scheme != "https" {
		// Over plain HTTP nothing authenticates the platform, and the
		// red-packet replies carry no sign of their own.
		return nil, &Error{Kind: KindRequest, Path: path, Err: errors.New("APIv2 calls need an https URL, got scheme " + strconv.Quote(req.URL.Scheme))}
	}
	body, err := t.encode(params)
	if err != nil {
		return nil, &Error{Kind: KindRequest, Path: path, Err: err}
	}

	// The copy shares the caller's URL, which is never modified, and gets
	// its own header.
	reply := new(replyBody)
	out := req.WithContext(context.WithValue(req.Context(), replyKey{}, reply))
	out.Header = req.Header.Clone()
	if out.Header == nil {
		out.Header = make(http.Header, 1)
	}
	// net/http asks for gzip itself and decodes it, unless the caller did.
	out.Header.Del("Accept-Encoding")
	out.Header.Del("Content-Encoding")
	out.Header.Del("Content-Length")
	out.TransferEncoding = nil
	setBody(out, body)

	resp, data, doc, err := t.send(out)
	if err != nil {
		return nil, err
	}
	reply.Reset(data)
	reply.doc = doc
	resp.Body = reply
	resp.ContentLength = int64(len(data))
	if resp.Header == nil {
		resp.Header = make(http.Header, 1)
	}
	resp.Header.Set("Content-Type", xmlContentType)
	resp.Header.Del("Content-Length")
	resp.Header.Del("Content-Encoding")
	resp.Uncompressed = false
	resp.TransferEncoding = nil
	resp.Request = out
	return resp, nil
}

// encode fills in mch_id and nonce_str, signs p in place and returns the
// XML body of the call.
func (t *Transport) encode(p map[string]string) ([]byte, error) {
	if err := t.prepare(p); err != nil {
		return nil, err
	}
	return xml.AppendMarshal(make([]byte, 0, 1024), p)
}

// setBody makes body the body of out, with its Content-Type,
// ContentLength and GetBody. A NopCloser'd *bytes.Reader is a body
// net/http knows to be in memory: it writes the headers and the body in
// one go.
func setBody(out *http.Request, body []byte) {
	out.Body = io.NopCloser(bytes.NewReader(body))
	out.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	out.ContentLength = int64(len(body))
	out.Header.Set("Content-Type", xmlContentType)
}

// send sends out, a signed call, through Base and returns the response
// with the bytes and the document of its reply, checked by receive. On
// error the response is nil and its body closed.
func (t *Transport) send(out *http.Request) (*http.Response, []byte, *xml.Document, error) {
	resp, err := t.Base.RoundTrip(out)
	if err != nil {
		if resp != nil && resp.Body != nil {
			resp.Body.Close()
		}
		return nil, nil, nil, err
	}
	data, doc, err := t.receive(out.URL.Path, resp)
	if err != nil {
		return nil, nil, nil, err
	}
	return resp, data, doc, nil
}

// receive reads, decodes and checks the reply to a call on path, and
// closes its body, whatever happens. It returns the bytes read and the
// document only for a 200 with an APIv2 document whose return_code is
// SUCCESS and whose sign, where demanded or present, verifies; anything
// else is an *Error.
func (t *Transport) receive(path string, resp *http.Response) ([]byte, *xml.Document, error) {
	if resp.Body == nil {
		resp.Body = http.NoBody
	}
	data, rerr := readCapped(resp.Body, resp.ContentLength, t.maxReply)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, nil, &Error{Kind: KindStatus, Path: path, StatusCode: resp.StatusCode, Snippet: snippet(data)}
	}
	switch {
	case rerr == errTooLarge:
		return nil, nil, &Error{Kind: KindTooLarge, Path: path, StatusCode: resp.StatusCode,
			Err: errors.New("larger than " + strconv.FormatInt(t.maxReply, 10) + " bytes (MaxReplyBytes)")}
	case rerr != nil:
		return nil, nil, &Error{Kind: KindNotXML, Path: path, StatusCode: resp.StatusCode, Err: rerr, Snippet: snippet(data)}
	}
	doc, err := t.decoder.Decode(data)
	if err != nil {
		if errors.Is(err, xml.ErrTooLarge) {
			return nil, nil, &Error{Kind: KindTooLarge, Path: path, StatusCode: resp.StatusCode, Err: err}
		}
		return nil, nil, &Error{Kind: KindNotXML, Path: path, StatusCode: resp.StatusCode, Err: err, Snippet: snippet(data)}
	}
	f := doc.Fields
	switch f["return_code"] {
	case "SUCCESS":
	case "FAIL":
		return nil, nil, replyError(KindReturnFail, path, resp.StatusCode, f, nil)
	default:
		e := replyError(KindNotXML, path, resp.StatusCode, f, errors.New("no return_code SUCCESS or FAIL"))
		e.Snippet = snippet(data)
		return nil, nil, e
	}
	if f["sign"] != "" || !t.unsigned(path) {
		if err := t.signer.Verify(f); err != nil {
			return nil, nil, replyError(KindSign, path, resp.StatusCode, f, err)
		}
	}
	return data, doc, nil
}

// replyError returns an Error about a decoded reply with fields f.
func replyError(kind ErrorKind, path string, status int, f map[string]string, err error) *Error {
	return &Error{Kind: kind, Path: path, StatusCode: status, Err: err,
		ReturnCode: f["return_code"], ReturnMsg: f["return_msg"], ErrCode: f["err_code"], ErrCodeDes: f["err_code_des"]}
}

var errTooLarge = errors.New("reply too large")

// readCapped reads r to its end, at most max bytes (errTooLarge beyond).
// A known length sizes the buffer in one go.
func readCapped(r io.Reader, length, max int64) ([]byte, error) {
	if length > max {
		return nil, errTooLarge
	}
	size := int64(512)
	if length >= 0 {
		size = length + 1 // room to see EOF without growing
	}
	buf := make([]byte, 0, size)
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if int64(len(buf)) > max {
			return nil, errTooLarge
		}
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}
