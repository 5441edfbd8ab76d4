package wxpaytest

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// AuthScheme is the scheme of an APIv3 request's Authorization header,
// and the value of Wechatpay-Signature-Type.
const AuthScheme = "WECHATPAY2-SHA256-RSA2048"

// ProbePrefix starts the probe signatures the platform sends now and then
// to check that merchants verify what they receive.
const ProbePrefix = "WECHATPAY/SIGNTEST/"

// maxSkew is how far a request's timestamp may be from the server clock.
const maxSkew = 5 * time.Minute

// authorization is a parsed Authorization header.
type authorization struct {
	mchid, nonce, serial, timestamp, signature string
}

// parseAuthorization parses `WECHATPAY2-SHA256-RSA2048 k="v",k="v",...`:
// one space after the scheme, pairs joined by commas without spaces, in
// any order, each of mchid, nonce_str, serial_no, timestamp and signature
// exactly once.
func parseAuthorization(h string) (authorization, error) {
	var a authorization
	rest, ok := strings.CutPrefix(h, AuthScheme+" ")
	if !ok {
		if h == "" {
			return a, errors.New("the Authorization header is missing")
		}
		return a, errors.New("the Authorization header does not start with " + AuthScheme + " and one space")
	}
	fields := map[string]*string{
		"mchid": &a.mchid, "nonce_str": &a.nonce, "serial_no": &a.serial,
		"timestamp": &a.timestamp, "signature": &a.signature,
	}
	seen := map[string]bool{}
	for {
		key, after, ok := strings.Cut(rest, "=")
		if !ok || key == "" {
			return a, fmt.Errorf("the Authorization header has a part %q that is not key=\"value\"", rest)
		}
		if !strings.HasPrefix(after, `"`) {
			return a, fmt.Errorf("the Authorization value of %q is not in double quotes", key)
		}
		end := strings.IndexByte(after[1:], '"')
		if end < 0 {
			return a, fmt.Errorf("the Authorization value of %q has no closing quote", key)
		}
		val := after[1 : 1+end]
		rest = after[2+end:]
		if seen[key] {
			return a, fmt.Errorf("the Authorization header names %q twice", key)
		}
		seen[key] = true
		if p, known := fields[key]; known {
			*p = val
		}
		if rest == "" {
			break
		}
		if rest[0] != ',' {
			return a, fmt.Errorf("the Authorization pairs must be joined by a comma without spaces, found %q", rest)
		}
		rest = rest[1:]
	}
	for _, k := range []string{"mchid", "nonce_str", "serial_no", "timestamp", "signature"} {
		if *fields[k] == "" {
			return a, fmt.Errorf("the Authorization header lacks %s", k)
		}
	}
	return a, nil
}

// requestMessage is what an APIv3 request's signature covers.
func requestMessage(method, uri, timestamp, nonce string, body []byte) []byte {
	var b bytes.Buffer
	for _, s := range []string{method, uri, timestamp, nonce} {
		b.WriteString(s)
		b.WriteByte('\n')
	}
	b.Write(body)
	b.WriteByte('\n')
	return b.Bytes()
}

// answerMessage is what the signature of an answer or a notification
// covers.
func answerMessage(timestamp, nonce string, body []byte) []byte {
	var b bytes.Buffer
	b.WriteString(timestamp)
	b.WriteByte('\n')
	b.WriteString(nonce)
	b.WriteByte('\n')
	b.Write(body)
	b.WriteByte('\n')
	return b.Bytes()
}

// signSHA256 signs message with SHA256withRSA (PKCS #1 v1.5), in base64.
func signSHA256(key *rsa.PrivateKey, message []byte) string {
	sum := sha256.Sum256(message)
	sig, err := rsa.SignPKCS1v15(nil, key, crypto.SHA256, sum[:])
	if err != nil { // only for a key too small for SHA-256, refused earlier
		panic("wxpaytest: signing: " + err.Error())
	}
	return base64.StdEncoding.EncodeToString(sig)
}

// verifySHA256 checks a base64 SHA256withRSA signature of message.
func verifySHA256(pub *rsa.PublicKey, message []byte, signature string) bool {
	sig, err := base64.StdEncoding.DecodeString(signature)
	if err != nil {
		return false
	}
	sum := sha256.Sum256(message)
	return rsa.VerifyPKCS1v15(pub, crypto.SHA256, sum[:], sig) == nil
}

