package signer

import (
	"crypto/subtle"
	"errors"
	"io"
	"net/url"
	"strconv"
	"time"
)

// BizRedPacket is exactly the object wx.sendBizRedPacket takes, with the
// field names the mini program expects when it is marshalled to JSON.
type BizRedPacket struct {
	TimeStamp string `json:"timeStamp"`
	NonceStr  string `json:"nonceStr"`
	Package   string `json:"package"`
	SignType  string `json:"signType"`
	PaySign   string `json:"paySign"`
}

// PackageRule chooses which form of the package paySign covers and how
// its hex is written. The platform's pages do not settle it; see the
// package documentation for the evidence behind the default.
type PackageRule int

const (
	// EncodedLowerRule signs the URL-encoded package, byte for byte the
	// string handed to the page, and writes paySign in lower-case hex. It
	// is the default (the zero value): every public report of a packet
	// actually opened describes this form.
	EncodedLowerRule PackageRule = iota
	// EncodedUpperRule signs the URL-encoded package and writes paySign in
	// upper-case hex.
	EncodedUpperRule
	// RawPackageRule signs the package exactly as sendminiprogramhb
	// returned it, URL-encodes only the copy handed to the page, and
	// writes paySign in upper-case hex (the rule of some older guides).
	RawPackageRule
)

// EncodedPackageRule is the earlier name of EncodedUpperRule.
//
// Deprecated: use EncodedUpperRule, or the default EncodedLowerRule.
const EncodedPackageRule = EncodedUpperRule

// String returns the rule's name as ParsePackageRule reads it:
// "encoded", "encoded-upper" or "raw".
func (r PackageRule) String() string {
	switch r {
	case EncodedLowerRule:
		return "encoded"
	case EncodedUpperRule:
		return "encoded-upper"
	case RawPackageRule:
		return "raw"
	}
	return "PackageRule(" + strconv.Itoa(int(r)) + ")"
}

// ParsePackageRule reads a rule's name ("encoded", "encoded-upper", "raw"),
// as a configuration file or environment variable would carry it. The empty
// string is the default, EncodedLowerRule.
func ParsePackageRule(name string) (PackageRule, error) {
	switch name {
	case "", "encoded":
		return EncodedLowerRule, nil
	case "encoded-upper":
		return EncodedUpperRule, nil
	case "raw":
		return RawPackageRule, nil
	}
	return 0, errors.New(`signer: unknown package rule "` + name + `" (want encoded, encoded-upper or raw)`)
}

func (r PackageRule) valid() bool { return r >= EncodedLowerRule && r <= RawPackageRule }

// BizOptions tunes BizRedPacketParams. The zero value (or nil) means
// EncodedLowerRule, the current time and crypto/rand.
type BizOptions struct {
	Rule PackageRule
	// Now returns the time written into timeStamp. Default time.Now.
	Now func() time.Time
	// Rand is the source of nonceStr. Default crypto/rand.
	Rand io.Reader
}

// BizRedPacketParams returns the parameters for wx.sendBizRedPacket for the
// package string that a successful sendminiprogramhb returned. appID is the
// mini program's appid (the wxappid of the send). paySign is MD5 over
// exactly appId, nonceStr, package and timeStamp; signType is not signed.
// Package is always the URL-encoded form, as the page needs it; o.Rule
// says which form paySign covers and in which hex case.
func (s *Signer) BizRedPacketParams(appID, pkg string, o *BizOptions) (BizRedPacket, error) {
	opts, err := bizOptions(appID, pkg, o)
	if err != nil {
		return BizRedPacket{}, err
	}
	nonce, err := NewNonce(opts.Rand)
	if err != nil {
		return BizRedPacket{}, err
	}
	p := BizRedPacket{
		TimeStamp: strconv.FormatInt(opts.Now().Unix(), 10),
		NonceStr:  nonce,
		Package:   EncodeURIComponent(pkg),
		SignType:  string(MD5),
	}
	signed := p.Package
	if opts.Rule == RawPackageRule {
		signed = pkg
	}
	p.PaySign = s.SignWith(MD5, map[string]string{
		"appId":     appID,
		"timeStamp": p.TimeStamp,
		"nonceStr":  p.NonceStr,
		"package":   signed,
	})
	if opts.Rule == EncodedLowerRule {
		p.PaySign = lowerHex(p.PaySign)
	}
	return p, nil
}

