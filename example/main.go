// Command example is a complete red-packet server: a mini program POSTs to
// /hongbao/send with its login JWT and gets back the parameters of
// wx.sendBizRedPacket, or with HONGBAO_RAIL=transfer those of
// wx.requestMerchantTransfer: an APIv3 merchant transfer shown as a red
// packet, whose notifications the server takes at HONGBAO_NOTIFY_URL's path
// (in demo mode the fake host confirms on the user's behalf at POST
// /demo/confirm and notifies /hongbao/notify).
//
// Without configuration it runs a demo: red packets are paid by an
// in-process fake of the WeChat Pay host (transport/wxpaytest), tokens are
// verified with a random secret, and a ready-to-use token and curl command
// are printed:
//
//	go run ./example
//
// With HONGBAO_MCH_ID and the other merchant variables set it pays real red
// packets, after proving the credentials with one query to the platform;
// README.md lists every variable. The login route (POST /hongbao/login)
// exchanges a wx.login code for a token whose subject is the openid: in
// demo mode against a fake code2Session, with HONGBAO_APP_SECRET against
// the platform's.
//
// This build serves net/http and nothing else; the full one,
//
//	go run -tags full ./example
//
// adds chi, gin and echo (HONGBAO_ROUTER) and the metrics and traces
// (HONGBAO_METRICS_ADDR, OTLP).
package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/net/netutil"

	"github.com/hongbao-go/hongbao"
	"github.com/hongbao-go/hongbao/apiv3"
	"github.com/hongbao-go/hongbao/middleware/claim"
	"github.com/hongbao-go/hongbao/middleware/httperr"
	"github.com/hongbao-go/hongbao/middleware/jwtauth"
	"github.com/hongbao-go/hongbao/middleware/wxlogin"
	"github.com/hongbao-go/hongbao/store"
	"github.com/hongbao-go/hongbao/transfer"
	"github.com/hongbao-go/hongbao/transport"
	"github.com/hongbao-go/hongbao/transport/wxpaytest"
)

