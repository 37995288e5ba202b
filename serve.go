package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/getreditus/reditus-bridge/alert"
	"github.com/getreditus/reditus-bridge/config"
	"github.com/getreditus/reditus-bridge/handlers"
	"github.com/getreditus/reditus-bridge/journal"
	"github.com/getreditus/reditus-bridge/metrics"
	"github.com/getreditus/reditus-bridge/pipeline"
	"github.com/getreditus/reditus-bridge/reditus"
	"github.com/getreditus/reditus-bridge/stripeapi"
)

// shutdownGrace is how long in-flight webhooks get to finish after SIGTERM.
// It exceeds the Stripe look-ups' 2 s plus the Reditus client's 7 s budget,
// so that every request in flight can end with its real answer.
const shutdownGrace = 12 * time.Second

// serve runs the bridge until ctx is done, then lets in-flight webhooks
// finish. Logs go to stdout, as JSON lines unless LOG_FORMAT=text.
func serve(ctx context.Context, in invocation) error {
	cfg := in.cfg
	logHandler := newLogHandler(cfg, in.stdout)
	logger := slog.New(logHandler)
	m := metrics.New()
	store := openJournal(ctx, cfg, logger, m)
	if store != nil {
		defer store.Close()
	}
	alerts, err := newAlerter(cfg, store, logger, m)
	if err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	client, breaker := reditusClient(cfg, logger, m, alerts)
	deps := pipeline.Deps{Reditus: client, Stripe: stripeLookups(cfg), Log: logger, Metrics: m, Alerter: alerts}
	hdeps := handlers.Deps{Log: logger, Metrics: m}
	if store != nil { // a nil *journal.DB in an interface would not be nil
		deps.Journal, hdeps.Events = store, store
	}
	bridge, err := pipeline.New(cfg, deps)
	if err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	hdeps.Pipeline = bridge
	handler := handlers.New(cfg, hdeps)
	servers, listeners, err := listen(cfg, handler, m, logHandler)
	if err != nil {
		return err
	}
	attrs := []any{"version", version, "addr", listeners[0].Addr().String(), "dry_run", cfg.DryRun(), "providers", cfg.On(), "journal", journalKind(ctx, store), "worker", workerState(cfg, store)}
	if len(listeners) > 1 {
		attrs = append(attrs, "metrics_addr", listeners[1].Addr().String())
	}
	logger.Info("listening", attrs...)
	for _, w := range cfg.Warnings() {
		logger.Warn(w)
	}
	// The worker and retention run beside the servers. SIGTERM stops them
	// taking new work at once; a delivery the worker has begun finishes
	// (its context is its lease), like a webhook in flight, within the grace.
	// Alerts run until the last webhook and delivery are done, so that
	// what they report is still sent.
	alertCtx, stopAlerts := context.WithCancel(context.WithoutCancel(ctx))
	alerting := make(chan error, 1)
	go func() { alerting <- alerts.Run(alertCtx) }()
	workers := runJournal(ctx, cfg, store, bridge, breaker, logger, m, alerts)
	err = runServers(ctx, servers, listeners, logger)
	workers.Wait()
	stopAlerts()
	<-alerting
	if err == nil {
		logger.Info("stopped")
	}
	return err
}

// newLogHandler writes JSON lines, or slog's key=value text with
// LOG_FORMAT=text.
func newLogHandler(cfg config.Config, stdout io.Writer) slog.Handler {
	opts := &slog.HandlerOptions{Level: cfg.LogLevel}
	if cfg.LogFormat == "text" {
		return slog.NewTextHandler(stdout, opts)
	}
	return slog.NewJSONHandler(stdout, opts)
}

// reditusClient is the client of the bridge's Reditus, and the breaker it
// shares with the journal's worker.
func reditusClient(cfg config.Config, logger *slog.Logger, m *metrics.Metrics, alerts *alert.Alerter) (*reditus.Client, *reditus.Breaker) {
	breaker := reditus.NewBreaker(reditus.BreakerOptions{OnChange: watchBreaker(logger, m)})
	return reditus.New(reditus.Options{
		BaseURL:   cfg.ReditusAPIURL,
		APIKey:    cfg.ReditusAPIKey.Reveal(),
		OnAttempt: reditusAttempts(m, alerts),
		Breaker:   breaker,
	}), breaker
}

// watchBreaker shows the breaker toward Reditus in the metrics, and logs
// when it opens and when it closes again; the probes in between change its
// state every few seconds during an outage, and are only counted.
func watchBreaker(logger *slog.Logger, m *metrics.Metrics) func(from, to reditus.State, why string) {
	var states []string
	for _, s := range reditus.States() {
		states = append(states, s.String())
	}
	m.BreakerState(reditus.Closed.String(), states)
	return func(from, to reditus.State, why string) {
		m.BreakerState(to.String(), states)
		switch {
		case from == reditus.Closed && to == reditus.Open:
			logger.Warn("reditus: breaker open: webhooks are queued without calling Reditus, and one call probes it every few seconds", "why", why)
		case to == reditus.Closed:
			logger.Info("reditus: breaker closed: Reditus answers again, and the queue drains")
		}
	}
}

// stripeLookups is the Stripe API client of the webhook path, or nil (no
// look-ups) without STRIPE_API_KEY. One call may take 1.5 s, and stripe-go
// does not retry: a failed look-up answers 503, and the sender retries.
func stripeLookups(cfg config.Config) pipeline.StripeFetcher {
	if cfg.StripeAPIKey == "" {
		return nil
	}
	return stripeapi.New(stripeapi.Options{Key: cfg.StripeAPIKey.Reveal(), BaseURL: cfg.StripeAPIURL, Timeout: 1500 * time.Millisecond})
}

