package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hongbao-go/hongbao/transport/wxpaytest"
)

// TestPlatformCheck: the example proves its credentials with one query at
// start-up and refuses to start, naming the variable, on each rejection;
// HONGBAO_SKIP_PLATFORM_CHECK=1 starts all the same.
func TestPlatformCheck(t *testing.T) {
	m := newMerchant(t)
	other := wxpaytest.Start(t, wxpaytest.Options{MchID: m.host.MchID}) // another CA, same mch id
	otherCert := filepath.Join(m.dir, "other_ca_cert.pem")
	otherKey := filepath.Join(m.dir, "other_ca_key.pem")
	if err := os.WriteFile(otherCert, other.ClientCertPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(otherKey, other.ClientKeyPEM(), 0o600); err != nil {
		t.Fatal(err)
	}

	_, out := start(t, m.env())
	if !strings.Contains(out.String(), "the platform accepted the merchant's key, certificate and appid") {
		t.Errorf("the check is not reported:\n%s", out)
	}

	cases := []struct {
		name string
		edit func(map[string]string)
		want []string
	}{
		{"wrong key", func(e map[string]string) { e[envAPIKey] = "0123456789abcdef0123456789abcdef" },
			[]string{envAPIKey, "SIGN_ERROR"}},
		{"appid not bound", func(e map[string]string) { e[envAppID] = "wx0000000000000001" },
			[]string{envAppID, "wx0000000000000001", "ILLEGAL_APPID", "not bound"}},
		{"no CA file", func(e map[string]string) { delete(e, envCAFile) },
			[]string{envCAFile, "not trusted"}},
		{"another CA's certificate", func(e map[string]string) { e[envCertFile], e[envKeyFile] = otherCert, otherKey },
			[]string{envCertFile, envKeyFile, "TLS handshake"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			env := m.env()
			c.edit(env)
			err := startErr(t, env)
			for _, w := range append(c.want, envSkipCheck) {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("%v\ndoes not name %q", err, w)
				}
			}
			if strings.Contains(err.Error(), m.host.APIKey) || strings.Contains(err.Error(), "0123456789abcdef0123456789abcdef") {
				t.Errorf("the error shows a key: %v", err)
			}
			env[envSkipCheck] = "1"
			_, out := start(t, env)
			if !strings.Contains(out.String(), "the platform check is skipped") {
				t.Errorf("the skipped check is not said:\n%s", out)
			}
		})
	}
	env := m.env()
	env[envSkipCheck] = "maybe"
	if err := startErr(t, env); !strings.Contains(err.Error(), envSkipCheck) {
		t.Errorf("%s=maybe: %v", envSkipCheck, err)
	}
}
