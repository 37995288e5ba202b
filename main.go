// Command reditus-bridge turns signed webhooks from Stripe and auth providers
// into Reditus conversions. See README.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/getreditus/reditus-bridge/admin"
	"github.com/getreditus/reditus-bridge/config"
	"github.com/getreditus/reditus-bridge/handlers"
	"github.com/getreditus/reditus-bridge/journal"
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

	// Help, version and a mistyped command need no configuration: they
	// answer even when the environment is wrong.
	if handled, err := answerWithoutConfig(args, stdout); handled {
		return err
	}
	cfg, err := config.Load()
	if err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	if len(args) == 0 {
		return serve(ctx, cfg, stdout)
	}
	switch args[0] {
	case "check":
		if len(args) > 1 {
			return errors.New("check takes no arguments; see `reditus-bridge help check`")
		}
		// The same construction as serve's, so that both fail alike.
		if _, err := handlers.New(cfg, handlers.Deps{}); err != nil {
			return fmt.Errorf("configuration: %w", err)
		}
		fmt.Fprintf(stdout, "reditus-bridge %s: the configuration is valid\n", version)
		cfg.Report(stdout)
		return reportJournal(ctx, cfg, stdout)
	case "events":
		store, err := journal.Open(ctx, journal.Options{DataDir: cfg.DataDir, DatabaseURL: cfg.DatabaseURL.Reveal()})
		if err != nil {
			return fmt.Errorf("open the journal: %w", err)
		}
		defer store.Close()
		return admin.Events(ctx, args[1:], store, stdout)
	case "simulate":
		return simulate.Run(ctx, cfg, args[1:], stdout)
	default: // backfill, recover: answerWithoutConfig let no other through
		// replay answers --help with flag.ErrHelp once it printed the usage.
		if err := replayStripe(ctx, cfg, args, stdout); !errors.Is(err, flag.ErrHelp) {
			return err
		}
		return nil
	}
}

// commands are the commands run knows, each with its usage for `help`;
// serving, the default, has none.
var commands = map[string]string{
	"check": `usage: reditus-bridge check

Reads the configuration from the environment and validates it exactly as the
bridge does at start, then prints the mode (live or dry run), the listen
address, the providers that are on and off, and the warnings. It never prints a
secret. It exits 1, naming the variable at fault, when the bridge would refuse
to start, so a deploy can run it first.
`,
	"simulate": "", // simulate.Usage
	"backfill": `usage: reditus-bridge backfill stripe [flags]

Runs the Stripe customers and completed Checkout Sessions created in a time
window through the bridge's pipeline, to send the conversions of customers who
signed up before the bridge was connected. Safe to run twice. Needs
STRIPE_API_KEY. For its flags: reditus-bridge backfill stripe --help
(README.md, "Backfill and recover").
`,
	"recover": `usage: reditus-bridge recover stripe [flags]

Runs the Stripe events that Stripe could not deliver to the bridge (at most 30
days back, what Stripe keeps) through the bridge's pipeline. Safe to run twice.
Needs STRIPE_API_KEY. For its flags: reditus-bridge recover stripe --help
(README.md, "Backfill and recover").
`,
	"events": "", // admin.Events prints it
	"version": `usage: reditus-bridge version

Prints the bridge's version (also: --version).
`,
	"help": `usage: reditus-bridge help [COMMAND]

Prints the commands, or one command's usage (also: -h, --help, and
COMMAND --help).
`,
}

// usage is what `reditus-bridge help` prints.
const usage = `reditus-bridge turns signed webhooks into Reditus conversions.

usage: reditus-bridge [COMMAND]

With no command it serves webhooks on PORT until SIGTERM or Ctrl-C.

Commands:
  check      validate the configuration and print what the bridge makes of it
  simulate   post a signed sample event to a running bridge
  backfill   send the conversions of past Stripe customers and Checkout Sessions
  recover    send the Stripe events that Stripe could not deliver
  events     print the journal: what became of each event, and why
  version    print the version
  help       print this, or a command's usage: reditus-bridge help COMMAND

The configuration comes from environment variables (PORT, REDITUS_API_KEY,
DRY_RUN, the *_WEBHOOK_SECRET variables, ...), which README.md, "Configuration",
lists. With none set, the bridge runs in dry run, sends nothing, and every
provider accepts the public development secret: the local default.
`

// reportJournal prints, for check, where the journal is and whether it is
// reachable and migrated. A journal that cannot be opened fails check: the
// bridge would serve without it, and nothing would be queued.
func reportJournal(ctx context.Context, cfg config.Config, stdout io.Writer) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	store, err := journal.Open(ctx, journal.Options{DataDir: cfg.DataDir, DatabaseURL: cfg.DatabaseURL.Reveal()})
	if err != nil {
		fmt.Fprintf(stdout, "journal:   unreachable: %v\n", err)
		return fmt.Errorf("the journal could not be opened: %w", err)
	}
	defer store.Close()
	st, err := store.Status(ctx)
	if err != nil {
		fmt.Fprintf(stdout, "journal:   unreachable: %v\n", err)
		return fmt.Errorf("the journal could not be read: %w", err)
	}
	fmt.Fprintf(stdout, "journal:   %s at %s, migrations %d of %d applied; retention %v, queued events retried for %v\n", st.Kind, st.Where, st.Version, st.Latest, cfg.JournalRetention, cfg.RetryFor)
	admin := "off (set ADMIN_TOKEN to turn it on)"
	if cfg.AdminToken != "" {
		admin = "on, at /admin (user admin, password ADMIN_TOKEN)"
	}
	fmt.Fprintf(stdout, "admin:     %s\n", admin)
	return nil
}

