package apiv3

import (
	"context"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"
)

// PathCertificates is the endpoint listing the platform certificates.
const PathCertificates = "/v3/certificates"

// Defaults of platform-certificate mode.
const (
	// DefaultRefreshInterval is how often the certificates are downloaded
	// again when Config.RefreshInterval is 0.
	DefaultRefreshInterval = 4 * time.Hour
	// minRefreshGap is the least time between two downloads that an
	// unknown Wechatpay-Serial or a missing certificate triggers.
	minRefreshGap = time.Minute
	// downloadTimeout bounds one download.
	downloadTimeout = 30 * time.Second
	// certSkew is how far before its NotBefore a certificate is trusted.
	certSkew = 5 * time.Minute
)

// PlatformCertificate is a platform certificate the Transport trusts.
type PlatformCertificate struct {
	Serial      string // upper-case hex, as Wechatpay-Serial names it
	Certificate *x509.Certificate
}

// certStore holds the platform certificates: those downloaded, each kept
// until it expires.
type certStore struct {
	t *Transport

	mu     sync.Mutex
	certs  map[string]PlatformCertificate // by upper-case serial
	tried  time.Time                      // the start of the last download
	last   error                          // its outcome
	flight *flight                        // the download under way, if any
}

type flight struct {
	done chan struct{}
	err  error
}

// key returns the public key of the certificate serial, valid at now;
// known reports whether the certificate is held at all (valid or not).
func (s *certStore) key(serial string, now time.Time) (pub *rsa.PublicKey, known bool, err error) {
	s.mu.Lock()
	c, ok := s.certs[strings.ToUpper(serial)]
	s.mu.Unlock()
	switch {
	case !ok:
		hint := "not among the platform certificates downloaded"
		if s.t.pubID != "" {
			hint = "neither PublicKeyID " + s.t.pubID + " nor among the platform certificates downloaded"
		}
		return nil, false, fmt.Errorf("%w: %s is %s", ErrUnknownSerial, clip(serial), hint)
	case now.After(c.Certificate.NotAfter):
		return nil, true, fmt.Errorf("%w: the platform certificate %s expired at %s", ErrUnknownSerial, c.Serial, c.Certificate.NotAfter.UTC().Format(time.RFC3339))
	case now.Add(certSkew).Before(c.Certificate.NotBefore):
		return nil, true, fmt.Errorf("%w: the platform certificate %s is not valid before %s", ErrUnknownSerial, c.Serial, c.Certificate.NotBefore.UTC().Format(time.RFC3339))
	}
	return c.Certificate.PublicKey.(*rsa.PublicKey), true, nil
}

// newest returns the serial of the valid certificate that became valid
// last, "" when none is valid.
func (s *certStore) newest(now time.Time) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var best *x509.Certificate
	serial := ""
	for sn, c := range s.certs {
		x := c.Certificate
		if now.After(x.NotAfter) || now.Add(certSkew).Before(x.NotBefore) {
			continue
		}
		if best == nil || x.NotBefore.After(best.NotBefore) || x.NotBefore.Equal(best.NotBefore) && sn > serial {
			best, serial = x, sn
		}
	}
	return serial
}

// all returns the certificates held, the newest first.
func (s *certStore) all() []PlatformCertificate {
	s.mu.Lock()
	out := make([]PlatformCertificate, 0, len(s.certs))
	for _, c := range s.certs {
		out = append(out, c)
	}
	s.mu.Unlock()
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i].Certificate, out[j].Certificate
		if !a.NotBefore.Equal(b.NotBefore) {
			return a.NotBefore.After(b.NotBefore)
		}
		return out[i].Serial < out[j].Serial
	})
	return out
}

// snapshot returns a copy of the certificates held.
func (s *certStore) snapshot() map[string]PlatformCertificate {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := make(map[string]PlatformCertificate, len(s.certs))
	for k, v := range s.certs {
		m[k] = v
	}
	return m
}

// merge adds the certificates downloaded to those held and drops the
// expired ones: a certificate missing from a download stays until it
// expires, since the platform may still sign with it.
func (s *certStore) merge(got map[string]PlatformCertificate, now time.Time) (added []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.certs == nil {
		s.certs = make(map[string]PlatformCertificate, len(got))
	}
	for sn, c := range s.certs {
		if now.After(c.Certificate.NotAfter) {
			delete(s.certs, sn)
		}
	}
	for sn, c := range got {
		if _, ok := s.certs[sn]; !ok && !now.After(c.Certificate.NotAfter) {
			s.certs[sn] = c
			added = append(added, sn)
		}
	}
	sort.Strings(added)
	return added
}