const (
	claimPath = "/hongbao/send"
	loginPath = "/hongbao/login"
	// demoCodePath stands in for wx.login in demo mode: it issues a code
	// of the fake code2Session for ?openid= (default demoOpenID).
	demoCodePath = "/demo/code"
	// demoOpenID is the user of the printed demo token.
	demoOpenID = "oDemoUser_hongbao_example_01"
	// shutdownTimeout bounds the wait for claims in progress at shutdown.
	shutdownTimeout = 30 * time.Second
	// maxHeaderBytes bounds a request's header: a claim's header is a
	// bearer token (about 1 KB) and a few short lines. Beyond it (plus
	// the 4 KiB net/http adds) the request is refused with 431 before the
	// rest is read, so a client pushing a huge header line costs about 20
	// KiB, not the 1 MiB of the default.
	maxHeaderBytes = 16 << 10
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Getenv, os.Stdout, nil); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// run starts the server described by the environment (read through getenv)
// and serves until ctx ends, then shuts down gracefully. Start-up messages
// and logs go to stdout. Once the server listens, its address (host:port)
// is sent on ready, when ready is not nil. Configuration mistakes are
// returned before anything listens.
func run(ctx context.Context, getenv func(string) string, stdout io.Writer, ready chan<- string) error {
	cfg, err := loadConfig(getenv)
	if err != nil {
		return err
	}
	logger := slog.New(slog.NewTextHandler(stdout, nil))

	// Metrics and traces, when HONGBAO_METRICS_ADDR or the OTLP endpoint
	// is set; they are flushed after the last claim.
	tel, err := startTelemetry(ctx, cfg, logger, stdout)
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := tel.shutdown(sctx); err != nil {
			logger.Warn("hongbao example: flushing telemetry", "error", err)
		}
	}()
	if err != nil {
		return err
	}

	// The listener first: on the transfer rail the demo platform posts
	// its notifications to this server.
	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return fmt.Errorf("hongbao example: listening on %s (set %s to another address): %w", cfg.addr, envAddr, err)
	}
	defer ln.Close() // after a start-up error; Shutdown closes it otherwise
	addr := ln.Addr().String()

	// The platform: the real one, or an in-process fake.
	var (
		hcfg      hongbao.Config
		fake      *wxpaytest.Server
		loginHost *wxpaytest.LoginHost // the demo's code2Session
	)
	if cfg.demo {
		var v3 wxpaytest.V3Options
		if cfg.rail == railTransfer {
			cfg.notifyPath = notifyPathDemo
			v3.NotifyURL = demoNotifyURL(addr)
		}
		fake, err = wxpaytest.NewServer(wxpaytest.Options{V3: v3})
		if err != nil {
			return fmt.Errorf("hongbao example: starting the demo platform: %w", err)
		}
		defer fake.Close()
		loginHost, err = fake.NewLoginHost(wxpaytest.LoginOptions{})
		if err != nil {
			return fmt.Errorf("hongbao example: starting the demo login host: %w", err)
		}
		defer loginHost.Close()
		hcfg = hongbao.Config{
			AppID: fake.AppID,
			Transport: transport.Config{
				MchID:     fake.MchID,
				APIKey:    fake.APIKey,
				CertPEM:   fake.ClientCertPEM(),
				KeyPEM:    fake.ClientKeyPEM(),
				RootCAPEM: fake.CACertPEM(),
				BaseURL:   fake.URL,
			},
			BillnoKey:   cfg.billnoKey,
			PackageRule: cfg.packageRule,
		}
		if cfg.rail == railTransfer {
			fmt.Fprintf(stdout, "hongbao example: DEMO MODE (%s is not set): payouts are transfer bills shown as red packets (%s=%s), made by an in-process fake WeChat Pay host at %s, which confirms them on the user's behalf at POST %s and notifies %s; no money moves.\n",
				envMchID, envRail, railTransfer, fake.URL, demoConfirmPath, v3.NotifyURL)
		} else {
			fmt.Fprintf(stdout, "hongbao example: DEMO MODE (%s is not set): red packets are paid by an in-process fake WeChat Pay host at %s; no money moves.\n",
				envMchID, fake.URL)
		}
	} else {
		hcfg = cfg.clientConfig()
		if cfg.rail == railTransfer {
			fmt.Fprintf(stdout, "hongbao example: paying through merchant transfers shown as red packets (APIv3) as merchant %s, appid %s, through %s; the platform notifies %s, served here at %s\n",
				cfg.mchID, cfg.appID, cfg.baseURL, cfg.notifyURL, cfg.notifyPath)
		} else {
			fmt.Fprintf(stdout, "hongbao example: paying real red packets as merchant %s, appid %s, through %s\n",
				cfg.mchID, cfg.appID, cfg.baseURL)
		}
	}
	// The Store: in memory, or shared with other replicas through Redis,
	// which then also paces the sends of every replica on the merchant's
	// one send rate.
	var store store.Store = store.NewMemoryStore()
	if cfg.redisURL != "" {
		rs, shared, closeRedis, err := openRedis(ctx, cfg.redisURL)
		if err != nil {
			return err
		}
		defer closeRedis()
		store = rs
		hcfg.Flow.Shared = shared
		fmt.Fprintf(stdout, "hongbao example: results, locks, rate limits and the send rate are shared through Redis (%s)\n", envRedisURL)
	}
	// The rail: the red packet's client, or the transfer's.
	var (
		client    *hongbao.Client
		transfers *transfer.Rail
		appID     = hcfg.AppID
	)
	if cfg.rail == railTransfer {
		var tr *apiv3.Transport
		transfers, tr, err = cfg.openTransfer(fake, hcfg.Flow.Shared, logger, tel.transferObserver())
		if err != nil {
			return err
		}
		defer tr.Close()
		if !cfg.demo {
			if err := cfg.proveTransfer(ctx, transfers, tr, logger, stdout); err != nil {
				return err
			}
		}
	} else {
		hcfg.Logger = logger
		hcfg.Transport.Logger = logger
		hcfg.Observer = tel.clientObserver()
		client, err = hongbao.New(hcfg)
		if err != nil {
			return cfg.explainClientError(err)
		}
		if !cfg.demo {
			// One signed query of a bill number that does not exist
			// proves the key, the certificate, the appid and the CA
			// before any user taps.
			if err := cfg.provePlatform(ctx, client, logger, stdout); err != nil {
				return err
			}
		}
	}

	// Token verification: the configured key, or a random demo secret.
	keys := cfg.jwtKeys
	signSecret := cfg.jwtSecret // signs the login route's tokens
	var demoSecret []byte
	if len(keys) == 0 {
		demoSecret = make([]byte, 32)
		if _, err := rand.Read(demoSecret); err != nil {
			return fmt.Errorf("hongbao example: generating the demo JWT secret: %w", err)
		}
		k, err := jwtauth.HMACKey("", demoSecret)
		if err != nil {
			return fmt.Errorf("hongbao example: %w", err)
		}
		keys = []jwtauth.Key{k}
		signSecret = demoSecret
	}
	auth, err := jwtauth.NewAuthenticator(jwtauth.Config{
		Keys:     keys,
		Issuer:   cfg.jwtIssuer,
		Audience: cfg.jwtAudience,
	})
	if err != nil {
		return fmt.Errorf("hongbao example: %w", err)
	}

	// The login route: a wx.login code for a token whose subject is the
	// openid, signed with the HS256 secret the authenticator verifies.
	var login *wxlogin.Handler
	if signSecret != nil && (cfg.demo || cfg.appSecret != "") {
		key, err := wxlogin.HMACSecret("", signSecret)
		if err != nil {
			return fmt.Errorf("hongbao example: %s: %w", envJWTSecret, err)
		}
		lcfg := wxlogin.Config{
			AppID: appID, AppSecret: cfg.appSecret, Key: key,
			Issuer: cfg.jwtIssuer, Audience: cfg.jwtAudience,
			BaseURL: cfg.loginBaseURL, RootCAPEM: cfg.rootCAPEM, Logger: logger,
		}
		if cfg.demo {
			lcfg.AppSecret, lcfg.BaseURL, lcfg.RootCAPEM = loginHost.AppSecret, loginHost.URL, fake.CACertPEM()
		}
		if login, err = wxlogin.New(lcfg); err != nil {
			return fmt.Errorf("hongbao example: the login route (%s, %s): %w", envAppSecret, envLoginBaseURL, err)
		}
		if !cfg.demo {
			if err := cfg.proveLogin(ctx, login, stdout); err != nil {
				return err
			}
		}
	}

	policy := campaignPolicy(cfg)
	hdcfg := claim.HandlerConfig{
		Policy:      policy,
		Store:       store,
		Logger:      logger,
		MaxAttempts: cfg.maxAttempts,
		Budgets:     cfg.budgets(),
		Observer:    tel.tapObserver(),
	}
	if transfers != nil {
		hdcfg.Rail = transfers
	} else {
		hdcfg.Client = client
	}
	handler, err := claim.NewHandler(hdcfg)
	if err != nil {
		return fmt.Errorf("hongbao example: %w", err)
	}
	if err := openBudgets(ctx, handler, cfg.redisURL == "", stdout); err != nil {
		return err
	}
	if len(hdcfg.Budgets) > 0 {
		// hongbao_budget_remaining, _reserved, _committed.
		stopBudgets, err := tel.observeBudgets(handler)
		if err != nil {
			return fmt.Errorf("hongbao example: the budget metrics: %w", err)
		}
		defer stopBudgets()
	}

	mode := "configured"
	if cfg.demo {
		mode = "demo"
	}
	rt := routes{auth: auth, claim: handler, index: indexHandler(mode, cfg.router, cfg.rail, login != nil)}
	if transfers != nil {
		// The platform's notifications, beside the claim route and
		// without the JWT middleware: the platform signs them.
		if rt.notify, err = handler.NotificationHandler(); err != nil {
			return fmt.Errorf("hongbao example: the notify URL: %w", err)
		}
		rt.notifyPath = cfg.notifyPath
		if cfg.demo {
			if rt.confirm, err = demoConfirm(fake); err != nil {
				return fmt.Errorf("hongbao example: %w", err)
			}
		}
	}
	if login != nil {
		rt.login = login
	}
	if cfg.demo {
		rt.demo = demoCodes(loginHost)
	}
	router, err := newRouter(cfg.router, rt)
	if err != nil {
		return err
	}

	// Connections beyond maxConns wait in the kernel's accept queue until
	// one ends, instead of using up the process's open files.
	ln = netutil.LimitListener(ln, cfg.maxConns)
	// Each timeout bounds how long a connection can hold one of those
	// slots without doing a claim's work.
	srv := &http.Server{
		Handler:        router,
		MaxHeaderBytes: maxHeaderBytes,
		// A connection that sends no complete header in time is closed:
		// a claim's header is one or two packets, and connections that
		// send nothing must not keep real taps waiting for a slot long.
		ReadHeaderTimeout: 5 * time.Second,
		// The whole request, body included (a claim's body is tiny).
		ReadTimeout: 30 * time.Second,
		// A claim may wait for the platform through retries and the
		// merchant's send rate.
		WriteTimeout: 2 * time.Minute,
		// An idle keep-alive connection holds a slot: closed after 30 s.
		IdleTimeout: 30 * time.Second,
		ErrorLog:    slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
		BaseContext: func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}

	url := "http://" + addr + claimPath
	fmt.Fprintf(stdout, "hongbao example: router %s, listening on http://%s (claim route: POST %s), at most %d connections at once\n", cfg.router, addr, claimPath, cfg.maxConns)
	if login != nil {
		fmt.Fprintf(stdout, "hongbao example: login route: POST %s {\"code\": <code of wx.login>} answers a token whose subject is the openid\n", loginPath)
	}
	if cfg.demo && login != nil {
		fmt.Fprintf(stdout, "log in as the mini program does, with a code of GET %s (wx.login's stand-in in demo mode):\ncurl -s http://%s%s\ncurl -s -X POST -H 'Content-Type: application/json' -d '{\"code\":\"<the code>\"}' http://%s%s\n",
			demoCodePath, addr, demoCodePath, addr, loginPath)
	}
	if demoSecret != nil {
		token, exp, err := demoToken(demoSecret, cfg.jwtIssuer, cfg.jwtAudience)
		if err != nil {
			ln.Close()
			return fmt.Errorf("hongbao example: signing the demo token: %w", err)
		}
		fmt.Fprintf(stdout, "demo token (HS256, sub=%s, expires %s):\n%s\n", demoOpenID, exp.Format(time.RFC3339), token)
		fmt.Fprintf(stdout, "claim a red packet:\ncurl -i -X POST -H 'Authorization: Bearer %s' -H 'Content-Type: application/json' -d '{\"scene\":1047}' %s\n", token, url)
		if cfg.demo && transfers != nil {
			fmt.Fprintf(stdout, "then confirm it as the user would in wx.requestMerchantTransfer (the demo platform confirms on the user's behalf and notifies %s), and claim again (410 already_received):\n"+
				"ANSWER=$(curl -s -X POST -H 'Authorization: Bearer %s' -H 'Content-Type: application/json' -d '{\"scene\":1047}' %s)\n"+
				"curl -s -X POST -H 'Content-Type: application/json' -d \"$ANSWER\" http://%s%s\n",
				demoNotifyURL(addr), token, url, addr, demoConfirmPath)
		}
	} else {
		fmt.Fprintf(stdout, "claim a red packet with a token of the login route:\ncurl -i -X POST -H \"Authorization: Bearer $TOKEN\" -H 'Content-Type: application/json' -d '{\"scene\":1047}' %s\n", url)
	}

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	if ready != nil {
		select {
		case ready <- addr:
		case <-ctx.Done():
		}
	}

	select {
	case err := <-errc:
		return fmt.Errorf("hongbao example: serving: %w", err)
	case err := <-tel.failed():
		srv.Close()
		return fmt.Errorf("hongbao example: serving metrics: %w", err)
	case <-ctx.Done():
	}
	fmt.Fprintln(stdout, "hongbao example: shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("hongbao example: shutting down: %w", err)
	}
	// Sends whose users went away run on; let them end and save their
	// results before the Store is closed.
	if err := handler.Shutdown(sctx); err != nil {
		return fmt.Errorf("hongbao example: waiting for sends in flight: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("hongbao example: serving: %w", err)
	}
	return nil
}

