package apiv3

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"
)

// EventTransferBillFinished is the event of a transfer bill that reached a
// final state (SUCCESS, FAIL or CANCELLED).
const EventTransferBillFinished = "MCHTRANSFER.BILL.FINISHED"

// ResourceTypeEncrypted is the resource_type of an encrypted resource.
const ResourceTypeEncrypted = "encrypt-resource"

// ErrNotification matches a notification whose signature verified but
// whose content is not a notification this package can read: not JSON, a
// field missing or malformed, another merchant's bill.
var ErrNotification = errors.New("apiv3: malformed notification")

// Notification is a verified and decrypted notification.
type Notification struct {
	ID           string    // id: the notification's id, the same on every resend
	CreateTime   time.Time // create_time
	EventType    string    // event_type, e.g. MCHTRANSFER.BILL.FINISHED
	ResourceType string    // resource_type: encrypt-resource
	Summary      string    // summary
	OriginalType string    // resource.original_type, e.g. mch_payment
	// Resource is the decrypted resource, JSON.
	Resource []byte
	// TransferBill is Resource decoded for EventTransferBillFinished, nil
	// for other events.
	TransferBill *TransferBill
	// Headers are the notification's verified signature headers
	// (Wechatpay-Serial, Request-ID, ...).
	Headers SignatureHeaders
}

// TransferBill is the resource of MCHTRANSFER.BILL.FINISHED: the bill as
// it ended.
type TransferBill struct {
	OutBillNo      string    `json:"out_bill_no"`
	TransferBillNo string    `json:"transfer_bill_no"`
	State          string    `json:"state"` // SUCCESS, FAIL or CANCELLED
	MchID          string    `json:"mch_id"`
	TransferAmount int64     `json:"transfer_amount"` // fen
	OpenID         string    `json:"openid"`
	FailReason     string    `json:"fail_reason"` // e.g. OVERDUE_CLOSE
	CreateTime     time.Time `json:"-"`
	UpdateTime     time.Time `json:"-"`
}

// envelope is the body of a notification.
type envelope struct {
	ID           string `json:"id"`
	CreateTime   string `json:"create_time"`
	ResourceType string `json:"resource_type"`
	EventType    string `json:"event_type"`
	Summary      string `json:"summary"`
	Resource     *struct {
		OriginalType   string `json:"original_type"`
		Algorithm      string `json:"algorithm"`
		Ciphertext     string `json:"ciphertext"`
		AssociatedData string `json:"associated_data"`
		Nonce          string `json:"nonce"`
	} `json:"resource"`
}

// ParseNotification verifies a notification (its headers and raw body, as
// Verify does) and decrypts its resource with the APIv3 key. It returns an
// error matching ErrUnverified when the signature is not verified (a
// forged, stale, altered or probe-signed notification), ErrDecrypt when
// the resource does not decrypt, ErrNotification when the content is not
// readable. It is the plain function behind NotificationHandler, for
// frameworks that hand over the header and body themselves; body must be
// the bytes received, unchanged.
func (t *Transport) ParseNotification(ctx context.Context, h http.Header, body []byte) (*Notification, error) {
	if t.aead == nil {
		return nil, errors.New("apiv3: notifications need APIv3Key")
	}
	sh, err := t.Verify(ctx, h, body)
	if err != nil {
		return nil, err
	}
	var env envelope
	if err := decodeStrict(body, &env); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNotification, err)
	}
	switch {
	case env.ID == "":
		return nil, fmt.Errorf("%w: no id", ErrNotification)
	case env.EventType == "":
		return nil, fmt.Errorf("%w: no event_type", ErrNotification)
	case env.ResourceType != ResourceTypeEncrypted:
		return nil, fmt.Errorf("%w: resource_type %q is not %s", ErrNotification, clip(env.ResourceType), ResourceTypeEncrypted)
	case env.Resource == nil:
		return nil, fmt.Errorf("%w: no resource", ErrNotification)
	case env.Resource.Algorithm != AlgorithmAESGCM:
		return nil, fmt.Errorf("%w: resource algorithm %q is not %s", ErrNotification, clip(env.Resource.Algorithm), AlgorithmAESGCM)
	}
	created, err := time.Parse(time.RFC3339, env.CreateTime)
	if err != nil {
		return nil, fmt.Errorf("%w: create_time %q is not RFC 3339", ErrNotification, clip(env.CreateTime))
	}
	plain, err := open(t.aead, env.Resource.Nonce, env.Resource.AssociatedData, env.Resource.Ciphertext)
	if err != nil {
		return nil, fmt.Errorf("notification %s: %w", clip(env.ID), err)
	}
	n := &Notification{
		ID: env.ID, CreateTime: created, EventType: env.EventType, ResourceType: env.ResourceType,
		Summary: env.Summary, OriginalType: env.Resource.OriginalType, Resource: plain, Headers: sh,
	}
	if n.EventType == EventTransferBillFinished {
		if n.TransferBill, err = t.decodeTransferBill(plain); err != nil {
			return nil, fmt.Errorf("%w: notification %s: %v", ErrNotification, clip(env.ID), err)
		}
	}
	return n, nil
}

