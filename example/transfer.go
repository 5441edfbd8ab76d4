package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"time"

	"github.com/hongbao-go/hongbao"
	"github.com/hongbao-go/hongbao/apiv3"
	"github.com/hongbao-go/hongbao/rail"
	"github.com/hongbao-go/hongbao/transfer"
	"github.com/hongbao-go/hongbao/transport"
	"github.com/hongbao-go/hongbao/transport/wxpaytest"
)

// The transfer rail (HONGBAO_RAIL=transfer): each grant becomes an APIv3
// transfer bill shown to the user as a red packet; the page opens it with
// wx.requestMerchantTransfer and the user confirms it. The platform posts
// each bill's final state to HONGBAO_NOTIFY_URL, whose path this server
// serves beside the claim route (Handler.NotificationHandler).

// demoConfirmPath is, in demo mode on the transfer rail, the stand-in for
// wx.requestMerchantTransfer and the user's confirmation: POST the claim's
// answer ({mchId, appId, package}, and openId to check the user) and the
// demo platform confirms the bill, then notifies its SUCCESS.
const demoConfirmPath = "/demo/confirm"

// openTransfer builds the transfer rail: the APIv3 transport (the demo
// platform's credentials, or the merchant's), its client (its calls told to
// obs, when not nil) and the rail, whose bills name notifyURL (empty: the
// demo platform's own notify URL).
func (c *config) openTransfer(fake *wxpaytest.Server, shared hongbao.SharedLimiter, logger *slog.Logger, obs transfer.Observer) (*transfer.Rail, *apiv3.Transport, error) {
	var acfg apiv3.Config
	appID := c.appID
	if fake != nil {
		vc := fake.V3Config()
		acfg = apiv3.Config{
			MchID: vc.MchID, CertPEM: vc.CertPEM, KeyPEM: vc.KeyPEM, APIv3Key: vc.APIv3Key,
			PublicKeyID: vc.PublicKeyID, PublicKeyPEM: vc.PublicKeyPEM, RootCAs: vc.RootCAs, BaseURL: vc.BaseURL,
		}
		appID = fake.AppID
	} else {
		acfg = apiv3.Config{
			MchID:       c.mchID,
			CertFile:    c.certFile,
			KeyFile:     c.keyFile,
			P12File:     c.p12File,
			P12Password: c.p12Password,
			APIv3Key:    c.apiv3Key,
			BaseURL:     c.baseURL,
			RootCAPEM:   c.rootCAPEM,
		}
		if c.publicKeyID != "" {
			acfg.PublicKeyID, acfg.PublicKeyFile = c.publicKeyID, c.publicKeyFile
		} else {
			acfg.PlatformCertificates = true
		}
	}
	acfg.Logger = logger
	tr, err := apiv3.New(acfg)
	if err != nil {
		return nil, nil, c.explainTransferError(err)
	}
	client, err := transfer.New(transfer.Config{
		AppID: appID, Transport: tr, BillnoKey: c.billnoKey,
		Flow:     hongbao.FlowControl{Shared: shared},
		Logger:   logger,
		Observer: obs,
	})
	if err != nil {
		tr.Close()
		return nil, nil, fmt.Errorf("hongbao example: the transfer client: %w", err)
	}
	notifyURL := c.notifyURL
	if fake != nil {
		notifyURL = "" // the demo platform notifies its own URL
	}
	r, err := client.Rail(transfer.RailConfig{NotifyURL: notifyURL})
	if err != nil {
		tr.Close()
		return nil, nil, fmt.Errorf("hongbao example: %s: %w", envNotifyURL, err)
	}
	return r, tr, nil
}

// explainTransferError names the variables behind an error of apiv3.New.
func (c *config) explainTransferError(err error) error {
	if c.demo {
		return fmt.Errorf("hongbao example: the demo transfer client: %w", err)
	}
	if errors.Is(err, transport.ErrKeyMismatch) || errors.Is(err, transport.ErrCertCN) || errors.Is(err, transport.ErrCertExpired) {
		return c.explainClientError(err)
	}
	files := envCertFile + " and " + envKeyFile
	if c.p12File != "" {
		files = envP12File + " and " + envP12Password
	}
	trust := envPublicKeyID + " and " + envPublicKeyFile
	if c.publicKeyID == "" {
		trust = envAPIv3Key + " (the platform certificates are downloaded and decrypted with it)"
	}
	return fmt.Errorf("hongbao example: the transfer rail's configuration is invalid (check the merchant's RSA API key and certificate, %s; %s; %s): %w",
		files, envAPIv3Key, trust, err)
}

