package claim

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/hongbao-go/hongbao"
)

// A TLS handshake refused (hongbao.ErrTLS) is a configuration error: 502
// platform_rejected, never 503 outcome_unknown.
func TestStatusOfTLS(t *testing.T) {
	err := &hongbao.Error{Op: "sendminiprogramhb", Billno: "1900000109x", Message: "the platform's server certificate is not trusted",
		Err: fmt.Errorf("%w: x509: certificate signed by unknown authority", hongbao.ErrTLS)}
	if status, code := StatusOf(err); status != http.StatusBadGateway || code != "platform_rejected" {
		t.Errorf("StatusOf = %d %s", status, code)
	}
}
