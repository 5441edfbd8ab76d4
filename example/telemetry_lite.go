//go:build !full

package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"

	"github.com/hongbao-go/hongbao"
	"github.com/hongbao-go/hongbao/middleware/claim"
	"github.com/hongbao-go/hongbao/transfer"
)

// telemetry of the first-run build: none. Metrics and traces (Prometheus,
// OTLP) are in the full build, go run -tags full ./example, so that the
// first run does not fetch the OpenTelemetry and Prometheus modules.
type telemetry struct{}

func startTelemetry(_ context.Context, cfg *config, _ *slog.Logger, _ io.Writer) (*telemetry, error) {
	if cfg.metricsAddr != "" || cfg.otlpTraces || cfg.otlpMetrics {
		return &telemetry{}, fmt.Errorf("hongbao example: %s and %s need the full example, which adds OpenTelemetry and Prometheus: go run -tags full ./example",
			envMetricsAddr, envOTLPEndpoint)
	}
	return &telemetry{}, nil
}

func (*telemetry) clientObserver() hongbao.Observer { return nil }

func (*telemetry) tapObserver() claim.Observer { return nil }

func (*telemetry) transferObserver() transfer.Observer { return nil }

func (*telemetry) observeBudgets(*claim.Handler) (func(), error) { return func() {}, nil }

func (*telemetry) failed() <-chan error { return nil }

func (*telemetry) shutdown(context.Context) error { return nil }
