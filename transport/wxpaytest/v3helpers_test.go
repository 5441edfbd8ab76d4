package wxpaytest_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hongbao-go/hongbao/transport/wxpaytest"
)

// This file is a minimal APIv3 client written with the standard library
// alone, independent of the server's code: it signs requests as the spec
// says and verifies answers and notifications.

// clock is a settable clock shared by a server and its test client.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Now()} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

// v3client signs requests with the merchant key and verifies answers with
// the platform keys it knows.
type v3client struct {
	t      testing.TB
	srv    *wxpaytest.Server
	hc     *http.Client
	key    *rsa.PrivateKey
	mchID  string
	serial string
	now    func() time.Time
	// wechatpaySerial is sent as Wechatpay-Serial when not empty.
	wechatpaySerial string

	mu   sync.Mutex
	keys map[string]*rsa.PublicKey // platform keys by id or certificate serial
}

func parseRSAKey(t testing.TB, keyPEM []byte) *rsa.PrivateKey {
	t.Helper()
	block, _ := pem.Decode(keyPEM)
	if block == nil {
		t.Fatal("no PEM block")
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	rk, ok := k.(*rsa.PrivateKey)
	if !ok {
		t.Fatalf("merchant key is %T, want RSA", k)
	}
	return rk
}

func parsePublicKey(t testing.TB, pubPEM []byte) *rsa.PublicKey {
	t.Helper()
	block, _ := pem.Decode(pubPEM)
	if block == nil || block.Type != "PUBLIC KEY" {
		t.Fatalf("not a PUBLIC KEY PEM block: %q", pubPEM)
	}
	k, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return k.(*rsa.PublicKey)
}

// newV3Client builds a client from the server's V3Config alone: no client
// certificate, the merchant key, and the public key when the mode has one.
func newV3Client(t testing.TB, srv *wxpaytest.Server, now func() time.Time) *v3client {
	t.Helper()
	cfg := srv.V3Config()
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: cfg.RootCAs}}
	t.Cleanup(tr.CloseIdleConnections)
	c := &v3client{
		t: t, srv: srv, hc: &http.Client{Transport: tr, Timeout: 10 * time.Second},
		key: parseRSAKey(t, cfg.KeyPEM), mchID: cfg.MchID, serial: cfg.MerchantSerial, now: now,
		keys: map[string]*rsa.PublicKey{},
	}
	if cfg.PublicKeyID != "" {
		c.keys[cfg.PublicKeyID] = parsePublicKey(t, cfg.PublicKeyPEM)
	}
	return c
}

func signB64(t testing.TB, key *rsa.PrivateKey, msg string) string {
	t.Helper()
	sum := sha256.Sum256([]byte(msg))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(sig)
}

func nonce32() string {
	const chars = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	b := make([]byte, 32)
	rand.Read(b)
	for i := range b {
		b[i] = chars[int(b[i])%len(chars)]
	}
	return string(b)
}

// authorization returns the Authorization header of a request.
func (c *v3client) authorization(method, uri string, body []byte, ts time.Time, nonce string) string {
	tss := strconv.FormatInt(ts.Unix(), 10)
	msg := method + "\n" + uri + "\n" + tss + "\n" + nonce + "\n" + string(body) + "\n"
	return fmt.Sprintf(`WECHATPAY2-SHA256-RSA2048 mchid="%s",nonce_str="%s",serial_no="%s",timestamp="%s",signature="%s"`,
		c.mchID, nonce, c.serial, tss, signB64(c.t, c.key, msg))
}

// v3reply is an answer, verified when 2xx.
type v3reply struct {
	status    int
	header    http.Header
	body      []byte
	verifyErr error          // 2xx only: why the answer does not verify
	fields    map[string]any // the decoded JSON body
}

func (r *v3reply) str(k string) string {
	s, _ := r.fields[k].(string)
	return s
}

func (r *v3reply) code() string { return r.str("code") }

// send sends a request with the given Authorization (signed normally when
// auth is "") and reads the answer.
func (c *v3client) send(ctx context.Context, method, uri string, body []byte, auth string) (*v3reply, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.srv.URL+uri, rd)
	if err != nil {
		return nil, err
	}
	if auth == "" {
		auth = c.authorization(method, uri, body, c.now(), nonce32())
	}
	req.Header.Set("Authorization", auth)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "wxpaytest-v3-test-client")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.wechatpaySerial != "" {
		req.Header.Set("Wechatpay-Serial", c.wechatpaySerial)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	r := &v3reply{status: resp.StatusCode, header: resp.Header, body: data}
	if len(data) > 0 {
		if err := json.Unmarshal(data, &r.fields); err != nil && resp.StatusCode/100 == 2 {
			r.verifyErr = fmt.Errorf("2xx body is not JSON: %v", err)
		}
	}
	if resp.StatusCode/100 == 2 && r.verifyErr == nil {
		r.verifyErr = c.verify(resp.Header, data)
	}
	return r, nil
}

