package hongbao

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http/httptrace"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/hongbao-go/hongbao/signer"
	"github.com/hongbao-go/hongbao/transport"
	"github.com/hongbao-go/hongbao/xml"
)

// opSend names the send in errors and logs.
const opSend = "sendminiprogramhb"

// The endpoints, relative to the transport's base URL.
const (
	PathSendMiniProgramHB = "/mmpaymkttransfers/sendminiprogramhb"
	PathGetHBInfo         = "/mmpaymkttransfers/gethbinfo"
)

// RetryPolicy says how often and how patiently a call is sent again. Every
// retry reuses the same mch_billno (the transport draws a fresh nonce_str
// and sign), so a retry can never pay twice. The zero value means the
// defaults below; all waits end early when the context ends.
type RetryPolicy struct {
	// Attempts is the most sends of one call, the first included.
	// Default 4; 1 disables retries.
	Attempts int
	// BaseDelay is the wait before the first retry; it doubles with each
	// further retry up to MaxDelay, and each wait is drawn uniformly from
	// its upper half (jitter). Defaults 200ms and 5s.
	BaseDelay, MaxDelay time.Duration
	// AttemptTimeout bounds one attempt. Default 15s.
	AttemptTimeout time.Duration
	// ProcessingDelay is the wait, after a PROCESSING reply, before the
	// client asks gethbinfo what became of the packet. Default 3s.
	ProcessingDelay time.Duration
}

