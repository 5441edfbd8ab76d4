//go:build !full

package main

import (
	"strings"
	"testing"
)

// The first-run build names the full build for what only it has.
func TestLiteBuild(t *testing.T) {
	for _, env := range []map[string]string{
		{envRouter: "gin"},
		{envRouter: "chi"},
		{envMetricsAddr: "127.0.0.1:0"},
		{envOTLPEndpoint: "http://127.0.0.1:4318"},
	} {
		err := startErr(t, env)
		if !strings.Contains(err.Error(), "go run -tags full ./example") {
			t.Errorf("%v: %v", env, err)
		}
	}
	if err := startErr(t, map[string]string{envRouter: "gorilla"}); !strings.Contains(err.Error(), "nethttp, chi, gin, echo") {
		t.Errorf("unknown router: %v", err)
	}
}

// The Redis store is in the full build too.
func TestLiteBuildRedis(t *testing.T) {
	err := startErr(t, map[string]string{envRedisURL: "redis://127.0.0.1:6379/0"})
	if !strings.Contains(err.Error(), envRedisURL) || !strings.Contains(err.Error(), "go run -tags full ./example") {
		t.Errorf("%v", err)
	}
}
