package otelhongbao_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/hongbao-go/hongbao"
	"github.com/hongbao-go/hongbao/middleware/claim"
	"github.com/hongbao-go/hongbao/middleware/jwtauth"
	otelhongbao "github.com/hongbao-go/hongbao/otel"
	"github.com/hongbao-go/hongbao/rail"
	"github.com/hongbao-go/hongbao/transport"
	"github.com/hongbao-go/hongbao/transport/wxpaytest"
)

func Example() {
	host, err := wxpaytest.NewServer(wxpaytest.Options{})
	if err != nil {
		panic(err)
	}
	defer host.Close()
	// Your providers, with their exporters (Prometheus, OTLP, ...); here a
	// reader to print what was recorded.
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	tp := sdktrace.NewTracerProvider()

	obs, err := otelhongbao.New(otelhongbao.Options{MeterProvider: mp, TracerProvider: tp})
	if err != nil {
		panic(err)
	}
	cert := host.ClientCertificate()
	client, err := hongbao.New(hongbao.Config{
		AppID: host.AppID,
		Transport: transport.Config{MchID: host.MchID, APIKey: host.APIKey, Certificate: &cert,
			RootCAs: host.RootCAs(), BaseURL: host.URL},
		BillnoKey: []byte("a stable secret of 16+ bytes"),
		Observer:  obs, // calls, attempts and the certificate
	})
	if err != nil {
		panic(err)
	}
	send, err := claim.NewHandler(claim.HandlerConfig{
		Client: client,
		Policy: claim.PolicyFunc(func(context.Context, jwtauth.User, []byte) (claim.Grant, error) {
			return claim.Grant{Key: "spring-2026", Payout: rail.Payout{Amount: 100, SendName: "Shop",
				Wishing: "Happy new year", ActName: "New year", Remark: "Thanks"}}, nil
		}),
		Observer: obs, // taps
	})
	if err != nil {
		panic(err)
	}

	// One tap, as the Authenticator passes it on.
	r := httptest.NewRequest(http.MethodPost, "/hongbao/send", strings.NewReader(`{"scene": 1047}`))
	r = r.WithContext(jwtauth.ContextWithUser(r.Context(), jwtauth.User{OpenID: "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"}))
	send.ServeHTTP(httptest.NewRecorder(), r)

	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		panic(err)
	}
	for _, m := range rm.ScopeMetrics[0].Metrics {
		if m.Name != otelhongbao.MetricSends {
			continue
		}
		for _, dp := range m.Data.(metricdata.Sum[int64]).DataPoints {
			op, _ := dp.Attributes.Value("op")
			result, _ := dp.Attributes.Value("result")
			code, _ := dp.Attributes.Value("err_code")
			fmt.Printf("%s op=%s result=%s err_code=%q: %d\n", m.Name, op.AsString(), result.AsString(), code.AsString(), dp.Value)
		}
	}
	// Unordered output:
	// hongbao.sends op=gethbinfo result=definitive err_code="NOT_FOUND": 1
	// hongbao.sends op=sendminiprogramhb result=success err_code="": 1
}
