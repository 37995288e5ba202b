// Command reditus-bridge turns signed webhooks from Stripe and auth providers
// into Reditus conversions. See README.md.
package main

import (
	"context"
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

	"github.com/getreditus/reditus-bridge/config"
	"github.com/getreditus/reditus-bridge/handlers"
	"github.com/getreditus/reditus-bridge/metrics"
	"github.com/getreditus/reditus-bridge/reditus"
	"github.com/getreditus/reditus-bridge/replay"
	"github.com/getreditus/reditus-bridge/simulate"
	"github.com/getreditus/reditus-bridge/stripeapi"
)

// version is the bridge's version, set at build time with
// -ldflags "-X main.version=..." (the Dockerfile does).
var version = "dev"

// shutdownGrace is how long in-flight webhooks get to finish after SIGTERM.
// It exceeds the Stripe look-ups' 2 s plus the Reditus client's 7 s budget,
// so that every request in flight can end with its real answer.
const shutdownGrace = 12 * time.Second

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintf(os.Stderr, "reditus-bridge: %v\n", err)
		os.Exit(1)
	}
}

// run is the whole program: main only calls it and exits. Unlike the usual
// run(ctx, args, getenv, ...), it takes no getenv: configuration is read by
// envconfig, which reads the process environment itself, and a getenv that
// config ignored would mislead the tests that pass one (see README.md).
func run(ctx context.Context, args []string, stdout io.Writer) error {
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()

	cfg, err := config.Load()
	if err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	if len(args) == 0 {
		return serve(ctx, cfg, stdout)
	}
	switch args[0] {
	case "check":
		// The same construction as serve's, so that both fail alike.
		if _, err := handlers.New(cfg, handlers.Deps{}); err != nil {
			return fmt.Errorf("configuration: %w", err)
		}
		fmt.Fprintf(stdout, "reditus-bridge %s: the configuration is valid\n", version)
		cfg.Report(stdout)
		return nil
	case "simulate":
		return simulate.Run(ctx, cfg, args[1:], stdout)
	case "backfill", "recover":
		return replayStripe(ctx, cfg, args, stdout)
	default:
		return fmt.Errorf("unknown command %q (commands: check, simulate, backfill, recover)", args[0])
	}
}

// replayStripe runs backfill or recover. They read Stripe's API paced at 20
// calls a second, under Stripe's limits (100 a second live, 25 in test mode),
// and wait out a 429 and retry it (stripe-go would not). Each event goes
// through the webhook pipeline, which logs to stderr what needs attention
// (rejected, retry); the summary goes to stdout. Asked for help, they print
// their usage and return flag.ErrHelp, before STRIPE_API_KEY is needed.
func replayStripe(ctx context.Context, cfg config.Config, args []string, stdout io.Writer) error {
	lister := stripeapi.New(stripeapi.Options{
		Key: cfg.StripeAPIKey.Reveal(), BaseURL: cfg.StripeAPIURL,
		Timeout: 20 * time.Second, Retries: 2, PerSecond: 20,
		// Up to 8 retries, 1 s doubling to 30 s: about two minutes of
		// rate limiting before the run stops and asks to be run again.
		RateLimit: stripeapi.RateLimitRetry{Retries: 8, Backoff: time.Second, MaxWait: 30 * time.Second},
	})
	logger := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	open := func(dryRun bool) (replay.Processor, error) {
		if cfg.StripeAPIKey == "" {
			return nil, fmt.Errorf("%s reads Stripe's API: set STRIPE_API_KEY (a restricted key that reads customers, subscriptions, Checkout Sessions and events)", args[0])
		}
		c := cfg
		if dryRun {
			c.ReditusAPIKey = ""
		}
		tracker := reditus.New(reditus.Options{BaseURL: c.ReditusAPIURL, APIKey: c.ReditusAPIKey.Reveal()})
		return handlers.New(c, handlers.Deps{Tracker: tracker, Stripe: lister, Log: logger})
	}
	if args[0] == "backfill" {
		return replay.Backfill(ctx, args[1:], lister, open, stdout)
	}
	return replay.Recover(ctx, args[1:], lister, open, stdout)
}

