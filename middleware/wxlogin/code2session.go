package wxlogin

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
)

// The errcodes of code2Session that the handler answers each in its own
// way (any other is "login_failed").
const (
	ErrCodeBusy          = -1    // 系统繁忙: 503 login_busy
	ErrCodeInvalidAppID  = 40013 // 502 login_misconfigured (AppID)
	ErrCodeInvalidCode   = 40029 // 400 invalid_code
	ErrCodeInvalidSecret = 40125 // 502 login_misconfigured (AppSecret)
	ErrCodeCodeUsed      = 40163 // 400 code_used
	ErrCodeRateLimited   = 45011 // 429 login_rate_limited
	ErrCodeHighRisk      = 40226 // 403 login_blocked
)

// Errors of a login, matched with errors.Is.
var (
	// ErrPlatform matches every *PlatformError.
	ErrPlatform = errors.New("wxlogin: code2Session refused the login")
	// ErrUnavailable: code2Session could not be reached or did not
	// answer in time.
	ErrUnavailable = errors.New("wxlogin: code2Session is unavailable")
	// ErrUntrusted: the API host's certificate is not trusted, or not for
	// its name: a configuration error (BaseURL, RootCAPEM, the machine's
	// CA certificates).
	ErrUntrusted = errors.New("wxlogin: the API host's certificate is not trusted")
	// ErrBadAnswer: code2Session answered what it never does (not JSON,
	// no openid, a status other than 200).
	ErrBadAnswer = errors.New("wxlogin: code2Session gave an answer that cannot be read")

	errCodeReused  = errors.New("wxlogin: the code was already used on this server")
	errCodeShape   = errors.New("wxlogin: the code is not a wx.login code")
	errRateLimited = errors.New("wxlogin: too many logins from this address")
)

// PlatformError is an errcode answered by code2Session.
type PlatformError struct {
	ErrCode int
	ErrMsg  string // the platform's errmsg, for logs
}

func (e *PlatformError) Error() string {
	return "wxlogin: code2Session errcode " + strconv.Itoa(e.ErrCode) + " (" + e.ErrMsg + ")"
}

// Is makes errors.Is(err, ErrPlatform) hold.
func (e *PlatformError) Is(target error) bool { return target == ErrPlatform }

// session is what the handler keeps of code2Session's answer: never the
// session_key, which is not even decoded.
type session struct {
	OpenID  string `json:"openid"`
	UnionID string `json:"unionid"`
}

// code2Session exchanges code for the user's openid.
func (h *Handler) code2Session(ctx context.Context, code string) (session, error) {
	q := url.Values{
		"appid":      {h.appID},
		"secret":     {h.secret},
		"js_code":    {code},
		"grant_type": {"authorization_code"},
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, h.endpoint+"?"+q.Encode(), nil)
	if err != nil {
		// Its text would quote the URL, secret included.
		return session{}, fmt.Errorf("%w: the request could not be made", ErrUnavailable)
	}
	resp, err := h.http.Do(req)
	if err != nil {
		// A *url.Error quotes the URL, whose query holds the secret and
		// the code: keep only its cause.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		if untrusted(err) {
			return session{}, fmt.Errorf("%w: %v", ErrUntrusted, err)
		}
		return session{}, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswerBytes+1))
	if err != nil {
		return session{}, fmt.Errorf("%w: reading the answer: %v", ErrUnavailable, err)
	}
	if resp.StatusCode != http.StatusOK {
		if resp.StatusCode >= 500 {
			return session{}, fmt.Errorf("%w: HTTP status %d", ErrUnavailable, resp.StatusCode)
		}
		return session{}, fmt.Errorf("%w: HTTP status %d", ErrBadAnswer, resp.StatusCode)
	}
	if len(body) > maxAnswerBytes {
		return session{}, fmt.Errorf("%w: over %d bytes", ErrBadAnswer, maxAnswerBytes)
	}
	var a struct {
		session
		ErrCode *int   `json:"errcode"`
		ErrMsg  string `json:"errmsg"`
	}
	if err := json.Unmarshal(body, &a); err != nil {
		return session{}, fmt.Errorf("%w: not JSON", ErrBadAnswer)
	}
	if a.ErrCode != nil && *a.ErrCode != 0 {
		msg := a.ErrMsg
		if len(msg) > 200 {
			msg = msg[:200]
		}
		return session{}, &PlatformError{ErrCode: *a.ErrCode, ErrMsg: msg}
	}
	if a.OpenID == "" || len(a.OpenID) > 128 {
		return session{}, fmt.Errorf("%w: no openid", ErrBadAnswer)
	}
	return a.session, nil
}

// untrusted reports a TLS failure that is the configuration's fault: the
// host's certificate is not trusted or not for its name.
func untrusted(err error) bool {
	var (
		unknown  x509.UnknownAuthorityError
		invalid  x509.CertificateInvalidError
		hostname x509.HostnameError
		verify   *tls.CertificateVerificationError
	)
	return errors.As(err, &unknown) || errors.As(err, &invalid) || errors.As(err, &hostname) || errors.As(err, &verify)
}

// classify returns the answer to a failed code2Session.
func classify(err error) *failure {
	var pe *PlatformError
	if errors.As(err, &pe) {
		switch pe.ErrCode {
		case ErrCodeInvalidCode:
			return answers["invalid_code"].with(err)
		case ErrCodeCodeUsed:
			return answers["code_used"].with(err)
		case ErrCodeRateLimited:
			f := answers["login_rate_limited"].with(err)
			f.retryAfter = retryAfterUpstream
			return f
		case ErrCodeHighRisk:
			return answers["login_blocked"].with(err)
		case ErrCodeBusy:
			f := answers["login_busy"].with(err)
			f.retryAfter = retryAfterBusy
			return f
		case ErrCodeInvalidAppID, 41002:
			f := answers["login_misconfigured"].with(err)
			f.hint = "Config.AppID is not the mini program's appid (开发管理 > 开发设置 of the mini program's console)"
			return f
		case ErrCodeInvalidSecret, 41004, 40001:
			f := answers["login_misconfigured"].with(err)
			f.hint = "Config.AppSecret is not this appid's app secret: copy it again, or reset it, in 开发管理 > 开发设置 of the mini program's console"
			return f
		}
		return answers["login_failed"].with(err)
	}
	switch {
	case errors.Is(err, ErrUntrusted):
		f := answers["login_misconfigured"].with(err)
		f.hint = "the API host's certificate is not trusted: for the real host update this machine's CA certificates; for a test host add its CA to Config.RootCAPEM; check Config.BaseURL"
		return f
	case errors.Is(err, ErrUnavailable):
		f := answers["login_busy"].with(err)
		f.retryAfter = retryAfterBusy
		var ne net.Error
		if errors.As(err, &ne) && !ne.Timeout() {
			f.hint = "check Config.BaseURL and that this machine may open HTTPS connections to it"
		}
		return f
	}
	return answers["login_failed"].with(err)
}