// answerWithoutConfig answers help, version and unknown commands. handled
// reports whether it did; the other commands need the configuration.
func answerWithoutConfig(args []string, stdout io.Writer) (handled bool, err error) {
	if len(args) == 0 {
		return false, nil
	}
	switch cmd := args[0]; {
	case isHelp(cmd):
		if len(args) == 1 {
			fmt.Fprint(stdout, usage)
			return true, nil
		}
		return true, commandUsage(args[1], stdout)
	case cmd == "version" || cmd == "-version" || cmd == "--version":
		fmt.Fprintf(stdout, "reditus-bridge %s\n", version)
		return true, nil
	case cmd == "check" || cmd == "simulate":
		if len(args) > 1 && (args[1] == "help" || slices.ContainsFunc(args[1:], isHelpFlag)) {
			return true, commandUsage(cmd, stdout)
		}
		return false, nil
	case cmd == "backfill" || cmd == "recover":
		return false, nil // their flags, help included, are replay's
	case cmd == "events":
		if slices.ContainsFunc(args[1:], isHelpFlag) {
			// Its usage needs no journal: it is printed before any is read.
			if err := admin.Events(context.Background(), args[1:], nil, stdout); !errors.Is(err, flag.ErrHelp) {
				return true, err
			}
			return true, nil
		}
		return false, nil
	default:
		return true, fmt.Errorf("unknown command %q: run `reditus-bridge help` for the commands", cmd)
	}
}

// commandUsage prints one command's usage.
func commandUsage(cmd string, stdout io.Writer) error {
	text, ok := commands[cmd]
	switch {
	case !ok:
		return fmt.Errorf("no command %q: run `reditus-bridge help` for the commands", cmd)
	case cmd == "simulate":
		simulate.Usage(stdout)
	case cmd == "events":
		if err := admin.Events(context.Background(), []string{"--help"}, nil, stdout); !errors.Is(err, flag.ErrHelp) {
			return err
		}
	default:
		fmt.Fprint(stdout, text)
	}
	return nil
}

// isHelp reports whether arg asks for usage, as a command or a flag.
func isHelp(arg string) bool { return arg == "help" || isHelpFlag(arg) }

// isHelpFlag reports whether arg is one of the flags that ask for usage.
func isHelpFlag(arg string) bool { return arg == "-h" || arg == "-help" || arg == "--help" }

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
	var store *journal.DB
	defer func() {
		if store != nil {
			store.Close()
		}
	}()
	open := func(dryRun bool) (replay.Processor, error) {
		if cfg.StripeAPIKey == "" {
			return nil, fmt.Errorf("%s reads Stripe's API: set STRIPE_API_KEY (a restricted key that reads customers, subscriptions, Checkout Sessions and events)", args[0])
		}
		c := cfg
		if dryRun {
			c.ReditusAPIKey = ""
		} else {
			// What a live run sends is journaled like a webhook, so that
			// /admin and `events` show it, and the bridge's own copy of an
			// event (the webhook, or a second run) is not sent twice.
			store = openJournal(ctx, cfg, logger, nil)
		}
		tracker := reditus.New(reditus.Options{BaseURL: c.ReditusAPIURL, APIKey: c.ReditusAPIKey.Reveal()})
		return handlers.New(c, handlers.Deps{Reditus: tracker, Stripe: lister, Journal: asJournal(store), NoQueue: true, Log: logger})
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
	logHandler := newLogHandler(cfg, stdout)
	logger := slog.New(logHandler)
	m := metrics.New()
	store := openJournal(ctx, cfg, logger, m)
	if store != nil {
		defer store.Close()
	}
	client := reditus.New(reditus.Options{
		BaseURL:   cfg.ReditusAPIURL,
		APIKey:    cfg.ReditusAPIKey.Reveal(),
		OnAttempt: m.ReditusAttempt,
	})
	handler, err := handlers.New(cfg, handlers.Deps{Reditus: client, Stripe: stripeLookups(cfg), Journal: asJournal(store), Log: logger, Metrics: m})
	if err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	servers, listeners, err := listen(cfg, handler, m, logHandler)
	if err != nil {
		return err
	}
	attrs := []any{"version", version, "addr", listeners[0].Addr().String(), "dry_run", cfg.DryRun(), "providers", cfg.On(), "journal", journalKind(ctx, store)}
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
	workers := runJournal(ctx, cfg, store, handler, logger, m)
	err = runServers(ctx, servers, listeners, logger)
	workers.Wait()
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

// asJournal is store as the bridge's journal: without one (nil), a nil
// interface, not an interface holding a nil *journal.DB.
func asJournal(store *journal.DB) handlers.Journal {
	if store == nil {
		return nil
	}
	return store
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

// runJournal starts the queue's worker and retention; the returned group
// ends when ctx does and they have finished.
func runJournal(ctx context.Context, cfg config.Config, store *journal.DB, bridge *handlers.Bridge, logger *slog.Logger, m *metrics.Metrics) *sync.WaitGroup {
	var wg sync.WaitGroup
	if store == nil {
		return &wg
	}
	worker := &journal.Worker{
		Store: store, Deliver: bridge.Redeliver, RetryFor: cfg.RetryFor, Log: logger,
		OnFailed: func(r journal.Record) { m.QueueFailed(r.Provider) },
	}
	retention := &journal.Retention{Store: store, Keep: cfg.JournalRetention, Log: logger}
	wg.Go(func() { _ = worker.Run(ctx) })
	wg.Go(func() { _ = retention.Run(ctx) })
	return &wg
}

// listen opens the public listener, and the metrics one with METRICS_PORT.
func listen(cfg config.Config, handler *handlers.Bridge, m *metrics.Metrics, logHandler slog.Handler) ([]*http.Server, []net.Listener, error) {
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
