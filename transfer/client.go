package transfer

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/hongbao-go/hongbao"
	"github.com/hongbao-go/hongbao/apiv3"
)

// The endpoints, relative to the transport's base URL.
const (
	PathTransferBills        = "/v3/fund-app/mch-transfer/transfer-bills"
	PathByOutBillNo          = PathTransferBills + "/out-bill-no/"      // + out_bill_no, + "/cancel"
	PathByTransferBillNo     = PathTransferBills + "/transfer-bill-no/" // + transfer_bill_no
	DefaultRequestsPerMinute = 6000                                     // the documented 100 a second
)

// Config configures a Client.
type Config struct {
	// AppID is the mini program's appid: the bills' appid and the appId
	// of wx.requestMerchantTransfer. Required.
	AppID string
	// Transport signs the calls and verifies the answers: the merchant's
	// key and the platform's trust (apiv3.New). Required; the Client does
	// not close it.
	Transport *apiv3.Transport
	// BillnoKey keys OutBillNo: at least 16 random bytes, the same on every
	// replica and stable for the life of the campaigns (a new key gives
	// new numbers and so lets every grant be paid again). It may be the
	// red packets' BillnoKey: the numbers are derived in a domain of their
	// own.
	BillnoKey []byte
	// Retry is the retry policy (ProcessingDelay is not used); the zero
	// value means its defaults: 4 attempts, 200 ms doubling to 5 s, 15 s
	// an attempt.
	Retry hongbao.RetryPolicy
	// Flow paces the calls: creates and cancels share one budget, queries
	// another, each at SendsPerMinute (DefaultRequestsPerMinute, the
	// documented 100 a second, when 0) less the Headroom. Flow.Shared
	// shares the budgets between replicas (store/redisstore's Store),
	// under the keys "transfer:" and "transfer-query:" followed by the
	// mch_id, beside the red packets' "send:".
	Flow hongbao.FlowControl
	// Logger receives one record per attempt (op, out_bill_no, attempt,
	// status, code, outcome); nil means slog.Default(). Keys and
	// signatures are never logged.
	Logger *slog.Logger
	// Observer is told of every call and attempt (for metrics and
	// traces); nil means none.
	Observer Observer
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

// Client creates, queries and cancels transfer bills. It is safe for
// concurrent use.
type Client struct {
	appID, mchID string
	base         string
	transport    *apiv3.Transport
	http         *http.Client
	billnoKey    []byte
	retry        hongbao.RetryPolicy
	writes       *hongbao.Pacer // creates and cancels
	reads        *hongbao.Pacer // queries
	log          *slog.Logger
	obs          Observer
	now          func() time.Time
}

// New checks cfg and builds a Client.
func New(cfg Config) (*Client, error) {
	if cfg.AppID == "" {
		return nil, errors.New("transfer: AppID (the mini program's appid) is required")
	}
	if len(cfg.AppID) > 32 || strings.ContainsAny(cfg.AppID, "\"\\ \t\r\n") {
		return nil, errors.New("transfer: AppID is not an appid")
	}
	if cfg.Transport == nil {
		return nil, errors.New("transfer: Transport (an *apiv3.Transport) is required")
	}
	if len(cfg.BillnoKey) < hongbao.MinBillnoKeyLength {
		return nil, fmt.Errorf("transfer: BillnoKey (the bill number key) must be set, at least %d bytes, and kept stable", hongbao.MinBillnoKeyLength)
	}
	mchID := cfg.Transport.MchID()
	if _, err := hongbao.DeriveTransferBillno(cfg.BillnoKey, mchID, "check", "check", 0); err != nil {
		return nil, fmt.Errorf("transfer: the transport's MchID: %w", err)
	}
	retry, err := cfg.Retry.WithDefaults()
	if err != nil {
		return nil, fmt.Errorf("transfer: %w", err)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	writes, err := hongbao.NewPacer(cfg.Flow, "transfer:"+mchID, DefaultRequestsPerMinute, log)
	if err != nil {
		return nil, fmt.Errorf("transfer: %w", err)
	}
	reads, err := hongbao.NewPacer(cfg.Flow, "transfer-query:"+mchID, DefaultRequestsPerMinute, log)
	if err != nil {
		return nil, fmt.Errorf("transfer: %w", err)
	}
	return &Client{
		appID: cfg.AppID, mchID: mchID, base: cfg.Transport.BaseURL(),
		transport: cfg.Transport, http: &http.Client{Transport: cfg.Transport},
		billnoKey: append([]byte(nil), cfg.BillnoKey...),
		retry:     retry, writes: writes, reads: reads, log: log, obs: cfg.Observer, now: now,
	}, nil
}

// AppID returns the mini program's appid.
func (c *Client) AppID() string { return c.appID }

// MchID returns the merchant id.
func (c *Client) MchID() string { return c.mchID }

// Transport returns the client's transport, e.g. for NotificationHandler.
func (c *Client) Transport() *apiv3.Transport { return c.transport }

// RequestsPerMinute returns the create rate the client allows itself now:
// the configured one, or less after 429 answers (0: pacing is off).
func (c *Client) RequestsPerMinute() float64 { return c.writes.PerMinute() }

// OutBillNo returns the out_bill_no of attempt n of the grant (grantKey,
// openID): hongbao.DeriveTransferBillno under the client's BillnoKey. The
// same inputs give the same number on every replica and after every
// restart. Move to attempt n+1 only once the platform reports attempt n
// Closed (FAIL or CANCELLED).
func (c *Client) OutBillNo(grantKey, openID string, attempt int) (string, error) {
	return hongbao.DeriveTransferBillno(c.billnoKey, c.mchID, grantKey, openID, attempt)
}

// PageParams returns what the mini program passes to
// wx.requestMerchantTransfer for b: the client's mch_id and appid and the
// bill's package_info (and openid when known). Only a bill with a
// PackageInfo (WAIT_USER_CONFIRM, from Create) can be opened; a success of
// the page does not prove the transfer succeeded: only the bill's state
// does.
func (c *Client) PageParams(b *Bill) (PageParams, error) {
	if b == nil || b.PackageInfo == "" {
		return PageParams{}, errors.New("transfer: no package_info: only a bill waiting for the user's confirmation can be opened")
	}
	if b.AppID != "" && b.AppID != c.appID {
		return PageParams{}, fmt.Errorf("transfer: the bill is for appid %s, this client is for %s", b.AppID, c.appID)
	}
	return PageParams{MchID: c.mchID, AppID: c.appID, Package: b.PackageInfo, OpenID: b.OpenID}, nil
}

// createBody is the JSON body of a create, in the documented order.
type createBody struct {
	AppID       string       `json:"appid"`
	OutBillNo   string       `json:"out_bill_no"`
	SceneID     string       `json:"transfer_scene_id"`
	OpenID      string       `json:"openid"`
	Amount      int64        `json:"transfer_amount"`
	Remark      string       `json:"transfer_remark"`
	NotifyURL   string       `json:"notify_url,omitempty"`
	Perception  string       `json:"user_recv_perception,omitempty"`
	ReportInfos []reportInfo `json:"transfer_scene_report_infos"`
	Style       *style       `json:"user_recv_style,omitempty"`
}

type reportInfo struct {
	InfoType    string `json:"info_type"`
	InfoContent string `json:"info_content"`
}

type style struct {
	Type string `json:"type"`
}

// answer is an answer about one bill (create, query, cancel).
type answer struct {
	MchID          string `json:"mch_id"`
	AppID          string `json:"appid"`
	OutBillNo      string `json:"out_bill_no"`
	TransferBillNo string `json:"transfer_bill_no"`
	State          string `json:"state"`
	FailReason     string `json:"fail_reason"`
	TransferAmount *int64 `json:"transfer_amount"`
	TransferRemark string `json:"transfer_remark"`
	OpenID         string `json:"openid"`
	PackageInfo    string `json:"package_info"`
	CreateTime     string `json:"create_time"`
	UpdateTime     string `json:"update_time"`
}

// Create creates the transfer bill r (after Validate; a *ValidationError
// before anything is sent). The body is encoded once: every attempt sends
// the same bytes and the same out_bill_no. 429, 5xx, timeouts, lost
// replies and unverifiable answers are retried (RetryPolicy); other error
// answers are not (NOT_ENOUGH: top up, then Create the same request again).
// An answer of ACCEPTED or PROCESSING is followed by the same create again
// (the platform's rule) until the bill waits for the user, within the
// attempts; the Bill returned may still be ACCEPTED or PROCESSING, without
// PackageInfo: create it again later, with the same request.
//
// The Bill has OutBillNo, TransferBillNo, State, FailReason, PackageInfo
// (WAIT_USER_CONFIRM) and CreateTime from the answer, and AppID, MchID,
// OpenID, Amount and Remark from the request. A state of FAIL is a Bill,
// not an error. Any error is an *Error (Unknown when the bill may exist).
func (c *Client) Create(ctx context.Context, r *CreateRequest) (*Bill, error) {
	if err := r.Validate(); err != nil {
		return nil, err
	}
	st := r.Style
	if st == "" {
		st = StyleRedPacket
	}
	body, err := marshal(createBody{
		AppID: c.appID, OutBillNo: r.OutBillNo, SceneID: SceneCashMarketing, OpenID: r.OpenID,
		Amount: r.Amount, Remark: r.Remark, NotifyURL: r.NotifyURL, Perception: string(r.Perception),
		ReportInfos: []reportInfo{{InfoActivityName, r.ActivityName}, {InfoRewardNote, r.RewardNote}},
		Style:       &style{string(st)},
	})
	if err != nil {
		return nil, &Error{Op: OpCreate, OutBillNo: r.OutBillNo, Err: err}
	}
	k := call{op: OpCreate, id: r.OutBillNo, method: http.MethodPost, url: c.base + PathTransferBills, body: body, pacer: c.writes}
	var bill *Bill
	for round := 1; ; round++ {
		b, cerr := c.createOnce(ctx, k, r)
		switch {
		case cerr != nil && bill == nil:
			return nil, cerr
		case cerr != nil:
			// The bill exists (an earlier answer said so): what is
			// known of it is the answer.
			c.log.LogAttrs(ctx, slog.LevelWarn, "transfer: asking again about an accepted bill failed",
				slog.String("out_bill_no", r.OutBillNo), slog.String("error", cerr.Error()))
			return bill, nil
		}
		bill = b
		if bill.State != StateAccepted && bill.State != StateProcessing || round >= c.retry.Attempts {
			return bill, nil
		}
		if !sleep(ctx, c.retry.Backoff(round)) {
			return bill, nil
		}
	}
}

// createOnce sends the create (with retries) and reads its answer.
func (c *Client) createOnce(ctx context.Context, k call, r *CreateRequest) (b *Bill, cerr *Error) {
	cerr = c.observe(ctx, k, func(ctx context.Context) *Error {
		b, cerr = c.createAnswer(ctx, k, r)
		return cerr
	})
	return b, cerr
}

// createAnswer sends the create (with retries) and checks its answer
// against the request.
func (c *Client) createAnswer(ctx context.Context, k call, r *CreateRequest) (*Bill, *Error) {
	a, cerr := c.do(ctx, k)
	if cerr != nil {
		return nil, cerr
	}
	b, err := c.bill(a)
	switch {
	case err != nil:
	case b.OutBillNo != r.OutBillNo:
		err = fmt.Errorf("the answer is about out_bill_no %q", b.OutBillNo)
	case b.State == StateWaitUserConfirm && b.PackageInfo == "":
		err = errors.New("the answer is WAIT_USER_CONFIRM without package_info")
	case a.TransferAmount != nil && *a.TransferAmount != r.Amount:
		err = fmt.Errorf("the answer's transfer_amount is %d", *a.TransferAmount)
	case a.OpenID != "" && a.OpenID != r.OpenID:
		err = errors.New("the answer is about another openid")
	}
	if err != nil {
		return nil, &Error{Op: OpCreate, OutBillNo: r.OutBillNo, Status: 200, Retryable: true, Unknown: true,
			Message: "the answer does not match the request: " + err.Error()}
	}
	b.AppID, b.MchID, b.OpenID, b.Amount, b.Remark = c.appID, c.mchID, r.OpenID, r.Amount, r.Remark
	return b, nil
}

// QueryByOutBillNo asks the platform about the bill out_bill_no (bills of
// the last 30 days). A bill unknown to the platform is an *Error matching
// apiv3.ErrNotFound (and hongbao.ErrNotFound). The Bill has every field of
// the answer: MchID, AppID, OutBillNo, TransferBillNo, State, FailReason,
// Amount, Remark, OpenID, CreateTime, UpdateTime (no PackageInfo).
func (c *Client) QueryByOutBillNo(ctx context.Context, outBillNo string) (*Bill, error) {
	if err := validateOutBillNo(outBillNo); err != nil {
		return nil, err
	}
	return c.query(ctx, outBillNo, PathByOutBillNo, func(b *Bill) bool { return b.OutBillNo == outBillNo })
}

// QueryByTransferBillNo is QueryByOutBillNo by the platform's number.
func (c *Client) QueryByTransferBillNo(ctx context.Context, transferBillNo string) (*Bill, error) {
	if transferBillNo == "" || len(transferBillNo) > 64 || strings.Trim(transferBillNo, "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz") != "" {
		return nil, &ValidationError{"transfer_bill_no", "1 to 64 letters and digits"}
	}
	return c.query(ctx, transferBillNo, PathByTransferBillNo, func(b *Bill) bool { return b.TransferBillNo == transferBillNo })
}

func (c *Client) query(ctx context.Context, n, path string, about func(*Bill) bool) (*Bill, error) {
	var b *Bill
	k := call{op: OpQuery, id: n, method: http.MethodGet, url: c.base + path + url.PathEscape(n), pacer: c.reads}
	if cerr := c.observe(ctx, k, func(ctx context.Context) (cerr *Error) {
		b, cerr = c.queryAnswer(ctx, k, about)
		return cerr
	}); cerr != nil {
		return nil, cerr
	}
	return b, nil
}

// queryAnswer makes the query (with retries) and checks its answer.
func (c *Client) queryAnswer(ctx context.Context, k call, about func(*Bill) bool) (*Bill, *Error) {
	n := k.id
	a, cerr := c.do(ctx, k)
	if cerr != nil {
		return nil, cerr
	}
	b, err := c.bill(a)
	switch {
	case err != nil:
	case !about(b):
		err = fmt.Errorf("the answer is about %s / %s", b.OutBillNo, b.TransferBillNo)
	case b.MchID != "" && b.MchID != c.mchID:
		err = fmt.Errorf("the answer is about merchant %s", b.MchID)
	}
	if err != nil {
		return nil, &Error{Op: OpQuery, OutBillNo: n, Status: 200, Retryable: true, Unknown: true, Message: err.Error()}
	}
	return b, nil
}

// Cancel asks the platform to cancel the bill out_bill_no, possible until
// the user confirms it. The Bill has OutBillNo, TransferBillNo, State
// (CANCELING or CANCELLED: the cancel completes on its own; query the bill
// or wait for its notification) and UpdateTime. A bill the user confirmed
// meanwhile is an error answer: query it.
func (c *Client) Cancel(ctx context.Context, outBillNo string) (*Bill, error) {
	if err := validateOutBillNo(outBillNo); err != nil {
		return nil, err
	}
	var b *Bill
	k := call{op: OpCancel, id: outBillNo, method: http.MethodPost,
		url: c.base + PathByOutBillNo + outBillNo + "/cancel", pacer: c.writes}
	if cerr := c.observe(ctx, k, func(ctx context.Context) (cerr *Error) {
		b, cerr = c.cancelAnswer(ctx, k)
		return cerr
	}); cerr != nil {
		return nil, cerr
	}
	return b, nil
}

// cancelAnswer makes the cancel (with retries) and checks its answer.
func (c *Client) cancelAnswer(ctx context.Context, k call) (*Bill, *Error) {
	a, cerr := c.do(ctx, k)
	if cerr != nil {
		return nil, cerr
	}
	b, err := c.bill(a)
	if err == nil && b.OutBillNo != k.id {
		err = fmt.Errorf("the answer is about out_bill_no %q", b.OutBillNo)
	}
	if err != nil {
		return nil, &Error{Op: OpCancel, OutBillNo: k.id, Status: 200, Retryable: true, Unknown: true, Message: err.Error()}
	}
	return b, nil
}

// observe runs fn, one call k, between the Observer's CallStart and
// CallEnd; without an Observer it only runs fn.
func (c *Client) observe(ctx context.Context, k call, fn func(context.Context) *Error) *Error {
	if c.obs == nil {
		return fn(ctx)
	}
	start := time.Now()
	cl := Call{Op: k.op, OutBillNo: k.id}
	ctx = c.obs.CallStart(ctx, cl)
	err := fn(ctx)
	cl.Elapsed = time.Since(start)
	c.obs.CallEnd(ctx, cl, err)
	return err
}

// bill converts an answer; an unknown state or a malformed time is an
// error (the answer cannot be understood).
func (c *Client) bill(a *answer) (*Bill, error) {
	b := &Bill{
		MchID: a.MchID, AppID: a.AppID, OutBillNo: a.OutBillNo, TransferBillNo: a.TransferBillNo,
		State: State(a.State), FailReason: a.FailReason, Remark: a.TransferRemark, OpenID: a.OpenID,
		PackageInfo: a.PackageInfo,
	}
	if !b.State.Known() {
		return nil, fmt.Errorf("unknown state %q", a.State)
	}
	if a.TransferAmount != nil {
		b.Amount = *a.TransferAmount
	}
	var err error
	if b.CreateTime, err = parseTime("create_time", a.CreateTime); err != nil {
		return nil, err
	}
	if b.UpdateTime, err = parseTime("update_time", a.UpdateTime); err != nil {
		return nil, err
	}
	return b, nil
}

func parseTime(field, s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%s %q is not RFC 3339", field, s)
	}
	return t, nil
}

func marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// call is one call to make, with its retries.
type call struct {
	op, id      string
	method, url string
	body        []byte // the same bytes on every attempt
	pacer       *hongbao.Pacer
}

// do makes the call until it succeeds, fails definitively, runs out of
// attempts or ctx ends, and decodes the verified answer. Once an attempt's
// outcome is unknown, so is the call's.
func (c *Client) do(ctx context.Context, k call) (*answer, *Error) {
	unknown := false
	for attempt := 1; ; attempt++ {
		if d, err := k.pacer.Wait(ctx, c.now()); err != nil {
			// Nothing was sent: what the call knew stays.
			e := &Error{Op: k.op, OutBillNo: k.id, Retryable: true, Unknown: unknown, RetryAfter: d, Err: err}
			c.logAttempt(ctx, k, attempt, c.now(), e)
			return nil, e
		}
		start := c.now()
		a, err := c.observedAttempt(ctx, k, attempt)
		c.logAttempt(ctx, k, attempt, start, err)
		switch {
		case err == nil:
			k.pacer.Succeeded(c.now())
			return a, nil
		case err.Status == http.StatusTooManyRequests:
			k.pacer.Limited(c.now())
		}
		unknown = unknown || err.Unknown
		err.Unknown = unknown
		if !err.Retryable || attempt >= c.retry.Attempts || ctx.Err() != nil {
			return nil, err
		}
		if !sleep(ctx, c.retry.Backoff(attempt)) {
			return nil, err
		}
	}
}

// sleep waits d, and reports false when ctx ended first.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// observedAttempt is attempt between the Observer's AttemptStart and
// AttemptEnd.
func (c *Client) observedAttempt(ctx context.Context, k call, n int) (*answer, *Error) {
	if c.obs == nil {
		return c.attempt(ctx, k)
	}
	start := time.Now()
	cl := Call{Op: k.op, OutBillNo: k.id, Attempt: n}
	actx := c.obs.AttemptStart(ctx, cl)
	a, err := c.attempt(actx, k)
	cl.Elapsed = time.Since(start)
	c.obs.AttemptEnd(actx, cl, err)
	return a, err
}

// attempt makes the call once and classifies the outcome.
func (c *Client) attempt(ctx context.Context, k call) (*answer, *Error) {
	actx, cancel := context.WithTimeout(ctx, c.retry.AttemptTimeout)
	defer cancel()
	// Whether any of the request was written: a failure before that
	// cannot have reached the platform.
	var wrote atomic.Bool
	actx = httptrace.WithClientTrace(actx, &httptrace.ClientTrace{WroteHeaders: func() { wrote.Store(true) }})
	var body io.Reader
	if k.body != nil {
		body = bytes.NewReader(k.body)
	}
	req, err := http.NewRequestWithContext(actx, k.method, k.url, body)
	if err != nil {
		return nil, &Error{Op: k.op, OutBillNo: k.id, Err: err}
	}
	if k.body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, c.failed(k, err, wrote.Load())
	}
	data, err := io.ReadAll(resp.Body) // in memory: verified by the transport
	resp.Body.Close()
	if err != nil {
		return nil, &Error{Op: k.op, OutBillNo: k.id, Status: resp.StatusCode, Retryable: true, Unknown: true, Err: err}
	}
	a := new(answer)
	if err := json.Unmarshal(data, a); err != nil {
		return nil, &Error{Op: k.op, OutBillNo: k.id, Status: resp.StatusCode, Retryable: true, Unknown: true,
			RequestID: resp.Header.Get(apiv3.HeaderRequestID), Message: "the answer is not JSON: " + err.Error()}
	}
	return a, nil
}

