package wxpaytest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// maxV3Body bounds the body of an APIv3 request.
const maxV3Body = 1 << 20

// V3Request is the record of one APIv3 call.
type V3Request struct {
	Method string
	// URI is the path and query as sent, the URL the signature covers.
	URI    string
	Header http.Header
	Body   []byte
	At     time.Time
	// Status and Code are the HTTP status and the error code answered
	// (Code is empty for a 2xx), or that would have been answered when the
	// connection was dropped after processing; 0 and "" when it was
	// dropped before.
	Status int
	Code   string
}

// V3Requests returns copies of the records of every APIv3 call since the
// start or the last Reset, in arrival order (the test-only
// PathRequestMerchantTransfer excluded).
func (s *Server) V3Requests() []V3Request {
	v := s.v3
	v.mu.Lock()
	defer v.mu.Unlock()
	out := make([]V3Request, len(v.requests))
	for i, r := range v.requests {
		out[i] = *r
		out[i].Header = r.Header.Clone()
		out[i].Body = append([]byte(nil), r.Body...)
	}
	return out
}

// V3Fault makes the next matching APIv3 calls misbehave, as Fault does for
// APIv2. Faults are matched in the order they were injected; a call
// consumes at most one.
//
// What a matched call does, in this order:
//
//   - Delay: the server waits before processing; a client that gives up
//     meanwhile, or Close, drops the call unprocessed. With DropAfter the
//     wait comes after processing, just before the drop.
//   - DropBefore: the connection is closed without an answer; nothing is
//     processed.
//   - Code (with Status, or the code's usual status: 400 PARAM_ERROR and
//     INVALID_REQUEST, 401 SIGN_ERROR, 403 NO_AUTH and NOT_ENOUGH, 404
//     NOT_FOUND, 429 FREQUENCY_LIMITED, 500 SYSTEM_ERROR and any other
//     code): that error answer, with Message (a stock text when empty);
//     nothing is processed.
//   - Status without Code: that status with a short text body, or with
//     HTML an HTML error page, as a gateway answers (502, 503...);
//     nothing is processed.
//   - Otherwise the call is checked and processed as usual. Accepted makes
//     a create of a new bill answer ACCEPTED without package_info (the
//     bill waits for the user once asked about again); Signature signs a
//     2xx answer as it says (probe, forged, unsigned, tampered, stale,
//     unknown serial); DropAfter then closes the connection without an
//     answer: a bill created stays created, a lost reply.
type V3Fault struct {
	// Match selects the calls; nil matches every call. It gets a copy of
	// the call's record (Status and Code empty) and is called with the
	// fault list locked: it must not call InjectV3 or Reset.
	Match func(V3Request) bool
	// Times is how many calls the fault applies to; 0 or less means 1.
	Times int

	Code       string
	Message    string
	Status     int
	HTML       bool
	Delay      time.Duration
	DropBefore bool
	DropAfter  bool
	Accepted   bool
	Signature  Signature
}

// InjectV3 queues f for the next matching APIv3 calls.
func (s *Server) InjectV3(f V3Fault) {
	s.v3.faults.push(f, f.Times)
}

// takeFault consumes one use of the first pending fault matching the call.
func (v *v3State) takeFault(rec V3Request) (V3Fault, bool) {
	return v.faults.take(func(f V3Fault) bool { return f.Match == nil || f.Match(rec) })
}

// codeStatus is the usual HTTP status of an error code.
func codeStatus(code string) int {
	switch code {
	case "PARAM_ERROR", "INVALID_REQUEST":
		return http.StatusBadRequest
	case "SIGN_ERROR":
		return http.StatusUnauthorized
	case "NO_AUTH", "NOT_ENOUGH":
		return http.StatusForbidden
	case "NOT_FOUND":
		return http.StatusNotFound
	case "FREQUENCY_LIMITED":
		return http.StatusTooManyRequests
	}
	return http.StatusInternalServerError
}

// codeMessages are the stock messages of injected codes.
var codeMessages = map[string]string{
	"SYSTEM_ERROR":      "system error, retry with the same out_bill_no",
	"FREQUENCY_LIMITED": "too many requests, retry later",
	"NO_AUTH":           "the product is not opened for this merchant",
	"NOT_ENOUGH":        "the operating account balance is short",
	"SIGN_ERROR":        "signature error",
	"PARAM_ERROR":       "invalid parameter",
	"INVALID_REQUEST":   "invalid request",
	"NOT_FOUND":         "not found",
}

type v3Route int

const (
	routeNone v3Route = iota
	routeCreate
	routeQueryOut
	routeQueryNo
	routeCancel
	routeCertificates
)