// refresh downloads the certificates, or joins the download under way.
// Unless force, it does nothing when a download started less than a minute
// ago, and returns that download's outcome. The download runs on the
// Transport's own context (bounded, ended by Close): a caller whose ctx
// ends stops waiting, not the download.
func (s *certStore) refresh(ctx context.Context, force bool) error {
	s.mu.Lock()
	f := s.flight
	if f == nil {
		if !force && !s.tried.IsZero() && s.t.now().Sub(s.tried) < minRefreshGap {
			err := s.last
			s.mu.Unlock()
			return err
		}
		f = s.startLocked()
	}
	s.mu.Unlock()
	return f.wait(ctx)
}

// start begins a download unless one is under way, and returns it.
func (s *certStore) start() *flight {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.flight != nil {
		return s.flight
	}
	return s.startLocked()
}

// startLocked begins a download; s.mu is held.
func (s *certStore) startLocked() *flight {
	f := &flight{done: make(chan struct{})}
	s.flight = f
	s.tried = s.t.now()
	go func() {
		dctx, cancel := context.WithTimeout(s.t.bg, downloadTimeout)
		err := s.t.downloadCertificates(dctx)
		cancel()
		s.mu.Lock()
		f.err, s.last, s.flight = err, err, nil
		s.mu.Unlock()
		close(f.done)
	}()
	return f
}

// wait returns the download's outcome, or ctx's error when it ends first.
func (f *flight) wait(ctx context.Context) error {
	select {
	case <-f.done:
		return f.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// certificatesAnswer is the answer of GET /v3/certificates.
type certificatesAnswer struct {
	Data []struct {
		SerialNo           string `json:"serial_no"`
		EffectiveTime      string `json:"effective_time"`
		ExpireTime         string `json:"expire_time"`
		EncryptCertificate struct {
			Algorithm      string `json:"algorithm"`
			Nonce          string `json:"nonce"`
			AssociatedData string `json:"associated_data"`
			Ciphertext     string `json:"ciphertext"`
		} `json:"encrypt_certificate"`
	} `json:"data"`
}

// downloadCertificates fetches, decrypts and checks the platform
// certificates and adds them to those held. The answer is verified like
// every answer, with a key among the certificates held, the ones just
// decrypted (their AES-GCM tag under the APIv3 key vouches for them) and
// the public key.
func (t *Transport) downloadCertificates(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, t.baseURL+PathCertificates, nil)
	if err != nil {
		return fmt.Errorf("apiv3: %w", err)
	}
	serial := t.pubID
	if serial == "" {
		serial = t.certs.newest(t.now())
	}
	if err := t.authorize(req, nil, serial); err != nil {
		return err
	}
	resp, err := t.Base.RoundTrip(req)
	if err != nil {
		if resp != nil && resp.Body != nil {
			resp.Body.Close()
		}
		return fmt.Errorf("apiv3: downloading the platform certificates: %w", err)
	}
	data, rerr := readAnswer(resp, t.maxReply)
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		e := t.errorAnswer(req, resp, data, rerr)
		if e.Code == "SIGN_ERROR" || resp.StatusCode == http.StatusUnauthorized {
			return fmt.Errorf("apiv3: downloading the platform certificates: %w (check MchID, the merchant key and CertSerial)", e)
		}
		return fmt.Errorf("apiv3: downloading the platform certificates: %w", e)
	}
	if rerr != nil {
		return fmt.Errorf("apiv3: downloading the platform certificates: %w", rerr)
	}
	got, err := t.decodeCertificates(data)
	if err != nil {
		return err
	}
	held := t.certs.snapshot()
	_, err = t.verifyWith(resp.Header, data, func(serial string) (*rsa.PublicKey, error) {
		if t.pubID != "" && serial == t.pubID {
			return t.pub, nil
		}
		c, ok := got[strings.ToUpper(serial)]
		if !ok {
			c, ok = held[strings.ToUpper(serial)]
		}
		if !ok {
			return nil, fmt.Errorf("%w: %s signs the certificate list but is none of its certificates", ErrUnknownSerial, clip(serial))
		}
		return c.Certificate.PublicKey.(*rsa.PublicKey), nil
	})
	if err != nil {
		return fmt.Errorf("apiv3: the platform certificate list: %w", err)
	}
	now := t.now()
	if added := t.certs.merge(got, now); len(added) > 0 {
		t.log.LogAttrs(ctx, slog.LevelInfo, "apiv3: new platform certificates",
			slog.String("mch_id", t.mchID), slog.Any("serials", added))
	}
	return nil
}

