package main

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"strings"
	"time"

	pkcs12 "software.sslmate.com/src/go-pkcs12"

	"github.com/hongbao-go/hongbao"
	"github.com/hongbao-go/hongbao/transport"
)

// expiryWarning is how close to its expiry the certificate makes check warn.
const expiryWarning = 30 * 24 * time.Hour

// report writes the lines of check: one per item, with its verdict.
type report struct {
	w                  io.Writer
	problems, warnings int
}

func (r *report) line(verdict, format string, a ...any) {
	fmt.Fprintf(r.w, "%-5s %s\n", verdict, fmt.Sprintf(format, a...))
}

func (r *report) ok(format string, a ...any) { r.line("ok", format, a...) }

func (r *report) warn(format string, a ...any) {
	r.warnings++
	r.line("warn", format, a...)
}

func (r *report) fail(format string, a ...any) {
	r.problems++
	r.line("FAIL", format, a...)
}

func (r *report) skip(format string, a ...any) { r.line("skip", format, a...) }

// okOrFail reports err as a problem, or the ok line.
func (r *report) okOrFail(err error, format string, a ...any) bool {
	if err != nil {
		r.fail("%v", err)
		return false
	}
	r.ok(format, a...)
	return true
}

func runCheck(ctx context.Context, e *env, args []string) int {
	fs := e.newFlags("check")
	timeout := fs.Duration("timeout", 15*time.Second, "give the platform call `DURATION` at most")
	operands, code, done := parse(fs, args)
	if done {
		return code
	}
	if len(operands) > 0 {
		return e.usageError(fs, "no arguments expected, got %q", operands)
	}
	if *timeout <= 0 {
		return e.usageError(fs, "-timeout must be positive")
	}
	r := &report{w: e.stdout}
	m := readMerchant(e.getenv)
	now := e.clock()

	r.okOrFail(checkMchID(m.mchID), "%s %s", envMchID, m.mchID)
	r.okOrFail(checkAppID(m.appID), "%s %s", envAppID, m.appID)
	if m.v2() {
		r.okOrFail(checkAPIKey(m.apiKey), "%s is %d bytes", envAPIKey, apiKeyLength)
	} else {
		r.skip("%s is not set: the red-packet rail (APIv2) is not checked, the transfer rail (APIv3) is", envAPIKey)
	}
	certOK := m.keyOnly()
	if !m.keyOnly() {
		certOK = checkCertificate(r, m, now())
	}
	if m.v3() {
		checkV3Local(r, m, certOK)
	}
	r.okOrFail(checkBaseURL(m.baseURL), "%s %s", envBaseURL, m.baseURL)
	if m.caFile != "" {
		r.okOrFail(m.loadCA(), "%s %s: trusted for the platform's server certificate", envCAFile, m.caFile)
	}
	checkBillnoKey(r, e.getenv)
	checkRedis(ctx, r, e.getenv)

	if r.problems > 0 || !certOK {
		r.skip("platform call: fix the problems above first")
	} else {
		if m.v2() {
			checkPlatform(ctx, r, m, *timeout)
		}
		if m.v3() {
			checkV3Platform(ctx, r, m, *timeout, now)
		}
	}

	switch {
	case r.problems > 0:
		fmt.Fprintf(e.stdout, "check: %d %s; fix %s and run check again\n",
			r.problems, plural(r.problems, "problem", "problems"), plural(r.problems, "it", "them"))
		return exitProblems
	case r.warnings > 0:
		fmt.Fprintf(e.stdout, "check: passed with %d %s\n", r.warnings, plural(r.warnings, "warning", "warnings"))
	default:
		fmt.Fprintln(e.stdout, "check: passed")
	}
	return exitOK
}

