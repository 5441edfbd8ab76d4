package wxlogin

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// checkCode is a code wx.login never gives: code2Session answers it 40029
// (invalid code) once the appid and the secret are right.
const checkCode = "hongbao-login-check"

// Check proves the configuration to code2Session without a user: it asks
// about a code that does not exist, which the platform answers 40029 when
// the appid and the app secret are right. Otherwise it returns the error
// (a *PlatformError: 40013 the appid, 40125 the secret; ErrUntrusted,
// ErrUnavailable), with what to fix. Call it at start-up.
func (h *Handler) Check(ctx context.Context) error {
	if h.timeout() > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, h.timeout())
		defer cancel()
	}
	_, err := h.code2Session(ctx, checkCode)
	var pe *PlatformError
	switch {
	case errors.As(err, &pe) && pe.ErrCode == ErrCodeInvalidCode:
		return nil
	case err == nil:
		return fmt.Errorf("%w: code2Session accepted a code that does not exist", ErrBadAnswer)
	}
	if f := classify(err); f.hint != "" {
		return fmt.Errorf("%w (%s)", err, f.hint)
	}
	return err
}

func (h *Handler) timeout() time.Duration { return h.http.Timeout }
