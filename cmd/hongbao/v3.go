package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/hongbao-go/hongbao/apiv3"
	"github.com/hongbao-go/hongbao/transport"
)

// The APIv3 transfer rail is configured when any of its variables is set;
// the red-packet rail when HONGBAO_API_KEY is set or no APIv3 variable is.
// Both may be: check covers each one configured.

// v3 reports whether an APIv3 variable is set (HONGBAO_PLATFORM_CERTS
// counts when it is not false).
func (m *merchant) v3() bool {
	_, bad := parseBool(m.platformCertsRaw)
	certs := m.platformCerts || m.platformCertsRaw != "" && bad != nil
	return m.apiv3Key != "" || m.certSerial != "" || m.publicKeyID != "" || m.publicKeyFile != "" || certs
}

// v2 reports whether the red-packet rail is configured.
func (m *merchant) v2() bool { return m.apiKey != "" || !m.v3() }

// keyOnly reports whether APIv3 is configured with the merchant key and
// its serial alone, without the certificate.
func (m *merchant) keyOnly() bool {
	return m.certFile == "" && m.p12File == "" && m.keyFile != "" && m.certSerial != "" && !m.v2()
}

// publicKeyMode reports whether a public-key variable is set.
func (m *merchant) publicKeyMode() bool { return m.publicKeyID != "" || m.publicKeyFile != "" }

