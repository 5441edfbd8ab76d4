package wxpaytest

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"time"
	"unicode/utf8"
)

// Transfer bill states, as the platform spells them (TRANSFERING too).
const (
	BillAccepted        = "ACCEPTED"
	BillProcessing      = "PROCESSING"
	BillWaitUserConfirm = "WAIT_USER_CONFIRM"
	BillTransfering     = "TRANSFERING"
	BillSuccess         = "SUCCESS"
	BillFail            = "FAIL"
	BillCanceling       = "CANCELING"
	BillCancelled       = "CANCELLED"
)

// FailOverdueClose is the fail_reason of a bill closed because the user
// did not confirm it in time.
const FailOverdueClose = "OVERDUE_CLOSE"

// The values of the create request the fake knows.
const (
	SceneCashMarketing   = "1000" // 现金营销, the scene of campaigns
	InfoActivityName     = "活动名称"
	InfoRewardNote       = "奖励说明"
	PerceptionCash       = "现金奖励"
	PerceptionActivity   = "活动奖励"
	RecvStyleRedPacket   = "RED_PACKET"
	RecvStyleConfirmPage = "CONFIRM_PAGE"
)

// Amount limits of a transfer, in fen.
const (
	MinTransferAmount       = 10     // 0.1 yuan
	MaxRedPacketAmount      = 20000  // 200 yuan, for the RED_PACKET style
	UserNameRequiredAmount  = 200000 // 2,000 yuan: user_name required from here
	maxOpenIDLength         = 128
	maxNotifyURLLength      = 256
	maxOutBillNoLength      = 32
	maxRemarkLength         = 32
	maxInfoContentLength    = 32
	maxTransferBillNoLength = 64
)

// ReportInfo is one of transfer_scene_report_infos.
type ReportInfo struct {
	InfoType    string `json:"info_type"`
	InfoContent string `json:"info_content"`
}

// Bill is the server's record of a transfer bill.
type Bill struct {
	MchID          string
	OutBillNo      string
	TransferBillNo string
	AppID          string
	OpenID         string
	Amount         int64 // fen
	Remark         string
	NotifyURL      string
	SceneID        string
	ReportInfos    []ReportInfo
	// Perception and RecvStyle are user_recv_perception and
	// user_recv_style.type as sent, empty when absent.
	Perception string
	RecvStyle  string
	// UserName is the decrypted user_name, when one was sent.
	UserName    string
	State       string
	FailReason  string
	PackageInfo string // the package of wx.requestMerchantTransfer
	CreatedAt   time.Time
	UpdatedAt   time.Time
	// Serial is the key id that signed the answer to the bill's creation.
	Serial string

	acceptedOnly bool // answered ACCEPTED; WAIT_USER_CONFIRM once asked again
}

func (b *Bill) clone() Bill {
	c := *b
	c.ReportInfos = slices.Clone(b.ReportInfos)
	return c
}

func finalState(state string) bool {
	return state == BillSuccess || state == BillFail || state == BillCancelled
}

// v3Error is an APIv3 error answer.
type v3Error struct {
	status  int
	Code    string       `json:"code"`
	Message string       `json:"message"`
	Detail  *errorDetail `json:"detail,omitempty"`
}

type errorDetail struct {
	Field    string `json:"field"`
	Value    string `json:"value"`
	Issue    string `json:"issue"`
	Location string `json:"location"`
}

func v3Fail(status int, code, format string, a ...any) *v3Error {
	return &v3Error{status: status, Code: code, Message: fmt.Sprintf(format, a...)}
}

// paramErr is a 400 PARAM_ERROR naming the field at fault.
func paramErr(field, value, issue string) *v3Error {
	e := v3Fail(http.StatusBadRequest, "PARAM_ERROR", "%s: %s", field, issue)
	e.Detail = &errorDetail{Field: field, Value: value, Issue: issue, Location: "body"}
	return e
}

func invalidRequest(format string, a ...any) *v3Error {
	return v3Fail(http.StatusBadRequest, "INVALID_REQUEST", format, a...)
}

func notFound(what string) *v3Error {
	return v3Fail(http.StatusNotFound, "NOT_FOUND", "no bill with %s", what)
}