// routeV3 finds the endpoint of path, its bill number and its method.
func routeV3(path string) (route v3Route, number, method string) {
	switch {
	case path == PathTransferBills:
		return routeCreate, "", http.MethodPost
	case path == PathCertificates:
		return routeCertificates, "", http.MethodGet
	case strings.HasPrefix(path, PathTransferBillByOutBillNo):
		rest := path[len(PathTransferBillByOutBillNo):]
		if n, ok := strings.CutSuffix(rest, "/cancel"); ok && !strings.Contains(n, "/") {
			return routeCancel, n, http.MethodPost
		}
		if !strings.Contains(rest, "/") {
			return routeQueryOut, rest, http.MethodGet
		}
	case strings.HasPrefix(path, PathTransferBillByNo):
		rest := path[len(PathTransferBillByNo):]
		if !strings.Contains(rest, "/") {
			return routeQueryNo, rest, http.MethodGet
		}
	}
	return routeNone, "", ""
}

// v3Answer is what a call answers: a 2xx body, or an error.
type v3Answer struct {
	status int
	body   []byte
	err    *v3Error
}

func (a *v3Answer) code() string {
	if a.err != nil {
		return a.err.Code
	}
	return ""
}

// serveV3 answers an APIv3 call; see the package documentation.
func (s *Server) serveV3(w http.ResponseWriter, r *http.Request) {
	v := s.v3
	if r.URL.Path == PathRequestMerchantTransfer {
		s.serveTransferPage(w, r)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxV3Body+1))
	if err != nil {
		s.drop(w)
		return
	}
	rec := &V3Request{Method: r.Method, URI: r.RequestURI, Header: r.Header.Clone(), Body: body, At: s.now()}
	v.mu.Lock()
	v.requests = append(v.requests, rec)
	v.mu.Unlock()

	route, number, method := routeV3(r.URL.Path)
	switch {
	case route == routeNone:
		v.respond(w, r, rec, &v3Answer{err: v3Fail(http.StatusNotFound, "RESOURCE_NOT_EXISTS", "no such API: %s", r.URL.Path)})
		return
	case r.Method != method:
		w.Header().Set("Allow", method)
		v.respond(w, r, rec, &v3Answer{err: v3Fail(http.StatusMethodNotAllowed, "METHOD_NOT_ALLOWED", "%s takes %s", r.URL.Path, method)})
		return
	case len(body) > maxV3Body:
		v.respond(w, r, rec, &v3Answer{err: v3Fail(http.StatusBadRequest, "PARAM_ERROR", "the body is larger than %d bytes", maxV3Body)})
		return
	}

	limited := v.rate != nil && !v.rate.allow(time.Now())
	if s.latency > 0 && !s.wait(r.Context(), s.latency) {
		s.drop(w)
		return
	}
	if limited {
		v.limited.Add(1)
		v.respond(w, r, rec, &v3Answer{err: v3Fail(http.StatusTooManyRequests, "FREQUENCY_LIMITED", "more than the allowed requests a second, retry later")})
		return
	}
	v.mu.Lock()
	snapshot := *rec
	v.mu.Unlock()
	f, faulted := v.takeFault(snapshot)
	if faulted {
		if f.Delay > 0 && !f.DropAfter && !s.wait(r.Context(), f.Delay) {
			s.drop(w)
			return
		}
		switch {
		case f.DropBefore:
			s.drop(w)
			return
		case f.Code != "":
			status := f.Status
			if status == 0 {
				status = codeStatus(f.Code)
			}
			msg := f.Message
			if msg == "" {
				msg = codeMessages[f.Code]
			}
			if msg == "" {
				msg = "error " + f.Code
			}
			v.respond(w, r, rec, &v3Answer{err: &v3Error{status: status, Code: f.Code, Message: msg}})
			return
		case f.Status != 0:
			v.setOutcome(rec, f.Status, "")
			w.Header().Set("Request-ID", requestID())
			writeRaw(w, Fault{Status: f.Status, HTML: f.HTML})
			return
		}
	}
	serial, key, err := v.keys.signer(r.Header.Get("Wechatpay-Serial"))
	if err != nil {
		v.respond(w, r, rec, &v3Answer{err: v3Fail(http.StatusInternalServerError, "SYSTEM_ERROR", "wxpaytest: %v", err)})
		return
	}
	ans := v.process(r, route, number, body, f.Accepted, serial)
	if f.DropAfter {
		status := ans.status
		if ans.err != nil {
			status = ans.err.status
		}
		v.setOutcome(rec, status, ans.code())
		if f.Delay > 0 {
			s.wait(r.Context(), f.Delay)
		}
		s.drop(w)
		return
	}
	if ans.err == nil {
		signed, err := v.sign(ans.body, SignSpec{Signature: f.Signature}, serial, key)
		if err != nil {
			ans = &v3Answer{err: v3Fail(http.StatusInternalServerError, "SYSTEM_ERROR", "wxpaytest: %v", err)}
		} else {
			for k, vs := range signed.Header {
				w.Header()[k] = vs
			}
			ans.body = signed.Body
		}
	}
	v.respond(w, r, rec, ans)
}