// demoToken signs a token for demoOpenID, valid for 24 hours.
func demoToken(secret []byte, issuer, audience string) (string, time.Time, error) {
	now := time.Now()
	exp := now.Add(24 * time.Hour)
	claims := jwt.MapClaims{
		"sub": demoOpenID,
		"iat": now.Unix(),
		"exp": exp.Unix(),
	}
	if issuer != "" {
		claims["iss"] = issuer
	}
	if audience != "" {
		claims["aud"] = audience
	}
	token, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(secret)
	return token, exp, err
}

// demoCodes answers GET /demo/code?openid= with {"code"}: a code of the
// demo's fake code2Session for that user (demoOpenID by default), as
// wx.login gives the mini program one.
func demoCodes(l *wxpaytest.LoginHost) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		openID := r.URL.Query().Get("openid")
		if openID == "" {
			openID = demoOpenID
		}
		if len(openID) > 64 {
			httperr.WriteError(w, http.StatusBadRequest, "malformed_openid", "openid is longer than 64 characters")
			return
		}
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		_ = json.NewEncoder(w).Encode(map[string]string{"code": l.IssueCode(wxpaytest.LoginUser{OpenID: openID})})
	})
}

// campaignPolicy is the example's Policy: every user may claim one red
// packet of cfg.grant. The grant key is the campaign, so a repeat tap
// derives the same bill number and can never pay twice. Nothing is read
// from the request. With HONGBAO_AMOUNT=MIN-MAX each user's amount is drawn
// from the range, keyed by the bill-number key (secret and stable): the same
// draw on every tap and replica, and the handler pays the first terms
// recorded in any case.
func campaignPolicy(cfg *config) claim.Policy {
	grant := cfg.grant
	return claim.PolicyFunc(func(_ context.Context, u jwtauth.User, _ []byte) (claim.Grant, error) {
		g := grant
		if cfg.amountMax > 0 {
			a, err := claim.RandomAmount(cfg.billnoKey, g.Key, u.OpenID, grant.Amount, cfg.amountMax)
			if err != nil {
				return claim.Grant{}, err
			}
			g.Amount = a
		}
		return g, nil
	})
}

