package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/hongbao-go/hongbao"
	"github.com/hongbao-go/hongbao/middleware/wxlogin"
)

// probeTimeout bounds the start-up query to the platform.
const probeTimeout = 15 * time.Second

// provePlatform makes one signed gethbinfo query of a bill number that does
// not exist (the probe of hongbao check): NOT_FOUND proves the API key, the
// certificate, the mch id, the appid and the trust in the platform's
// certificate. Any rejection stops the start-up with the variable to fix,
// rather than at the first user's claim. HONGBAO_SKIP_PLATFORM_CHECK=1
// skips it, for starts without the platform.
func (c *config) provePlatform(ctx context.Context, client *hongbao.Client, logger *slog.Logger, stdout io.Writer) error {
	if c.skipCheck {
		logger.Warn("hongbao example: the platform check is skipped ("+envSkipCheck+"): the credentials are first tried by a user's claim",
			"base_url", c.baseURL)
		return nil
	}
	billno, err := client.Billno("hongbao check", "check")
	if err != nil {
		return fmt.Errorf("hongbao example: deriving the bill number of the platform check: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	start := time.Now()
	_, err = client.QueryHB(ctx, billno)
	if err == nil || errors.Is(err, hongbao.ErrNotFound) {
		fmt.Fprintf(stdout, "hongbao example: the platform accepted the merchant's key, certificate and appid (gethbinfo of a bill number that does not exist: NOT_FOUND, %v)\n",
			time.Since(start).Round(time.Millisecond))
		return nil
	}
	return fmt.Errorf("hongbao example: the platform check failed: %s (%s=1 starts without this check): %w", c.explainProbe(err), envSkipCheck, err)
}

// explainProbe names what to fix after the platform refused the probe.
func (c *config) explainProbe(err error) string {
	certs := envCertFile + " and " + envKeyFile
	if c.p12File != "" {
		certs = envP12File
	}
	var pe *hongbao.Error
	if errors.As(err, &pe) && pe.ErrCode != "" {
		switch pe.ErrCode {
		case "SIGN_ERROR":
			return fmt.Sprintf("the platform refused the signature (SIGN_ERROR): %s is not the merchant's current APIv2 key; copy it again from the merchant console", envAPIKey)
		case "ILLEGAL_APPID":
			return fmt.Sprintf("the platform refused the appid (ILLEGAL_APPID): %s=%s is not bound to merchant %s; bind the mini program to the merchant in the console, or fix %s",
				envAppID, c.appID, c.mchID, envAppID)
		case "CA_ERROR":
			return fmt.Sprintf("the platform refused the certificate (CA_ERROR): use this merchant's current API certificate (%s)", certs)
		case "PARAM_ERROR", "XML_ERROR":
			return fmt.Sprintf("the platform refused the call (%s): check %s and %s", pe.ErrCode, envMchID, envAppID)
		case "NO_AUTH", "PRODUCT_AUTHORITY_UNOPEN", "API_METHOD_CLOSED":
			return fmt.Sprintf("the platform refused the call (%s): enable red packets (现金红包) for merchant %s in the console", pe.ErrCode, c.mchID)
		case "SYSTEMERROR", "FREQ_LIMIT":
			return fmt.Sprintf("the platform is busy (%s): start again in a minute", pe.ErrCode)
		}
		return fmt.Sprintf("the platform answered %s", pe.ErrCode)
	}
	if errors.Is(err, hongbao.ErrTLS) {
		var (
			unknown  x509.UnknownAuthorityError
			invalid  x509.CertificateInvalidError
			hostname x509.HostnameError
			verify   *tls.CertificateVerificationError
		)
		if errors.As(err, &unknown) || errors.As(err, &invalid) || errors.As(err, &hostname) || errors.As(err, &verify) {
			return fmt.Sprintf("the server certificate of %s is not trusted: for the real platform, update this machine's CA certificates; for a test host, set %s to its CA (check %s)",
				c.baseURL, envCAFile, envBaseURL)
		}
		return fmt.Sprintf("%s refused the merchant certificate in the TLS handshake: it is not this platform's; use the merchant's API certificate (%s)", c.baseURL, certs)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Sprintf("no answer from %s within %v: check %s and the network", c.baseURL, probeTimeout, envBaseURL)
	}
	return fmt.Sprintf("cannot reach %s: check %s and that this machine may open HTTPS connections to it", c.baseURL, envBaseURL)
}

// proveLogin asks code2Session about a code that does not exist
// (wxlogin.Handler.Check): the platform answers "invalid code" when the
// appid and the app secret are right. Any other answer stops the start-up
// naming the variable to fix, unless HONGBAO_SKIP_PLATFORM_CHECK=1.
func (c *config) proveLogin(ctx context.Context, login *wxlogin.Handler, stdout io.Writer) error {
	if c.skipCheck {
		return nil
	}
	err := login.Check(ctx)
	if err == nil {
		fmt.Fprintln(stdout, "hongbao example: code2Session accepted the appid and the app secret (the login route)")
		return nil
	}
	fix := fmt.Sprintf("check %s and the network", envLoginBaseURL)
	var pe *wxlogin.PlatformError
	switch {
	case errors.As(err, &pe) && (pe.ErrCode == wxlogin.ErrCodeInvalidSecret || pe.ErrCode == 41004 || pe.ErrCode == 40001):
		fix = fmt.Sprintf("%s is not the app secret of %s=%s; copy it again, or reset it, in the mini program's console (开发管理 → 开发设置)", envAppSecret, envAppID, c.appID)
	case errors.As(err, &pe) && pe.ErrCode == wxlogin.ErrCodeInvalidAppID:
		fix = fmt.Sprintf("%s=%s is not a mini program's appid", envAppID, c.appID)
	case errors.Is(err, wxlogin.ErrUntrusted):
		fix = fmt.Sprintf("the certificate of %s is not trusted: for a test host set %s to its CA", c.loginHost(), envCAFile)
	}
	return fmt.Errorf("hongbao example: the login route's check failed: %s (%s=1 starts without this check): %w", fix, envSkipCheck, err)
}

func (c *config) loginHost() string {
	if c.loginBaseURL != "" {
		return c.loginBaseURL
	}
	return wxlogin.DefaultBaseURL
}
