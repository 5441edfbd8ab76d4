package hongbao

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"strings"
)

// ErrTLS matches a call refused in the TLS handshake, a configuration
// error: the platform's server certificate is not trusted or not for its
// name (transport.Config.RootCAPEM or RootCAs, this machine's CA
// certificates, BaseURL), or the platform refused the merchant
// certificate (another CA's certificate, one it revoked). The request never
// reached the platform's API, so nothing was paid; it is not retried.
var ErrTLS = errors.New("hongbao: the TLS handshake with the platform failed")

// tlsError returns the Error of a call that err shows was refused in the
// TLS handshake, or nil.
func tlsError(op, billno string, err error) *Error {
	var (
		unknown  x509.UnknownAuthorityError
		invalid  x509.CertificateInvalidError
		hostname x509.HostnameError
		verify   *tls.CertificateVerificationError
		opErr    *net.OpError
	)
	var what string
	switch {
	case errors.As(err, &unknown), errors.As(err, &invalid), errors.As(err, &hostname), errors.As(err, &verify):
		what = "the platform's server certificate is not trusted (check transport.Config.RootCAPEM, this machine's CA certificates and BaseURL)"
	case errors.As(err, &opErr) && opErr.Op == "remote error" && strings.Contains(opErr.Err.Error(), "certificate"):
		// An alert of the server's handshake: under TLS 1.3 it comes
		// after the client sent its request, which the server never
		// decrypted.
		what = "the platform refused the merchant certificate in the TLS handshake (use the merchant's current API certificate)"
	default:
		return nil
	}
	return &Error{Op: op, Billno: billno, Message: what, Err: fmt.Errorf("%w: %w", ErrTLS, err)}
}
