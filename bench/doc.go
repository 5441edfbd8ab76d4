// Package bench compares hongbao with a hand-written keep-alive client and
// with github.com/go-pay/gopay on the same fake WeChat Pay host: one
// sendminiprogramhb call, signing and the XML codec. It is a module of its
// own so that the library's go.mod never depends on its rivals. See
// README.md for the command that reproduces every figure.
package bench