// checkAuthorization verifies a request's Authorization against the
// merchant certificate and the server clock; it returns what is wrong, or
// "".
func (v *v3State) checkAuthorization(r *http.Request, body []byte) string {
	a, err := parseAuthorization(r.Header.Get("Authorization"))
	if err != nil {
		return err.Error()
	}
	if a.mchid != v.s.MchID {
		return fmt.Sprintf("the Authorization mchid %q is not this merchant", a.mchid)
	}
	if want := v.s.MerchantSerial(); a.serial != want {
		return fmt.Sprintf("the Authorization serial_no %q is not the serial of the merchant certificate (upper-case hex)", a.serial)
	}
	if !allDigits(a.timestamp) || len(a.timestamp) > 12 {
		return "the Authorization timestamp is not Unix seconds"
	}
	ts, _ := strconv.ParseInt(a.timestamp, 10, 64)
	if d := time.Duration(v.s.now().Unix()-ts) * time.Second; d > maxSkew || d < -maxSkew {
		return fmt.Sprintf("the Authorization timestamp is %s off the platform's clock, more than 5 minutes", d.Abs())
	}
	if !validNonce(a.nonce) {
		return "the Authorization nonce_str must be 1 to 32 characters of 0-9, A-Z and a-z"
	}
	pub, ok := v.s.client.cert.PublicKey.(*rsa.PublicKey)
	if !ok {
		return "the merchant certificate has no RSA key"
	}
	if !verifySHA256(pub, requestMessage(r.Method, r.RequestURI, a.timestamp, a.nonce, body), a.signature) {
		return "the signature does not verify with the merchant certificate over METHOD, URL, timestamp, nonce and body"
	}
	return ""
}

func validNonce(n string) bool {
	if n == "" || len(n) > 32 {
		return false
	}
	for i := 0; i < len(n); i++ {
		if c := n[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z') {
			return false
		}
	}
	return true
}

const alnum = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// randomAlnum returns n random characters of [0-9A-Za-z].
func randomAlnum(n int) string {
	b := make([]byte, n)
	rand.Read(b) // never fails
	for i := range b {
		b[i] = alnum[int(b[i])%len(alnum)]
	}
	return string(b)
}

// seal encrypts plaintext with AES-256-GCM under the APIv3 key and returns
// base64 of ciphertext and tag.
func (v *v3State) seal(nonce, associatedData string, plaintext []byte) (string, error) {
	if len(nonce) != v.aead.NonceSize() {
		return "", fmt.Errorf("wxpaytest: the AES-GCM nonce must be %d bytes, got %d", v.aead.NonceSize(), len(nonce))
	}
	return base64.StdEncoding.EncodeToString(v.aead.Seal(nil, []byte(nonce), plaintext, []byte(associatedData))), nil
}

// Signature chooses how the server signs an answer or a notification.
type Signature int

const (
	// SignGenuine signs with the platform key, as the platform does.
	SignGenuine Signature = iota
	// SignProbe sends a probe signature: ProbePrefix followed by random
	// base64, which never verifies.
	SignProbe
	// SignForged signs with a key that is not the platform's, under the
	// genuine Wechatpay-Serial.
	SignForged
	// SignUnsigned sends no Wechatpay-* headers.
	SignUnsigned
	// SignTampered signs genuinely, then changes the body (a space
	// appended).
	SignTampered
	// SignStale signs genuinely with a Wechatpay-Timestamp ten minutes
	// before the given or current time: older than the 300 s a receiver
	// accepts.
	SignStale
	// SignUnknownSerial signs genuinely but names in Wechatpay-Serial a
	// key id of the right form that the server does not have.
	SignUnknownSerial
)

// String returns the constant's name.
func (g Signature) String() string {
	switch g {
	case SignGenuine:
		return "SignGenuine"
	case SignProbe:
		return "SignProbe"
	case SignForged:
		return "SignForged"
	case SignUnsigned:
		return "SignUnsigned"
	case SignTampered:
		return "SignTampered"
	case SignStale:
		return "SignStale"
	case SignUnknownSerial:
		return "SignUnknownSerial"
	}
	return "Signature(" + strconv.Itoa(int(g)) + ")"
}

