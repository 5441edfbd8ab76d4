module github.com/hongbao-go/hongbao/cmd/hongbao

go 1.26.0

require (
	github.com/hongbao-go/hongbao v0.0.0-00010101000000-000000000000
	github.com/hongbao-go/hongbao/store/redisstore v0.0.0-00010101000000-000000000000
	github.com/redis/go-redis/v9 v9.23.0
	golang.org/x/time v0.15.0
	software.sslmate.com/src/go-pkcs12 v0.7.4
)

require (
	github.com/cespare/xxhash/v2 v2.3.0 // indirect
	github.com/go-resty/resty/v2 v2.17.2 // indirect
	github.com/golang-jwt/jwt/v5 v5.3.1 // indirect
	github.com/patrickmn/go-cache v2.1.0+incompatible // indirect
	go.uber.org/atomic v1.12.0 // indirect
	golang.org/x/crypto v0.53.0 // indirect
	golang.org/x/net v0.56.0 // indirect
	golang.org/x/sys v0.48.0 // indirect
)

replace (
	github.com/hongbao-go/hongbao => ../..
	github.com/hongbao-go/hongbao/store/redisstore => ../../store/redisstore
)