// decodeTransferBill decodes the resource of MCHTRANSFER.BILL.FINISHED.
func (t *Transport) decodeTransferBill(plain []byte) (*TransferBill, error) {
	var raw struct {
		TransferBill
		CreateTime string `json:"create_time"`
		UpdateTime string `json:"update_time"`
	}
	if err := decodeStrict(plain, &raw); err != nil {
		return nil, fmt.Errorf("the resource: %v", err)
	}
	b := raw.TransferBill
	switch {
	case b.OutBillNo == "":
		return nil, errors.New("the resource has no out_bill_no")
	case b.State == "":
		return nil, errors.New("the resource has no state")
	case b.MchID != "" && b.MchID != t.mchID:
		return nil, fmt.Errorf("the bill is merchant %s's, not %s's", clip(b.MchID), t.mchID)
	case b.TransferAmount < 0:
		return nil, errors.New("the resource's transfer_amount is negative")
	}
	var err error
	if b.CreateTime, err = optionalTime(raw.CreateTime); err != nil {
		return nil, fmt.Errorf("create_time: %v", err)
	}
	if b.UpdateTime, err = optionalTime(raw.UpdateTime); err != nil {
		return nil, fmt.Errorf("update_time: %v", err)
	}
	return &b, nil
}

func optionalTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is not RFC 3339", clip(s))
	}
	return t, nil
}

// decodeStrict decodes one JSON object and nothing after it.
func decodeStrict(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("data after the JSON object")
	}
	return nil
}

// NotificationFunc handles a verified notification. It returns nil once
// the notification is durably recorded; an error makes the platform send it
// again. Notifications repeat and come out of order: it must be idempotent
// and let a bill's recorded state only move forward.
type NotificationFunc func(ctx context.Context, n *Notification) error

// NotificationHandler returns the http.Handler of the notify URL. For each
// POST it reads the body (at most Config.MaxNotificationBytes), verifies
// and decrypts it (ParseNotification) and calls fn. It answers 204 No
// Content only after fn returned nil; otherwise a JSON
// {"code":"FAIL","message":"..."} with 405 (not POST), 413 (too large),
// 401 (signature not verified: forged, stale, altered, probe), 400
// (malformed) or 500 (fn failed, or the resource did not decrypt), so that
// the platform sends it again. A notification that is not verified never
// reaches fn. It needs APIv3Key.
func (t *Transport) NotificationHandler(fn NotificationFunc) (http.Handler, error) {
	if t.signer.Key == nil {
		return nil, errNotNew
	}
	if t.aead == nil {
		return nil, errors.New("apiv3: NotificationHandler needs APIv3Key (notification resources are encrypted with it)")
	}
	if fn == nil {
		return nil, errors.New("apiv3: NotificationHandler needs a function")
	}
	return &notificationHandler{t: t, fn: fn}, nil
}

type notificationHandler struct {
	t  *Transport
	fn NotificationFunc
}

func (h *notificationHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeFail(w, http.StatusMethodNotAllowed, "POST only")
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.t.maxNotify))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			h.refused(w, r, http.StatusRequestEntityTooLarge, "the body is too large", err)
			return
		}
		h.refused(w, r, http.StatusBadRequest, "the body could not be read", err)
		return
	}
	n, err := h.t.ParseNotification(r.Context(), r.Header, body)
	switch {
	case err == nil:
	case errors.Is(err, ErrUnverified):
		h.refused(w, r, http.StatusUnauthorized, "signature verification failed", err)
		return
	case errors.Is(err, ErrDecrypt):
		h.refused(w, r, http.StatusInternalServerError, "the resource could not be decrypted", err)
		return
	default:
		h.refused(w, r, http.StatusBadRequest, "malformed notification", err)
		return
	}
	if err := h.fn(r.Context(), n); err != nil {
		h.t.log.LogAttrs(r.Context(), slog.LevelError, "apiv3: the notification function failed; the platform will send it again",
			slog.String("id", n.ID), slog.String("event_type", n.EventType),
			slog.String("request_id", n.Headers.RequestID), slog.String("error", err.Error()))
		writeFail(w, http.StatusInternalServerError, "the notification was not processed")
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// refused logs and answers a notification that does not reach the
// function.
func (h *notificationHandler) refused(w http.ResponseWriter, r *http.Request, status int, msg string, err error) {
	level := slog.LevelWarn
	if status >= 500 {
		level = slog.LevelError
	}
	h.t.log.LogAttrs(r.Context(), level, "apiv3: notification refused",
		slog.Int("status", status), slog.String("serial", clip(r.Header.Get(HeaderSerial))),
		slog.String("request_id", requestID(r.Header)), slog.String("error", err.Error()))
	writeFail(w, status, msg)
}

// writeFail writes {"code":"FAIL","message":msg} with status.
func writeFail(w http.ResponseWriter, status int, msg string) {
	b, _ := json.Marshal(struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	}{"FAIL", msg})
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	w.Write(b)
}
