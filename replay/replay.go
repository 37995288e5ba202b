// Package replay runs Stripe history through the webhook pipeline: backfill
// walks the customers and Checkout Sessions of a time window, recover the
// events Stripe could not deliver. Both are safe to run twice, since Reditus
// answers 409 for a referral it has, and that counts as success.
package replay

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/getreditus/reditus-bridge/handlers"
	"github.com/getreditus/reditus-bridge/stripeapi"
)

// Processor is the webhook pipeline after verification.
// *handlers.Bridge is one.
type Processor interface {
	Process(ctx context.Context, provider string, body []byte) handlers.Result
}

// Lister walks Stripe's history. *stripeapi.Client is one.
type Lister interface {
	EachCustomer(ctx context.Context, w stripeapi.Window, visit stripeapi.Visit) error
	EachCheckoutSession(ctx context.Context, w stripeapi.Window, visit stripeapi.Visit) error
	EachUndeliveredEvent(ctx context.Context, since time.Time, visit stripeapi.Visit) error
}

// Open returns the pipeline to replay through: a dry-run one when dryRun.
type Open func(dryRun bool) (Processor, error)

// ErrNotDone is returned when some events were not delivered (Reditus or
// Stripe failed, or the run was interrupted): run the command again.
var ErrNotDone = errors.New("not every event was delivered; run the command again")

// Backfill runs `backfill stripe --since DATE [--until DATE] [--dry-run]`.
func Backfill(ctx context.Context, args []string, lister Lister, open Open, out io.Writer) error {
	const usage = "usage: backfill stripe --since DATE [--until DATE] [--dry-run]  (DATE: 2006-01-02 or RFC 3339)"
	fs, err := flags("backfill", args, usage)
	if err != nil {
		return err
	}
	since := fs.String("since", "", "first creation date")
	until := fs.String("until", "", "end of the window (default: now)")
	dryRun := fs.Bool("dry-run", false, "show what would be sent; send nothing")
	if err := fs.Parse(args[1:]); err != nil {
		return fmt.Errorf("%v; %s", err, usage)
	}
	var w stripeapi.Window
	if w.Since, err = parseDate(*since); err != nil || *since == "" {
		return fmt.Errorf("--since: want a date; %s", usage)
	}
	if *until != "" {
		if w.Until, err = parseDate(*until); err != nil {
			return fmt.Errorf("--until: want a date; %s", usage)
		}
	}
	proc, err := open(*dryRun)
	if err != nil {
		return err
	}

	title := fmt.Sprintf("backfill stripe: customers and completed Checkout Sessions created from %s to %s", w.Since.Format(time.RFC3339), cmp.Or(*until, "now"))
	r := newRun(title, *dryRun, out)
	err = lister.EachCustomer(ctx, w, r.visit(ctx, proc))
	if err == nil {
		err = lister.EachCheckoutSession(ctx, w, r.visit(ctx, proc))
	}
	return r.finish(ctx, err)
}

// Recover runs `recover stripe [--since DURATION]`.
func Recover(ctx context.Context, args []string, lister Lister, open Open, out io.Writer) error {
	const usage = "usage: recover stripe [--since DURATION]  (DURATION: 72h, 7d; default and most 30d, what Stripe keeps)"
	fs, err := flags("recover", args, usage)
	if err != nil {
		return err
	}
	window := fs.String("since", "30d", "how far back to look")
	if err := fs.Parse(args[1:]); err != nil {
		return fmt.Errorf("%v; %s", err, usage)
	}
	d, err := parseDuration(*window)
	if err != nil {
		return fmt.Errorf("--since: %v; %s", err, usage)
	}
	proc, err := open(false)
	if err != nil {
		return err
	}
	since := time.Now().Add(-d)
	r := newRun("recover stripe: undelivered events since "+since.UTC().Format(time.RFC3339), false, out)
	return r.finish(ctx, lister.EachUndeliveredEvent(ctx, since, r.visit(ctx, proc)))
}

