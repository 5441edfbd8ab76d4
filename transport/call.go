package transport

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/hongbao-go/hongbao/xml"
)

// Call sends one APIv2 call and returns its decoded reply. url is an
// absolute https URL, or a path beginning with "/" (such as
// "/mmpaymkttransfers/gethbinfo") under the BaseURL. params are the call's
// fields; Call works on its own copy and leaves them alone, so the same map
// may be sent again (a retry with the same mch_billno gets a fresh
// nonce_str and sign).
//
// Call fills in mch_id and nonce_str, signs, and POSTs the XML through Base
// on the Transport's keep-alive connections, carrying ctx, which bounds
// the whole call (there is no other timeout). It returns the document only
// for a 200 carrying an <xml> document with return_code SUCCESS whose sign
// verifies (where the endpoint signs its replies, or a sign is present);
// result_code and err_code are the caller's to read.
//
// Any other outcome is an error and no document: an *Error for a call
// refused (KindRequest: nothing was sent) or a reply rejected (KindStatus,
// KindNotXML, KindTooLarge, KindReturnFail, KindSign), or the network
// error from Base as it is, not wrapped in a *url.Error. A network error,
// or an *Error whose OutcomeUnknown is true, means that the platform may
// have acted on the call.
func (t *Transport) Call(ctx context.Context, url string, params map[string]string) (*xml.Document, error) {
	if t.signer == nil || t.Base == nil {
		return nil, &Error{Kind: KindRequest, Err: errNotNew}
	}
	if strings.HasPrefix(url, "/") && !strings.HasPrefix(url, "//") {
		url = t.baseURL + url
	}
	out, err := http.NewRequestWithContext(ctx, http.MethodPost, url, nil)
	if err != nil {
		return nil, &Error{Kind: KindRequest, Err: fmt.Errorf("bad call: %w", err)}
	}
	path := out.URL.Path
	if out.URL.Scheme != "https" || out.URL.Host == "" {
		return nil, &Error{Kind: KindRequest, Path: path,
			Err: errors.New("APIv2 calls need an absolute https URL or a path under the BaseURL, got " + strconv.Quote(clip(url)))}
	}
	body, err := t.encode(cloneParams(params))
	if err != nil {
		return nil, &Error{Kind: KindRequest, Path: path, Err: err}
	}
	setBody(out, body)
	_, _, doc, err := t.send(out)
	if err != nil {
		return nil, err
	}
	return doc, nil
}
