package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/hongbao-go/hongbao/apiv3"
	"github.com/hongbao-go/hongbao/transfer"
)

// clockWarning is how far this machine's clock may be from the
// platform's before check blames the clock for a refused signature (the
// platform refuses more than 5 minutes).
const clockWarning = 4 * time.Minute

// checkV3Local checks the APIv3 items that need no call: the APIv3 key,
// the merchant key and the serial requests name (with the certificate's,
// when there is one), and the trust material.
func checkV3Local(r *report, m *merchant, certOK bool) {
	if warn, err := m.checkAPIv3Key(); err != nil {
		r.fail("%v", err)
	} else if warn != "" {
		r.warn("%s", warn)
	} else {
		r.ok("%s is %d bytes", envAPIv3Key, apiv3.APIv3KeyLength)
	}
	if m.keyOnly() {
		if err := m.checkCertSource(); err != nil {
			r.fail("%v", err)
		} else if _, serial, source, err := m.v3Signer(); err != nil {
			r.fail("%v", err)
		} else {
			r.ok("APIv3 signs with the RSA key of %s as certificate %s (%s): without the certificate only the platform call can tell that they belong together",
				envKeyFile, serial, source)
		}
	} else if certOK {
		if key, serial, source, err := m.v3Signer(); err != nil {
			r.fail("%v", err)
		} else {
			how := "read from the certificate"
			if m.certSerial != "" {
				how = "the certificate's, = " + envCertSerial
			}
			r.ok("APIv3 signs with the certificate's RSA %d-bit key as serial %s (%s; %s)", key.N.BitLen(), serial, how, source)
		}
	}
	ok, bad := m.checkTrust()
	for _, line := range ok {
		r.ok("%s", line)
	}
	for _, p := range bad {
		r.fail("%s", p)
	}
}

// checkV3Platform makes the real APIv3 calls: the platform certificates
// (downloaded, decrypted with the APIv3 key, verified) in
// platform-certificate mode; a signed answer verified with the public key
// in public-key mode; and a query of a transfer bill that does not exist,
// whose 404 NOT_FOUND proves that the platform accepted the signature.
func checkV3Platform(ctx context.Context, r *report, m *merchant, timeout time.Duration, now func() time.Time) {
	t, err := apiv3.New(m.apiv3Config(now))
	if err != nil {
		r.fail("APIv3: %v", err)
		return
	}
	defer t.Close()
	host := hostOf(m.baseURL)

	if m.platformCerts {
		cctx, cancel := context.WithTimeout(ctx, timeout)
		start := time.Now()
		err := t.RefreshCertificates(cctx)
		cancel()
		took := time.Since(start).Round(time.Millisecond)
		if err != nil {
			r.fail("APIv3 platform certificates: %s", explainV3(ctx, err, m, now, timeout))
			if m.publicKeyID == "" {
				// Requests name a platform certificate in Wechatpay-Serial.
				r.skip("APIv3 platform call: it needs a platform certificate; fix the problem above first")
				return
			}
		} else {
			var list []string
			for _, c := range t.PlatformCertificates() {
				list = append(list, fmt.Sprintf("%s until %s", c.Serial, c.Certificate.NotAfter.UTC().Format(time.DateOnly)))
			}
			r.ok("APIv3 platform certificates: %d downloaded from %s, decrypted with %s and their list's signature verified: %s (%v)",
				len(list), host, envAPIv3Key, strings.Join(list, ", "), took)
		}
	}
	if m.publicKeyID != "" {
		if !checkPublicKey(ctx, r, t, m, timeout, now) {
			return
		}
	}

	// A bill number of letters and digits that no bill has.
	outBillNo := "hongbaocheck" + strings.ToLower(rand.Text()[:20])
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(cctx, http.MethodGet, t.BaseURL()+transfer.PathByOutBillNo+outBillNo, nil)
	if err != nil {
		r.fail("APIv3 platform call: %v", err)
		return
	}
	start := time.Now()
	resp, err := t.Client().Do(req)
	took := time.Since(start).Round(time.Millisecond)
	if err == nil {
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		r.ok("APIv3 platform call: %s accepted the signature (the merchant key, serial %s, mch id) and its answer verified (%v)", host, t.CertSerial(), took)
		return
	}
	if errors.Is(err, apiv3.ErrNotFound) {
		r.ok("APIv3 platform call: %s accepted the signature (the merchant key, serial %s, the mch id): a query of a transfer bill that does not exist answered 404 NOT_FOUND (%v)",
			host, t.CertSerial(), took)
		return
	}
	r.fail("APIv3 platform call: %s", explainV3(ctx, err, m, now, timeout))
}

