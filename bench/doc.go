// Package bench compares hongbao with a hand-written keep-alive client,
// with github.com/go-pay/gopay and with github.com/wechatpay-apiv3/wechatpay-go
// on the same fake WeChat Pay host: one sendminiprogramhb call, signing and
// the XML codec (APIv2), and one APIv3 transfer create, signed and its
// answer verified, with the RSA signature alone beside it. It is a module
// of its own so that the library's go.mod never depends on its rivals. See
// README.md for the commands that reproduce every figure.
package bench
