package wxpaytest

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// Notification constants.
const (
	EventBillFinished      = "MCHTRANSFER.BILL.FINISHED"
	NotificationSummary    = "商家转账单据终态通知"
	ResourceAssociatedData = "mch_payment"
)

// Delivery is the record of one attempt to deliver a notification.
type Delivery struct {
	// ID is the notification's id, the same for every attempt.
	ID        string
	OutBillNo string
	State     string // the bill state notified
	URL       string
	Attempt   int // 1 for the first
	// Probe reports that the attempt carried a probe signature.
	Probe bool
	// Status is the receiver's HTTP status, 0 when it did not answer; Err
	// says why.
	Status int
	Err    string
	At     time.Time // on the server clock
	// Delivered reports a 2xx answer: the platform stops resending. With
	// Probe, the receiver accepted a notification it could not verify.
	Delivered bool
	// GaveUp reports that the last attempt of the schedule failed.
	GaveUp bool
}

// transferResource is the decrypted resource of MCHTRANSFER.BILL.FINISHED.
type transferResource struct {
	OutBillNo      string `json:"out_bill_no"`
	TransferBillNo string `json:"transfer_bill_no"`
	State          string `json:"state"`
	MchID          string `json:"mch_id"`
	TransferAmount int64  `json:"transfer_amount"`
	OpenID         string `json:"openid"`
	FailReason     string `json:"fail_reason"`
	CreateTime     string `json:"create_time"`
	UpdateTime     string `json:"update_time"`
}

type notificationBody struct {
	ID           string            `json:"id"`
	CreateTime   string            `json:"create_time"`
	ResourceType string            `json:"resource_type"`
	EventType    string            `json:"event_type"`
	Summary      string            `json:"summary"`
	Resource     encryptedResource `json:"resource"`
}

type encryptedResource struct {
	OriginalType   string `json:"original_type"`
	Algorithm      string `json:"algorithm"`
	Ciphertext     string `json:"ciphertext"`
	AssociatedData string `json:"associated_data"`
	Nonce          string `json:"nonce"`
}

