package signer

import (
	"crypto/md5"
	"strconv"
)

// AppendBizRedPacket appends to dst the JSON object wx.sendBizRedPacket
// takes, {"timeStamp", "nonceStr", "package", "signType", "paySign"}, with
// the values BizRedPacketParams returns for the same appID, pkg and options
// (the same fields, the same rules, a fresh nonceStr and timeStamp), and
// returns the extended buffer. It is the form to answer with on every tap:
// it writes straight into dst, signing from a fixed buffer, and allocates
// nothing when dst has room (about 300 bytes for a platform's package).
// Every value is made of letters, digits and the characters
// EncodeURIComponent leaves or writes, so none needs JSON escaping.
func (s *Signer) AppendBizRedPacket(dst []byte, appID, pkg string, o *BizOptions) ([]byte, error) {
	opts, err := bizOptions(appID, pkg, o)
	if err != nil {
		return dst, err
	}
	var nonce [NonceLength]byte
	if err := fillNonce(&nonce, opts.Rand); err != nil {
		return dst, err
	}
	var tsBuf [20]byte
	ts := strconv.AppendInt(tsBuf[:0], opts.Now().Unix(), 10)

	dst = append(dst, `{"timeStamp":"`...)
	dst = append(dst, ts...)
	dst = append(dst, `","nonceStr":"`...)
	dst = append(dst, nonce[:]...)
	dst = append(dst, `","package":"`...)
	pkgAt := len(dst)
	dst = appendURIComponent(dst, pkg)
	encoded := dst[pkgAt:]

	// paySign: MD5 over appId, nonceStr, package and timeStamp, sorted,
	// with the key; signType is not signed.
	var buf [512]byte
	in := append(buf[:0], "appId="...)
	in = append(in, appID...)
	in = append(in, "&nonceStr="...)
	in = append(in, nonce[:]...)
	in = append(in, "&package="...)
	if opts.Rule == RawPackageRule {
		in = append(in, pkg...)
	} else {
		in = append(in, encoded...)
	}
	in = append(in, "&timeStamp="...)
	in = append(in, ts...)
	in = append(in, "&key="...)
	in = append(in, s.key[:]...)
	sum := md5.Sum(in)
	clear(in) // the key must not outlive the call in memory we own

	dst = append(dst, `","signType":"MD5","paySign":"`...)
	digits := upperDigits
	if opts.Rule == EncodedLowerRule {
		digits = lowerDigits
	}
	for _, c := range sum {
		dst = append(dst, digits[c>>4], digits[c&0x0f])
	}
	dst = append(dst, `"}`...)
	return dst, nil
}

const lowerDigits = "0123456789abcdef"

// appendURIComponent appends EncodeURIComponent(s) to dst.
func appendURIComponent(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if uriUnreserved(c) {
			dst = append(dst, c)
		} else {
			dst = append(dst, '%', upperDigits[c>>4], upperDigits[c&0x0f])
		}
	}
	return dst
}
