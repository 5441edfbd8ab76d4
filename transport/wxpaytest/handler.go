package wxpaytest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/hongbao-go/hongbao/signer"
	"github.com/hongbao-go/hongbao/xml"
)

// Special Fault.ErrCode values; see Fault.
const (
	codeProcessing   = "PROCESSING"
	codeBadReplySign = "BAD_REPLY_SIGN"
	codeNoReplySign  = "NO_REPLY_SIGN"
)

// beijing is the platform's time zone (UTC+8, no daylight saving).
var beijing = time.FixedZone("CST", 8*60*60)

// timeLayout is how the platform writes times.
const timeLayout = "2006-01-02 15:04:05"

// reasonFailed is gethbinfo's reason for a packet forced to FAILED.
const reasonFailed = "the red packet could not be sent"

// descriptions are the stock err_code_des texts.
var descriptions = map[string]string{
	"SYSTEMERROR":              "system error, retry with the same mch_billno",
	"PROCESSING":               "the request is being processed, query it later",
	"FREQ_LIMIT":               "too many requests, retry later",
	"SEND_FAILED":              "the red packet could not be sent, use a new mch_billno",
	"FATAL_ERROR":              "mch_billno already used with a different re_openid or total_amount",
	"NO_AUTH":                  "the receiver is blocked by risk control",
	"SENDNUM_LIMIT":            "the receiver got too many red packets today",
	"RCVDAMOUNT_LIMIT":         "the receiver got too much money today",
	"SENDAMOUNT_LIMIT":         "the merchant sent too much money today",
	"MONEY_LIMIT":              "amount out of the allowed range",
	"ILLEGAL_APPID":            "the appid is not bound to the merchant",
	"OPENID_ERROR":             "the openid does not belong to the appid",
	"MSGAPPID_ERROR":           "msgappid and wxappid do not match",
	"ACCEPTMODE_ERROR":         "the service provider relation is wrong",
	"CA_ERROR":                 "the client certificate does not match the merchant",
	"SIGN_ERROR":               "signature error",
	"XML_ERROR":                "invalid XML",
	"PARAM_ERROR":              "invalid parameter",
	"API_METHOD_CLOSED":        "payouts are switched off for this merchant",
	"NOTENOUGH":                "insufficient balance",
	"PRODUCT_AUTHORITY_UNOPEN": "the product is not enabled for this merchant",
	"NOT_FOUND":                "no record for this mch_billno",
}

func description(code, des string) string {
	if des != "" {
		return des
	}
	if d, ok := descriptions[code]; ok {
		return d
	}
	return "error " + code
}

// isProtocolCode reports whether code is answered with return_code=FAIL.
func isProtocolCode(code string) bool {
	switch code {
	case "XML_ERROR", "SIGN_ERROR", "PARAM_ERROR", "CA_ERROR":
		return true
	}
	return false
}

// reply is an XML answer: flat fields plus, for gethbinfo, the hblist items.
type reply struct {
	fields map[string]string
	hblist []map[string]string
}

func (rep *reply) errCode() string { return rep.fields["err_code"] }

// protocolFail is the answer to a request the platform refuses before
// looking at it: XML, certificate, sign or parameter errors.
func protocolFail(code, des string) *reply {
	des = description(code, des)
	return &reply{fields: map[string]string{
		"return_code":  "FAIL",
		"return_msg":   des,
		"result_code":  "FAIL",
		"err_code":     code,
		"err_code_des": des,
	}}
}

// echoed are the request fields a business failure repeats.
var echoed = []string{"mch_billno", "mch_id", "wxappid", "appid", "re_openid", "total_amount"}

// businessFail is the answer to a well-formed request that failed.
func businessFail(code, des string, params map[string]string) *reply {
	des = description(code, des)
	f := map[string]string{
		"return_code":  "SUCCESS",
		"return_msg":   des,
		"result_code":  "FAIL",
		"err_code":     code,
		"err_code_des": des,
	}
	for _, k := range echoed {
		if v, ok := params[k]; ok {
			f[k] = v
		}
	}
	return &reply{fields: f}
}