// checkCertificate loads the merchant certificate and checks that its key
// matches, that its CN is the mch id and that it is valid, warning when it
// expires within 30 days. It reports whether the certificate can be used.
func checkCertificate(r *report, m *merchant, now time.Time) bool {
	if err := m.checkCertSource(); err != nil {
		r.fail("%v", err)
		return false
	}
	source := envCertFile + " and " + envKeyFile
	if m.p12File != "" {
		source = envP12File
	}
	leaf, key, err := m.loadCertificate()
	if err != nil {
		r.fail("%v", err)
		return false
	}
	ok := true
	if err := keyMatches(leaf, key); err != nil {
		r.fail("the private key does not belong to the certificate (%s): take both from the same download (apiclient_cert.pem and apiclient_key.pem, or apiclient_cert.p12)", source)
		ok = false
	} else {
		r.ok("certificate and private key belong together (%s)", keyKind(leaf))
	}
	switch cn := leaf.Subject.CommonName; {
	case m.mchID == "":
	case cn != m.mchID:
		r.fail("the certificate's CN is %q, not %s=%s: it is another merchant's certificate; use this merchant's API certificate (%s), or fix %s",
			cn, envMchID, m.mchID, source, envMchID)
		ok = false
	default:
		r.ok("certificate CN %s = %s", cn, envMchID)
	}
	until := leaf.NotAfter.Sub(now)
	notAfter := leaf.NotAfter.UTC().Format(time.DateOnly)
	switch {
	case until <= 0:
		r.fail("the certificate expired on %s (serial %s): download a new API certificate from the merchant console and point %s at it",
			notAfter, leaf.SerialNumber, source)
		ok = false
	case now.Before(leaf.NotBefore.Add(-5 * time.Minute)):
		r.fail("the certificate is not valid before %s: check this machine's clock, or use the current certificate (%s)",
			leaf.NotBefore.UTC().Format(time.RFC3339), source)
		ok = false
	case until < expiryWarning:
		r.warn("the certificate expires in %d days, on %s (serial %s): download a new API certificate from the merchant console before then",
			int(until/(24*time.Hour)), notAfter, leaf.SerialNumber)
	default:
		r.ok("certificate valid until %s (%d days)", notAfter, int(until/(24*time.Hour)))
	}
	return ok
}

// loadCertificate reads the certificate and its key from the PEM files or
// the PKCS#12 file.
func (m *merchant) loadCertificate() (*x509.Certificate, crypto.PrivateKey, error) {
	if m.p12File != "" {
		data, err := os.ReadFile(m.p12File)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %v", envP12File, err)
		}
		password := m.p12Password
		if password == "" {
			password = m.mchID
		}
		key, leaf, _, err := pkcs12.DecodeChain(data, password)
		if errors.Is(err, pkcs12.ErrIncorrectPassword) {
			return nil, nil, fmt.Errorf("%s: wrong password: set %s (its default is the mch id)", envP12File, envP12Password)
		}
		if err != nil {
			return nil, nil, fmt.Errorf("%s=%q is not a PKCS#12 file (apiclient_cert.p12): %v", envP12File, m.p12File, err)
		}
		return leaf, key, nil
	}
	certPEM, err := os.ReadFile(m.certFile)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %v", envCertFile, err)
	}
	var leaf *x509.Certificate
	if b := firstBlock(certPEM, func(t string) bool { return t == "CERTIFICATE" }); b != nil {
		if leaf, err = x509.ParseCertificate(b.Bytes); err != nil {
			return nil, nil, fmt.Errorf("%s=%q: the certificate does not parse: %v", envCertFile, m.certFile, err)
		}
	} else {
		return nil, nil, fmt.Errorf("%s=%q holds no PEM certificate: it should be apiclient_cert.pem", envCertFile, m.certFile)
	}
	key, err := m.loadKey()
	if err != nil {
		return nil, nil, err
	}
	return leaf, key, nil
}

// loadKey reads the private key of HONGBAO_KEY_FILE.
func (m *merchant) loadKey() (crypto.PrivateKey, error) {
	keyPEM, err := os.ReadFile(m.keyFile)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", envKeyFile, err)
	}
	b := firstBlock(keyPEM, func(t string) bool { return strings.HasSuffix(t, "PRIVATE KEY") })
	switch {
	case b == nil:
		return nil, fmt.Errorf("%s=%q holds no PEM private key: it should be apiclient_key.pem", envKeyFile, m.keyFile)
	case b.Type == "ENCRYPTED PRIVATE KEY" || b.Headers["Proc-Type"] != "":
		return nil, fmt.Errorf("%s=%q is encrypted: decrypt it (openssl pkey -in FILE -out FILE)", envKeyFile, m.keyFile)
	}
	key, err := parseKey(b.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%s=%q: %v", envKeyFile, m.keyFile, err)
	}
	return key, nil
}

