//go:build full

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetrichttp"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"

	"github.com/hongbao-go/hongbao"
	"github.com/hongbao-go/hongbao/middleware/claim"
	otelhongbao "github.com/hongbao-go/hongbao/otel"
	"github.com/hongbao-go/hongbao/transfer"
)

// metricsPath is where the Prometheus listener serves the metrics.
const metricsPath = "/metrics"

// serviceName names the example in exported telemetry, unless
// OTEL_SERVICE_NAME says otherwise.
const serviceName = "hongbao-example"

// telemetry is the example's metrics and traces: the hongbao Observer
// feeding Prometheus (HONGBAO_METRICS_ADDR) and OTLP
// (OTEL_EXPORTER_OTLP_ENDPOINT), or nothing when neither is set.
type telemetry struct {
	observer *otelhongbao.Observer // nil: telemetry is off
	// shutdowns flush and stop the providers and the metrics listener.
	shutdowns []func(context.Context) error
	errc      chan error // the metrics listener's end
}

// startTelemetry sets up what cfg asks for; the Prometheus listener serves
// from then on. Call shutdown when done, also after an error.
func startTelemetry(ctx context.Context, cfg *config, logger *slog.Logger, stdout io.Writer) (*telemetry, error) {
	tel := &telemetry{errc: make(chan error, 1)}
	if cfg.metricsAddr == "" && !cfg.otlpTraces && !cfg.otlpMetrics {
		return tel, nil
	}
	res, err := resource.New(ctx,
		resource.WithAttributes(attribute.String("service.name", serviceName)),
		resource.WithFromEnv(), // OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES
		resource.WithTelemetrySDK())
	if err != nil {
		return tel, fmt.Errorf("hongbao example: the telemetry resource: %w", err)
	}

	var readers []sdkmetric.Option
	if cfg.metricsAddr != "" {
		registry := prometheus.NewRegistry()
		exporter, err := otelprom.New(otelprom.WithRegisterer(registry))
		if err != nil {
			return tel, fmt.Errorf("hongbao example: the Prometheus exporter: %w", err)
		}
		readers = append(readers, sdkmetric.WithReader(exporter))
		ln, err := net.Listen("tcp", cfg.metricsAddr)
		if err != nil {
			return tel, fmt.Errorf("hongbao example: listening on %s (set %s to another address): %w", cfg.metricsAddr, envMetricsAddr, err)
		}
		mux := http.NewServeMux()
		mux.Handle("GET "+metricsPath, promhttp.HandlerFor(registry, promhttp.HandlerOpts{
			ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
		}))
		srv := &http.Server{
			Handler:           mux,
			ReadHeaderTimeout: 10 * time.Second,
			ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
		}
		go func() { tel.errc <- srv.Serve(ln) }()
		tel.shutdowns = append(tel.shutdowns, srv.Shutdown)
		fmt.Fprintf(stdout, "hongbao example: Prometheus metrics at http://%s%s (%s)\n", ln.Addr(), metricsPath, envMetricsAddr)
	}
	if cfg.otlpMetrics {
		exporter, err := otlpmetrichttp.New(ctx)
		if err != nil {
			return tel, fmt.Errorf("hongbao example: the OTLP metric exporter: %w", err)
		}
		readers = append(readers, sdkmetric.WithReader(sdkmetric.NewPeriodicReader(exporter)))
		fmt.Fprintf(stdout, "hongbao example: metrics exported by OTLP (%s)\n", envOTLPEndpoint)
	}
	var mp metric.MeterProvider = noop.NewMeterProvider()
	if len(readers) > 0 {
		p := sdkmetric.NewMeterProvider(append(readers, sdkmetric.WithResource(res))...)
		tel.shutdowns = append(tel.shutdowns, p.Shutdown)
		mp = p
	}
	var tp trace.TracerProvider = tracenoop.NewTracerProvider()
	if cfg.otlpTraces {
		exporter, err := otlptracehttp.New(ctx)
		if err != nil {
			return tel, fmt.Errorf("hongbao example: the OTLP trace exporter: %w", err)
		}
		p := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exporter), sdktrace.WithResource(res))
		tel.shutdowns = append(tel.shutdowns, p.Shutdown)
		tp = p
		fmt.Fprintf(stdout, "hongbao example: traces exported by OTLP (%s)\n", envOTLPEndpoint)
	}
	tel.observer, err = otelhongbao.New(otelhongbao.Options{MeterProvider: mp, TracerProvider: tp})
	if err != nil {
		return tel, fmt.Errorf("hongbao example: %w", err)
	}
	return tel, nil
}

// clientObserver is the client's Observer; nil when telemetry is off.
func (t *telemetry) clientObserver() hongbao.Observer {
	if t.observer == nil {
		return nil
	}
	return t.observer
}

// transferObserver is the transfer client's Observer; nil when telemetry
// is off.
func (t *telemetry) transferObserver() transfer.Observer {
	if t.observer == nil {
		return nil
	}
	return t.observer.Transfer()
}

// tapObserver is the handler's Observer; nil when telemetry is off.
func (t *telemetry) tapObserver() claim.Observer {
	if t.observer == nil {
		return nil
	}
	return t.observer
}

// observeBudgets reports the budget gauges of h (hongbao_budget_remaining,
// _reserved, _committed) until the returned function is called.
func (t *telemetry) observeBudgets(h *claim.Handler) (func(), error) {
	if t.observer == nil {
		return func() {}, nil
	}
	reg, err := t.observer.ObserveBudgets(h)
	if err != nil {
		return nil, err
	}
	return func() { _ = reg.Unregister() }, nil
}

// failed reports the metrics listener's failure, if it stopped serving.
func (t *telemetry) failed() <-chan error { return t.errc }

// shutdown exports what is left and stops the metrics listener, the
// providers last (so the final export has every tap).
func (t *telemetry) shutdown(ctx context.Context) error {
	var errs []error
	for _, f := range t.shutdowns {
		if err := f(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