// checkPublicKey proves the public key: a signed answer of the platform
// (its list of platform certificates) verified with it. It reports
// whether the next call is worth making.
func checkPublicKey(ctx context.Context, r *report, t *apiv3.Transport, m *merchant, timeout time.Duration, now func() time.Time) bool {
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(cctx, http.MethodGet, t.BaseURL()+apiv3.PathCertificates, nil)
	if err != nil {
		r.fail("APIv3 trust: %v", err)
		return false
	}
	req.Header.Set(apiv3.HeaderSerial, m.publicKeyID)
	resp, err := t.Client().Do(req)
	host := hostOf(m.baseURL)
	if err != nil {
		var ae *apiv3.Error
		if errors.As(err, &ae) && ae.Status >= 300 && ae.Code != "SIGN_ERROR" {
			// Some platforms may answer this path otherwise for a merchant
			// without certificates: the key is then proved by the first
			// signed answer of a real call.
			r.warn("APIv3 trust: %s answered %s to %s, so no signed answer proved %s; the services verify every answer with it",
				host, statusText(ae), apiv3.PathCertificates, envPublicKeyFile)
			return true
		}
		if errors.Is(err, apiv3.ErrUnverified) {
			r.fail("APIv3 trust: %s", explainV3(ctx, err, m, now, timeout))
			return true // the query still tells whether the signature is accepted
		}
		r.fail("APIv3 platform call: %s", explainV3(ctx, err, m, now, timeout))
		r.skip("APIv3 query: fix the problem above first")
		return false
	}
	defer resp.Body.Close()
	var list struct {
		Data []json.RawMessage `json:"data"`
	}
	json.NewDecoder(resp.Body).Decode(&list)
	by := resp.Header.Get(apiv3.HeaderSerial)
	if by == m.publicKeyID {
		r.ok("APIv3 trust: a signed answer of %s verified with the public key %s (%s)", host, by, envPublicKeyFile)
	} else {
		r.ok("APIv3 trust: a signed answer of %s verified with platform certificate %s", host, by)
	}
	return true
}

func statusText(ae *apiv3.Error) string {
	s := fmt.Sprintf("HTTP %d", ae.Status)
	if ae.Code != "" {
		s += " " + ae.Code
	}
	if ae.Message != "" {
		s += " (" + ae.Message + ")"
	}
	if ae.RequestID != "" {
		s += " [Request-ID " + ae.RequestID + "]"
	}
	return s
}

// explainV3 names what to fix for an error of an APIv3 call. now is the
// clock the request was signed with (nil: time.Now).
func explainV3(ctx context.Context, err error, m *merchant, now func() time.Time, timeout time.Duration) string {
	if now == nil {
		now = time.Now
	}
	var ae *apiv3.Error
	switch {
	case errors.Is(err, apiv3.ErrDecrypt):
		return fmt.Sprintf("the platform certificates do not decrypt with %s: it is not the merchant's current APIv3 key; copy it again from the merchant console (API安全 → APIv3密钥)", envAPIv3Key)
	case errors.Is(err, apiv3.ErrUnverified):
		return explainUnverified(ctx, err, m, now, timeout)
	case errors.As(err, &ae) && ae.Status == 0:
		return fmt.Sprintf("the request was not sent: %v", ae)
	case errors.As(err, &ae) && ae.Code == "SIGN_ERROR":
		return explainSignError(ctx, ae, m, now, timeout)
	case errors.As(err, &ae) && ae.Code == "NO_AUTH":
		return fmt.Sprintf("the platform refused the call, %s: open merchant transfers (商家转账) for merchant %s in the merchant console (产品中心), or fix %s",
			statusText(ae), m.mchID, envMchID)
	case errors.As(err, &ae) && (ae.Status == http.StatusTooManyRequests || ae.Status >= 500):
		return fmt.Sprintf("the platform answered %s: try again in a minute", statusText(ae))
	case errors.As(err, &ae) && ae.Status == http.StatusNotFound && ae.Code != "NOT_FOUND":
		return fmt.Sprintf("%s answered %s: it does not serve WeChat Pay APIv3; check %s", hostOf(m.baseURL), statusText(ae), envBaseURL)
	case errors.As(err, &ae):
		return fmt.Sprintf("the platform answered %s", statusText(ae))
	}
	if msg := err.Error(); strings.Contains(msg, "platform certificate list") || strings.Contains(msg, "platform certificate ") {
		return fmt.Sprintf("%v: a merchant that uses the WeChat Pay public key has no platform certificates; set %s and %s (API安全 → 微信支付公钥) instead of %s",
			strings.TrimPrefix(msg, "apiv3: "), envPublicKeyID, envPublicKeyFile, envPlatformCerts)
	}
	return explainNetwork(err, m, timeout)
}