// firstBlock returns the first PEM block of data whose type matches.
func firstBlock(data []byte, match func(string) bool) *pem.Block {
	for {
		var b *pem.Block
		if b, data = pem.Decode(data); b == nil {
			return nil
		}
		if match(b.Type) {
			return b
		}
	}
}

func parseKey(der []byte) (crypto.PrivateKey, error) {
	if k, err := x509.ParsePKCS8PrivateKey(der); err == nil {
		return k, nil
	}
	if k, err := x509.ParsePKCS1PrivateKey(der); err == nil {
		return k, nil
	}
	if k, err := x509.ParseECPrivateKey(der); err == nil {
		return k, nil
	}
	return nil, errors.New("the private key is neither PKCS#8, PKCS#1 nor SEC 1")
}

// keyMatches reports whether key is the private half of the leaf's public
// key.
func keyMatches(leaf *x509.Certificate, key crypto.PrivateKey) error {
	s, ok := key.(crypto.Signer)
	if !ok {
		return fmt.Errorf("unsupported private key type %T", key)
	}
	pub, ok := s.Public().(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(leaf.PublicKey) {
		return errors.New("the private key does not match the certificate")
	}
	return nil
}

func keyKind(leaf *x509.Certificate) string {
	switch k := leaf.PublicKey.(type) {
	case *rsa.PublicKey:
		return fmt.Sprintf("RSA %d bits", k.N.BitLen())
	case *ecdsa.PublicKey:
		return "ECDSA " + k.Curve.Params().Name
	case ed25519.PublicKey:
		return "Ed25519"
	}
	return leaf.PublicKeyAlgorithm.String()
}

// checkBillnoKey checks HONGBAO_BILLNO_KEY when it is set; services
// deriving bill numbers need it, the platform does not.
func checkBillnoKey(r *report, getenv func(string) string) {
	v := getenv(envBillnoKey)
	switch {
	case v == "":
		r.warn("%s is not set: the services need it (at least %d random bytes, the same on every replica, kept for the life of the campaigns); billno and reconcile need the same",
			envBillnoKey, hongbao.MinBillnoKeyLength)
	case len(v) < hongbao.MinBillnoKeyLength:
		r.fail("%s is %d bytes; use a random value of at least %d bytes, and keep it for the life of the campaign",
			envBillnoKey, len(v), hongbao.MinBillnoKeyLength)
	default:
		r.ok("%s is %d bytes", envBillnoKey, len(v))
	}
}

// checkRedis pings HONGBAO_REDIS_URL when it is set.
func checkRedis(ctx context.Context, r *report, getenv func(string) string) {
	u := getter(getenv).get(envRedisURL)
	if u == "" {
		return
	}
	store, err := openStore(ctx, u, "")
	if err != nil {
		r.fail("%v", err)
		return
	}
	defer store.Close()
	r.ok("Redis at %s answers", redisAddr(u))
}

// redisAddr is the host and database of a Redis URL, without credentials.
func redisAddr(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(the URL)"
	}
	return u.Host + u.Path
}