// decodeCertificates decrypts and checks the certificates of a list.
func (t *Transport) decodeCertificates(data []byte) (map[string]PlatformCertificate, error) {
	var ans certificatesAnswer
	if err := json.Unmarshal(data, &ans); err != nil {
		return nil, fmt.Errorf("apiv3: the platform certificate list is not JSON: %w", err)
	}
	if len(ans.Data) == 0 {
		return nil, errors.New("apiv3: the platform certificate list is empty")
	}
	now := t.now()
	got := make(map[string]PlatformCertificate, len(ans.Data))
	for _, d := range ans.Data {
		sn := strings.ToUpper(d.SerialNo)
		enc := d.EncryptCertificate
		if enc.Algorithm != AlgorithmAESGCM {
			return nil, fmt.Errorf("apiv3: platform certificate %s: algorithm %q is not %s", clip(sn), clip(enc.Algorithm), AlgorithmAESGCM)
		}
		plain, err := open(t.aead, enc.Nonce, enc.AssociatedData, enc.Ciphertext)
		if err != nil {
			return nil, fmt.Errorf("apiv3: platform certificate %s: %w: check APIv3Key (the APIv3 key set in the merchant console)", clip(sn), err)
		}
		b, _ := pem.Decode(plain)
		if b == nil || b.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("apiv3: platform certificate %s: the decrypted text is not a PEM certificate", clip(sn))
		}
		cert, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("apiv3: platform certificate %s: %w", clip(sn), err)
		}
		if got := CertificateSerial(cert); got != sn {
			return nil, fmt.Errorf("apiv3: platform certificate listed as %s has serial %s", clip(sn), got)
		}
		if _, ok := cert.PublicKey.(*rsa.PublicKey); !ok {
			return nil, fmt.Errorf("apiv3: platform certificate %s: the key is %T, not RSA", sn, cert.PublicKey)
		}
		if now.After(cert.NotAfter) {
			continue // expired: useless
		}
		got[sn] = PlatformCertificate{Serial: sn, Certificate: cert}
	}
	if len(got) == 0 {
		return nil, errors.New("apiv3: every platform certificate listed has expired")
	}
	return got, nil
}

// PlatformCertificates returns the platform certificates the Transport
// holds (platform-certificate mode; nil otherwise), the newest first.
// Expired ones are dropped at the next download.
func (t *Transport) PlatformCertificates() []PlatformCertificate {
	if t.certs == nil {
		return nil
	}
	return t.certs.all()
}

// RefreshCertificates downloads the platform certificates now and waits
// for the outcome (platform-certificate mode; nil otherwise). Call it at
// start-up to learn at once whether MchID, the merchant key, CertSerial and
// APIv3Key are accepted; the Transport also downloads on its own, every
// RefreshInterval.
func (t *Transport) RefreshCertificates(ctx context.Context) error {
	if t.certs == nil {
		return nil
	}
	return t.certs.refresh(ctx, true)
}

// refreshLoop waits for the first download, f, and downloads again every
// interval, sooner after a failure, until Close.
func (t *Transport) refreshLoop(interval time.Duration, f *flight) {
	defer close(t.done)
	err := f.wait(t.bg)
	failures := 0
	for {
		wait := interval
		switch {
		case t.bg.Err() != nil:
			return
		case err != nil:
			failures++
			wait = min(minRefreshGap<<min(failures-1, 8), interval)
			t.log.LogAttrs(t.bg, slog.LevelWarn, "apiv3: downloading the platform certificates failed",
				slog.String("mch_id", t.mchID), slog.Int("failures", failures),
				slog.Duration("retry_in", wait), slog.String("error", err.Error()))
		default:
			failures = 0
		}
		timer := time.NewTimer(wait)
		select {
		case <-t.bg.Done():
			timer.Stop()
			return
		case <-timer.C:
		}
		err = t.certs.refresh(t.bg, true)
	}
}