// stripeLookups is the Stripe API client of the webhook path, or nil (no
// look-ups) without STRIPE_API_KEY. One call may take 1.5 s, and stripe-go
// does not retry: a failed look-up answers 503, and the sender retries.
func stripeLookups(cfg config.Config) handlers.StripeFetcher {
	if cfg.StripeAPIKey == "" {
		return nil
	}
	return stripeapi.New(stripeapi.Options{Key: cfg.StripeAPIKey.Reveal(), BaseURL: cfg.StripeAPIURL, Timeout: 1500 * time.Millisecond})
}

// serve runs the bridge until ctx is done, then lets in-flight webhooks
// finish. Logs go to stdout, as JSON lines unless LOG_FORMAT=text.
func serve(ctx context.Context, cfg config.Config, stdout io.Writer) error {
	opts := &slog.HandlerOptions{Level: cfg.LogLevel}
	var logHandler slog.Handler = slog.NewJSONHandler(stdout, opts)
	if cfg.LogFormat == "text" {
		logHandler = slog.NewTextHandler(stdout, opts)
	}
	logger := slog.New(logHandler)

	m := metrics.New()
	client := reditus.New(reditus.Options{
		BaseURL:   cfg.ReditusAPIURL,
		APIKey:    cfg.ReditusAPIKey.Reveal(),
		OnAttempt: m.ReditusAttempt,
	})
	handler, err := handlers.New(cfg, handlers.Deps{Tracker: client, Stripe: stripeLookups(cfg), Log: logger, Metrics: m})
	if err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	ln, err := net.Listen("tcp", cfg.Addr())
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	servers, listeners := []*http.Server{newServer(handler, logHandler)}, []net.Listener{ln}
	// ReadTimeout (15 s) outlasts the shutdown grace, so a body still being
	// read when shutdown begins is cut off instead of waited for: its sender
	// gets 503 and retries. Webhooks already verified finish as before.
	servers[0].RegisterOnShutdown(handler.StopReading)
	attrs := []any{"version", version, "addr", ln.Addr().String(), "dry_run", cfg.DryRun(), "providers", cfg.On()}
	if cfg.MetricsPort != 0 {
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", m.Handler())
		mln, err := net.Listen("tcp", cfg.MetricsAddr())
		if err != nil {
			ln.Close()
			return fmt.Errorf("listen for metrics (METRICS_PORT): %w", err)
		}
		servers = append(servers, newServer(mux, logHandler))
		listeners = append(listeners, mln)
		attrs = append(attrs, "metrics_addr", mln.Addr().String())
	}
	logger.Info("listening", attrs...)
	for _, w := range cfg.Warnings() {
		logger.Warn(w)
	}

	served := make(chan error, len(servers))
	for i, srv := range servers {
		go func() { served <- srv.Serve(listeners[i]) }()
	}
	select {
	case err := <-served:
		// One server failed: stop the other too, so that none outlives run.
		for _, srv := range servers {
			_ = srv.Close()
		}
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}

	logger.Info("shutting down: finishing in-flight webhooks", "grace", shutdownGrace.String())
	shutdownCtx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	shut := make(chan error, len(servers))
	for _, srv := range servers {
		go func() { shut <- srv.Shutdown(shutdownCtx) }()
	}
	for range servers {
		if err := <-shut; err != nil {
			return fmt.Errorf("shutdown: %w", err)
		}
	}
	for range servers {
		if err := <-served; !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("serve: %w", err)
		}
	}
	logger.Info("stopped")
	return nil
}

// newServer is an http.Server with the bridge's limits: nothing a client
// sends, headers or body, can hold it for long or make it hold much.
func newServer(h http.Handler, logHandler slog.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      30 * time.Second, // above the body read plus the Reditus budget
		IdleTimeout:       2 * time.Minute,
		// Provider headers are a few KiB. The default, 1 MiB, let each
		// connection make the bridge hold a megabyte before any check.
		MaxHeaderBytes: 64 << 10,
		ErrorLog:       slog.NewLogLogger(logHandler, slog.LevelWarn),
	}
}
