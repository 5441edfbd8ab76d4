//go:build full

package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hongbao-go/hongbao"
	"github.com/hongbao-go/hongbao/store"
	"github.com/hongbao-go/hongbao/store/redisstore"
)

// openRedis connects to HONGBAO_REDIS_URL and checks that every master
// answers: the Store of results, locks and rate limits, and the shared send
// rate of every replica.
func openRedis(ctx context.Context, url string) (store.Store, hongbao.SharedLimiter, func(), error) {
	rs, err := redisstore.NewFromURL(url, redisstore.Options{})
	if err != nil {
		return nil, nil, nil, fmt.Errorf("hongbao example: %s: %w", envRedisURL, err)
	}
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	err = rs.Ping(pctx)
	cancel()
	if errors.Is(err, redisstore.ErrClusterNode) || errors.Is(err, redisstore.ErrNotCluster) {
		rs.Close()
		return nil, nil, nil, fmt.Errorf("hongbao example: %s: %w", envRedisURL, err)
	}
	if err != nil {
		rs.Close()
		return nil, nil, nil, fmt.Errorf("hongbao example: %s: Redis does not answer: %w", envRedisURL, err)
	}
	return rs, rs, func() { rs.Close() }, nil
}