// openBudgets opens the campaign's budget account when the Store is this
// process's memory, which starts empty: there, each start is the
// campaign's first configuration. A shared Store's account outlives the
// process: it is opened once by the operator (hongbao budget -open), and
// rebuilt from the platform if Redis loses it (hongbao budget -rebuild);
// opening it at each start would turn a loss into a fresh count.
func openBudgets(ctx context.Context, h *claim.Handler, inMemory bool, stdout io.Writer) error {
	for _, c := range h.Campaigns() {
		if inMemory {
			if _, err := h.OpenBudget(ctx, c); err != nil {
				return fmt.Errorf("hongbao example: %w", err)
			}
			continue
		}
		st, _, err := h.Budget(ctx, c)
		if err != nil {
			return fmt.Errorf("hongbao example: reading the budget of %s: %w", c, err)
		}
		if !st.Open {
			fmt.Fprintf(stdout, "hongbao example: the budget account of campaign %s is not open in Redis: taps are answered 503 budget_unavailable until it is. Open it once for a new campaign (hongbao budget -campaign %s -open), or rebuild it from the platform if Redis lost it (hongbao budget -campaign %s -rebuild)\n", c, c, c)
		}
	}
	return nil
}

// budgets is the HandlerConfig.Budgets of the campaign: its budget under
// its grant key, or none.
func (c *config) budgets() map[string]store.Budget {
	if c.budget == (store.Budget{}) {
		return nil
	}
	return map[string]store.Budget{c.grant.Key: c.budget}
}