// marshalJSON encodes v compactly without escaping <, > and &, as the
// platform writes JSON.
func marshalJSON(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

func resourceOf(b *Bill) transferResource {
	return transferResource{
		OutBillNo: b.OutBillNo, TransferBillNo: b.TransferBillNo, State: b.State, MchID: b.MchID,
		TransferAmount: b.Amount, OpenID: b.OpenID, FailReason: b.FailReason,
		CreateTime: rfc3339(b.CreatedAt), UpdateTime: rfc3339(b.UpdatedAt),
	}
}

func newUUID() string {
	b := make([]byte, 16)
	rand.Read(b) // never fails
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

// NotificationSpec describes a notification for CraftNotification. Empty
// fields take the values the server would use.
type NotificationSpec struct {
	// OutBillNo takes the resource from that bill as it stands now;
	// Resource, when set, is the plaintext resource instead, taken as it
	// is. One of the two is required.
	OutBillNo string
	Resource  []byte
	// ID is the notification id; a random UUID when empty.
	ID string
	// CreateTime is the body's create_time; the server clock when zero.
	CreateTime time.Time
	// EventType and Summary; EventBillFinished and NotificationSummary
	// when empty.
	EventType string
	Summary   string
	// Nonce is the AES-GCM nonce, 12 bytes; 12 random characters when
	// empty. AssociatedData is ResourceAssociatedData when empty.
	Nonce          string
	AssociatedData string
	// TamperCiphertext changes one byte of the ciphertext before the body
	// is signed: the signature verifies, the GCM tag does not.
	TamperCiphertext bool
	// SignSpec says how the body is signed (headers Wechatpay-*).
	SignSpec
}

// CraftNotification builds a notification as the platform sends it to a
// notify_url: the JSON body with the resource encrypted under the APIv3
// key (AES-256-GCM), signed as spec.SignSpec says, with a Request-ID. It
// is for tests of a notification receiver: genuine ones, forged, probe-
// signed, stale, tampered, or (with Signed.WithBody) a signature replayed
// over another body. The server delivers nothing by itself here.
func (s *Server) CraftNotification(spec NotificationSpec) (*Signed, error) {
	v := s.v3
	plain := spec.Resource
	billSerial := ""
	if plain == nil {
		if spec.OutBillNo == "" {
			return nil, errors.New("wxpaytest: CraftNotification needs OutBillNo or Resource")
		}
		v.mu.Lock()
		b, ok := v.bills[spec.OutBillNo]
		var err error
		if ok {
			billSerial = b.Serial
			plain, err = marshalJSON(resourceOf(b))
		}
		v.mu.Unlock()
		if !ok {
			return nil, fmt.Errorf("wxpaytest: no transfer bill %q", spec.OutBillNo)
		}
		if err != nil {
			return nil, err
		}
	}
	body, err := v.notificationBody(spec, plain)
	if err != nil {
		return nil, err
	}
	var serial string
	var key *rsa.PrivateKey
	if spec.Serial != "" {
		serial, key, err = v.keyFor(spec.Serial)
	} else {
		serial, key, err = v.keys.notifySigner(billSerial)
	}
	if err != nil {
		return nil, err
	}
	signed, err := v.sign(body, spec.SignSpec, serial, key)
	if err != nil {
		return nil, err
	}
	signed.Header.Set("Request-ID", requestID())
	return signed, nil
}

// notificationBody encrypts plain and wraps it in a notification body.
func (v *v3State) notificationBody(spec NotificationSpec, plain []byte) ([]byte, error) {
	n := notificationBody{
		ID: spec.ID, ResourceType: "encrypt-resource", EventType: spec.EventType, Summary: spec.Summary,
		Resource: encryptedResource{
			OriginalType: ResourceAssociatedData, Algorithm: "AEAD_AES_256_GCM",
			AssociatedData: spec.AssociatedData, Nonce: spec.Nonce,
		},
	}
	if n.ID == "" {
		n.ID = newUUID()
	}
	created := spec.CreateTime
	if created.IsZero() {
		created = v.s.now()
	}
	n.CreateTime = rfc3339(created)
	if n.EventType == "" {
		n.EventType = EventBillFinished
	}
	if n.Summary == "" {
		n.Summary = NotificationSummary
	}
	if n.Resource.AssociatedData == "" {
		n.Resource.AssociatedData = ResourceAssociatedData
	}
	if n.Resource.Nonce == "" {
		n.Resource.Nonce = randomAlnum(12)
	}
	ct, err := v.seal(n.Resource.Nonce, n.Resource.AssociatedData, plain)
	if err != nil {
		return nil, err
	}
	if spec.TamperCiphertext {
		c := []byte(ct)
		// Change a character of the base64 text that stays base64.
		if c[0] == 'A' {
			c[0] = 'B'
		} else {
			c[0] = 'A'
		}
		ct = string(c)
	}
	n.Resource.Ciphertext = ct
	return marshalJSON(n)
}

// requestID returns a Request-ID like the platform's.
func requestID() string {
	return strings.ToUpper(randomHex(26))
}

// pendingNotification is a notification being delivered.
type pendingNotification struct {
	id, outBillNo, state, url, serial string
	body                              []byte
}

// notifyLocked starts the delivery of a bill's final state to its
// notify_url (or V3Options.NotifyURL). v.mu must be held.
func (v *v3State) notifyLocked(b *Bill) {
	url := b.NotifyURL
	if url == "" {
		url = v.notifyURL
	}
	if url == "" || v.closed {
		return
	}
	plain, err := marshalJSON(resourceOf(b))
	if err != nil {
		return
	}
	id := newUUID()
	body, err := v.notificationBody(NotificationSpec{ID: id}, plain)
	if err != nil {
		return
	}
	n := pendingNotification{id: id, outBillNo: b.OutBillNo, state: b.State, url: url, serial: b.Serial, body: body}
	v.wg.Add(1)
	go v.deliver(n)
}

// deliver runs the delivery schedule of one notification.
func (v *v3State) deliver(n pendingNotification) {
	defer v.wg.Done()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-v.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	for i, wait := range v.schedule {
		if wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				return
			}
		}
		probe := i == 0 && v.probeFirst
		d := Delivery{ID: n.id, OutBillNo: n.outBillNo, State: n.state, URL: n.url, Attempt: i + 1, Probe: probe}
		d.Status, d.Err = v.attempt(ctx, n, probe)
		if ctx.Err() != nil {
			return // closing: the attempt tells nothing
		}
		d.At = v.s.now()
		d.Delivered = d.Err == "" && d.Status/100 == 2
		d.GaveUp = !d.Delivered && i == len(v.schedule)-1
		v.mu.Lock()
		v.deliveries = append(v.deliveries, d)
		v.broadcast()
		v.mu.Unlock()
		if d.Delivered {
			return
		}
	}
}

