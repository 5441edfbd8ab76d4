// Package signer implements the WeChat Pay APIv2 signature: signing a
// parameter set with MD5 or HMAC-SHA256, verifying a signed reply in constant
// time, generating nonces, and producing the parameters that the mini program
// hands to wx.sendBizRedPacket.
//
// # The rule
//
// Every field whose value is not empty, except "sign", is sorted by the byte
// value of its name, joined as k1=v1&k2=v2 with the raw values, and followed
// by "&key=" and the 32-byte APIv2 key. MD5 hashes that string; HMAC-SHA256
// uses the key as the HMAC key over the same string. The digest is written in
// upper-case hex. The algorithm is MD5 unless the parameters carry
// sign_type=HMAC-SHA256; sign_type is itself signed like any other field.
//
// # wx.sendBizRedPacket
//
// BizRedPacketParams returns {timeStamp, nonceStr, package, signType,
// paySign}. package is always URL-encoded (as JavaScript's
// encodeURIComponent), the form the page needs. The platform's pages leave
// open which form of the package paySign covers, so there are three rules:
//
//   - EncodedLowerRule (the default): MD5 over appId, nonceStr, package and
//     timeStamp with package URL-encoded, byte for byte the string the page
//     receives, in lower-case hex. Every public report of a packet actually
//     opened describes this form; independent SDKs in PHP and Go sign so (one
//     Go SDK's own test vector is among this module's known answers), and the
//     guide that first described the raw rule later switched to this one.
//   - EncodedUpperRule: the same in upper-case hex (a Java SDK's choice).
//   - RawPackageRule: the package exactly as sendminiprogramhb returned it,
//     upper-case hex (the rule of an older Node guide). No report was found of
//     it opening a packet.
//
// The wrong rule shows only in the mini program, after the money was sent:
// wx.sendBizRedPacket fails with a vague "请求不成功" (or a signature error)
// while sendminiprogramhb succeeded, and the packet is refunded 24 hours
// later. A merchant who sees that with the right APIv2 key, a string
// timeStamp and a scan launch scene should try the other rules.
//
// # Performance
//
// Signing the twelve fields of a sendminiprogramhb body with MD5 makes one
// allocation (the returned string): the fields are sorted on the stack by
// insertion sort and the sign string is built in a stack buffer. Verifying
// an MD5 sign makes none; HMAC-SHA256 allocates its hash state.
//
// # Purity
//
// Everything here is a pure function of its inputs: no I/O, no global state.
// The parameter maps passed in are never modified. Randomness and the clock
// are injectable (BizOptions.Rand, BizOptions.Now, NewNonce) so tests are
// deterministic. A Signer is immutable and safe for concurrent use.
//
// # Secrets
//
// The API key never appears in an error, a String method or a panic. A key
// that is not 32 bytes is refused by New, so a misconfigured key is reported
// at start-up and not as a SIGN_ERROR at the first payout.
package signer