// process checks the Authorization and carries out the call.
func (v *v3State) process(r *http.Request, route v3Route, number string, body []byte, accepted bool, serial string) *v3Answer {
	if msg := v.checkAuthorization(r, body); msg != "" {
		return &v3Answer{err: v3Fail(http.StatusUnauthorized, "SIGN_ERROR", "%s", msg)}
	}
	var out any
	var e *v3Error
	switch route {
	case routeCreate:
		out, e = v.create(r, body, accepted, serial)
	case routeQueryOut:
		out, e = v.query(number, false)
	case routeQueryNo:
		out, e = v.query(number, true)
	case routeCancel:
		out, e = v.cancel(number)
	case routeCertificates:
		out, e = v.certificates(r)
	}
	if e != nil {
		return &v3Answer{err: e}
	}
	b, err := marshalJSON(out)
	if err != nil {
		return &v3Answer{err: v3Fail(http.StatusInternalServerError, "SYSTEM_ERROR", "wxpaytest: encoding the answer: %v", err)}
	}
	return &v3Answer{status: http.StatusOK, body: b}
}

func (v *v3State) setOutcome(rec *V3Request, status int, code string) {
	v.mu.Lock()
	rec.Status, rec.Code = status, code
	v.mu.Unlock()
}

// respond writes an answer: a 2xx with the headers serveV3 has set, or an
// unsigned JSON error.
func (v *v3State) respond(w http.ResponseWriter, r *http.Request, rec *V3Request, ans *v3Answer) {
	body, status := ans.body, ans.status
	if ans.err != nil {
		status = ans.err.status
		b, err := marshalJSON(ans.err)
		if err != nil {
			b = []byte(`{"code":"SYSTEM_ERROR","message":"wxpaytest: encoding an error"}`)
		}
		body = b
		w.Header().Set("Content-Type", "application/json")
	}
	v.setOutcome(rec, status, ans.code())
	w.Header().Set("Request-ID", requestID())
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		w.Write(body)
	}
}

type certificatesAnswer struct {
	Data []certificateEntry `json:"data"`
}

type certificateEntry struct {
	SerialNo           string            `json:"serial_no"`
	EffectiveTime      string            `json:"effective_time"`
	ExpireTime         string            `json:"expire_time"`
	EncryptCertificate encryptedResource `json:"encrypt_certificate"`
}

// certificates answers GET /v3/certificates: the platform certificates not
// expired, each encrypted under the APIv3 key.
func (v *v3State) certificates(r *http.Request) (any, *v3Error) {
	switch alg := r.URL.Query().Get("algorithm_type"); alg {
	case "", "RSA":
	default:
		return nil, v3Fail(http.StatusBadRequest, "PARAM_ERROR", "algorithm_type %q is not supported here: RSA", alg)
	}
	ans := certificatesAnswer{Data: []certificateEntry{}}
	if !v.trust.certificates() {
		return ans, nil
	}
	k := &v.keys
	k.mu.Lock()
	defer k.mu.Unlock()
	if _, err := k.signingCert(); err != nil {
		return nil, v3Fail(http.StatusInternalServerError, "SYSTEM_ERROR", "wxpaytest: %v", err)
	}
	for _, pc := range k.listed(v.s.now()) {
		exp := pc.export(false)
		nonce := randomAlnum(12)
		ct, err := v.seal(nonce, "certificate", exp.PEM)
		if err != nil {
			return nil, v3Fail(http.StatusInternalServerError, "SYSTEM_ERROR", "wxpaytest: %v", err)
		}
		ans.Data = append(ans.Data, certificateEntry{
			SerialNo: pc.serial, EffectiveTime: rfc3339(exp.NotBefore), ExpireTime: rfc3339(exp.NotAfter),
			EncryptCertificate: encryptedResource{Algorithm: "AEAD_AES_256_GCM", Nonce: nonce, AssociatedData: "certificate", Ciphertext: ct},
		})
	}
	return ans, nil
}

// serveTransferPage serves PathRequestMerchantTransfer: the test-only
// stand-in for the user confirming in the page of
// wx.requestMerchantTransfer. It takes a POST of a TransferPage in JSON
// and calls ConfirmTransfer: 200 {"errMsg":"requestMerchantTransfer:ok",
// "state":...} or 400 {"errMsg":"requestMerchantTransfer:fail ..."}. It
// needs neither a client certificate nor a signature.
func (s *Server) serveTransferPage(w http.ResponseWriter, r *http.Request) {
	type answer struct {
		ErrMsg string `json:"errMsg"`
		State  string `json:"state,omitempty"`
	}
	write := func(status int, a answer) {
		b, _ := marshalJSON(a)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", strconv.Itoa(len(b)))
		w.WriteHeader(status)
		w.Write(b)
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		write(http.StatusMethodNotAllowed, answer{ErrMsg: "requestMerchantTransfer:fail POST a JSON object"})
		return
	}
	var p TransferPage
	if err := json.NewDecoder(io.LimitReader(r.Body, 64<<10)).Decode(&p); err != nil {
		write(http.StatusBadRequest, answer{ErrMsg: fmt.Sprintf("requestMerchantTransfer:fail the body is not a JSON object: %v", err)})
		return
	}
	b, err := s.ConfirmTransfer(p)
	if err != nil {
		write(http.StatusBadRequest, answer{ErrMsg: err.Error()})
		return
	}
	write(http.StatusOK, answer{ErrMsg: "requestMerchantTransfer:ok", State: b.State})
}