// checkPlatform makes the real mutual-TLS call: gethbinfo of a bill number
// that does not exist. NOT_FOUND proves that the platform accepted the
// certificate, the signature (the API key), the mch id and the appid.
func checkPlatform(ctx context.Context, r *report, m *merchant, timeout time.Duration) {
	cfg := m.clientConfig(nil, hongbao.RetryPolicy{Attempts: 1, AttemptTimeout: timeout})
	client, err := hongbao.New(cfg)
	if err != nil {
		r.fail("%v", m.explainClientError(err))
		return
	}
	defer client.Transport().CloseIdleConnections()
	billno, err := client.Billno("hongbao check", "check")
	if err != nil {
		r.fail("deriving a bill number to ask about: %v", err)
		return
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	start := time.Now()
	_, err = client.QueryHB(ctx, billno)
	took := time.Since(start).Round(time.Millisecond)
	host := hostOf(m.baseURL)
	var pe *hongbao.Error
	switch {
	case err == nil:
		// A packet under a random number: the call was accepted all the same.
		r.ok("platform call: gethbinfo over mutual TLS was accepted by %s (%v)", host, took)
	case errors.Is(err, hongbao.ErrNotFound):
		r.ok("platform call: %s accepted the certificate, the signature (API key), the mch id and the appid: gethbinfo of a bill number that does not exist answered NOT_FOUND (%v)",
			host, took)
	case errors.As(err, &pe) && pe.ErrCode != "":
		r.fail("platform call: %s", explainCode(pe, m))
	default:
		r.fail("platform call: %s", explainNetwork(err, m, timeout))
	}
}

// explainCode names what to fix for the err_code of the check's call.
func explainCode(pe *hongbao.Error, m *merchant) string {
	what := pe.ErrCode
	if pe.Message != "" {
		what += " (" + pe.Message + ")"
	}
	switch pe.ErrCode {
	case "CA_ERROR":
		return fmt.Sprintf("the platform refused the certificate, %s: use this merchant's current API certificate (%s)", what, certVars(m))
	case "SIGN_ERROR":
		return fmt.Sprintf("the platform refused the signature, %s: %s is not the merchant's current APIv2 key; copy it again from the merchant console", what, envAPIKey)
	case "ILLEGAL_APPID":
		return fmt.Sprintf("the platform refused the appid, %s: %s=%s is not bound to merchant %s; bind the mini program to the merchant in the console, or fix %s",
			what, envAppID, m.appID, m.mchID, envAppID)
	case "PARAM_ERROR", "XML_ERROR":
		return fmt.Sprintf("the platform refused the call, %s: check %s and %s", what, envMchID, envAppID)
	case "NO_AUTH", "PRODUCT_AUTHORITY_UNOPEN", "API_METHOD_CLOSED":
		return fmt.Sprintf("the platform refused the call, %s: merchant %s cannot use the red packets (现金红包 in the merchant console's 产品中心); "+
			"a merchant opening them from 2026-06-18 on never can: pay on the transfer rail (商家转账, the APIv3 variables) instead, "+
			"or enable 现金红包 where the console still offers it", what, m.mchID)
	case "SYSTEMERROR", "FREQ_LIMIT":
		return fmt.Sprintf("the platform answered %s: try again in a minute", what)
	}
	return fmt.Sprintf("the platform answered %s", what)
}

// explainNetwork names what to fix for a call that got no platform answer.
func explainNetwork(err error, m *merchant, timeout time.Duration) string {
	host := hostOf(m.baseURL)
	var (
		unknownCA x509.UnknownAuthorityError
		invalid   x509.CertificateInvalidError
		hostErr   x509.HostnameError
		opErr     *net.OpError
		dnsErr    *net.DNSError
		te        *transport.Error
	)
	switch {
	case errors.As(err, &unknownCA):
		return fmt.Sprintf("the server certificate of %s is not trusted (%v): for the real platform, update this machine's CA certificates; for a test host, set %s to its CA",
			host, unknownCA, envCAFile)
	case errors.As(err, &invalid):
		return fmt.Sprintf("the server certificate of %s is not valid (%v): check %s and this machine's clock", host, invalid, envBaseURL)
	case errors.As(err, &hostErr):
		return fmt.Sprintf("the server certificate is not for %s (%v): check %s", host, hostErr, envBaseURL)
	case errors.As(err, &dnsErr):
		return fmt.Sprintf("cannot resolve %s (%v): check %s and this machine's DNS", host, dnsErr.Err, envBaseURL)
	case errors.As(err, &opErr) && opErr.Op == "remote error":
		return fmt.Sprintf("%s refused the client certificate in the TLS handshake (%v): use this merchant's current API certificate (%s)",
			host, opErr.Err, certVars(m))
	case errors.As(err, &opErr) && opErr.Op == "dial":
		return fmt.Sprintf("cannot reach %s (%v): check %s and that this machine may open HTTPS connections to it (firewall, proxy)",
			host, opErr.Err, envBaseURL)
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Sprintf("no answer from %s within %v: check %s and the network, or raise -timeout", host, timeout, envBaseURL)
	case errors.As(err, &te):
		return fmt.Sprintf("%s did not answer as the WeChat Pay API does (%v): check %s", host, te, envBaseURL)
	}
	return fmt.Sprintf("the call to %s failed: %v", host, err)
}

func certVars(m *merchant) string {
	if m.p12File != "" {
		return envP12File
	}
	return envCertFile + " and " + envKeyFile
}

func hostOf(baseURL string) string {
	u, err := url.Parse(baseURL)
	if err != nil || u.Host == "" {
		return baseURL
	}
	return u.Host
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