// failed classifies a call that returned no answer.
func (c *Client) failed(k call, err error, wrote bool) *Error {
	var ae *apiv3.Error
	if errors.As(err, &ae) {
		e := &Error{Op: k.op, OutBillNo: k.id, Status: ae.Status, Code: ae.Code, Message: ae.Message, RequestID: ae.RequestID, Err: ae}
		switch {
		case ae.Status == 0:
			// Not sent; a timeout while the transport waited (for a
			// platform certificate) may pass.
			e.Retryable = errors.Is(err, context.DeadlineExceeded)
		case ae.OutcomeUnknown():
			e.Retryable, e.Unknown = true, true
		case ae.Status == http.StatusTooManyRequests:
			e.Retryable = true
		}
		return e
	}
	if !wrote {
		return &Error{Op: k.op, OutBillNo: k.id, Retryable: true, Message: "the request was not sent", Err: err}
	}
	// No answer: the request may or may not have reached the platform.
	return &Error{Op: k.op, OutBillNo: k.id, Retryable: true, Unknown: true, Err: err}
}

func (c *Client) logAttempt(ctx context.Context, k call, attempt int, start time.Time, err *Error) {
	level := slog.LevelInfo
	if err != nil {
		level = slog.LevelWarn
	}
	if !c.log.Enabled(ctx, level) {
		return
	}
	attrs := []slog.Attr{
		slog.String("op", k.op),
		slog.String("out_bill_no", k.id),
		slog.Int("attempt", attempt),
		slog.Duration("elapsed", c.now().Sub(start)),
	}
	if err != nil {
		attrs = append(attrs, slog.Int("status", err.Status), slog.String("code", err.Code),
			slog.Bool("retryable", err.Retryable), slog.Bool("outcome_unknown", err.Unknown),
			slog.String("request_id", err.RequestID), slog.String("error", err.Error()))
	}
	c.log.LogAttrs(ctx, level, "transfer: "+k.op+" attempt", attrs...)
}