// createRequest is the body of a create call.
type createRequest struct {
	AppID       string          `json:"appid"`
	OutBillNo   string          `json:"out_bill_no"`
	OpenID      string          `json:"openid"`
	UserName    string          `json:"user_name"`
	Amount      json.RawMessage `json:"transfer_amount"`
	Remark      string          `json:"transfer_remark"`
	NotifyURL   string          `json:"notify_url"`
	SceneID     string          `json:"transfer_scene_id"`
	ReportInfos []ReportInfo    `json:"transfer_scene_report_infos"`
	Perception  *string         `json:"user_recv_perception"`
	RecvStyle   *struct {
		Type string `json:"type"`
	} `json:"user_recv_style"`
}

// checkOutBillNo checks the form of an out_bill_no.
func checkOutBillNo(n string) *v3Error {
	switch {
	case n == "":
		return paramErr("out_bill_no", n, "required")
	case len(n) > maxOutBillNoLength:
		return paramErr("out_bill_no", n, "at most 32 characters")
	}
	for i := 0; i < len(n); i++ {
		if c := n[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z') {
			return paramErr("out_bill_no", n, "only digits and letters")
		}
	}
	return nil
}

// checkNotifyURL returns what is wrong with a notify_url, or "". The
// platform wants https; the fake takes http too, for receivers on
// loopback.
func checkNotifyURL(raw string) string {
	if len(raw) > maxNotifyURLLength {
		return "at most 256 characters"
	}
	u, err := url.Parse(raw)
	switch {
	case err != nil, u.Host == "", u.Scheme != "https" && u.Scheme != "http":
		return "an absolute https URL"
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "":
		return "no query string or fragment"
	}
	return ""
}

// parseAmount parses transfer_amount: a JSON integer of fen.
func parseAmount(raw json.RawMessage) (int64, *v3Error) {
	s := string(bytes.TrimSpace(raw))
	if s == "" || s == "null" {
		return 0, paramErr("transfer_amount", "", "required")
	}
	if !allDigits(s) || len(s) > 15 {
		return 0, paramErr("transfer_amount", s, "an integer number of fen")
	}
	var n int64
	fmt.Sscan(s, &n)
	if n <= 0 {
		return 0, paramErr("transfer_amount", s, "greater than 0")
	}
	return n, nil
}