func (p RetryPolicy) withDefaults() (RetryPolicy, error) {
	if p.Attempts < 0 || p.BaseDelay < 0 || p.MaxDelay < 0 || p.AttemptTimeout < 0 || p.ProcessingDelay < 0 {
		return p, errors.New("hongbao: retry policy values must not be negative")
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	if p.Attempts == 0 {
		p.Attempts = 4
	}
	def(&p.BaseDelay, 200*time.Millisecond)
	def(&p.MaxDelay, 5*time.Second)
	def(&p.AttemptTimeout, 15*time.Second)
	def(&p.ProcessingDelay, 3*time.Second)
	if p.MaxDelay < p.BaseDelay {
		p.MaxDelay = p.BaseDelay
	}
	return p, nil
}

// backoff is the wait before retry number n (1 for the first retry).
func (p RetryPolicy) backoff(n int) time.Duration {
	d := p.BaseDelay
	for i := 1; i < n && d < p.MaxDelay; i++ {
		d *= 2
	}
	d = min(d, p.MaxDelay)
	half := d / 2
	return half + rand.N(d-half+1)
}

// Config configures a Client.
type Config struct {
	// AppID is the mini program's appid: wxappid of sends, appId of
	// wx.sendBizRedPacket. Required.
	AppID string
	// Transport holds the merchant's mch_id, APIv2 key and certificate.
	Transport transport.Config
	// Retry is the retry policy; the zero value means its defaults.
	Retry RetryPolicy
	// Flow paces sends to the merchant's send rate (1,800 a minute by
	// default); the zero value means its defaults.
	Flow FlowControl
	// Logger receives one record per attempt (op, billno, attempt,
	// err_code, duration; a failed attempt is a warning, except the
	// NOT_FOUND of a gethbinfo, the expected answer for a packet not
	// sent yet). Nil means slog.Default(); pass
	// slog.New(slog.DiscardHandler) for silence. It is also the
	// transport's Logger when Transport.Logger is nil. Keys, signatures
	// and sign inputs are never logged.
	Logger *slog.Logger
	// BillnoKey keys the bill number derivation (Client.Billno): required,
	// at least 16 random bytes, the same on every replica, and stable for
	// the life of the campaigns, since a new key gives new numbers and so
	// lets every grant be paid again. It is deliberately not derived from
	// the APIv2 key, which merchants rotate.
	BillnoKey []byte
	// PackageRule chooses the paySign rule of BizRedPacketParams. The
	// default (zero) is signer.EncodedLowerRule: the URL-encoded package,
	// lower-case hex, the form reported to open packets. Switch only when
	// claims fail in the mini program after successful sends; see the
	// signer package documentation.
	PackageRule signer.PackageRule
	// Now is the clock; default time.Now.
	Now func() time.Time
	// Observer is told of every call and attempt and of the client
	// certificate, for metrics and traces (see the otel module). Nil
	// means none.
	Observer Observer
}

// Client pays and queries mini-program red packets. It is safe for
// concurrent use.
type Client struct {
	appID     string
	mchID     string
	sendURL   string // the transport's base URL + PathSendMiniProgramHB
	queryURL  string // the transport's base URL + PathGetHBInfo
	transport *transport.Transport
	signer    *signer.Signer
	retry     RetryPolicy
	log       *slog.Logger
	billnoKey []byte
	rule      signer.PackageRule
	now       func() time.Time
	pacer     *pacer
	obs       Observer
}

// New checks cfg and builds a Client; every configuration mistake it can
// see (API key length, certificate, mch_id, appid) is reported here rather
// than at the first payout.
func New(cfg Config) (*Client, error) {
	if cfg.AppID == "" {
		return nil, errors.New("hongbao: AppID (the mini program's appid) is required")
	}
	if len(cfg.AppID) > 32 {
		return nil, errors.New("hongbao: AppID is longer than 32 characters")
	}
	if err := checkMchID(cfg.Transport.MchID); err != nil {
		return nil, err
	}
	retry, err := cfg.Retry.withDefaults()
	if err != nil {
		return nil, err
	}
	s, err := signer.New(cfg.Transport.APIKey)
	if err != nil {
		return nil, fmt.Errorf("hongbao: %w", err)
	}
	if cfg.Transport.Logger == nil {
		cfg.Transport.Logger = cfg.Logger // nil: both log to slog.Default()
	}
	t, err := transport.New(observedTransport(&cfg))
	if err != nil {
		return nil, err
	}
	if len(cfg.BillnoKey) < MinBillnoKeyLength {
		return nil, fmt.Errorf("hongbao: BillnoKey (the bill number key) must be set, at least %d bytes, and kept stable", MinBillnoKeyLength)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	pace, err := newPacer(cfg.Flow, cfg.Transport.MchID, log)
	if err != nil {
		return nil, err
	}
	base := strings.TrimRight(t.BaseURL(), "/")
	return &Client{
		pacer:     pace,
		appID:     cfg.AppID,
		mchID:     cfg.Transport.MchID,
		sendURL:   base + PathSendMiniProgramHB,
		queryURL:  base + PathGetHBInfo,
		transport: t,
		signer:    s,
		retry:     retry,
		log:       log,
		billnoKey: append([]byte(nil), cfg.BillnoKey...),
		rule:      cfg.PackageRule,
		now:       now,
		obs:       cfg.Observer,
	}, nil
}

// Transport returns the client's transport, for other APIv2 calls or to
// rotate the certificate with Reload.
func (c *Client) Transport() *transport.Transport { return c.transport }

// AppID returns the mini program's appid.
func (c *Client) AppID() string { return c.appID }

// SendsPerMinute returns the send rate the client allows itself now: the
// configured one, or less after FREQ_LIMIT answers (0: pacing is off).
func (c *Client) SendsPerMinute() float64 { return c.pacer.perMinute() }

// MchID returns the merchant id.
func (c *Client) MchID() string { return c.mchID }

// Billno derives the bill number of the grant (grantKey, openID) with
// DeriveBillno and the client's key.
func (c *Client) Billno(grantKey, openID string) (string, error) {
	return DeriveBillno(c.billnoKey, c.mchID, grantKey, openID)
}

// AttemptBillno returns the bill number of attempt n of the grant
// (grantKey, openID) under the client's BillnoKey; attempt 0 is Billno's.
// See DeriveAttemptBillno.
func (c *Client) AttemptBillno(grantKey, openID string, attempt int) (string, error) {
	return DeriveAttemptBillno(c.billnoKey, c.mchID, grantKey, openID, attempt)
}

// SendMiniProgramHB pays one mini-program red packet. See the package
// documentation for the retry rules. On success the result's Package goes
// to BizRedPacketParams. On failure the error is an *Error (or a
// *ValidationError, before any network call).
func (c *Client) SendMiniProgramHB(ctx context.Context, r *SendRequest) (*SendResult, error) {
	if err := r.Validate(); err != nil {
		return nil, err
	}
	ctx, start := c.callStarted(ctx, opSend, r.Billno)
	res, err := c.send(ctx, r)
	c.callEnded(ctx, opSend, r.Billno, start, err)
	return res, err
}

// send is SendMiniProgramHB after validation.
func (c *Client) send(ctx context.Context, r *SendRequest) (*SendResult, error) {
	params := map[string]string{
		"mch_billno":   r.Billno,
		"wxappid":      c.appID,
		"send_name":    r.SendName,
		"re_openid":    r.OpenID,
		"total_amount": strconv.FormatInt(r.Amount, 10),
		"total_num":    "1",
		"wishing":      r.Wishing,
		"act_name":     r.ActName,
		"remark":       r.Remark,
		"notify_way":   "MINI_PROGRAM_JSAPI",
	}
	if r.Scene != SceneNone {
		params["scene_id"] = string(r.Scene)
	}
	doc, err := c.withRetry(ctx, opSend, c.sendURL, r.Billno, params)
	if err != nil {
		if err.ErrCode == "PROCESSING" {
			return nil, c.afterProcessing(ctx, err)
		}
		return nil, err
	}
	f := doc.Fields
	// The reply must be about this packet; anything else is a platform or
	// gateway fault, and the outcome of our send is unknown.
	if f["mch_billno"] != r.Billno || f["re_openid"] != "" && f["re_openid"] != r.OpenID ||
		f["total_amount"] != "" && f["total_amount"] != params["total_amount"] || f["package"] == "" {
		return nil, &Error{Op: "sendminiprogramhb", Billno: r.Billno, ReturnCode: strings.Clone(f["return_code"]),
			Message:   "the success reply does not match the request (mch_billno, re_openid, total_amount or package)",
			Retryable: true, Unknown: true}
	}
	// The decoded fields are pieces of one string holding the whole reply:
	// the result gets copies of its own (or the request's equal strings),
	// so that keeping it, for as long as a Store does, keeps no reply.
	res := &SendResult{
		Billno:     r.Billno,
		MchID:      sameOrClone(f["mch_id"], c.mchID),
		AppID:      sameOrClone(f["wxappid"], c.appID),
		OpenID:     sameOrClone(f["re_openid"], r.OpenID),
		SendListID: strings.Clone(f["send_listid"]),
		Package:    strings.Clone(f["package"]),
		Amount:     r.Amount,
	}
	return res, nil
}

// sameOrClone returns known when v equals it, else a copy of v: a decoded
// value that owns its memory, without a copy in the usual case.
func sameOrClone(v, known string) string {
	if v == known {
		return known
	}
	return strings.Clone(v)
}

// afterProcessing waits ProcessingDelay after a PROCESSING reply and
// reports what gethbinfo says. The send is never repeated here.
func (c *Client) afterProcessing(ctx context.Context, perr *Error) error {
	perr.Retryable = true
	t := time.NewTimer(c.retry.ProcessingDelay)
	defer t.Stop()
	select {
	case <-ctx.Done():
		perr.Err = ctx.Err()
		return perr
	case <-t.C:
	}
	info, err := c.QueryHB(ctx, perr.Billno)
	if err != nil {
		perr.Err = err
		return perr
	}
	perr.Status = info.Status
	if info.Status == StatusFailed {
		perr.Unknown, perr.Retryable = false, false
		if info.Reason != "" {
			perr.Message = info.Reason
		}
	}
	return perr
}

// QueryHB asks gethbinfo about the red packet with bill number billno.
// It retries like a send; NOT_FOUND (which may mean "still processing") is
// returned, not retried.
func (c *Client) QueryHB(ctx context.Context, billno string) (*HBInfo, error) {
	if err := validateBillno(billno); err != nil {
		return nil, err
	}
	ctx, start := c.callStarted(ctx, "gethbinfo", billno)
	info, err := c.query(ctx, billno)
	c.callEnded(ctx, "gethbinfo", billno, start, err)
	return info, err
}

// query is QueryHB after validation.
func (c *Client) query(ctx context.Context, billno string) (*HBInfo, error) {
	doc, qerr := c.withRetry(ctx, "gethbinfo", c.queryURL, billno, map[string]string{
		"mch_billno": billno,
		"appid":      c.appID,
		"bill_type":  "MCHT",
	})
	if qerr != nil {
		return nil, qerr
	}
	info, err := parseHBInfo(doc)
	if err != nil {
		return nil, &Error{Op: "gethbinfo", Billno: billno, ReturnCode: "SUCCESS", Message: err.Error(), Retryable: true, Unknown: true}
	}
	if info.Billno != billno {
		return nil, &Error{Op: "gethbinfo", Billno: billno, ReturnCode: "SUCCESS", Message: "the reply is about bill number " + info.Billno, Retryable: true, Unknown: true}
	}
	return info, nil
}

// statusOf returns the Status constant spelt s, or a copy of s when it is
// none of them.
func statusOf(s string) Status {
	for _, st := range [...]Status{StatusSending, StatusSent, StatusFailed, StatusReceived, StatusRefunding, StatusRefunded} {
		if s == string(st) {
			return st
		}
	}
	return Status(strings.Clone(s))
}

func parseHBInfo(doc *xml.Document) (*HBInfo, error) {
	f := doc.Fields
	// Copies, not pieces of the reply (see SendMiniProgramHB).
	info := &HBInfo{
		Billno:   strings.Clone(f["mch_billno"]),
		MchID:    strings.Clone(f["mch_id"]),
		DetailID: strings.Clone(f["detail_id"]),
		Status:   statusOf(f["status"]),
		SendType: strings.Clone(f["send_type"]),
		HBType:   strings.Clone(f["hb_type"]),
		Reason:   strings.Clone(f["reason"]),
		Wishing:  strings.Clone(f["wishing"]),
		Remark:   strings.Clone(f["remark"]),
		ActName:  strings.Clone(f["act_name"]),
	}
	if !info.Status.Known() {
		return nil, fmt.Errorf("unknown status %q", info.Status)
	}
	var err error
	if info.Amount, err = parseFen("total_amount", f["total_amount"]); err != nil {
		return nil, err
	}
	if info.RefundAmount, err = parseFen("refund_amount", f["refund_amount"]); err != nil {
		return nil, err
	}
	if f["total_num"] != "" {
		if info.TotalNum, err = strconv.Atoi(f["total_num"]); err != nil {
			return nil, fmt.Errorf("total_num %q is not a number", f["total_num"])
		}
	}
	if info.SendTime, err = parsePlatformTime("send_time", f["send_time"]); err != nil {
		return nil, err
	}
	if info.RefundTime, err = parsePlatformTime("refund_time", f["refund_time"]); err != nil {
		return nil, err
	}
	for _, item := range doc.Lists["hblist"] {
		var rc Receipt
		rc.OpenID = strings.Clone(item["openid"])
		if rc.Amount, err = parseFen("hblist amount", item["amount"]); err != nil {
			return nil, err
		}
		if rc.ReceivedAt, err = parsePlatformTime("rcv_time", item["rcv_time"]); err != nil {
			return nil, err
		}
		info.Received = append(info.Received, rc)
	}
	return info, nil
}

// withRetry sends one call until it succeeds, fails definitively, runs out
// of attempts or ctx ends. Every attempt carries the same params, hence the
// same mch_billno. Once an attempt's outcome is unknown, so is the call's:
// a later FREQ_LIMIT, 4xx or refusal says nothing of that attempt.
func (c *Client) withRetry(ctx context.Context, op, url, billno string, params map[string]string) (*xml.Document, *Error) {
	unknown := false
	for attempt := 1; ; attempt++ {
		if op == opSend {
			// Nothing is sent when the wait is refused: what the call
			// knew (unknown) stays.
			if perr := c.pacer.wait(ctx, op, billno, c.now()); perr != nil {
				perr.Unknown = unknown
				c.logAttempt(ctx, op, billno, attempt, c.now(), perr)
				return nil, perr
			}
		}
		start := c.now()
		actx, astart := c.attemptStarted(ctx, op, billno, attempt)
		doc, err := c.attempt(actx, op, url, billno, params)
		c.attemptEnded(actx, op, billno, attempt, astart, err)
		c.logAttempt(ctx, op, billno, attempt, start, err)
		if op == opSend {
			switch {
			case err == nil:
				c.pacer.succeeded(c.now())
			case err.ErrCode == "FREQ_LIMIT":
				c.pacer.freqLimited(c.now())
			}
		}
		if err == nil {
			return doc, nil
		}
		unknown = unknown || err.Unknown
		err.Unknown = unknown
		if !err.Retryable || attempt >= c.retry.Attempts || ctx.Err() != nil {
			if ctx.Err() != nil && err.Err == nil {
				err.Err = ctx.Err()
			}
			return nil, err
		}
		t := time.NewTimer(c.retry.backoff(attempt))
		select {
		case <-ctx.Done():
			t.Stop()
			if err.Err == nil {
				err.Err = ctx.Err()
			}
			return nil, err
		case <-t.C:
		}
	}
}

func (c *Client) logAttempt(ctx context.Context, op, billno string, attempt int, start time.Time, err *Error) {
	level, code := slog.LevelInfo, "SUCCESS"
	if err != nil && !(op == "gethbinfo" && err.ErrCode == "NOT_FOUND") {
		level = slog.LevelWarn
	}
	if !c.log.Enabled(ctx, level) {
		return
	}
	attrs := []slog.Attr{
		slog.String("op", op),
		slog.String("billno", billno),
		slog.Int("attempt", attempt),
	}
	if err != nil {
		code = err.ErrCode
		if code == "" {
			code = "NONE"
		}
		attrs = append(attrs, slog.Bool("retryable", err.Retryable), slog.Bool("outcome_unknown", err.Unknown), slog.String("error", err.Error()))
	}
	attrs = append(attrs, slog.String("err_code", code), slog.Duration("elapsed", c.now().Sub(start)))
	c.log.LogAttrs(ctx, level, "hongbao: "+op+" attempt", attrs...)
}

// attempt sends the call once and classifies the outcome.
func (c *Client) attempt(ctx context.Context, op, url, billno string, params map[string]string) (*xml.Document, *Error) {
	actx, cancel := context.WithTimeout(ctx, c.retry.AttemptTimeout)
	defer cancel()
	// Whether any of the request was written: a failure before that
	// (connection refused, DNS, the server certificate refused in the
	// handshake) cannot have reached the platform.
	var wrote atomic.Bool
	actx = httptrace.WithClientTrace(actx, &httptrace.ClientTrace{WroteHeaders: func() { wrote.Store(true) }})
	doc, err := c.transport.Call(actx, url, params)
	if err != nil {
		var te *transport.Error
		if errors.As(err, &te) {
			return nil, transportError(op, billno, te)
		}
		if e := tlsError(op, billno, err); e != nil {
			return nil, e
		}
		if !wrote.Load() {
			return nil, &Error{Op: op, Billno: billno, Retryable: true, Message: "the request was not sent", Err: err}
		}
		// No reply: the request may or may not have reached the platform.
		return nil, &Error{Op: op, Billno: billno, Retryable: true, Unknown: true, Err: err}
	}
	f := doc.Fields
	if f["result_code"] == "SUCCESS" {
		return doc, nil
	}
	if code := f["err_code"]; code != "" {
		return nil, codeError(op, billno, f["return_code"], code, firstNonEmpty(f["err_code_des"], f["return_msg"]))
	}
	// Neither SUCCESS nor an err_code: we cannot tell what happened.
	return nil, &Error{Op: op, Billno: billno, ReturnCode: strings.Clone(f["return_code"]), Message: "reply without result_code SUCCESS or err_code", Retryable: true, Unknown: true}
}

func transportError(op, billno string, te *transport.Error) *Error {
	if te.Kind == transport.KindReturnFail {
		if te.ErrCode != "" {
			e := codeError(op, billno, "FAIL", te.ErrCode, firstNonEmpty(te.ErrCodeDes, te.ReturnMsg))
			e.Err = te
			return e
		}
		return &Error{Op: op, Billno: billno, ReturnCode: "FAIL", Message: te.ReturnMsg, Err: te}
	}
	unknown := te.OutcomeUnknown()
	return &Error{Op: op, Billno: billno, Retryable: unknown, Unknown: unknown, Err: te}
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// BizRedPacketParams returns the five wx.sendBizRedPacket parameters for a
// successful send, signed with the client's package rule (by default the
// URL-encoded package, lower-case hex) and a fresh nonceStr and timeStamp.
func (c *Client) BizRedPacketParams(res *SendResult) (signer.BizRedPacket, error) {
	if res == nil || res.Package == "" {
		return signer.BizRedPacket{}, errors.New("hongbao: no package: only a successful send can be opened")
	}
	if res.AppID != "" && res.AppID != c.appID {
		return signer.BizRedPacket{}, fmt.Errorf("hongbao: the send was for appid %s, this client is for %s", res.AppID, c.appID)
	}
	return c.signer.BizRedPacketParams(c.appID, res.Package, &signer.BizOptions{Rule: c.rule, Now: c.now})
}
