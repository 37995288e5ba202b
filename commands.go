package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"time"

	"github.com/getreditus/reditus-bridge/admin"
	"github.com/getreditus/reditus-bridge/alert"
	"github.com/getreditus/reditus-bridge/config"
	"github.com/getreditus/reditus-bridge/journal"
	"github.com/getreditus/reditus-bridge/pipeline"
	"github.com/getreditus/reditus-bridge/reditus"
	"github.com/getreditus/reditus-bridge/replay"
	"github.com/getreditus/reditus-bridge/simulate"
)

// The commands' usages that are fixed texts; simulate and events print
// their own, which list their flags.
const (
	checkUsage = `usage: reditus-bridge check

Reads the configuration from the environment and validates it exactly as the
bridge does at start, then prints the mode (live or dry run), the listen
address, the providers that are on and off, and the warnings. It never prints a
secret. It exits 1, naming the variable at fault, when the bridge would refuse
to start, so a deploy can run it first.
`
	backfillUsage = `usage: reditus-bridge backfill stripe [flags]

Runs the Stripe customers and completed Checkout Sessions created in a time
window through the bridge's pipeline, to send the conversions of customers who
signed up before the bridge was connected. Safe to run twice. Needs
STRIPE_API_KEY. For its flags: reditus-bridge backfill stripe --help
(README.md, "Backfill and recover").
`
	recoverUsage = `usage: reditus-bridge recover stripe [flags]

Runs the Stripe events that Stripe could not deliver to the bridge (at most 30
days back, what Stripe keeps) through the bridge's pipeline. Safe to run twice.
Needs STRIPE_API_KEY. For its flags: reditus-bridge recover stripe --help
(README.md, "Backfill and recover").
`
	alertUsage = `usage: reditus-bridge alert test

Sends a test alert to every destination of ALERT_URLS, and by email with
ALERT_EMAIL and SMTP_URL, once each, and prints how each answered (its URL
masked: it holds a token). It exits 1 when a destination failed, or none is
configured (docs/operating.md, "Alerts").
`
	versionUsage = `usage: reditus-bridge version

Prints the bridge's version (also: --version).
`
	helpUsage = `usage: reditus-bridge help [COMMAND]

Prints the commands, or one command's usage (also: -h, --help, and
COMMAND --help).
`
)

// The listing `help` prints is these around the table's lines.
const (
	listingHead = `reditus-bridge turns signed webhooks into Reditus conversions.

usage: reditus-bridge [COMMAND]

With no command it %s.

Commands:
`
	listingTail = `
The configuration comes from environment variables (PORT, REDITUS_API_KEY,
DRY_RUN, the *_WEBHOOK_SECRET variables, ...), which README.md, "Configuration",
lists. With none set, the bridge runs in dry run, sends nothing, and every
provider accepts the public development secret: the local default.
`
)

// help prints the listing of the commands, or one command's usage.
func help(_ context.Context, in invocation) error {
	if len(in.args) == 0 {
		fmt.Fprintf(in.stdout, listingHead, serving.summary)
		for _, c := range commands() {
			fmt.Fprintf(in.stdout, "  %-10s %s\n", c.name, c.summary)
		}
		fmt.Fprint(in.stdout, listingTail)
		return nil
	}
	for _, c := range commands() {
		if c.name == in.args[0] {
			c.usage(in.stdout)
			return nil
		}
	}
	return fmt.Errorf("no command %q: run `reditus-bridge help` for the commands", in.args[0])
}

// printVersion answers version; the Dockerfile sets what it prints.
func printVersion(_ context.Context, in invocation) error {
	fmt.Fprintf(in.stdout, "reditus-bridge %s\n", version)
	return nil
}

// check validates the configuration as serve does, and prints it.
func check(ctx context.Context, in invocation) error {
	if len(in.args) > 0 {
		return errors.New("check takes no arguments; see `reditus-bridge help check`")
	}
	// The same construction as serve's, so that both fail alike.
	if _, err := pipeline.New(in.cfg, pipeline.Deps{}); err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	fmt.Fprintf(in.stdout, "reditus-bridge %s: the configuration is valid\n", version)
	in.cfg.Report(in.stdout)
	reportBreaker(in.cfg, in.stdout)
	return reportJournal(ctx, in.cfg, in.stdout)
}