// openJournal opens the journal, or returns nil when it cannot: the bridge
// then serves without it (in-memory dedupe, 503 when Reditus fails), which
// is never worse than having no journal. The error is logged and counted.
func openJournal(ctx context.Context, cfg config.Config, logger *slog.Logger, m *metrics.Metrics) *journal.DB {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	store, err := journal.Open(ctx, journal.Options{DataDir: cfg.DataDir, DatabaseURL: cfg.DatabaseURL.Reveal()})
	if err != nil {
		logger.Error("the journal could not be opened; serving without it: re-sent deliveries are recognised only in memory, and nothing is queued", "err", err)
		m.JournalError("open")
		return nil
	}
	return store
}

// newAlerter is the alerter of cfg, which counts in the journal when there
// is one; a journal that could not be opened is its first alert.
func newAlerter(cfg config.Config, store *journal.DB, logger *slog.Logger, m *metrics.Metrics) (*alert.Alerter, error) {
	deps := alert.Deps{Log: logger, Metrics: m}
	if store != nil { // a nil *journal.DB in an interface would not be nil
		deps.Ledger = store
	}
	alerts, err := alert.New(cfg, deps)
	if err != nil {
		return nil, err
	}
	if store == nil {
		alerts.Alert(alert.Report{Kind: alert.JournalUnavailable, Reason: "the journal could not be opened at start; the bridge serves without it until it restarts"})
	}
	return alerts, nil
}

// reditusAttempts is told of every HTTP attempt to Reditus: the metrics
// count it, and the alerts see an outage begin and end in them.
func reditusAttempts(m *metrics.Metrics, alerts *alert.Alerter) func(int, time.Duration, bool) {
	return func(status int, d time.Duration, retry bool) {
		m.ReditusAttempt(status, d, retry)
		alerts.Alert(alert.ReditusAnswer(status))
	}
}

// journalKind names the journal in the startup line.
func journalKind(ctx context.Context, store *journal.DB) string {
	if store == nil {
		return "off"
	}
	st, err := store.Status(ctx)
	if err != nil {
		return "unreachable"
	}
	return st.Kind + ": " + st.Where
}

// workerState says, in the startup line, whether the queue is delivered.
func workerState(cfg config.Config, store *journal.DB) string {
	switch {
	case store == nil:
		return "off (no journal)"
	case cfg.DryRun():
		return "off (dry run: queued events wait for a live start)"
	}
	return "on"
}

// runJournal starts the queue's worker, paced by the breaker toward
// Reditus, and retention; the returned group ends when ctx does and they
// have finished. In dry run there is no worker: it would send nothing, and
// so record every queued event dry_run, taking it out of the queue for good
// while its sender, told 202, never re-sends it. Queued and pending records
// wait for a live start instead.
func runJournal(ctx context.Context, cfg config.Config, store *journal.DB, bridge *pipeline.Pipeline, breaker *reditus.Breaker, logger *slog.Logger, m *metrics.Metrics, alerts *alert.Alerter) *sync.WaitGroup {
	var wg sync.WaitGroup
	if store == nil {
		return &wg
	}
	if !cfg.DryRun() {
		worker := &journal.Worker{
			Store: store.ForWorker(), Deliver: bridge.Redeliver, RetryFor: cfg.RetryFor, Log: logger, Pace: breaker,
			OnFailed: func(r journal.Record) {
				m.QueueFailed(r.Provider)
				alerts.Alert(alert.Report{Kind: alert.EventFailed, Provider: r.Provider, EventID: r.DeliveryID, EventType: r.EventType, Reason: r.Reason})
			},
		}
		wg.Go(func() { _ = worker.Run(ctx) })
	}
	retention := &journal.Retention{Store: store, Keep: cfg.JournalRetention, Full: store.DiskFull(), Log: logger}
	wg.Go(func() { _ = retention.Run(ctx) })
	return &wg
}

// listen opens the public listener, and the metrics one with METRICS_PORT.
func listen(cfg config.Config, handler *handlers.Server, m *metrics.Metrics, logHandler slog.Handler) ([]*http.Server, []net.Listener, error) {
	ln, err := net.Listen("tcp", cfg.Addr())
	if err != nil {
		return nil, nil, fmt.Errorf("listen: %w", err)
	}
	servers, listeners := []*http.Server{newServer(handler, logHandler)}, []net.Listener{ln}
	// ReadTimeout (15 s) outlasts the shutdown grace, so a body still being
	// read when shutdown begins is cut off instead of waited for: its sender
	// gets 503 and retries. Webhooks already verified finish as before.
	servers[0].RegisterOnShutdown(handler.StopReading)
	if cfg.MetricsPort != 0 {
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", m.Handler())
		mln, err := net.Listen("tcp", cfg.MetricsAddr())
		if err != nil {
			ln.Close()
			return nil, nil, fmt.Errorf("listen for metrics (METRICS_PORT): %w", err)
		}
		servers = append(servers, newServer(mux, logHandler))
		listeners = append(listeners, mln)
	}
	return servers, listeners, nil
}

// runServers serves until ctx is done or a server fails, then shuts every
// server down within shutdownGrace.
func runServers(ctx context.Context, servers []*http.Server, listeners []net.Listener, logger *slog.Logger) error {
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