func answerCode(code, des string, params map[string]string) *reply {
	if isProtocolCode(code) {
		return protocolFail(code, des)
	}
	return businessFail(code, des, params)
}

// ServeHTTP answers one call; see the package documentation.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if isV3Path(r.URL.Path) {
		s.serveV3(w, r)
		return
	}
	rec := &Request{Path: r.URL.Path, Params: map[string]string{}, At: s.now()}
	switch r.URL.Path {
	case PathSendMiniProgramHB, PathGetHBInfo, PathOrderQuery:
		// The red-packet paths need the merchant certificate: without
		// one the platform closes the connection without an answer.
		if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
			s.drop(w)
			return
		}
	default:
		s.record(rec)
		http.NotFound(w, r)
		return
	}
	if r.Method != http.MethodPost {
		s.record(rec)
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	doc, decErr := xml.Decoder{}.DecodeReader(r.Body)
	if decErr == nil && len(doc.Lists) > 0 {
		decErr = errors.New("nested elements in a request")
	}
	if decErr == nil {
		rec.Params = doc.Fields
	}
	params := rec.Params
	s.record(rec)

	// The send rate is judged on arrival; the answer, like every other,
	// comes after the latency.
	limited := rec.Path == PathSendMiniProgramHB && s.rate != nil && !s.rate.allow(time.Now())
	if s.latency > 0 && !s.wait(r.Context(), s.latency) {
		s.drop(w)
		return
	}
	if limited {
		s.freqLimited.Add(1)
		s.respond(w, rec, businessFail("FREQ_LIMIT", "", params), "")
		return
	}

	f, faulted := s.takeFault(rec.Path, params)
	if !faulted {
		s.respond(w, rec, s.process(r, params, decErr, sendMode{}), "")
		return
	}
	if f.Delay > 0 && !f.DropAfter && !s.wait(r.Context(), f.Delay) {
		s.drop(w)
		return
	}
	switch {
	case f.DropBefore:
		s.drop(w)
		return
	case f.Status != 0 || f.HTML || f.Garbage:
		writeRaw(w, f)
		return
	case f.ReturnFail != "":
		rep := &reply{fields: map[string]string{"return_code": "FAIL", "return_msg": f.ReturnFail}}
		if f.ErrCode != "" {
			rep.fields["result_code"] = "FAIL"
			rep.fields["err_code"] = f.ErrCode
			rep.fields["err_code_des"] = description(f.ErrCode, f.ErrCodeDes)
		}
		s.respond(w, rec, rep, "")
		return
	}
	var rep *reply
	signMode := ""
	switch f.ErrCode {
	case "":
		rep = s.process(r, params, decErr, sendMode{})
	case codeProcessing:
		if rec.Path != PathSendMiniProgramHB {
			rep = answerCode(f.ErrCode, f.ErrCodeDes, params)
		} else {
			rep = s.process(r, params, decErr, sendMode{processing: true})
		}
	case codeBadReplySign, codeNoReplySign:
		rep = s.process(r, params, decErr, sendMode{})
		signMode = f.ErrCode
	default:
		if f.Record && rec.Path == PathSendMiniProgramHB {
			rep = s.process(r, params, decErr, sendMode{failCode: f.ErrCode, failDes: f.ErrCodeDes})
		} else {
			rep = answerCode(f.ErrCode, f.ErrCodeDes, params)
		}
	}
	if f.DropAfter {
		s.setErrCode(rec, rep.errCode())
		if f.Delay > 0 {
			s.wait(r.Context(), f.Delay)
		}
		s.drop(w)
		return
	}
	s.respond(w, rec, rep, signMode)
}

func (s *Server) record(rec *Request) {
	s.mu.Lock()
	s.requests = append(s.requests, rec)
	s.mu.Unlock()
}

func (s *Server) setErrCode(rec *Request, code string) {
	s.mu.Lock()
	rec.ErrCode = code
	s.mu.Unlock()
}

// wait sleeps for d and reports whether it slept fully, rather than
// stopping because the client went away or the server is closing.
func (s *Server) wait(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
	case <-s.closing:
	}
	return false
}

