module github.com/hongbao-go/hongbao/bench

go 1.26.0

require (
	github.com/go-pay/gopay v1.5.101
	github.com/go-pay/util v0.0.2
	github.com/hongbao-go/hongbao v0.0.0-00010101000000-000000000000
)

require (
	github.com/go-pay/crypto v0.0.1 // indirect
	github.com/go-pay/xlog v0.0.2 // indirect
	github.com/go-resty/resty/v2 v2.17.2 // indirect
	golang.org/x/crypto v0.53.0 // indirect
	golang.org/x/net v0.56.0 // indirect
	golang.org/x/time v0.15.0 // indirect
	software.sslmate.com/src/go-pkcs12 v0.7.4 // indirect
)

replace github.com/hongbao-go/hongbao => ../