// do sends a normally signed request and fails the test on a transport
// error.
func (c *v3client) do(method, uri string, body []byte) *v3reply {
	c.t.Helper()
	r, err := c.send(context.Background(), method, uri, body, "")
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, uri, err)
	}
	return r
}

// ok is do for a call that must answer 200 and verify.
func (c *v3client) ok(method, uri string, body []byte) *v3reply {
	c.t.Helper()
	r := c.do(method, uri, body)
	if r.status != http.StatusOK || r.verifyErr != nil {
		c.t.Fatalf("%s %s: status %d, verification %v, body %s", method, uri, r.status, r.verifyErr, r.body)
	}
	return r
}

// fail is do for a call that must answer status and code.
func (c *v3client) fail(method, uri string, body []byte, status int, code string) *v3reply {
	c.t.Helper()
	r := c.do(method, uri, body)
	if r.status != status || r.code() != code {
		c.t.Fatalf("%s %s: status %d code %q (%s), want %d %s", method, uri, r.status, r.code(), r.body, status, code)
	}
	if r.str("message") == "" {
		c.t.Errorf("%s %s: error without a message: %s", method, uri, r.body)
	}
	if r.header.Get("Request-ID") == "" {
		c.t.Errorf("%s %s: error without Request-ID", method, uri)
	}
	return r
}

var (
	errUnsigned     = errors.New("unsigned")
	errUnknownKey   = errors.New("unknown Wechatpay-Serial")
	errStale        = errors.New("timestamp more than 300 s off")
	errProbe        = errors.New("probe signature")
	errBadSignature = errors.New("signature does not verify")
)

// brokenSignatures are the signatures other than SignGenuine, each with
// the error verifyWith must find.
var brokenSignatures = []struct {
	sig  wxpaytest.Signature
	want error
}{
	{wxpaytest.SignProbe, errProbe},
	{wxpaytest.SignForged, errBadSignature},
	{wxpaytest.SignUnsigned, errUnsigned},
	{wxpaytest.SignTampered, errBadSignature},
	{wxpaytest.SignStale, errStale},
	{wxpaytest.SignUnknownSerial, errUnknownKey},
}

// verifyWith checks platform headers over body with keys, at now.
func verifyWith(h http.Header, body []byte, keys map[string]*rsa.PublicKey, now time.Time) error {
	ts, nonce, sig, serial := h.Get("Wechatpay-Timestamp"), h.Get("Wechatpay-Nonce"), h.Get("Wechatpay-Signature"), h.Get("Wechatpay-Serial")
	if ts == "" || nonce == "" || sig == "" || serial == "" {
		return errUnsigned
	}
	key, ok := keys[serial]
	if !ok {
		return fmt.Errorf("%w %q", errUnknownKey, serial)
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return fmt.Errorf("timestamp %q: %v", ts, err)
	}
	if d := now.Sub(time.Unix(sec, 0)); d > 300*time.Second || d < -300*time.Second {
		return errStale
	}
	if strings.HasPrefix(sig, "WECHATPAY/SIGNTEST/") {
		return errProbe
	}
	raw, err := base64.StdEncoding.DecodeString(sig)
	if err != nil {
		return fmt.Errorf("%w: %v", errBadSignature, err)
	}
	sum := sha256.Sum256([]byte(ts + "\n" + nonce + "\n" + string(body) + "\n"))
	if err := rsa.VerifyPKCS1v15(key, crypto.SHA256, sum[:], raw); err != nil {
		return fmt.Errorf("%w: %v", errBadSignature, err)
	}
	return nil
}

func (c *v3client) verify(h http.Header, body []byte) error {
	c.mu.Lock()
	keys := make(map[string]*rsa.PublicKey, len(c.keys))
	for k, v := range c.keys {
		keys[k] = v
	}
	c.mu.Unlock()
	return verifyWith(h, body, keys, c.now())
}

// gcmOpen decrypts an AEAD_AES_256_GCM field.
func gcmOpen(key, nonce, ad, ciphertext string) ([]byte, error) {
	block, err := aes.NewCipher([]byte(key))
	if err != nil {
		return nil, err
	}
	g, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	ct, err := base64.StdEncoding.DecodeString(ciphertext)
	if err != nil {
		return nil, err
	}
	if len(nonce) != g.NonceSize() {
		return nil, fmt.Errorf("nonce of %d bytes", len(nonce))
	}
	return g.Open(nil, []byte(nonce), ct, []byte(ad))
}

