package bench_test

import (
	"context"
	"crypto/rand"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/hongbao-go/hongbao"
	"github.com/hongbao-go/hongbao/middleware/claim"
	"github.com/hongbao-go/hongbao/middleware/jwtauth"
	"github.com/hongbao-go/hongbao/rail"
	"github.com/hongbao-go/hongbao/transport"
	"github.com/hongbao-go/hongbao/transport/wxpaytest"
)

var (
	burstUsers   = flag.Int("burst.users", 300, "BenchmarkBurst: users tapping at once")
	burstLatency = flag.Duration("burst.latency", 40*time.Millisecond, "BenchmarkBurst: the host's reply latency")
	burstTimeout = flag.Duration("burst.timeout", time.Minute, "BenchmarkBurst: users not paid by then stop tapping")
	burstDebug   = flag.Bool("burst.debug", false, "BenchmarkBurst: print the progress every second")
)

// BenchmarkBurst is a campaign's launch: -burst.users distinct users (300)
// tap at once, each through the real stack (the JWT middleware and
// claim.NewHandler with its defaults, on an httptest server, a
// hongbao.Client with its defaults), against a wxpaytest host that
// enforces the platform's send rate (1,800 a minute) and answers after
// -burst.latency (40 ms). A user whose tap is answered 503 or 429 taps
// again after its Retry-After, as the mini program does, until paid or
// until -burst.timeout (1 minute) has passed since the burst began. Each
// iteration is a whole burst with a new host, client and handler.
//
// host-window is the span over which the host enforces the rate: 1m, no
// more than 1,800 sends in any minute (the documented figure alone), or
// 1s, no more than 30 in any second. client is the client's FlowControl:
// default (Burst 1, 5% headroom: one send every 35 ms), or burst30 (Burst
// 30 and no headroom: pacing at exactly the host's rate after a burst).
//
// Reported per burst: peak-conns, the most connections the host had open
// at once; freq-limits, FREQ_LIMIT answers provoked (the target is 0);
// s-all-paid, seconds until every user was paid (the timeout when some
// were not); unpaid, users not paid by the timeout; taps/s, requests the
// users made per second until then; taps/user; handshakes, TLS handshakes
// with the host. No user may be paid more than once.
func BenchmarkBurst(b *testing.B) {
	for _, c := range []struct {
		name   string
		window time.Duration
		flow   hongbao.FlowControl
	}{
		{"host-window=1m/client=default", time.Minute, hongbao.FlowControl{}},
		{"host-window=1s/client=default", time.Second, hongbao.FlowControl{}},
		{"host-window=1s/client=burst30", time.Second, hongbao.FlowControl{Burst: 30, Headroom: -1}},
	} {
		b.Run(c.name, func(b *testing.B) {
			var sum burstStats
			for range b.N {
				s := burstOnce(b, *burstUsers, c.window, c.flow, *burstLatency, *burstTimeout)
				sum.peakConns += s.peakConns
				sum.freqLimits += s.freqLimits
				sum.allPaid += s.allPaid
				sum.unpaid += s.unpaid
				sum.taps += s.taps
				sum.handshakes += s.handshakes
			}
			n := float64(b.N)
			b.ReportMetric(float64(sum.peakConns)/n, "peak-conns")
			b.ReportMetric(float64(sum.freqLimits)/n, "freq-limits")
			b.ReportMetric(sum.allPaid.Seconds()/n, "s-all-paid")
			b.ReportMetric(float64(sum.unpaid)/n, "unpaid")
			b.ReportMetric(float64(sum.taps)/sum.allPaid.Seconds(), "taps/s")
			b.ReportMetric(float64(sum.taps)/n/float64(*burstUsers), "taps/user")
			b.ReportMetric(float64(sum.handshakes)/n, "handshakes")
		})
	}
}

type burstStats struct {
	peakConns, freqLimits, taps, handshakes, unpaid int64
	allPaid                                         time.Duration
}

