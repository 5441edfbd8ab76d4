package hongbao_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/hongbao-go/hongbao"
	"github.com/hongbao-go/hongbao/transport/wxpaytest"
)

// TestTLSRefusals: a platform certificate this client does not trust, and
// a merchant certificate of another CA that the platform refuses, are
// configuration errors (ErrTLS): not an unknown outcome, not retried, and
// nothing reached the platform.
func TestTLSRefusals(t *testing.T) {
	host := wxpaytest.Start(t, wxpaytest.Options{})
	other := wxpaytest.Start(t, wxpaytest.Options{MchID: host.MchID}) // another CA
	cases := map[string]func(*hongbao.Config){
		"untrusted platform": func(c *hongbao.Config) { c.Transport.RootCAs = other.RootCAs() },
		"merchant certificate of another CA": func(c *hongbao.Config) {
			cert := other.ClientCertificate()
			c.Transport.Certificate = &cert
		},
	}
	for name, edit := range cases {
		t.Run(name, func(t *testing.T) {
			host.Reset()
			c, logs := newClient(t, host, edit)
			billno, err := c.Billno("tls", "oTLSUser_0001")
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.QueryHB(context.Background(), billno)
			var pe *hongbao.Error
			if !errors.Is(err, hongbao.ErrTLS) || errors.Is(err, hongbao.ErrOutcomeUnknown) || !errors.As(err, &pe) || pe.Retryable {
				t.Fatalf("err = %v", err)
			}
			_, err = c.SendMiniProgramHB(context.Background(), sendRequest(t, c, "tls", "oTLSUser_0001"))
			if !errors.Is(err, hongbao.ErrTLS) || errors.Is(err, hongbao.ErrOutcomeUnknown) {
				t.Fatalf("send: %v", err)
			}
			if n := len(host.Requests()); n != 0 {
				t.Errorf("the platform saw %d calls", n)
			}
			if n := strings.Count(logs.String(), `"attempt":2`); n != 0 {
				t.Errorf("retried:\n%s", logs)
			}
			if !strings.Contains(err.Error(), "certificate") {
				t.Errorf("the error does not say what to fix: %v", err)
			}
		})
	}
}

// TestLoggerDefault: a nil Logger logs to slog.Default(), and the NOT_FOUND
// of a gethbinfo is not a warning.
func TestLoggerDefault(t *testing.T) {
	var buf syncBuffer
	old := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(&buf, nil)))
	defer slog.SetDefault(old)
	host := wxpaytest.Start(t, wxpaytest.Options{})
	c, _ := newClient(t, host, func(c *hongbao.Config) { c.Logger = nil })
	billno, err := c.Billno("logger", "oLoggerUser_0001")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.QueryHB(context.Background(), billno); !errors.Is(err, hongbao.ErrNotFound) {
		t.Fatal(err)
	}
	host.Inject(wxpaytest.Fault{ErrCode: "NOTENOUGH"})
	if _, err := c.SendMiniProgramHB(context.Background(), sendRequest(t, c, "logger", "oLoggerUser_0001")); !errors.Is(err, hongbao.ErrNotEnough) {
		t.Fatal(err)
	}
	logs := buf.String()
	var notFound, notEnough string
	for _, line := range strings.Split(logs, "\n") {
		switch {
		case strings.Contains(line, "err_code=NOT_FOUND"):
			notFound = line
		case strings.Contains(line, "err_code=NOTENOUGH"):
			notEnough = line
		}
	}
	if !strings.HasPrefix(notFound, "time=") || !strings.Contains(notFound, "level=INFO") {
		t.Errorf("NOT_FOUND: %q\n%s", notFound, logs)
	}
	if !strings.Contains(notEnough, "level=WARN") {
		t.Errorf("NOTENOUGH: %q\n%s", notEnough, logs)
	}
}