// parseCreate decodes and checks a create body as the platform does, and
// returns the bill it asks for (without numbers, state or times).
func (v *v3State) parseCreate(r *http.Request, body []byte) (*Bill, *v3Error) {
	var req createRequest
	if err := json.Unmarshal(body, &req); err != nil {
		e := v3Fail(http.StatusBadRequest, "PARAM_ERROR", "the body is not a valid JSON object: %v", err)
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			e.Detail = &errorDetail{Field: te.Field, Issue: "wrong type " + te.Value, Location: "body"}
		}
		return nil, e
	}
	b := &Bill{
		MchID: v.s.MchID, AppID: req.AppID, OutBillNo: req.OutBillNo, OpenID: req.OpenID,
		Remark: req.Remark, NotifyURL: req.NotifyURL, SceneID: req.SceneID, ReportInfos: req.ReportInfos,
	}
	if req.AppID == "" {
		return nil, paramErr("appid", "", "required")
	}
	if e := checkOutBillNo(req.OutBillNo); e != nil {
		return nil, e
	}
	switch {
	case req.OpenID == "":
		return nil, paramErr("openid", "", "required")
	case len(req.OpenID) > maxOpenIDLength:
		return nil, paramErr("openid", req.OpenID, "at most 128 characters")
	}
	amount, e := parseAmount(req.Amount)
	if e != nil {
		return nil, e
	}
	b.Amount = amount
	switch n := utf8.RuneCountInString(req.Remark); {
	case req.Remark == "":
		return nil, paramErr("transfer_remark", "", "required")
	case n > maxRemarkLength || !utf8.ValidString(req.Remark):
		return nil, paramErr("transfer_remark", req.Remark, "at most 32 characters")
	}
	if req.NotifyURL != "" {
		if msg := checkNotifyURL(req.NotifyURL); msg != "" {
			return nil, paramErr("notify_url", req.NotifyURL, msg)
		}
	}
	if req.RecvStyle != nil {
		switch req.RecvStyle.Type {
		case RecvStyleRedPacket, RecvStyleConfirmPage:
			b.RecvStyle = req.RecvStyle.Type
		default:
			return nil, paramErr("user_recv_style.type", req.RecvStyle.Type, "RED_PACKET or CONFIRM_PAGE")
		}
	}
	if req.SceneID == "" {
		return nil, paramErr("transfer_scene_id", "", "required")
	}
	if req.AppID != v.s.AppID {
		return nil, invalidRequest("appid %s is not bound to merchant %s", req.AppID, v.s.MchID)
	}
	if req.SceneID != SceneCashMarketing {
		return nil, v3Fail(http.StatusForbidden, "NO_AUTH", "transfer scene %s is not opened for this merchant", req.SceneID)
	}
	if e := checkReportInfos(req.ReportInfos); e != nil {
		return nil, e
	}
	if req.Perception != nil {
		switch p := *req.Perception; p {
		case PerceptionCash, PerceptionActivity:
			b.Perception = p
		default:
			return nil, invalidRequest("user_recv_perception %q is not supported for scene 1000: %s or %s", p, PerceptionCash, PerceptionActivity)
		}
	}
	switch {
	case amount < MinTransferAmount:
		return nil, invalidRequest("transfer_amount %d is below the minimum of %d fen", amount, MinTransferAmount)
	case b.RecvStyle == RecvStyleRedPacket && amount > MaxRedPacketAmount:
		return nil, invalidRequest("transfer_amount %d is above the %d fen of the RED_PACKET style", amount, MaxRedPacketAmount)
	case v.maxAmount > 0 && amount > v.maxAmount:
		return nil, invalidRequest("transfer_amount %d is above the scene's limit of %d fen", amount, v.maxAmount)
	}
	if req.UserName != "" {
		name, e := v.decryptUserName(r.Header.Get("Wechatpay-Serial"), req.UserName)
		if e != nil {
			return nil, e
		}
		b.UserName = name
	} else if amount >= UserNameRequiredAmount {
		return nil, paramErr("user_name", "", "required from 2,000 yuan")
	}
	return b, nil
}

// checkReportInfos checks the two report infos scene 1000 needs.
func checkReportInfos(infos []ReportInfo) *v3Error {
	const field = "transfer_scene_report_infos"
	if len(infos) != 2 {
		return paramErr(field, fmt.Sprint(len(infos)), "scene 1000 needs exactly two: "+InfoActivityName+" and "+InfoRewardNote)
	}
	seen := map[string]bool{}
	for _, in := range infos {
		if in.InfoType != InfoActivityName && in.InfoType != InfoRewardNote || seen[in.InfoType] {
			return paramErr(field+".info_type", in.InfoType, "scene 1000 needs "+InfoActivityName+" and "+InfoRewardNote+", once each")
		}
		seen[in.InfoType] = true
		if n := utf8.RuneCountInString(in.InfoContent); n == 0 || n > maxInfoContentLength || !utf8.ValidString(in.InfoContent) {
			return paramErr(field+".info_content", in.InfoContent, "1 to 32 characters")
		}
	}
	return nil
}

// decryptUserName decrypts an RSA-OAEP (SHA-1) user_name encrypted with the
// platform key named by Wechatpay-Serial.
func (v *v3State) decryptUserName(serial, enc string) (string, *v3Error) {
	if serial == "" {
		return "", v3Fail(http.StatusBadRequest, "PARAM_ERROR", "Wechatpay-Serial is required with an encrypted field")
	}
	key, ok := v.keys.byID(serial)
	if !ok {
		return "", v3Fail(http.StatusBadRequest, "PARAM_ERROR", "Wechatpay-Serial %q names no platform key of this merchant", serial)
	}
	ct, err := base64.StdEncoding.DecodeString(enc)
	if err != nil {
		return "", paramErr("user_name", "", "not base64")
	}
	pt, err := rsa.DecryptOAEP(sha1.New(), nil, key, ct, nil)
	if err != nil {
		return "", paramErr("user_name", "", "does not decrypt with the key of Wechatpay-Serial (RSA-OAEP, SHA-1)")
	}
	return string(pt), nil
}