func flags(name string, args []string, usage string) (*flag.FlagSet, error) {
	if len(args) == 0 || args[0] != "stripe" {
		return nil, errors.New(usage)
	}
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return fs, nil
}

// run counts what a replay did and reports progress.
type run struct {
	out       io.Writer
	dryRun    bool
	read      map[string]int // by kind of object
	outcomes  map[string]int
	skipped   map[string]int // by the reason's first words
	failed    []string       // events not delivered, with why
	lastPrint time.Time
}

// progressEvery is how often a long run says how far it got.
var progressEvery = 5 * time.Second

func newRun(title string, dryRun bool, out io.Writer) *run {
	if dryRun {
		title += " (dry run: nothing is sent)"
	}
	fmt.Fprintln(out, title)
	return &run{out: out, dryRun: dryRun, read: map[string]int{}, outcomes: map[string]int{}, skipped: map[string]int{}, lastPrint: time.Now()}
}

func (r *run) visit(ctx context.Context, proc Processor) stripeapi.Visit {
	return func(kind string, body []byte) error {
		res := proc.Process(ctx, "stripe", body)
		r.read[kind]++
		r.outcomes[res.Outcome]++
		switch {
		case res.Outcome == "skipped":
			r.skipped[reasonHead(res.Reason)]++
		case !res.Acknowledged():
			r.failed = append(r.failed, res.EventID+": "+res.Reason)
		}
		if time.Since(r.lastPrint) >= progressEvery {
			r.lastPrint = time.Now()
			fmt.Fprintf(r.out, "... %s\n", r.counts())
		}
		return nil
	}
}

// finish prints the summary and says whether everything was delivered.
func (r *run) finish(ctx context.Context, err error) error {
	interrupted := ctx.Err() != nil
	fmt.Fprintf(r.out, "read:      %s\n", joinCounts(r.read))
	for _, outcome := range []string{"forwarded", "duplicate", "dry_run", "rejected", "skipped", "retry"} {
		if n := r.outcomes[outcome]; n > 0 || outcome == "forwarded" || outcome == "skipped" {
			fmt.Fprintf(r.out, "%-10s %d\n", outcome+":", n)
		}
	}
	for _, reason := range slices.Sorted(maps.Keys(r.skipped)) {
		fmt.Fprintf(r.out, "  %6d  %s\n", r.skipped[reason], reason)
	}
	for _, f := range r.failed {
		fmt.Fprintf(r.out, "  not delivered: %s\n", f)
	}
	switch {
	case interrupted:
		fmt.Fprintln(r.out, "interrupted: the counts above are what was done")
		return fmt.Errorf("interrupted: %w", ErrNotDone)
	case err != nil:
		return fmt.Errorf("stopped: %w", err)
	case len(r.failed) > 0:
		return fmt.Errorf("%d events: %w", len(r.failed), ErrNotDone)
	}
	return nil
}

func (r *run) counts() string {
	return fmt.Sprintf("read %s; forwarded %d, duplicate %d, skipped %d, not delivered %d",
		joinCounts(r.read), r.outcomes["forwarded"]+r.outcomes["dry_run"], r.outcomes["duplicate"], r.outcomes["skipped"], len(r.failed))
}

func joinCounts(m map[string]int) string {
	if len(m) == 0 {
		return "nothing"
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%d %ss", m[k], k))
	}
	return strings.Join(parts, ", ")
}

// reasonHead groups skip reasons by their first clause, which names the
// cause; the rest names objects and differs from event to event.
func reasonHead(reason string) string {
	if i := strings.IndexAny(reason, ":;("); i > 0 {
		return strings.TrimSpace(reason[:i])
	}
	return reason
}

func parseDate(s string) (time.Time, error) {
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	return time.Parse(time.RFC3339, s)
}

// parseDuration reads a Go duration, or a number of days ("7d").
func parseDuration(s string) (time.Duration, error) {
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil || n <= 0 {
			return 0, fmt.Errorf("%q is not a number of days", s)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("%q is not a duration", s)
	}
	return d, nil
}
