module github.com/hongbao-go/hongbao/bench

go 1.26.0

require (
	github.com/go-pay/gopay v1.5.118
	github.com/go-pay/util v0.0.4
	github.com/golang-jwt/jwt/v5 v5.3.1
	github.com/hongbao-go/hongbao v0.0.0-00010101000000-000000000000
	github.com/wechatpay-apiv3/wechatpay-go v0.2.21
)

require (
	github.com/go-pay/crypto v0.0.1 // indirect
	github.com/go-pay/errgroup v0.0.3 // indirect
	github.com/go-pay/smap v0.0.2 // indirect
	github.com/go-pay/xlog v0.0.3 // indirect
	github.com/go-pay/xtime v0.0.2 // indirect
	github.com/go-resty/resty/v2 v2.17.2 // indirect
	github.com/patrickmn/go-cache v2.1.0+incompatible // indirect
	golang.org/x/crypto v0.53.0 // indirect
	golang.org/x/net v0.56.0 // indirect
	golang.org/x/time v0.15.0 // indirect
	software.sslmate.com/src/go-pkcs12 v0.7.4 // indirect
)

replace github.com/hongbao-go/hongbao => ../