// sameTerms reports whether a resubmission asks for the same transfer.
func sameTerms(a, b *Bill) bool {
	return a.AppID == b.AppID && a.OpenID == b.OpenID && a.Amount == b.Amount && a.Remark == b.Remark &&
		a.NotifyURL == b.NotifyURL && a.SceneID == b.SceneID && slices.Equal(a.ReportInfos, b.ReportInfos) &&
		a.Perception == b.Perception && a.RecvStyle == b.RecvStyle && a.UserName == b.UserName
}

// rfc3339 writes a time as the platform does: RFC 3339 in Beijing time.
func rfc3339(t time.Time) string {
	return t.In(beijing).Format(time.RFC3339)
}

type createAnswer struct {
	OutBillNo      string `json:"out_bill_no"`
	TransferBillNo string `json:"transfer_bill_no"`
	CreateTime     string `json:"create_time"`
	State          string `json:"state"`
	FailReason     string `json:"fail_reason,omitempty"`
	PackageInfo    string `json:"package_info,omitempty"`
}

type queryAnswer struct {
	MchID          string `json:"mch_id"`
	OutBillNo      string `json:"out_bill_no"`
	TransferBillNo string `json:"transfer_bill_no"`
	AppID          string `json:"appid"`
	State          string `json:"state"`
	TransferAmount int64  `json:"transfer_amount"`
	TransferRemark string `json:"transfer_remark"`
	FailReason     string `json:"fail_reason,omitempty"`
	OpenID         string `json:"openid"`
	CreateTime     string `json:"create_time"`
	UpdateTime     string `json:"update_time"`
}

type cancelAnswer struct {
	OutBillNo      string `json:"out_bill_no"`
	TransferBillNo string `json:"transfer_bill_no"`
	State          string `json:"state"`
	UpdateTime     string `json:"update_time"`
}

func answerCreate(b *Bill) createAnswer {
	a := createAnswer{
		OutBillNo: b.OutBillNo, TransferBillNo: b.TransferBillNo, CreateTime: rfc3339(b.CreatedAt),
		State: b.State, FailReason: b.FailReason,
	}
	if b.State == BillWaitUserConfirm {
		a.PackageInfo = b.PackageInfo
	}
	return a
}

func answerQuery(b *Bill) queryAnswer {
	return queryAnswer{
		MchID: b.MchID, OutBillNo: b.OutBillNo, TransferBillNo: b.TransferBillNo, AppID: b.AppID,
		State: b.State, TransferAmount: b.Amount, TransferRemark: b.Remark, FailReason: b.FailReason,
		OpenID: b.OpenID, CreateTime: rfc3339(b.CreatedAt), UpdateTime: rfc3339(b.UpdatedAt),
	}
}