// explainSignError names what to fix when the platform refused the
// request's signature: this machine's clock, the merchant key and serial,
// or the mch id.
func explainSignError(ctx context.Context, ae *apiv3.Error, m *merchant, now func() time.Time, timeout time.Duration) string {
	what := "the platform refused the signature, " + statusText(ae)
	if sg := peek(ctx, m, apiv3.PathCertificates, timeout); sg != nil && !sg.date.IsZero() {
		if off := now().Sub(sg.date); off > clockWarning || off < -clockWarning {
			return fmt.Sprintf("%s: this machine's clock is %v off the platform's, which refuses a timestamp more than 5 minutes off: set the clock (NTP)",
				what, off.Round(time.Minute).Abs())
		}
	}
	if m.keyOnly() {
		return fmt.Sprintf("%s: %s and %s=%s are not the key and serial of a current API certificate of merchant %s=%s; check the serial in the merchant console (API安全 → API证书), or set %s to apiclient_cert.pem instead",
			what, envKeyFile, envCertSerial, clipValue(m.certSerial), envMchID, m.mchID, envCertFile)
	}
	return fmt.Sprintf("%s: the platform does not know this certificate as a current API certificate of merchant %s=%s; use the merchant's current apiclient_cert.pem and apiclient_key.pem (%s)",
		what, envMchID, m.mchID, certVars(m))
}

// explainUnverified names what to fix when an answer's signature was not
// verified.
func explainUnverified(ctx context.Context, err error, m *merchant, now func() time.Time, timeout time.Duration) string {
	switch {
	case errors.Is(err, apiv3.ErrStale):
		return fmt.Sprintf("the answer's Wechatpay-Timestamp is more than 5 minutes from this machine's clock (%s): set the clock (NTP)", now().UTC().Format(time.RFC3339))
	case errors.Is(err, apiv3.ErrProbe):
		return "the platform sent a probe signature (WECHATPAY/SIGNTEST/), as it does now and then to check that merchants verify answers: run check again"
	case errors.Is(err, apiv3.ErrHeaders):
		return fmt.Sprintf("the answer of %s carries no WeChat Pay signature headers: check %s", hostOf(m.baseURL), envBaseURL)
	}
	var by string
	if sg := peek(ctx, m, apiv3.PathCertificates, timeout); sg != nil {
		by = sg.serial
	}
	switch {
	case errors.Is(err, apiv3.ErrUnknownSerial) && apiv3.ValidPublicKeyID(by) && m.publicKeyID != "":
		return fmt.Sprintf("the platform signs with the public key %s, not %s=%s: set %s and %s to the key the merchant console shows (API安全 → 微信支付公钥)",
			by, envPublicKeyID, m.publicKeyID, envPublicKeyID, envPublicKeyFile)
	case errors.Is(err, apiv3.ErrUnknownSerial) && apiv3.ValidPublicKeyID(by):
		return fmt.Sprintf("the platform signs with the WeChat Pay public key %s: set %s=%s and %s (pub_key.pem, API安全 → 微信支付公钥 in the merchant console)",
			by, envPublicKeyID, by, envPublicKeyFile)
	case errors.Is(err, apiv3.ErrUnknownSerial) && by != "" && !m.platformCerts:
		return fmt.Sprintf("the platform signs with platform certificate %s, not a public key: set %s=true (with %s), keeping %s and %s while the merchant migrates",
			by, envPlatformCerts, envAPIv3Key, envPublicKeyID, envPublicKeyFile)
	case errors.Is(err, apiv3.ErrUnknownSerial):
		return fmt.Sprintf("the platform signs with a key this configuration does not trust (%s): check %s, %s and %s",
			dash(by), envPublicKeyID, envPublicKeyFile, envPlatformCerts)
	case errors.Is(err, apiv3.ErrSignature) && by != "" && by == m.publicKeyID:
		return fmt.Sprintf("the answer signed by %s does not verify with %s=%s: that file is not the public key of %s (or the answer was altered on its way); download pub_key.pem again from the merchant console (API安全 → 微信支付公钥)",
			by, envPublicKeyFile, m.publicKeyFile, envPublicKeyID)
	}
	return fmt.Sprintf("the answer's signature was not verified (%v): check %s, %s and %s", err, envPublicKeyID, envPublicKeyFile, envPlatformCerts)
}