// drop closes the connection without writing anything.
func (s *Server) drop(w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic(http.ErrAbortHandler)
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	conn.Close()
}

// garbage is what a Garbage fault answers: not text, not XML.
var garbage = []byte{0x1f, 0x8b, 0x08, 0x00, 0xde, 0xad, 0xbe, 0xef, 0xff, 0xfe, 0x00, 0x01, 0x80, 0x9c, 0x3c, 0x00}

func writeRaw(w http.ResponseWriter, f Fault) {
	status := f.Status
	if status == 0 {
		status = http.StatusOK
	}
	text := fmt.Sprintf("%d %s", status, http.StatusText(status))
	var body []byte
	switch {
	case f.HTML:
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		body = fmt.Appendf(nil, "<!DOCTYPE html>\n<html>\n<head><title>%s</title></head>\n<body>\n<center><h1>%s</h1></center>\n<hr><center>nginx</center>\n</body>\n</html>\n", text, text)
	case f.Garbage:
		w.Header().Set("Content-Type", "application/octet-stream")
		body = garbage
	default:
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		body = []byte(text + "\n")
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	w.Write(body)
}

// respond signs (for /pay/orderquery, or as signMode asks), encodes and
// writes rep, and records its err_code.
func (s *Server) respond(w http.ResponseWriter, rec *Request, rep *reply, signMode string) {
	s.setErrCode(rec, rep.errCode())
	fields := rep.fields
	alg := signer.MD5
	if rec.Path == PathOrderQuery {
		if a, err := signer.AlgorithmOf(rec.Params); err == nil {
			alg = a
		}
	}
	sign := ""
	switch {
	case signMode == codeNoReplySign:
	case signMode == codeBadReplySign:
		sign = corrupt(s.signer.SignWith(alg, fields))
	case rec.Path == PathOrderQuery && fields["return_code"] == "SUCCESS":
		sign = s.signer.SignWith(alg, fields)
	}
	if sign != "" {
		fields["sign"] = sign
	}
	body, err := xml.Marshal(fields)
	if err == nil && rep.hblist != nil {
		body, err = appendList(body, "hblist", "hbinfo", rep.hblist)
	}
	if err != nil {
		http.Error(w, "wxpaytest: encoding the reply: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.Write(body)
}

// corrupt returns sign with its first hex digit changed.
func corrupt(sign string) string {
	c := byte('0')
	if sign[0] == '0' {
		c = '1'
	}
	return string(c) + sign[1:]
}

// appendList inserts <name><item>...</item>...</name> before the closing
// </xml> of body, which xml.Marshal wrote. Each item is encoded by
// xml.Marshal too, so values are escaped the same way as fields.
func appendList(body []byte, name, item string, items []map[string]string) ([]byte, error) {
	const open, end = "<xml>", "</xml>"
	if !bytes.HasSuffix(body, []byte(end)) {
		return nil, errors.New("unexpected encoding")
	}
	out := append([]byte(nil), body[:len(body)-len(end)]...)
	out = append(append(append(out, '<'), name...), '>')
	for _, it := range items {
		b, err := xml.Marshal(it)
		if err != nil {
			return nil, err
		}
		if !bytes.HasPrefix(b, []byte(open)) || !bytes.HasSuffix(b, []byte(end)) {
			return nil, errors.New("unexpected encoding")
		}
		out = append(append(append(out, '<'), item...), '>')
		out = append(out, b[len(open):len(b)-len(end)]...)
		out = append(append(append(out, "</"...), item...), '>')
	}
	out = append(append(append(out, "</"...), name...), '>')
	return append(out, end...), nil
}

// sendMode says how a send that passes every check ends: normally, in
// SENDING (processing), or refused with failCode and recorded.
type sendMode struct {
	processing bool
	failCode   string
	failDes    string
}

// process checks a call like the platform and carries it out; how applies
// to sendminiprogramhb only.
func (s *Server) process(r *http.Request, params map[string]string, decErr error, how sendMode) *reply {
	if rep := s.check(r, params, decErr); rep != nil {
		return rep
	}
	switch r.URL.Path {
	case PathSendMiniProgramHB:
		return s.send(params, how)
	case PathGetHBInfo:
		return s.hbInfo(params)
	default:
		return s.orderQuery(params)
	}
}

// check applies the checks every endpoint shares, in the platform's order:
// XML, mch_id, client certificate, sign.
func (s *Server) check(r *http.Request, params map[string]string, decErr error) *reply {
	if decErr != nil {
		return protocolFail("XML_ERROR", "the body is not a valid <xml> document")
	}
	mchID := params["mch_id"]
	switch {
	case mchID == "":
		return protocolFail("PARAM_ERROR", "mch_id is required")
	case mchID != s.MchID:
		return protocolFail("PARAM_ERROR", "mch_id does not exist")
	}
	if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 || r.TLS.PeerCertificates[0].Subject.CommonName != mchID {
		return protocolFail("CA_ERROR", "the client certificate does not belong to mch_id")
	}
	alg := signer.MD5
	if r.URL.Path == PathOrderQuery {
		a, err := signer.AlgorithmOf(params)
		if err != nil {
			return protocolFail("SIGN_ERROR", "unknown sign_type")
		}
		alg = a
	} else if _, ok := params["sign_type"]; ok {
		return protocolFail("SIGN_ERROR", "sign_type is not accepted: red packets are signed with MD5")
	}
	sign := params["sign"]
	want := 32
	if alg == signer.HMACSHA256 {
		want = 64
	}
	switch {
	case sign == "":
		return protocolFail("SIGN_ERROR", "sign is required")
	case len(sign) != want:
		return protocolFail("SIGN_ERROR", "the sign does not have the length of "+string(alg))
	case s.signer.Verify(params) != nil:
		return protocolFail("SIGN_ERROR", "signature error")
	}
	return nil
}

func paramError(format string, a ...any) *reply {
	return protocolFail("PARAM_ERROR", fmt.Sprintf(format, a...))
}

// checkRequired answers PARAM_ERROR for the first of keys missing or empty.
func checkRequired(params map[string]string, keys ...string) *reply {
	for _, k := range keys {
		if params[k] == "" {
			return paramError("%s is required", k)
		}
	}
	return nil
}

// maxLen describes a length limit in characters: at most max.
type maxLen struct {
	key string
	max int
}

// sendLimits are the limits of sendminiprogramhb ("< 32" is at most 31).
var sendLimits = []maxLen{
	{"nonce_str", 32},
	{"send_name", 31},
	{"re_openid", 32},
	{"wishing", 127},
	{"act_name", 31},
	{"remark", 255},
	{"scene_id", 32},
}

func checkLimits(params map[string]string, limits []maxLen) *reply {
	for _, l := range limits {
		if n := utf8.RuneCountInString(params[l.key]); n > l.max {
			return paramError("%s is %d characters long, at most %d allowed", l.key, n, l.max)
		}
	}
	return nil
}

func checkBillno(billno string) *reply {
	if len(billno) > 28 {
		return paramError("mch_billno is longer than 28 characters")
	}
	for i := 0; i < len(billno); i++ {
		if c := billno[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z') {
			return paramError("mch_billno may hold only 0-9, a-z and A-Z")
		}
	}
	return nil
}

// positiveInt parses a decimal integer of digits only, greater than zero.
func positiveInt(s string) (int64, bool) {
	if s == "" || len(s) > 18 {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil && n > 0
}

func validScene(id string) bool {
	return len(id) == len("PRODUCT_1") && id[:len(id)-1] == "PRODUCT_" && '1' <= id[len(id)-1] && id[len(id)-1] <= '8'
}

// send carries out sendminiprogramhb. A billno with a record answers it.
// For a new billno: with how.processing the red packet is created in state
// SENDING and the answer is PROCESSING; with how.failCode the refusal is
// recorded and answered.
func (s *Server) send(params map[string]string, how sendMode) *reply {
	if rep := checkRequired(params, "nonce_str", "mch_billno", "wxappid", "send_name", "re_openid",
		"total_amount", "total_num", "wishing", "act_name", "remark", "notify_way"); rep != nil {
		return rep
	}
	if params["wxappid"] != s.AppID {
		return businessFail("ILLEGAL_APPID", "", params)
	}
	if rep := checkLimits(params, sendLimits); rep != nil {
		return rep
	}
	billno := params["mch_billno"]
	if rep := checkBillno(billno); rep != nil {
		return rep
	}
	amount, ok := positiveInt(params["total_amount"])
	if !ok {
		return paramError("total_amount must be a positive integer number of fen")
	}
	if params["total_num"] != "1" {
		return paramError("total_num must be 1")
	}
	if params["notify_way"] != "MINI_PROGRAM_JSAPI" {
		return paramError("notify_way must be MINI_PROGRAM_JSAPI")
	}
	scene := params["scene_id"]
	switch {
	case scene != "" && !validScene(scene):
		return paramError("scene_id must be one of PRODUCT_1 to PRODUCT_8")
	case scene == "" && (amount < 100 || amount > 20000):
		return paramError("scene_id is required when total_amount is below 100 or above 20000 fen")
	}
	openID := params["re_openid"]

	s.mu.Lock()
	defer s.mu.Unlock()
	s.sends[billno]++
	if p, ok := s.packets[billno]; ok {
		switch {
		case p.OpenID != openID || p.Amount != amount:
			return businessFail("FATAL_ERROR", "", params)
		case p.ErrCode != "":
			return businessFail(p.ErrCode, p.Reason, params)
		case how.processing:
			return businessFail(codeProcessing, "", params)
		}
		if p.Status == StatusSending {
			p.Status = StatusSent
		}
		return s.sendSuccess(p)
	}
	if how.failCode != "" {
		p := s.addRecord(params, how.failCode, how.failDes)
		return businessFail(p.ErrCode, p.Reason, params)
	}
	if rep := s.userLimit(params, openID, amount); rep != nil {
		return rep
	}
	if !s.unlimited && amount > s.balance {
		return s.refuseNew(params, "NOTENOUGH", s.notEnough)
	}
	if !s.unlimited {
		s.balance -= amount
	}
	p := s.addRecord(params, "", "")
	if how.processing {
		p.Status = StatusSending
		return businessFail(codeProcessing, "", params)
	}
	return s.sendSuccess(p)
}

// refuseNew refuses a new billno with code, and records the refusal when
// mode is NotEnoughFailed (NotEnoughForgotten records nothing). s.mu must
// be held.
func (s *Server) refuseNew(params map[string]string, code string, mode NotEnoughMode) *reply {
	if mode == NotEnoughFailed {
		s.addRecord(params, code, "")
	}
	return businessFail(code, "", params)
}

// addRecord creates the record of a send that passed every check: a red
// packet in state SENT when errCode is empty, else a recorded failure in
// state FAILED with reason des (the stock text when empty). s.mu must be
// held.
func (s *Server) addRecord(params map[string]string, errCode, des string) *Packet {
	amount, _ := positiveInt(params["total_amount"])
	now := s.now()
	s.seq++
	p := &Packet{
		Billno:     params["mch_billno"],
		OpenID:     params["re_openid"],
		SendListID: fmt.Sprintf("1000041701%s%011d", now.In(beijing).Format("20060102"), s.seq),
		Amount:     amount,
		Status:     StatusSent,
		SentAt:     now,
		AppID:      params["wxappid"],
		SendName:   params["send_name"],
		Wishing:    params["wishing"],
		ActName:    params["act_name"],
		Remark:     params["remark"],
		SceneID:    params["scene_id"],
	}
	if errCode == "" {
		p.Package = fmt.Sprintf("sendid=%s&ver=8&sign=%s&mchid=%s&appid=%s", randomHex(32), randomHex(32), s.MchID, s.AppID)
	} else {
		p.Status = StatusFailed
		p.ErrCode = errCode
		p.Reason = description(errCode, des)
	}
	s.packets[p.Billno] = p
	s.byOpenID[p.OpenID] = append(s.byOpenID[p.OpenID], p)
	if p.Package != "" {
		s.byPackage[p.Package] = p
	}
	return p
}

func (s *Server) sendSuccess(p *Packet) *reply {
	return &reply{fields: map[string]string{
		"return_code":  "SUCCESS",
		"return_msg":   "OK",
		"result_code":  "SUCCESS",
		"mch_billno":   p.Billno,
		"mch_id":       s.MchID,
		"wxappid":      p.AppID,
		"re_openid":    p.OpenID,
		"total_amount": strconv.FormatInt(p.Amount, 10),
		"send_listid":  p.SendListID,
		"package":      p.Package,
	}}
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b) // never fails
	return hex.EncodeToString(b)
}

// hbInfo carries out gethbinfo. A SENDING packet is reported so once, then
// becomes SENT.
func (s *Server) hbInfo(params map[string]string) *reply {
	if rep := checkRequired(params, "nonce_str", "mch_billno", "appid", "bill_type"); rep != nil {
		return rep
	}
	if params["bill_type"] != "MCHT" {
		return paramError("bill_type must be MCHT")
	}
	if params["appid"] != s.AppID {
		return businessFail("ILLEGAL_APPID", "", params)
	}
	if rep := checkLimits(params, []maxLen{{"nonce_str", 32}}); rep != nil {
		return rep
	}
	billno := params["mch_billno"]
	if rep := checkBillno(billno); rep != nil {
		return rep
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.packets[billno]
	if !ok {
		return businessFail("NOT_FOUND", "", params)
	}
	amount := strconv.FormatInt(p.Amount, 10)
	f := map[string]string{
		"return_code":  "SUCCESS",
		"return_msg":   "OK",
		"result_code":  "SUCCESS",
		"mch_billno":   p.Billno,
		"mch_id":       s.MchID,
		"detail_id":    p.SendListID,
		"status":       p.Status,
		"send_type":    "API",
		"hb_type":      "NORMAL",
		"total_num":    "1",
		"total_amount": amount,
		"send_time":    p.SentAt.In(beijing).Format(timeLayout),
		"wishing":      p.Wishing,
		"remark":       p.Remark,
		"act_name":     p.ActName,
	}
	rep := &reply{fields: f}
	switch p.Status {
	case StatusSending:
		p.Status = StatusSent
	case StatusFailed:
		f["reason"] = p.Reason
		if f["reason"] == "" {
			f["reason"] = reasonFailed
		}
	case StatusReceived:
		rep.hblist = []map[string]string{{
			"openid":   p.OpenID,
			"amount":   amount,
			"rcv_time": p.ReceivedAt.In(beijing).Format(timeLayout),
		}}
	case StatusRefunding:
		f["refund_amount"] = amount
	case StatusRefund:
		f["refund_amount"] = amount
		f["refund_time"] = p.RefundedAt.In(beijing).Format(timeLayout)
	}
	return rep
}

// orderQuery answers /pay/orderquery: a signed endpoint whose replies carry
// a sign made with the request's sign_type.
func (s *Server) orderQuery(params map[string]string) *reply {
	if rep := checkRequired(params, "nonce_str", "appid"); rep != nil {
		return rep
	}
	out, txn := params["out_trade_no"], params["transaction_id"]
	if out == "" && txn == "" {
		return paramError("out_trade_no or transaction_id is required")
	}
	if params["appid"] != s.AppID {
		return businessFail("ILLEGAL_APPID", "", params)
	}
	f := map[string]string{
		"return_code":      "SUCCESS",
		"return_msg":       "OK",
		"result_code":      "SUCCESS",
		"appid":            s.AppID,
		"mch_id":           s.MchID,
		"nonce_str":        signer.Nonce(),
		"trade_state":      "SUCCESS",
		"trade_state_desc": "支付成功",
	}
	if out != "" {
		f["out_trade_no"] = out
	}
	if txn != "" {
		f["transaction_id"] = txn
	}
	return &reply{fields: f}
}