// proveTransfer proves the transfer rail's credentials before any user
// taps: in platform-certificate mode, the certificates downloaded and
// decrypted with the APIv3 key; then a signed query of a bill that does
// not exist, which the platform answers 404 NOT_FOUND when it accepts the
// signature, the certificate's serial and the mch id.
func (c *config) proveTransfer(ctx context.Context, r *transfer.Rail, tr *apiv3.Transport, logger *slog.Logger, stdout io.Writer) error {
	if c.skipCheck {
		logger.Warn("hongbao example: the platform check is skipped ("+envSkipCheck+"): the credentials are first tried by a user's claim",
			"base_url", c.baseURL)
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	start := time.Now()
	fail := func(err error) error {
		return fmt.Errorf("hongbao example: the platform check failed: %s (%s=1 starts without this check): %w", c.explainTransferProbe(err), envSkipCheck, err)
	}
	if c.publicKeyID == "" {
		if err := tr.RefreshCertificates(ctx); err != nil {
			return fail(err)
		}
	} else if err := provePublicKey(ctx, tr, c.publicKeyID); err != nil {
		var ae *apiv3.Error
		if !errors.As(err, &ae) || ae.Status < 300 || ae.Code == "SIGN_ERROR" {
			return fail(err)
		}
		// A platform may answer this path otherwise for a merchant without
		// certificates: the key is then proved by the first signed answer.
		logger.Warn("hongbao example: no signed answer proved "+envPublicKeyFile+" at start-up; every answer is verified with it",
			"path", apiv3.PathCertificates, "status", ae.Status, "code", ae.Code)
	}
	billno, err := r.Billno("hongbao check", "oCheck", 0)
	if err != nil {
		return fmt.Errorf("hongbao example: deriving the bill number of the platform check: %w", err)
	}
	bill, err := r.Query(ctx, billno)
	if err == nil && bill.State == rail.NotFound {
		// An error answer is not signed: this proves the signature the
		// platform accepted, the trust was proved above.
		fmt.Fprintf(stdout, "hongbao example: the platform accepted the merchant's signature (a transfer bill that does not exist: 404 NOT_FOUND, %v)\n",
			time.Since(start).Round(time.Millisecond))
		return nil
	}
	if err == nil {
		err = fmt.Errorf("the platform reports the check's bill %s %s", billno, bill.Status)
	}
	return fail(err)
}

// provePublicKey asks the platform for a signed answer (its list of
// platform certificates) that the transport verifies with the public key:
// an error matching apiv3.ErrUnverified when it does not verify.
func provePublicKey(ctx context.Context, tr *apiv3.Transport, publicKeyID string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, tr.BaseURL()+apiv3.PathCertificates, nil)
	if err != nil {
		return err
	}
	req.Header.Set(apiv3.HeaderSerial, publicKeyID)
	resp, err := tr.Client().Do(req)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.Body.Close()
}

// explainTransferProbe names what to fix after the transfer rail's probe
// failed.
func (c *config) explainTransferProbe(err error) string {
	certs := envCertFile + " and " + envKeyFile
	if c.p12File != "" {
		certs = envP12File
	}
	var (
		unknown  x509.UnknownAuthorityError
		invalid  x509.CertificateInvalidError
		hostname x509.HostnameError
		verify   *tls.CertificateVerificationError
		netErr   net.Error
	)
	switch {
	case errors.Is(err, apiv3.ErrSignError):
		return fmt.Sprintf("the platform refused the signature (SIGN_ERROR): %s are not a current API certificate and key of merchant %s=%s, or this machine's clock is more than 5 minutes off",
			certs, envMchID, c.mchID)
	case errors.Is(err, apiv3.ErrNoAuth):
		return fmt.Sprintf("the platform refused the call (NO_AUTH): open merchant transfers (商家转账) for merchant %s in the merchant console (产品中心), or fix %s",
			c.mchID, envMchID)
	case errors.Is(err, apiv3.ErrDecrypt):
		return fmt.Sprintf("the platform certificates do not decrypt with %s: it is not the merchant's current APIv3 key; copy it again from the merchant console (API安全 → APIv3密钥)",
			envAPIv3Key)
	case errors.Is(err, apiv3.ErrUnverified) && c.publicKeyID != "":
		return fmt.Sprintf("the platform's answer did not verify with %s and %s: set them to the key the merchant console shows (API安全 → 微信支付公钥), or unset both to use the platform certificates",
			envPublicKeyID, envPublicKeyFile)
	case errors.Is(err, apiv3.ErrUnverified):
		return fmt.Sprintf("the platform's answer did not verify with its certificates: a merchant on the WeChat Pay public key sets %s and %s",
			envPublicKeyID, envPublicKeyFile)
	case errors.As(err, &unknown) || errors.As(err, &invalid) || errors.As(err, &hostname) || errors.As(err, &verify):
		return fmt.Sprintf("the server certificate of %s is not trusted: for the real platform, update this machine's CA certificates; for a test host, set %s to its CA (check %s)",
			c.baseURL, envCAFile, envBaseURL)
	case errors.Is(err, context.DeadlineExceeded) || errors.As(err, &netErr) && netErr.Timeout():
		return fmt.Sprintf("no answer from %s within %v: check %s and the network", c.baseURL, probeTimeout, envBaseURL)
	}
	var te *transfer.Error
	if errors.As(err, &te) && te.Code != "" {
		return fmt.Sprintf("the platform answered %d %s", te.Status, te.Code)
	}
	return fmt.Sprintf("cannot reach %s: check %s and that this machine may open HTTPS connections to it", c.baseURL, envBaseURL)
}

// demoConfirm answers demoConfirmPath by forwarding the request to the
// demo platform's own stand-in for wx.requestMerchantTransfer
// (wxpaytest.PathRequestMerchantTransfer): it checks the merchant, the
// appid, the package and, when given, the user, and confirms the bill;
// the platform then notifies its SUCCESS to this server.
func demoConfirm(fake *wxpaytest.Server) (http.Handler, error) {
	target, err := url.Parse(fake.URL)
	if err != nil {
		return nil, err
	}
	proxy := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			pr.Out.URL.Path = wxpaytest.PathRequestMerchantTransfer
			pr.Out.URL.RawPath = ""
			pr.Out.Header.Del("Authorization")
		},
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: fake.RootCAs(), MinVersion: tls.VersionTLS12}},
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			http.Error(w, `{"errMsg":"requestMerchantTransfer:fail POST the claim's answer"}`, http.StatusMethodNotAllowed)
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
		proxy.ServeHTTP(w, r)
	}), nil
}

// demoNotifyURL is the demo platform's notify URL: this server's notify
// path on its listener, by loopback when it listens on every address.
func demoNotifyURL(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "http://" + addr + notifyPathDemo
	}
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port) + notifyPathDemo
}
