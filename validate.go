package hongbao

import (
	"errors"
	"fmt"
	"unicode"
	"unicode/utf8"
)

// ErrInvalidRequest is matched by every validation failure: the request was
// refused before any network call.
var ErrInvalidRequest = errors.New("hongbao: invalid request")

// ValidationError names the field and the rule it breaks.
type ValidationError struct {
	Field string // the platform's field name, e.g. "send_name"
	Rule  string // the rule, e.g. "fewer than 32 characters"
}

func (e *ValidationError) Error() string {
	return fmt.Sprintf("hongbao: invalid request: %s must be %s", e.Field, e.Rule)
}

// Is makes errors.Is(err, ErrInvalidRequest) true.
func (e *ValidationError) Is(target error) bool { return target == ErrInvalidRequest }

// Scene thresholds, in fen: outside [MinAmountWithoutScene,
// MaxAmountWithoutScene] a scene_id is required.
const (
	MinAmountWithoutScene = 100
	MaxAmountWithoutScene = 20000
)

// MaxBillnoLength is the longest mch_billno the platform accepts.
const MaxBillnoLength = 28

// Validate checks r against the platform's rules for sendminiprogramhb. A
// request that fails is never sent.
func (r *SendRequest) Validate() error {
	if err := validateBillno(r.Billno); err != nil {
		return err
	}
	if err := validateOpenID("re_openid", r.OpenID); err != nil {
		return err
	}
	if r.Amount <= 0 {
		return &ValidationError{"total_amount", "a positive number of fen"}
	}
	if !r.Scene.Valid() {
		return &ValidationError{"scene_id", "one of PRODUCT_1..PRODUCT_8"}
	}
	if r.Scene == SceneNone && (r.Amount < MinAmountWithoutScene || r.Amount > MaxAmountWithoutScene) {
		return &ValidationError{"scene_id", fmt.Sprintf("set when total_amount (%d fen) is below %d or above %d fen", r.Amount, MinAmountWithoutScene, MaxAmountWithoutScene)}
	}
	for _, f := range []struct {
		name, value string
		max         int // exclusive, in characters
	}{
		{"send_name", r.SendName, 32},
		{"wishing", r.Wishing, 128},
		{"act_name", r.ActName, 32},
		{"remark", r.Remark, 256},
	} {
		if err := validateText(f.name, f.value, f.max); err != nil {
			return err
		}
	}
	return nil
}

func validateBillno(b string) error {
	if b == "" {
		return &ValidationError{"mch_billno", "set (derive it with Client.Billno)"}
	}
	if len(b) > MaxBillnoLength {
		return &ValidationError{"mch_billno", fmt.Sprintf("at most %d characters, not %d", MaxBillnoLength, len(b))}
	}
	for i := 0; i < len(b); i++ {
		if !isAlnum(b[i]) {
			return &ValidationError{"mch_billno", "made of 0-9, a-z and A-Z only"}
		}
	}
	return nil
}

func validateOpenID(field, id string) error {
	if id == "" {
		return &ValidationError{field, "non-empty"}
	}
	if len(id) > 32 {
		return &ValidationError{field, "at most 32 characters"}
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; !isAlnum(c) && c != '_' && c != '-' {
			return &ValidationError{field, "made of 0-9, a-z, A-Z, '_' and '-' only"}
		}
	}
	return nil
}

// validateText checks a required text field: valid UTF-8 that XML can
// carry, no control characters (C0 or C1), fewer than max characters (the platform counts a Chinese
// character as one).
func validateText(field, v string, max int) error {
	if v == "" {
		return &ValidationError{field, "non-empty"}
	}
	if !utf8.ValidString(v) {
		return &ValidationError{field, "valid UTF-8"}
	}
	n := 0
	for _, c := range v {
		if unicode.IsControl(c) {
			return &ValidationError{field, "free of control characters"}
		}
		if c == 0xFFFE || c == 0xFFFF {
			return &ValidationError{field, "free of the non-characters U+FFFE and U+FFFF"}
		}
		n++
	}
	if n >= max {
		return &ValidationError{field, fmt.Sprintf("fewer than %d characters, not %d", max, n)}
	}
	return nil
}

func isAlnum(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
}
