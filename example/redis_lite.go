//go:build !full

package main

import (
	"context"
	"fmt"

	"github.com/hongbao-go/hongbao"
	"github.com/hongbao-go/hongbao/store"
)

// openRedis of the first-run build: the Redis Store is in the full build,
// so that the first run does not fetch and compile go-redis.
func openRedis(context.Context, string) (store.Store, hongbao.SharedLimiter, func(), error) {
	return nil, nil, nil, fmt.Errorf("hongbao example: %s needs the full example, which adds the Redis store: go run -tags full ./example", envRedisURL)
}