// reportBreaker prints, for check, how the bridge treats Reditus when it
// fails. A process that has just started knows nothing of Reditus yet: the
// state of a running bridge's breaker is on its /metrics.
func reportBreaker(cfg config.Config, stdout io.Writer) {
	if cfg.DryRun() {
		fmt.Fprintln(stdout, "breaker:   off (dry run: Reditus is never called)")
		return
	}
	o := reditus.NewBreaker(reditus.BreakerOptions{}).Options()
	fmt.Fprintf(stdout, "breaker:   closed at start; opens after %d unavailable answers from Reditus in a row, or a Retry-After (at most %v), and then one call probes it every %v; its state is reditus_bridge_reditus_breaker on /metrics\n",
		o.OpenAfter, o.MaxPause, o.ProbeEvery)
}

// reportJournal prints, for check, where the journal is and whether it is
// reachable and migrated. A journal that cannot be opened fails check: the
// bridge would serve without it, and nothing would be queued.
func reportJournal(ctx context.Context, cfg config.Config, stdout io.Writer) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	store, err := openToRead(ctx, cfg)
	switch {
	case errors.Is(err, journal.ErrNoJournal) && !missingDataDir(cfg):
		// A new volume, or a new database: the bridge makes the journal
		// when it starts.
		fmt.Fprintf(stdout, "journal:   %v yet: the bridge makes it when it starts; retention %v, queued events retried for %v\n", err, cfg.JournalRetention, cfg.RetryFor)
		fmt.Fprintf(stdout, "queue:     %s\n", queueState(cfg, 0, 0))
	case err != nil:
		fmt.Fprintf(stdout, "journal:   unreachable: %v\n", err)
		return fmt.Errorf("the journal could not be opened: %w", err)
	default:
		defer store.Close()
		if err := reportStore(ctx, cfg, store, stdout); err != nil {
			return err
		}
	}
	admin := "off (set ADMIN_TOKEN to turn it on)"
	if cfg.AdminToken != "" {
		admin = "on, at /admin (user admin, password ADMIN_TOKEN)"
	}
	fmt.Fprintf(stdout, "admin:     %s\n", admin)
	return nil
}

// queueState says how many events wait to reach Reditus, and who delivers
// them: the worker, or, in dry run, which runs none, a live start.
func queueState(cfg config.Config, queued, pending int) string {
	if queued+pending == 0 {
		return "no event waits"
	}
	state := fmt.Sprintf("%d events wait (%d queued, %d pending): ", queued+pending, queued, pending)
	if cfg.DryRun() {
		return state + "in dry run nothing delivers them; they wait for a live start"
	}
	return state + "the worker delivers them"
}

// alertTest answers `alert test`: one test alert to every destination.
func alertTest(ctx context.Context, in invocation) error {
	if len(in.args) != 1 || in.args[0] != "test" {
		return errors.New("usage: reditus-bridge alert test")
	}
	alerts, err := alert.New(in.cfg, alert.Deps{})
	if err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	answers := alerts.Test(ctx)
	if len(answers) == 0 {
		return errors.New("no alert destination: set ALERT_URLS, or ALERT_EMAIL and SMTP_URL")
	}
	failed := 0
	for _, a := range answers {
		if a.Err != nil {
			failed++
			fmt.Fprintf(in.stdout, "%s: failed: %v\n", a.Destination, a.Err)
			continue
		}
		fmt.Fprintf(in.stdout, "%s: %s\n", a.Destination, a.Answer)
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d alert destinations failed", failed, len(answers))
	}
	return nil
}

// checkBudget bounds check's reading of the whole journal for damage: about
// a second per gigabyte in the page cache, more from a cold disk.
const checkBudget = 2 * time.Minute

// reportStore prints, for check, the journal's kind, place and migrations,
// and fails when it cannot be read or is corrupt: the bridge would serve
// without it.
func reportStore(ctx context.Context, cfg config.Config, store *journal.DB, stdout io.Writer) error {
	st, err := store.Status(ctx)
	if err != nil {
		fmt.Fprintf(stdout, "journal:   unreachable: %v\n", err)
		return fmt.Errorf("the journal could not be read: %w", err)
	}
	fmt.Fprintf(stdout, "journal:   %s at %s, migrations %d of %d applied; retention %v, queued events retried for %v\n", st.Kind, st.Where, st.Version, st.Latest, cfg.JournalRetention, cfg.RetryFor)
	queued, pending, err := store.Waiting(ctx)
	if err != nil {
		fmt.Fprintf(stdout, "queue:     unreadable: %v\n", err)
		return fmt.Errorf("the journal could not be read: %w", err)
	}
	fmt.Fprintf(stdout, "queue:     %s\n", queueState(cfg, queued, pending))
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), checkBudget)
	defer cancel()
	if err := store.Check(ctx); err != nil {
		fmt.Fprintf(stdout, "journal:   damaged: %v\n", err)
		return fmt.Errorf("the journal is not usable: %w", err)
	}
	return nil
}