// bizOptions checks the arguments of BizRedPacketParams and
// AppendBizRedPacket and returns *o (the zero value for nil) with Now set.
func bizOptions(appID, pkg string, o *BizOptions) (BizOptions, error) {
	var opts BizOptions
	if appID == "" {
		return opts, errors.New("signer: appId is empty")
	}
	if pkg == "" {
		return opts, errors.New("signer: package is empty")
	}
	if o != nil {
		opts = *o
	}
	if !opts.Rule.valid() {
		return opts, errors.New("signer: unknown package rule " + opts.Rule.String())
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return opts, nil
}

// VerifyBizRedPacket checks p as wx.sendBizRedPacket would under rule:
// signType is MD5, package is URL-encoded, and paySign is the rule's MD5
// over appId, nonceStr, package and timeStamp, in the rule's hex case
// (compared in constant time). It is what a test stand-in for the mini
// program, or a merchant comparing rules, needs; errors.Is(err,
// ErrSignMismatch) tells a wrong paySign from a malformed p.
func (s *Signer) VerifyBizRedPacket(appID string, p BizRedPacket, rule PackageRule) error {
	if !rule.valid() {
		return errors.New("signer: unknown package rule " + rule.String())
	}
	if appID == "" || p.TimeStamp == "" || p.NonceStr == "" || p.Package == "" || p.PaySign == "" {
		return errors.New("signer: appId, timeStamp, nonceStr, package and paySign are required")
	}
	if p.SignType != string(MD5) {
		return errors.New("signer: signType must be MD5")
	}
	if _, err := strconv.ParseInt(p.TimeStamp, 10, 64); err != nil {
		return errors.New("signer: timeStamp is not a decimal string of Unix seconds")
	}
	raw, err := url.PathUnescape(p.Package)
	if err != nil || EncodeURIComponent(raw) != p.Package {
		return errors.New("signer: package is not in its URL-encoded form")
	}
	signed := p.Package
	if rule == RawPackageRule {
		signed = raw
	}
	want := s.SignWith(MD5, map[string]string{
		"appId":     appID,
		"timeStamp": p.TimeStamp,
		"nonceStr":  p.NonceStr,
		"package":   signed,
	})
	if rule == EncodedLowerRule {
		want = lowerHex(want)
	}
	if subtle.ConstantTimeCompare([]byte(want), []byte(p.PaySign)) != 1 {
		return ErrSignMismatch
	}
	return nil
}

// lowerHex writes an upper-case hex digest in lower case.
func lowerHex(h string) string {
	b := []byte(h)
	for i, c := range b {
		if 'A' <= c && c <= 'F' {
			b[i] = c + ('a' - 'A')
		}
	}
	return string(b)
}

// EncodeURIComponent escapes s exactly as JavaScript's encodeURIComponent
// does for valid UTF-8: every byte except A-Z a-z 0-9 - _ . ! ~ * ' ( ) is
// written as %XX with upper-case hex.
func EncodeURIComponent(s string) string {
	n := 0
	for i := 0; i < len(s); i++ {
		if !uriUnreserved(s[i]) {
			n++
		}
	}
	if n == 0 {
		return s
	}
	return string(appendURIComponent(make([]byte, 0, len(s)+2*n), s))
}

func uriUnreserved(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	switch c {
	case '-', '_', '.', '!', '~', '*', '\'', '(', ')':
		return true
	}
	return false
}