// SignSpec says how Sign signs a body. Empty fields take the values the
// server would use.
type SignSpec struct {
	Signature Signature
	// Timestamp is the Wechatpay-Timestamp; the server clock when zero.
	Timestamp time.Time
	// Nonce is the Wechatpay-Nonce; 32 random characters when empty.
	Nonce string
	// Serial names the key to sign with: the WeChat Pay public key id or
	// a platform certificate serial the trust mode offers; when empty,
	// the key that signs notifications (the public key, or in
	// TrustCertificates mode the certificate signing now).
	Serial string
}

// Signed is a body with the headers the platform sends with it:
// Wechatpay-Timestamp, Wechatpay-Nonce, Wechatpay-Signature,
// Wechatpay-Serial, Wechatpay-Signature-Type and Content-Type (plus
// Request-ID on the answers and notifications of the server).
type Signed struct {
	Header http.Header
	Body   []byte
}

// Sign signs body as the platform signs answers and notifications, or
// breaks the signature as spec.Signature says, for tests of a receiver's
// verification. The body is taken as it is (SignTampered returns a
// changed copy).
func (s *Server) Sign(body []byte, spec SignSpec) (*Signed, error) {
	serial, key, err := s.v3.keyFor(spec.Serial)
	if err != nil {
		return nil, err
	}
	return s.v3.sign(body, spec, serial, key)
}

// keyFor returns the key named by id, or the default notification key.
func (v *v3State) keyFor(id string) (string, *rsa.PrivateKey, error) {
	if id == "" {
		return v.keys.signer("")
	}
	key, ok := v.keys.byID(id)
	if !ok {
		return "", nil, fmt.Errorf("wxpaytest: no platform key with id %q in %v mode", id, v.trust)
	}
	return id, key, nil
}

// sign signs body with key under serial as spec says.
func (v *v3State) sign(body []byte, spec SignSpec, serial string, key *rsa.PrivateKey) (*Signed, error) {
	out := &Signed{Header: http.Header{}, Body: bytes.Clone(body)}
	out.Header.Set("Content-Type", "application/json")
	if spec.Signature == SignUnsigned {
		return out, nil
	}
	at := spec.Timestamp
	if at.IsZero() {
		at = v.s.now()
	}
	if spec.Signature == SignStale {
		at = at.Add(-10 * time.Minute)
	}
	ts := strconv.FormatInt(at.Unix(), 10)
	nonce := spec.Nonce
	if nonce == "" {
		nonce = randomAlnum(32)
	}
	var sig string
	switch spec.Signature {
	case SignGenuine, SignTampered, SignStale, SignUnknownSerial:
		sig = signSHA256(key, answerMessage(ts, nonce, body))
	case SignProbe:
		junk := make([]byte, key.Size())
		rand.Read(junk)
		sig = ProbePrefix + base64.StdEncoding.EncodeToString(junk)
	case SignForged:
		v.keys.mu.Lock()
		stranger := v.keys.strangerKey()
		v.keys.mu.Unlock()
		sig = signSHA256(stranger, answerMessage(ts, nonce, body))
	default:
		return nil, fmt.Errorf("wxpaytest: unknown Signature %v", spec.Signature)
	}
	switch spec.Signature {
	case SignTampered:
		out.Body = append(out.Body, ' ')
	case SignUnknownSerial:
		if validPublicKeyID(serial) {
			serial = "PUB_KEY_ID_" + randomDigits(len(serial)-len("PUB_KEY_ID_"))
		} else {
			serial = strings.ToUpper(randomHex(20))
		}
	}
	out.Header.Set("Wechatpay-Timestamp", ts)
	out.Header.Set("Wechatpay-Nonce", nonce)
	out.Header.Set("Wechatpay-Signature", sig)
	out.Header.Set("Wechatpay-Serial", serial)
	out.Header.Set("Wechatpay-Signature-Type", AuthScheme)
	return out, nil
}

// NewRequest returns a POST of the signed body to url with its headers,
// as the platform delivers a notification.
func (sg *Signed) NewRequest(ctx context.Context, url string) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(sg.Body))
	if err != nil {
		return nil, err
	}
	for k, vs := range sg.Header {
		req.Header[k] = append([]string(nil), vs...)
	}
	if req.Header.Get("User-Agent") == "" {
		req.Header.Set("User-Agent", "Mozilla/4.0")
	}
	return req, nil
}

// WithBody returns the same headers with another body: a replay of a
// signature over a body it does not cover.
func (sg *Signed) WithBody(body []byte) *Signed {
	return &Signed{Header: sg.Header.Clone(), Body: bytes.Clone(body)}
}