func burstOnce(b *testing.B, users int, window time.Duration, flow hongbao.FlowControl, latency, timeout time.Duration) burstStats {
	b.Helper()
	b.StopTimer()
	host, err := wxpaytest.NewServer(wxpaytest.Options{SendsPerMinute: hongbao.DefaultSendsPerMinute, RateWindow: window, Latency: latency})
	if err != nil {
		b.Fatal(err)
	}
	defer host.Close()
	client, err := hongbao.New(hongbao.Config{
		AppID: host.AppID,
		Transport: transport.Config{
			MchID:     host.MchID,
			APIKey:    host.APIKey,
			CertPEM:   host.ClientCertPEM(),
			KeyPEM:    host.ClientKeyPEM(),
			RootCAPEM: host.CACertPEM(),
			BaseURL:   host.URL,
		},
		BillnoKey: []byte(rand.Text()),
		Flow:      flow,
		Logger:    slog.New(slog.DiscardHandler), // benchmark lines stay whole
	})
	if err != nil {
		b.Fatal(err)
	}
	defer client.Transport().CloseIdleConnections()
	grant := claim.Grant{Key: "launch-" + rand.Text()[:8], Payout: rail.Payout{Amount: 100,
		SendName: "hongbao", Wishing: "Happy new year", ActName: "launch", Remark: "thanks"}}
	h, err := claim.NewHandler(claim.HandlerConfig{
		SceneOptional: true,
		Client:        client,
		Policy: claim.PolicyFunc(func(context.Context, jwtauth.User, []byte) (claim.Grant, error) {
			return grant, nil
		}),
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		b.Fatal(err)
	}
	secret := []byte(rand.Text() + rand.Text())
	key, err := jwtauth.HMACKey("", secret)
	if err != nil {
		b.Fatal(err)
	}
	auth, err := jwtauth.NewAuthenticator(jwtauth.Config{Keys: []jwtauth.Key{key}})
	if err != nil {
		b.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/hongbao/send", auth.Middleware(h))
	srv := httptest.NewServer(mux)
	defer srv.Close()

	openIDs := make([]string, users)
	tokens := make([]string, users)
	now := time.Now()
	for i := range users {
		openIDs[i] = fmt.Sprintf("oBurst%022d", i)
		tokens[i], err = jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
			"sub": openIDs[i], "iat": now.Unix(), "exp": now.Add(time.Hour).Unix(),
		}).SignedString(secret)
		if err != nil {
			b.Fatal(err)
		}
	}
	// Every user is a phone of its own: a connection each.
	phones := &http.Transport{MaxIdleConnsPerHost: users}
	defer phones.CloseIdleConnections()
	phone := &http.Client{Transport: phones, Timeout: 2 * time.Minute}

	var taps atomic.Int64
	paidAt := make([]time.Duration, users)
	start := make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	for i := range users {
		wg.Go(func() {
			<-start
			for ctx.Err() == nil {
				taps.Add(1)
				status, wait, err := tap(ctx, phone, srv.URL+"/hongbao/send", tokens[i])
				switch {
				case ctx.Err() != nil:
				case err != nil:
					b.Errorf("user %d: %v", i, err)
					return
				case status == http.StatusOK:
					paidAt[i] = time.Since(now)
					return
				case (status == http.StatusServiceUnavailable || status == http.StatusTooManyRequests) && wait > 0:
					select {
					case <-time.After(wait):
					case <-ctx.Done():
					}
				default:
					b.Errorf("user %d: status %d without Retry-After", i, status)
					return
				}
			}
		})
	}
	b.StartTimer()
	now = time.Now()
	close(start)
	stop := time.AfterFunc(timeout, cancel)
	defer stop.Stop()
	if *burstDebug {
		go func() {
			for ctx.Err() == nil {
				time.Sleep(time.Second)
				fmt.Printf("t=%3.0fs rate=%4.0f/min freq-limits=%d taps=%d\n", time.Since(now).Seconds(), client.SendsPerMinute(), host.FreqLimited(), taps.Load())
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	cancel()

	s := burstStats{
		peakConns:  int64(host.PeakConns()),
		freqLimits: host.FreqLimited(),
		taps:       taps.Load(),
		handshakes: host.Handshakes(),
	}
	for i, d := range paidAt {
		s.allPaid = max(s.allPaid, d)
		paid := 0
		for _, p := range host.PacketsOf(openIDs[i]) {
			if p.ErrCode == "" {
				paid++
			}
		}
		switch {
		case paid > 1:
			b.Fatalf("user %d was paid %d times", i, paid)
		case d == 0:
			// Not answered 200 by the timeout (it may have been paid,
			// its answer not seen).
			s.unpaid++
		}
	}
	if s.unpaid > 0 {
		s.allPaid = timeout
	}
	return s
}

// tap makes one claim and returns its status and Retry-After.
func tap(ctx context.Context, c *http.Client, url, token string) (int, time.Duration, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(`{}`))
	if err != nil {
		return 0, 0, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return 0, 0, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	secs, _ := strconv.Atoi(resp.Header.Get("Retry-After"))
	return resp.StatusCode, time.Duration(secs) * time.Second, nil
}