// normalSerial writes a certificate serial as the platform does: upper
// case, without spaces or colons.
func normalSerial(s string) string {
	return strings.ToUpper(strings.NewReplacer(" ", "", ":", "").Replace(strings.TrimSpace(s)))
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('0' <= c && c <= '9' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return s != "" && len(s) <= 64
}

// checkAPIv3Key checks HONGBAO_APIV3_KEY. warn is set for a problem that
// does not stop a call: the key is unset in public-key mode, where only
// notifications need it.
func (m *merchant) checkAPIv3Key() (warn string, err error) {
	switch n := len(m.apiv3Key); {
	case n == 0 && m.platformCerts:
		return "", fmt.Errorf("%s is not set: platform-certificate mode (%s) needs it, the certificates are encrypted with it; copy it from the merchant console (API安全 → APIv3密钥)",
			envAPIv3Key, envPlatformCerts)
	case n == 0:
		return fmt.Sprintf("%s is not set: transfer notifications (MCHTRANSFER.BILL.FINISHED) cannot be decrypted without it; set the APIv3 key of the merchant console (API安全 → APIv3密钥)",
			envAPIv3Key), nil
	case n != apiv3.APIv3KeyLength:
		return "", fmt.Errorf("%s is %d bytes; the APIv3 key is exactly %d bytes: copy it again from the merchant console (API安全 → APIv3密钥; not the APIv2 key)",
			envAPIv3Key, n, apiv3.APIv3KeyLength)
	}
	return "", nil
}

// checkTrust checks the trust variables without reading the network: the
// public key's id and file, HONGBAO_PLATFORM_CERTS, and that one mode is
// on. It returns the ok lines.
func (m *merchant) checkTrust() ([]string, problems) {
	var ok []string
	var bad problems
	if m.platformCertsRaw != "" {
		if _, err := parseBool(m.platformCertsRaw); err != nil {
			bad.add("%s=%q is neither true nor false", envPlatformCerts, m.platformCertsRaw)
		}
	}
	switch {
	case m.publicKeyID == "" && m.publicKeyFile != "":
		bad.add("%s is set without %s: set the public key's id too (PUB_KEY_ID_ and digits, shown beside the key in the merchant console, API安全 → 微信支付公钥)",
			envPublicKeyFile, envPublicKeyID)
	case m.publicKeyID != "" && m.publicKeyFile == "":
		bad.add("%s is set without %s: point it at the WeChat Pay public key (pub_key.pem, downloaded beside the id in the merchant console)",
			envPublicKeyID, envPublicKeyFile)
	case m.publicKeyID != "":
		idOK := apiv3.ValidPublicKeyID(m.publicKeyID)
		if !idOK {
			bad.add("%s=%q is not a WeChat Pay public key id: it is PUB_KEY_ID_ followed by digits, as the merchant console shows it (a certificate serial goes with %s=true instead)",
				envPublicKeyID, clipValue(m.publicKeyID), envPlatformCerts)
		}
		bits, err := readPublicKey(m.publicKeyFile)
		if err != nil {
			bad.add("%v", err)
		} else if idOK {
			ok = append(ok, fmt.Sprintf("APIv3 trust: the WeChat Pay public key %s (%s, RSA %d bits)", m.publicKeyID, envPublicKeyFile, bits))
		}
	}
	if m.platformCerts {
		ok = append(ok, fmt.Sprintf("APIv3 trust: platform certificates (%s), downloaded and decrypted by the platform call below", envPlatformCerts))
	}
	if !m.publicKeyMode() && !m.platformCerts {
		bad.add("no APIv3 trust configured: set %s and %s (public-key mode, API安全 → 微信支付公钥 in the merchant console), or %s=true with %s (platform-certificate mode)",
			envPublicKeyID, envPublicKeyFile, envPlatformCerts, envAPIv3Key)
	}
	return ok, bad
}

// parseBool reads a boolean variable as strconv.ParseBool does, plus
// yes/no and on/off.
func parseBool(v string) (bool, error) {
	switch strings.ToLower(v) {
	case "1", "t", "true", "yes", "on":
		return true, nil
	case "0", "f", "false", "no", "off":
		return false, nil
	}
	return false, errors.New("not a boolean")
}

// readPublicKey reads and parses HONGBAO_PUBLIC_KEY_FILE and returns the
// key's size.
func readPublicKey(path string) (int, error) {
	if err := fileExists(envPublicKeyFile, path); err != nil {
		return 0, err
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, fmt.Errorf("%s: %v", envPublicKeyFile, err)
	}
	pub, err := apiv3.ParsePublicKeyPEM(data)
	if err != nil {
		return 0, fmt.Errorf("%s=%q is not the WeChat Pay public key (pub_key.pem, a PUBLIC KEY block): %v", envPublicKeyFile, path, strings.TrimPrefix(err.Error(), "apiv3: "))
	}
	if n := pub.N.BitLen(); n < 2048 {
		return 0, fmt.Errorf("%s=%q holds an RSA key of %d bits; the platform's have 2048", envPublicKeyFile, path, n)
	}
	return pub.N.BitLen(), nil
}

// v3Signer returns the merchant's RSA key and the certificate serial
// APIv3 requests name, checking HONGBAO_CERT_SERIAL against the
// certificate; source names the variables they come from.
func (m *merchant) v3Signer() (key *rsa.PrivateKey, serial, source string, err error) {
	if m.keyOnly() {
		source = envKeyFile + " and " + envCertSerial
		serial = normalSerial(m.certSerial)
		if !isHex(serial) {
			return nil, "", source, fmt.Errorf("%s=%q is not a certificate serial number (hex, as the merchant console shows it under API安全 → API证书)", envCertSerial, clipValue(m.certSerial))
		}
		priv, err := m.loadKey()
		if err != nil {
			return nil, "", source, err
		}
		k, ok := priv.(*rsa.PrivateKey)
		if !ok {
			return nil, "", source, fmt.Errorf("%s holds a %s key; APIv3 signs with the merchant's RSA API key (apiclient_key.pem)", envKeyFile, keyName(priv))
		}
		return k, serial, source, checkBits(k, envKeyFile)
	}
	source = certVars(m)
	leaf, priv, err := m.loadCertificate()
	if err != nil {
		return nil, "", source, err
	}
	k, ok := priv.(*rsa.PrivateKey)
	if !ok {
		return nil, "", source, fmt.Errorf("the merchant key is %s (%s); APIv3 signs with an RSA API key: download the merchant's API certificate again (RSA) from the merchant console",
			keyName(priv), source)
	}
	if err := checkBits(k, source); err != nil {
		return nil, "", source, err
	}
	serial = apiv3.CertificateSerial(leaf)
	if m.certSerial != "" && normalSerial(m.certSerial) != serial {
		return nil, "", source, fmt.Errorf("%s=%s is not the serial of the certificate in %s (%s): requests would name another certificate; correct %s or unset it (the serial is read from the certificate)",
			envCertSerial, clipValue(m.certSerial), source, serial, envCertSerial)
	}
	return k, serial, source, nil
}

func checkBits(k *rsa.PrivateKey, source string) error {
	if n := k.N.BitLen(); n < 2048 {
		return fmt.Errorf("the merchant key (%s) has %d bits; APIv3 needs at least 2048", source, n)
	}
	return nil
}

func keyName(k any) string {
	switch k.(type) {
	case *rsa.PrivateKey:
		return "RSA"
	case *ecdsa.PrivateKey:
		return "ECDSA"
	case ed25519.PrivateKey:
		return "Ed25519"
	}
	return fmt.Sprintf("%T", k)
}

// clipValue shortens a value echoed in a message.
func clipValue(v string) string {
	if len(v) > 40 {
		return v[:40] + "..."
	}
	return v
}

// apiv3Config is the apiv3.Config of m, logging nothing (the command
// reports what matters itself).
func (m *merchant) apiv3Config(now func() time.Time) apiv3.Config {
	cfg := apiv3.Config{
		MchID:                m.mchID,
		APIv3Key:             m.apiv3Key,
		PublicKeyID:          m.publicKeyID,
		PublicKeyFile:        m.publicKeyFile,
		PlatformCertificates: m.platformCerts,
		BaseURL:              m.baseURL,
		RootCAPEM:            m.rootCAPEM,
		Logger:               slog.New(slog.DiscardHandler),
		Now:                  now,
	}
	if m.keyOnly() {
		cfg.KeyFile, cfg.CertSerial = m.keyFile, m.certSerial
	} else {
		cfg.CertFile, cfg.KeyFile, cfg.P12File, cfg.P12Password, cfg.CertSerial = m.certFile, m.keyFile, m.p12File, m.p12Password, m.certSerial
	}
	return cfg
}

// loadV3 reads the variables of the transfer rail and checks them,
// returning every problem found, each naming the variable to fix.
func loadV3(getenv func(string) string) (*merchant, problems) {
	m := readMerchant(getenv)
	var bad problems
	if err := checkMchID(m.mchID); err != nil {
		bad.add("%v", err)
	}
	if !m.v3() {
		bad.add("the APIv3 variables are not set: set %s and %s (or %s=true with %s), beside the merchant certificate",
			envPublicKeyID, envPublicKeyFile, envPlatformCerts, envAPIv3Key)
		return m, bad
	}
	if err := m.checkCertSource(); err != nil {
		bad.add("%v", err)
	} else if _, _, _, err := m.v3Signer(); err != nil {
		bad.add("%v", err)
	}
	if _, err := m.checkAPIv3Key(); err != nil {
		bad.add("%v", err)
	}
	_, tb := m.checkTrust()
	bad = append(bad, tb...)
	for _, err := range []error{checkBaseURL(m.baseURL), m.loadCA()} {
		if err != nil {
			bad.add("%v", err)
		}
	}
	return m, bad
}

// newV3Transport reads and checks the transfer rail's variables and
// builds its Transport; in platform-certificate mode it waits for the
// first download.
func newV3Transport(ctx context.Context, getenv func(string) string, now func() time.Time, timeout time.Duration) (*apiv3.Transport, *merchant, error) {
	m, bad := loadV3(getenv)
	if err := bad.err(); err != nil {
		return nil, m, err
	}
	t, err := apiv3.New(m.apiv3Config(now))
	if err != nil {
		return nil, m, fmt.Errorf("the APIv3 configuration is invalid (check the %s, %s and %s variables): %w", envCertFile, envAPIv3Key, "HONGBAO_PUBLIC_KEY_*", err)
	}
	if m.platformCerts {
		ctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		if err := t.RefreshCertificates(ctx); err != nil {
			t.Close()
			return nil, m, fmt.Errorf("downloading the platform certificates: %s", explainV3(ctx, err, m, nil, timeout))
		}
	}
	return t, m, nil
}

// sighting is what a plain look at the platform saw: the Date of its
// answer, and the key that signed it.
type sighting struct {
	date   time.Time
	serial string
}

// peek makes a signed GET of path on the platform without verifying the
// answer, to learn the platform's clock and the key it signs with when a
// verified call failed. It never acts on the answer.
func peek(ctx context.Context, m *merchant, path string, timeout time.Duration) *sighting {
	key, serial, _, err := m.v3Signer()
	if err != nil {
		return nil
	}
	roots, err := transport.ServerRoots(nil, m.rootCAPEM)
	if err != nil {
		return nil
	}
	pool := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}}
	defer pool.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(m.baseURL, "/")+path, nil)
	if err != nil {
		return nil
	}
	nonce, err := apiv3.NewNonce(nil)
	if err != nil {
		return nil
	}
	s := apiv3.Signer{MchID: m.mchID, Serial: serial, Key: key}
	auth, err := s.Authorization(req.Method, req.URL.RequestURI(), nil, time.Now().Unix(), nonce)
	if err != nil {
		return nil
	}
	req.Header.Set("Authorization", auth)
	req.Header.Set("Accept", "application/json")
	if m.publicKeyID != "" {
		req.Header.Set(apiv3.HeaderSerial, m.publicKeyID)
	}
	resp, err := pool.RoundTrip(req)
	if err != nil {
		return nil
	}
	resp.Body.Close()
	sg := &sighting{serial: resp.Header.Get(apiv3.HeaderSerial)}
	if d, err := http.ParseTime(resp.Header.Get("Date")); err == nil {
		sg.date = d
	}
	return sg
}