// fetchCertificates gets GET /v3/certificates, decrypts the certificates
// with the APIv3 key, adds their keys, then verifies the answer (signed by
// one of them, as a client bootstraps). It returns the serials listed.
func (c *v3client) fetchCertificates() ([]string, error) {
	r, err := c.send(context.Background(), http.MethodGet, "/v3/certificates?algorithm_type=RSA", nil, "")
	if err != nil {
		return nil, err
	}
	if r.status != http.StatusOK {
		return nil, fmt.Errorf("status %d: %s", r.status, r.body)
	}
	var list struct {
		Data []struct {
			SerialNo      string `json:"serial_no"`
			EffectiveTime string `json:"effective_time"`
			ExpireTime    string `json:"expire_time"`
			Enc           struct {
				Algorithm      string `json:"algorithm"`
				Nonce          string `json:"nonce"`
				AssociatedData string `json:"associated_data"`
				Ciphertext     string `json:"ciphertext"`
			} `json:"encrypt_certificate"`
		} `json:"data"`
	}
	if err := json.Unmarshal(r.body, &list); err != nil {
		return nil, err
	}
	var serials []string
	found := map[string]*rsa.PublicKey{}
	for _, d := range list.Data {
		if d.Enc.Algorithm != "AEAD_AES_256_GCM" || d.Enc.AssociatedData != "certificate" {
			return nil, fmt.Errorf("certificate %s: algorithm %q, associated_data %q", d.SerialNo, d.Enc.Algorithm, d.Enc.AssociatedData)
		}
		pemBytes, err := gcmOpen(c.srv.APIv3Key(), d.Enc.Nonce, d.Enc.AssociatedData, d.Enc.Ciphertext)
		if err != nil {
			return nil, fmt.Errorf("certificate %s does not decrypt: %v", d.SerialNo, err)
		}
		block, _ := pem.Decode(pemBytes)
		if block == nil || block.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("certificate %s: not a PEM certificate", d.SerialNo)
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, err
		}
		if got := fmt.Sprintf("%X", cert.SerialNumber); got != d.SerialNo {
			return nil, fmt.Errorf("serial_no %s, certificate serial %s", d.SerialNo, got)
		}
		for _, ts := range []string{d.EffectiveTime, d.ExpireTime} {
			if _, err := time.Parse(time.RFC3339, ts); err != nil || !strings.HasSuffix(ts, "+08:00") {
				return nil, fmt.Errorf("time %q is not RFC 3339 in +08:00", ts)
			}
		}
		found[d.SerialNo] = cert.PublicKey.(*rsa.PublicKey)
		serials = append(serials, d.SerialNo)
	}
	c.mu.Lock()
	for k, v := range found {
		c.keys[k] = v
	}
	c.mu.Unlock()
	return serials, c.verify(r.header, r.body)
}

// forget drops a platform key, as a client does once a certificate expired.
func (c *v3client) forget(id string) {
	c.mu.Lock()
	delete(c.keys, id)
	c.mu.Unlock()
}

func uriOut(n string) string    { return wxpaytest.PathTransferBillByOutBillNo + n }
func uriNo(n string) string     { return wxpaytest.PathTransferBillByNo + n }
func uriCancel(n string) string { return wxpaytest.PathTransferBillByOutBillNo + n + "/cancel" }

const v3OpenID = "o4GgauInH_RCEdvrrNGrntXDuXXX"

// billFields are the fields of a valid create for scene 1000.
func billFields(appID, outBillNo string, amount int64) map[string]any {
	return map[string]any{
		"appid":             appID,
		"out_bill_no":       outBillNo,
		"openid":            v3OpenID,
		"transfer_amount":   amount,
		"transfer_remark":   "新年红包",
		"transfer_scene_id": "1000",
		"transfer_scene_report_infos": []map[string]string{
			{"info_type": "活动名称", "info_content": "新年活动"},
			{"info_type": "奖励说明", "info_content": "注册有礼"},
		},
		"user_recv_perception": "活动奖励",
		"user_recv_style":      map[string]string{"type": "RED_PACKET"},
	}
}

func jsonBody(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// v3h is a server with a test client on a shared clock.
type v3h struct {
	t     *testing.T
	clock *clock
	srv   *wxpaytest.Server
	c     *v3client
}

func newV3(t *testing.T, opts wxpaytest.Options) *v3h {
	t.Helper()
	h := &v3h{t: t, clock: newClock()}
	if opts.Now == nil {
		opts.Now = h.clock.Now
	}
	h.srv = wxpaytest.Start(t, opts)
	h.c = newV3Client(t, h.srv, h.clock.Now)
	return h
}

// create creates a bill and returns the verified answer.
func (h *v3h) create(outBillNo string, amount int64) *v3reply {
	h.t.Helper()
	return h.c.ok(http.MethodPost, wxpaytest.PathTransferBills, jsonBody(h.t, billFields(h.srv.AppID, outBillNo, amount)))
}

func (h *v3h) query(outBillNo string) *v3reply {
	h.t.Helper()
	return h.c.ok(http.MethodGet, uriOut(outBillNo), nil)
}

func (h *v3h) page(r *v3reply) wxpaytest.TransferPage {
	return wxpaytest.TransferPage{MchID: h.srv.MchID, AppID: h.srv.AppID, Package: r.str("package_info"), OpenID: v3OpenID}
}

func wantState(t testing.TB, r *v3reply, state string) {
	t.Helper()
	if got := r.str("state"); got != state {
		t.Fatalf("state %q, want %q: %s", got, state, r.body)
	}
}