// create carries out a create call whose Authorization verified.
// acceptedOnly answers a new bill ACCEPTED; serial is the key id that
// signs the answer.
func (v *v3State) create(r *http.Request, body []byte, acceptedOnly bool, serial string) (any, *v3Error) {
	want, e := v.parseCreate(r, body)
	if e != nil {
		return nil, e
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	v.creates[want.OutBillNo]++
	if b, ok := v.bills[want.OutBillNo]; ok {
		if !sameTerms(b, want) {
			return nil, invalidRequest("单号已存在但信息不一致，请查单后比较确认 (out_bill_no %s exists with other parameters; query it before acting)", b.OutBillNo)
		}
		v.advance(b, v.s.now(), true)
		return answerCreate(b), nil
	}
	if !v.s.take(want.Amount) {
		return nil, v3Fail(http.StatusForbidden, "NOT_ENOUGH", "the operating account balance is short: top up, then retry the same out_bill_no")
	}
	now := v.s.now()
	v.seq++
	b := want
	b.TransferBillNo = fmt.Sprintf("1330%s%s%018d", now.In(beijing).Format("20060102"), digitsOf(v.s.MchID, 10), v.seq)
	b.PackageInfo = newPackageInfo()
	b.CreatedAt, b.UpdatedAt = now, now
	b.Serial = serial
	b.State = BillWaitUserConfirm
	if acceptedOnly {
		b.State, b.acceptedOnly = BillAccepted, true
	}
	v.bills[b.OutBillNo] = b
	v.byTransferNo[b.TransferBillNo] = b
	v.byPackage[b.PackageInfo] = b
	v.byOpenID[b.OpenID] = append(v.byOpenID[b.OpenID], b)
	v.open[b.OutBillNo] = b
	v.created++
	v.startSweeper()
	return answerCreate(b), nil
}

// digitsOf returns s padded or cut to n digits when it is all digits, else
// n zeros.
func digitsOf(s string, n int) string {
	if !allDigits(s) {
		s = ""
	}
	s = fmt.Sprintf("%0*s", n, s)
	return s[len(s)-n:]
}

func newPackageInfo() string {
	b := make([]byte, 48)
	rand.Read(b) // never fails
	return base64.StdEncoding.EncodeToString(b)
}

// take takes amount from a limited balance, and reports whether there
// was enough.
func (s *Server) take(amount int64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.unlimited {
		return true
	}
	if amount > s.balance {
		return false
	}
	s.balance -= amount
	return true
}

// giveBack returns amount to a limited balance.
func (s *Server) giveBack(amount int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.unlimited {
		s.balance += amount
	}
}

// advance moves a bill on as time and questions move it: an unconfirmed
// bill past CloseAfter is closed; an ACCEPTED bill that was asked about
// (asked) waits for the user from then on. v.mu must be held.
func (v *v3State) advance(b *Bill, now time.Time, asked bool) {
	switch b.State {
	case BillAccepted, BillProcessing, BillWaitUserConfirm:
		if !now.Before(b.CreatedAt.Add(v.closeAfter)) {
			b.acceptedOnly = false
			v.setState(b, BillFail, FailOverdueClose)
			return
		}
	}
	if asked && b.acceptedOnly {
		b.acceptedOnly = false
		v.setState(b, BillWaitUserConfirm, "")
	}
}

// setState moves a bill to state; a failed or cancelled bill gives its
// amount back, and a final state is notified. v.mu must be held.
func (v *v3State) setState(b *Bill, state, reason string) {
	b.State, b.FailReason, b.UpdatedAt = state, reason, v.s.now()
	if state == BillFail || state == BillCancelled {
		v.s.giveBack(b.Amount)
	}
	if finalState(state) {
		delete(v.open, b.OutBillNo)
		v.notifyLocked(b)
	}
}

// query answers a query of the bill under out_bill_no (or
// transfer_bill_no when byNo).
func (v *v3State) query(n string, byNo bool) (any, *v3Error) {
	if byNo {
		if n == "" || len(n) > maxTransferBillNoLength || !allDigits(n) {
			return nil, v3Fail(http.StatusBadRequest, "PARAM_ERROR", "transfer_bill_no %q is not a bill number", n)
		}
	} else if e := checkOutBillNo(n); e != nil {
		e.Detail.Location = "path"
		return nil, e
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	b, ok := v.bills[n]
	if byNo {
		b, ok = v.byTransferNo[n]
	}
	if !ok {
		if byNo {
			return nil, notFound("transfer_bill_no " + n)
		}
		return nil, notFound("out_bill_no " + n)
	}
	// An ACCEPTED bill is reported so once before it waits for the user.
	now := v.s.now()
	v.advance(b, now, false)
	a := answerQuery(b)
	v.advance(b, now, true)
	return a, nil
}

// cancel carries out a cancel call.
func (v *v3State) cancel(n string) (any, *v3Error) {
	if e := checkOutBillNo(n); e != nil {
		e.Detail.Location = "path"
		return nil, e
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	b, ok := v.bills[n]
	if !ok {
		return nil, notFound("out_bill_no " + n)
	}
	v.advance(b, v.s.now(), false)
	switch b.State {
	case BillAccepted, BillProcessing, BillWaitUserConfirm:
		b.acceptedOnly = false
		v.setState(b, BillCanceling, "")
		a := cancelAnswer{OutBillNo: b.OutBillNo, TransferBillNo: b.TransferBillNo, State: b.State, UpdateTime: rfc3339(b.UpdatedAt)}
		if !v.manual {
			v.setState(b, BillCancelled, "")
		}
		return a, nil
	case BillCanceling, BillCancelled:
		return cancelAnswer{OutBillNo: b.OutBillNo, TransferBillNo: b.TransferBillNo, State: b.State, UpdateTime: rfc3339(b.UpdatedAt)}, nil
	}
	return nil, invalidRequest("bill %s is %s and can no longer be cancelled", b.OutBillNo, b.State)
}

// startSweeper starts, once, the goroutine that closes overdue bills
// without waiting for a call to ask about them. v.mu must be held.
func (v *v3State) startSweeper() {
	if v.sweeping || v.closed {
		return
	}
	v.sweeping = true
	v.wg.Add(1)
	go func() {
		defer v.wg.Done()
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-v.stop:
				return
			case <-t.C:
				v.sweep()
			}
		}
	}()
}

// sweep closes the overdue bills.
func (v *v3State) sweep() {
	v.mu.Lock()
	defer v.mu.Unlock()
	now := v.s.now()
	for _, b := range v.open {
		v.advance(b, now, false)
	}
}

// Errors of ConfirmTransfer, for errors.Is. The error ConfirmTransfer
// returns reads like the mini program's errMsg
// ("requestMerchantTransfer:fail ...") and wraps one of these.
var (
	// ErrTransferParams: mchId, appId or package is missing, or mchId is
	// not this merchant.
	ErrTransferParams = errors.New("wxpaytest: invalid requestMerchantTransfer parameters")
	// ErrUnknownPackageInfo: the package is not one this server issued.
	ErrUnknownPackageInfo = errors.New("wxpaytest: package not issued by this server")
	// ErrTransferApp: appId is not the bill's appid.
	ErrTransferApp = errors.New("wxpaytest: appId is not the bill's")
	// ErrTransferUser: the WeChat user is not the bill's openid.
	ErrTransferUser = errors.New("wxpaytest: the user is not the bill's openid")
	// ErrNotConfirmable: the bill is not WAIT_USER_CONFIRM (already
	// confirmed, cancelled, closed or failed, or still ACCEPTED).
	ErrNotConfirmable = errors.New("wxpaytest: bill not waiting for the user")
)

func transferFail(sentinel error, format string, a ...any) error {
	return &openError{msg: "requestMerchantTransfer:fail " + fmt.Sprintf(format, a...), errs: []error{sentinel}}
}

// TransferPage is what the mini program passes to
// wx.requestMerchantTransfer: the merchant, the appid and the bill's
// package_info, and optionally the user's openid.
type TransferPage struct {
	MchID   string `json:"mchId"`
	AppID   string `json:"appId"`
	Package string `json:"package"`
	OpenID  string `json:"openId,omitempty"`
}

// ConfirmTransfer stands for the user confirming a bill in the page
// wx.requestMerchantTransfer opens. It checks that mchId is this merchant
// and appId and package are present (ErrTransferParams), that the package
// is a bill's package_info (ErrUnknownPackageInfo), that appId is the
// bill's (ErrTransferApp), that openId, when given, is the bill's openid
// (ErrTransferUser: the WeChat account is someone else), and that the bill
// is WAIT_USER_CONFIRM (ErrNotConfirmable; a bill past CloseAfter is
// closed first). The bill then becomes TRANSFERING and, unless
// V3Options.ManualSettle, SUCCESS at once, which is notified. It returns a
// copy of the bill; a failed call changes nothing.
func (s *Server) ConfirmTransfer(p TransferPage) (Bill, error) {
	if p.MchID == "" || p.AppID == "" || p.Package == "" {
		return Bill{}, transferFail(ErrTransferParams, "mchId, appId and package are required")
	}
	if p.MchID != s.MchID {
		return Bill{}, transferFail(ErrTransferParams, "mchId %s is not this merchant", p.MchID)
	}
	v := s.v3
	v.mu.Lock()
	defer v.mu.Unlock()
	b, ok := v.byPackage[p.Package]
	if !ok {
		return Bill{}, transferFail(ErrUnknownPackageInfo, "package unknown")
	}
	if p.AppID != b.AppID {
		return Bill{}, transferFail(ErrTransferApp, "appId %s is not the bill's", p.AppID)
	}
	if p.OpenID != "" && p.OpenID != b.OpenID {
		return Bill{}, transferFail(ErrTransferUser, "the WeChat user is not the bill's receiver")
	}
	v.advance(b, s.now(), false)
	if b.State != BillWaitUserConfirm {
		return Bill{}, transferFail(ErrNotConfirmable, "bill %s is %s", b.OutBillNo, b.State)
	}
	v.setState(b, BillTransfering, "")
	if !v.manual {
		v.setState(b, BillSuccess, "")
	}
	return b.clone(), nil
}

// Settle ends what V3Options.ManualSettle holds: a TRANSFERING bill
// becomes SUCCESS, a CANCELING one CANCELLED, and the final state is
// notified. Other states are an error.
func (s *Server) Settle(outBillNo string) (Bill, error) {
	v := s.v3
	v.mu.Lock()
	defer v.mu.Unlock()
	b, ok := v.bills[outBillNo]
	if !ok {
		return Bill{}, fmt.Errorf("wxpaytest: no transfer bill %q", outBillNo)
	}
	switch b.State {
	case BillTransfering:
		v.setState(b, BillSuccess, "")
	case BillCanceling:
		v.setState(b, BillCancelled, "")
	default:
		return Bill{}, fmt.Errorf("wxpaytest: transfer bill %q is %s, not TRANSFERING or CANCELING", outBillNo, b.State)
	}
	return b.clone(), nil
}

// FailTransfer ends a bill that is not final yet in FAIL with reason as
// fail_reason (the platform's codes, such as BLOCK_USER or
// OVERDUE_CLOSE): its amount returns to a limited balance and the failure
// is notified.
func (s *Server) FailTransfer(outBillNo, reason string) (Bill, error) {
	if reason == "" {
		return Bill{}, errors.New("wxpaytest: FailTransfer needs a reason")
	}
	v := s.v3
	v.mu.Lock()
	defer v.mu.Unlock()
	b, ok := v.bills[outBillNo]
	if !ok {
		return Bill{}, fmt.Errorf("wxpaytest: no transfer bill %q", outBillNo)
	}
	if finalState(b.State) {
		return Bill{}, fmt.Errorf("wxpaytest: transfer bill %q is already %s", outBillNo, b.State)
	}
	b.acceptedOnly = false
	v.setState(b, BillFail, reason)
	return b.clone(), nil
}

// Bill returns a copy of the transfer bill under outBillNo, as it stands
// now (a bill past CloseAfter is closed first).
func (s *Server) Bill(outBillNo string) (Bill, bool) {
	v := s.v3
	v.mu.Lock()
	defer v.mu.Unlock()
	b, ok := v.bills[outBillNo]
	if !ok {
		return Bill{}, false
	}
	v.advance(b, s.now(), false)
	return b.clone(), true
}

// BillsOf returns copies of the transfer bills created for openid, in
// creation order, or nil. A test asserting "one payout per user" counts
// them, or those in state SUCCESS.
func (s *Server) BillsOf(openid string) []Bill {
	v := s.v3
	v.mu.Lock()
	defer v.mu.Unlock()
	var out []Bill
	for _, b := range v.byOpenID[openid] {
		out = append(out, b.clone())
	}
	return out
}

// BillsCreated returns how many transfer bills were created since the
// start (Reset keeps the count): one per out_bill_no, whatever the
// resubmissions.
func (s *Server) BillsCreated() int {
	v := s.v3
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.created
}

// Creates returns how many create calls with outBillNo reached processing
// (passed the Authorization and every check, and were not answered by an
// injected fault first) since the start or the last Reset: the creation,
// identical resubmissions, refusals for other parameters, NOT_ENOUGH.
func (s *Server) Creates(outBillNo string) int {
	v := s.v3
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.creates[outBillNo]
}
