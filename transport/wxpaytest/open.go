package wxpaytest

import (
	"errors"
	"fmt"
	"net/url"
	"unicode/utf8"

	"github.com/hongbao-go/hongbao/signer"
)

// Errors of Open, for errors.Is. The error Open returns reads like the mini
// program's errMsg ("sendBizRedPacket:fail ...") and wraps one of these.
var (
	// ErrSceneNotSupported: the launch scene is not a scan scene (1011,
	// 1025, 1047, 1124). The error text contains
	// "sendBizRedPacket:fail scene <n> not support".
	ErrSceneNotSupported = errors.New("wxpaytest: launch scene not supported")
	// ErrSignType: signType is not "MD5".
	ErrSignType = errors.New("wxpaytest: signType is not MD5")
	// ErrInvalidParams: timeStamp, nonceStr, package or paySign is
	// missing, timeStamp is not decimal Unix seconds, nonceStr is longer
	// than 32 characters, or package is not URL-encoded.
	ErrInvalidParams = errors.New("wxpaytest: invalid sendBizRedPacket parameters")
	// ErrPaySign: paySign does not verify with the server's APIv2 key and
	// AppID under Options.AcceptRule. The error also matches
	// signer.ErrSignMismatch.
	ErrPaySign = errors.New("wxpaytest: paySign does not verify")
	// ErrUnknownPackage: the package is not one this server issued.
	ErrUnknownPackage = errors.New("wxpaytest: package not issued by this server")
	// ErrAlreadyReceived: the red packet is RECEIVED.
	ErrAlreadyReceived = errors.New("wxpaytest: red packet already received")
	// ErrRefunded: the red packet is RFUND_ING or REFUND.
	ErrRefunded = errors.New("wxpaytest: red packet refunded")
	// ErrNotClaimable: the red packet is SENDING or FAILED.
	ErrNotClaimable = errors.New("wxpaytest: red packet not claimable")
)

// openError is an error of Open: the mini program's text, wrapping a
// sentinel and possibly its cause.
type openError struct {
	msg  string
	errs []error
}

func (e *openError) Error() string   { return e.msg }
func (e *openError) Unwrap() []error { return e.errs }

func openFail(sentinel, cause error, format string, a ...any) error {
	errs := []error{sentinel}
	if cause != nil {
		errs = append(errs, cause)
	}
	return &openError{msg: "sendBizRedPacket:fail " + fmt.Sprintf(format, a...), errs: errs}
}

// scanScene reports whether scene is a launch scene from which
// wx.sendBizRedPacket works: a QR code, a barcode, a mini-program code or
// a "一物一码" code.
func scanScene(scene int) bool {
	switch scene {
	case 1011, 1025, 1047, 1124:
		return true
	}
	return false
}

// Open stands in for the mini program calling wx.sendBizRedPacket with p,
// launched from scene, and the platform opening the red packet for the
// user. It checks, in this order:
//
//   - scene is a scan scene: 1011 (QR code), 1025 (barcode), 1047
//     (mini-program code) or 1124 ("一物一码" code); else
//     ErrSceneNotSupported with the text "sendBizRedPacket:fail scene <n>
//     not support";
//   - p.SignType is "MD5" (ErrSignType);
//   - timeStamp, nonceStr, package and paySign are present, timeStamp is
//     decimal Unix seconds, nonceStr at most 32 characters, and package
//     URL-encoded as encodeURIComponent writes it (ErrInvalidParams);
//   - paySign verifies with the server's APIv2 key and AppID under
//     Options.AcceptRule, as signer.(*Signer).VerifyBizRedPacket checks it
//     (ErrPaySign);
//   - the URL-decoded package is one that a send to this server answered
//     (ErrUnknownPackage; a recorded failure has none);
//   - the red packet is SENT: RECEIVED is ErrAlreadyReceived, RFUND_ING and
//     REFUND are ErrRefunded, SENDING and FAILED are ErrNotClaimable.
//
// On success the packet becomes RECEIVED at Options.Now, as with
// MarkReceived, and Open returns a copy of it. A failed Open changes
// nothing. The timeStamp's age is not checked.
func (s *Server) Open(p signer.BizRedPacket, scene int) (Packet, error) {
	if !scanScene(scene) {
		return Packet{}, openFail(ErrSceneNotSupported, nil, "scene %d not support", scene)
	}
	if p.SignType != string(signer.MD5) {
		return Packet{}, openFail(ErrSignType, nil, "signType %q not support, want MD5", p.SignType)
	}
	if n := utf8.RuneCountInString(p.NonceStr); n > 32 {
		return Packet{}, openFail(ErrInvalidParams, nil, "nonceStr is %d characters long, at most 32 allowed", n)
	}
	if err := s.signer.VerifyBizRedPacket(s.AppID, p, s.acceptRule); err != nil {
		if errors.Is(err, signer.ErrSignMismatch) {
			return Packet{}, openFail(ErrPaySign, err, "paySign does not verify (rule %s)", s.acceptRule)
		}
		return Packet{}, openFail(ErrInvalidParams, err, "invalid parameters: %v", err)
	}
	raw, err := url.PathUnescape(p.Package)
	if err != nil { // VerifyBizRedPacket has checked the encoding
		return Packet{}, openFail(ErrInvalidParams, err, "package is not URL-encoded")
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	pkt, ok := s.byPackage[raw]
	if !ok {
		return Packet{}, openFail(ErrUnknownPackage, nil, "package unknown")
	}
	switch pkt.Status {
	case StatusSent:
	case StatusReceived:
		return Packet{}, openFail(ErrAlreadyReceived, nil, "red packet %s already received", pkt.Billno)
	case StatusRefunding, StatusRefund:
		return Packet{}, openFail(ErrRefunded, nil, "red packet %s is %s: refunded", pkt.Billno, pkt.Status)
	default:
		return Packet{}, openFail(ErrNotClaimable, nil, "red packet %s is %s", pkt.Billno, pkt.Status)
	}
	pkt.Status = StatusReceived
	pkt.ReceivedAt = s.now()
	return *pkt, nil
}