// attempt posts the notification once, signed afresh.
func (v *v3State) attempt(ctx context.Context, n pendingNotification, probe bool) (int, string) {
	serial, key, err := v.keys.notifySigner(n.serial)
	if err != nil {
		return 0, err.Error()
	}
	spec := SignSpec{}
	if probe {
		spec.Signature = SignProbe
	}
	signed, err := v.sign(n.body, spec, serial, key)
	if err != nil {
		return 0, err.Error()
	}
	signed.Header.Set("Request-ID", requestID())
	req, err := signed.NewRequest(ctx, n.url)
	if err != nil {
		return 0, err.Error()
	}
	resp, err := v.notifyHC.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	return resp.StatusCode, ""
}

// Deliveries returns the records of every notification delivery attempt
// since the start or the last Reset, in the order they ended.
func (s *Server) Deliveries() []Delivery {
	v := s.v3
	v.mu.Lock()
	defer v.mu.Unlock()
	return append([]Delivery(nil), v.deliveries...)
}

// WaitDelivered waits until a notification of the bill outBillNo was
// delivered (answered 2xx) or given up, and returns that attempt's
// record; an attempt recorded before the call counts. It returns
// ctx.Err() when ctx ends first.
func (s *Server) WaitDelivered(ctx context.Context, outBillNo string) (Delivery, error) {
	v := s.v3
	for {
		v.mu.Lock()
		for _, d := range v.deliveries {
			if d.OutBillNo == outBillNo && (d.Delivered || d.GaveUp) {
				v.mu.Unlock()
				return d, nil
			}
		}
		changed := v.changed
		v.mu.Unlock()
		select {
		case <-changed:
		case <-ctx.Done():
			return Delivery{}, ctx.Err()
		}
	}
}

// Renotify delivers the notification of a bill in a final state once
// more, under a new id and on the whole schedule, as the platform may
// repeat a notification. It fails for a bill not final yet or without a
// notification URL.
func (s *Server) Renotify(outBillNo string) error {
	v := s.v3
	v.mu.Lock()
	defer v.mu.Unlock()
	b, ok := v.bills[outBillNo]
	switch {
	case !ok:
		return fmt.Errorf("wxpaytest: no transfer bill %q", outBillNo)
	case !finalState(b.State):
		return fmt.Errorf("wxpaytest: transfer bill %q is %s, not final", outBillNo, b.State)
	case b.NotifyURL == "" && v.notifyURL == "":
		return fmt.Errorf("wxpaytest: transfer bill %q has no notify_url and V3Options.NotifyURL is empty", outBillNo)
	case v.closed:
		return errors.New("wxpaytest: the server is closed")
	}
	v.notifyLocked(b)
	return nil
}
