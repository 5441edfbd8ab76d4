package signer

import (
	"errors"
	"io"
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

// PackageRule chooses which form of the package paySign covers. The
// platform's pages do not settle it; see the package documentation.
type PackageRule int

const (
	// RawPackageRule signs the package exactly as sendminiprogramhb
	// returned it and URL-encodes only the copy handed to the page. It is
	// the default.
	RawPackageRule PackageRule = iota
	// EncodedPackageRule signs the URL-encoded package, the form some
	// SDKs use. Switch to it when claims fail with a signature error.
	EncodedPackageRule
)

// String returns the rule's name.
func (r PackageRule) String() string {
	switch r {
	case RawPackageRule:
		return "raw"
	case EncodedPackageRule:
		return "encoded"
	}
	return "PackageRule(" + strconv.Itoa(int(r)) + ")"
}

// BizOptions tunes BizRedPacketParams. The zero value (or nil) means the
// raw-package rule, the current time and crypto/rand.
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
// Package is always the URL-encoded form, as the page needs it.
func (s *Signer) BizRedPacketParams(appID, pkg string, o *BizOptions) (BizRedPacket, error) {
	if appID == "" {
		return BizRedPacket{}, errors.New("signer: appId is empty")
	}
	if pkg == "" {
		return BizRedPacket{}, errors.New("signer: package is empty")
	}
	var opts BizOptions
	if o != nil {
		opts = *o
	}
	if opts.Rule != RawPackageRule && opts.Rule != EncodedPackageRule {
		return BizRedPacket{}, errors.New("signer: unknown package rule " + opts.Rule.String())
	}
	now := time.Now
	if opts.Now != nil {
		now = opts.Now
	}
	nonce, err := NewNonce(opts.Rand)
	if err != nil {
		return BizRedPacket{}, err
	}
	p := BizRedPacket{
		TimeStamp: strconv.FormatInt(now().Unix(), 10),
		NonceStr:  nonce,
		Package:   EncodeURIComponent(pkg),
		SignType:  string(MD5),
	}
	signed := pkg
	if opts.Rule == EncodedPackageRule {
		signed = p.Package
	}
	p.PaySign = s.SignWith(MD5, map[string]string{
		"appId":     appID,
		"timeStamp": p.TimeStamp,
		"nonceStr":  p.NonceStr,
		"package":   signed,
	})
	return p, nil
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
	b := make([]byte, 0, len(s)+2*n)
	for i := 0; i < len(s); i++ {
		c := s[i]
		if uriUnreserved(c) {
			b = append(b, c)
		} else {
			b = append(b, '%', upperDigits[c>>4], upperDigits[c&0x0f])
		}
	}
	return string(b)
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