// openToRead opens the journal the bridge serves with, read-only: the
// commands that read it make none, and migrate none.
func openToRead(ctx context.Context, cfg config.Config) (*journal.DB, error) {
	return journal.Open(ctx, journal.Options{DataDir: cfg.DataDir, DatabaseURL: cfg.DatabaseURL.Reveal(), ReadOnly: true})
}

// openToWrite opens the journal the bridge serves with, for a command that
// changes it (events forget); it makes none where there is none.
func openToWrite(ctx context.Context, cfg config.Config) (*journal.DB, error) {
	if missingDataDir(cfg) {
		return nil, fmt.Errorf("%w at %s", journal.ErrNoJournal, cfg.DataDir)
	}
	return journal.Open(ctx, journal.Options{DataDir: cfg.DataDir, DatabaseURL: cfg.DatabaseURL.Reveal()})
}

// missingDataDir reports whether the SQLite journal's DATA_DIR is not there
// at all: a typo more likely than a volume not yet used, which is there,
// empty.
func missingDataDir(cfg config.Config) bool {
	if cfg.DatabaseURL != "" {
		return false
	}
	_, err := os.Stat(cfg.DataDir)
	return errors.Is(err, fs.ErrNotExist)
}

// simulateEvent answers simulate: the configuration gives it the secret to
// sign with and the port to post to.
func simulateEvent(ctx context.Context, in invocation) error {
	return simulate.Run(ctx, in.cfg, in.args, in.stdout)
}

// events answers events, and events forget, from the journal the bridge
// serves with.
func events(ctx context.Context, in invocation) error {
	forget := len(in.args) > 0 && in.args[0] == "forget"
	open := openToRead
	if forget { // it erases, so it writes
		open = openToWrite
	}
	store, err := open(ctx, in.cfg)
	if errors.Is(err, journal.ErrNoJournal) {
		return fmt.Errorf("%w: the bridge makes it when it first starts; is DATA_DIR (or DATABASE_URL) the bridge's?", err)
	}
	if err != nil {
		return fmt.Errorf("open the journal: %w", err)
	}
	defer store.Close()
	if forget {
		return admin.Forget(ctx, in.args[1:], store, in.stdout)
	}
	return admin.Events(ctx, in.args, store, in.stdout)
}

// eventsUsage prints the usage admin.Events prints when asked for help,
// which it does before it reads any journal, so none is given. Its error is
// then always flag.ErrHelp.
func eventsUsage(w io.Writer) {
	_ = admin.Events(context.Background(), []string{"--help"}, nil, w)
}

func backfillStripe(ctx context.Context, in invocation) error {
	return replayStripe(ctx, in, "backfill", replay.Backfill)
}

func recoverStripe(ctx context.Context, in invocation) error {
	return replayStripe(ctx, in, "recover", replay.Recover)
}

// replayStripe runs backfill or recover: command, which name names. Each
// event goes through the webhook pipeline, which logs to stderr what needs
// attention (rejected, retry); the summary goes to stdout. Asked for help,
// command prints its usage and returns flag.ErrHelp, before STRIPE_API_KEY
// is needed.
func replayStripe(ctx context.Context, in invocation, name string, command func(context.Context, []string, replay.Lister, replay.Open, io.Writer) error) error {
	cfg := in.cfg
	lister := replay.NewLister(cfg.StripeAPIKey.Reveal(), cfg.StripeAPIURL)
	logger := slog.New(slog.NewJSONHandler(in.stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	var store *journal.DB
	defer func() {
		if store != nil {
			store.Close()
		}
	}()
	open := func(dryRun bool) (replay.Processor, error) {
		if cfg.StripeAPIKey == "" {
			return nil, fmt.Errorf("%s reads Stripe's API: set STRIPE_API_KEY (a restricted key that reads customers, subscriptions, Checkout Sessions and events)", name)
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
		deps := pipeline.Deps{Reditus: tracker, Stripe: lister, Log: logger}
		if store != nil { // a nil *journal.DB in an interface would not be nil
			deps.Journal = store
		}
		return pipeline.New(c, deps)
	}
	if err := command(ctx, in.args, lister, open, in.stdout); !errors.Is(err, flag.ErrHelp) {
		return err
	}
	return nil
}
