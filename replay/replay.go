// Package replay runs Stripe history through the webhook pipeline: backfill
// walks the customers and Checkout Sessions of a time window, recover the
// events Stripe could not deliver. Both are safe to run twice, since Reditus
// answers 409 for a referral it has, and that counts as success.
package replay

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/getreditus/reditus-bridge/internal/redact"
	"github.com/getreditus/reditus-bridge/outcome"
	"github.com/getreditus/reditus-bridge/pipeline"
	"github.com/getreditus/reditus-bridge/reditus"
	"github.com/getreditus/reditus-bridge/stripeapi"
)

// Processor is the webhook pipeline after verification.
// *pipeline.Pipeline is one.
type Processor interface {
	Process(ctx context.Context, provider string, body []byte) pipeline.Result
}

var _ Processor = (*pipeline.Pipeline)(nil)

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

// eventRetention is how long Stripe keeps events, so how far back recover
// can look.
const eventRetention = 30 * 24 * time.Hour

// Backfill runs `backfill stripe --since DATE [--until DATE] [--dry-run]`.
// Asked for help, it prints the usage on out and returns flag.ErrHelp.
func Backfill(ctx context.Context, args []string, lister Lister, open Open, out io.Writer) error {
	cmd := newCommand("backfill", "--since DATE [--until DATE] [--dry-run]", `Sends Reditus the referrals of the Stripe customers and completed Checkout
Sessions created in a window, through the same pipeline as a live webhook:
for the time before the bridge was connected. Running it twice is safe:
Reditus answers 409 for a referral it has, and that counts as success.
Needs STRIPE_API_KEY. Exits 1 when anything was not delivered: run it again
until it exits 0.`)
	since := cmd.stringFlag("since", "", "first creation date of the window, included (required): `DATE` is YYYY-MM-DD (midnight UTC) or RFC 3339 (2026-01-01T09:00:00+02:00)")
	until := cmd.stringFlag("until", "", "end of the window, excluded: `DATE` as for --since (default: now)")
	dryRun := cmd.boolFlag("dry-run", false, "print each conversion that would be sent, and send nothing")
	if err := cmd.parse(args, out); err != nil {
		return err
	}
	var w stripeapi.Window
	var err error
	if *since == "" {
		return cmd.errorf("--since is required")
	}
	if w.Since, err = parseDate(*since); err != nil {
		return cmd.errorf("--since %q is not a date", *since)
	}
	end := "now"
	if *until != "" {
		if w.Until, err = parseDate(*until); err != nil {
			return cmd.errorf("--until %q is not a date", *until)
		}
		if !w.Until.After(w.Since) {
			return cmd.errorf("--until %s is not after --since %s: the window is empty", *until, *since)
		}
		end = w.Until.Format(time.RFC3339)
	}
	proc, err := open(*dryRun)
	if err != nil {
		return err
	}

	title := fmt.Sprintf("backfill stripe: customers and completed Checkout Sessions created from %s to %s", w.Since.Format(time.RFC3339), end)
	r := newRun(title, *dryRun, out)
	err = lister.EachCustomer(ctx, w, r.visit(ctx, proc))
	if err == nil {
		err = lister.EachCheckoutSession(ctx, w, r.visit(ctx, proc))
	}
	return r.finish(ctx, err)
}

// Recover runs `recover stripe [--since DURATION]`.
// Asked for help, it prints the usage on out and returns flag.ErrHelp.
func Recover(ctx context.Context, args []string, lister Lister, open Open, out io.Writer) error {
	cmd := newCommand("recover", "[--since DURATION]", `Sends Reditus the converting events that Stripe could not deliver to a
webhook endpoint (delivery failed), through the same pipeline as a live
webhook: for when the bridge or Reditus was down for longer than Stripe
retries (3 days). Stripe keeps events for 30 days. Running it twice is safe.
Needs STRIPE_API_KEY. Exits 1 when anything was not delivered: run it again
until it exits 0.`)
	window := cmd.stringFlag("since", "30d", "how far back to look: `DURATION` is a number of days (7d) or a Go duration (72h), at most 30d, which is what Stripe keeps")
	if err := cmd.parse(args, out); err != nil {
		return err
	}
	d, err := parseDuration(*window)
	if err != nil {
		return cmd.errorf("--since: %w", err)
	}
	if d > eventRetention {
		return cmd.errorf("--since %s: Stripe keeps events for 30 days, so recover looks back 30d at most", *window)
	}
	proc, err := open(false)
	if err != nil {
		return err
	}
	since := time.Now().Add(-d)
	r := newRun("recover stripe: undelivered events since "+since.UTC().Format(time.RFC3339), false, out)
	return r.finish(ctx, lister.EachUndeliveredEvent(ctx, since, r.visit(ctx, proc)))
}

// command is one of the two commands' flags and usage.
type command struct {
	name, synopsis, about string
	fs                    *flag.FlagSet
	order                 []string // flag names as declared, for the usage
}

func (c *command) stringFlag(name, value, usage string) *string {
	c.order = append(c.order, name)
	return c.fs.String(name, value, usage)
}

func (c *command) boolFlag(name string, value bool, usage string) *bool {
	c.order = append(c.order, name)
	return c.fs.Bool(name, value, usage)
}

func newCommand(name, flags, about string) *command {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard) // the usage is printed by usage, once
	return &command{name: name, synopsis: "usage: " + name + " stripe " + flags, about: about, fs: fs}
}

// parse reads `stripe [flags]`. Asked for help (help, -h or --help, before
// or after stripe), it prints the usage on out and returns flag.ErrHelp.
func (c *command) parse(args []string, out io.Writer) error {
	if len(args) > 0 && slices.Contains([]string{"help", "-h", "-help", "--help"}, args[0]) {
		c.usage(out)
		return flag.ErrHelp
	}
	if len(args) == 0 || args[0] != "stripe" {
		return c.errorf("Stripe is the only provider with a history to replay")
	}
	if err := c.fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			c.usage(out)
			return flag.ErrHelp
		}
		return c.errorf("%w", err)
	}
	if c.fs.NArg() > 0 {
		return c.errorf("unexpected argument %q", c.fs.Arg(0))
	}
	return nil
}

// errorf is a usage error: what was wrong, then the synopsis, and where
// the rest is.
func (c *command) errorf(format string, args ...any) error {
	return fmt.Errorf(format+"; %s (%s --help for more)", append(args, c.synopsis, c.name)...)
}

// usage prints the synopsis, what the command does, and every flag.
func (c *command) usage(out io.Writer) {
	fmt.Fprintf(out, "%s\n\n%s\n\nflags:\n", c.synopsis, c.about)
	for _, name := range c.order {
		f := c.fs.Lookup(name)
		arg, text := flag.UnquoteUsage(f)
		if arg != "" {
			arg = " " + arg
		}
		if f.DefValue != "" && f.DefValue != "false" {
			text += " (default " + f.DefValue + ")"
		}
		fmt.Fprintf(out, "  --%s%s\n        %s\n", f.Name, arg, text)
	}
}

// run counts what a replay did and reports progress. The progress lines and
// the summary print the same counts under the same words (tally).
type run struct {
	out       io.Writer
	dryRun    bool
	read      map[string]int            // by kind of object
	outcomes  map[string]int            // acknowledged events, by outcome
	reasons   map[string]map[string]int // by label, then by reason
	failed    int                       // events not delivered
	lastPrint time.Time
}

// notDelivered is the label of the events that were not acknowledged.
const notDelivered = "not delivered"

// progressEvery is how often a long run says how far it got.
var progressEvery = 5 * time.Second

func newRun(title string, dryRun bool, out io.Writer) *run {
	if dryRun {
		title += " (dry run: nothing is sent)"
	}
	fmt.Fprintln(out, title)
	return &run{out: out, dryRun: dryRun, read: map[string]int{}, outcomes: map[string]int{}, reasons: map[string]map[string]int{}, lastPrint: time.Now()}
}

func (r *run) visit(ctx context.Context, proc Processor) stripeapi.Visit {
	return func(kind string, body []byte) error {
		res := proc.Process(ctx, "stripe", body)
		r.read[kind]++
		label := labelOf(res)
		if label == notDelivered {
			r.failed++
		} else {
			r.outcomes[label]++
		}
		if res.Code == outcome.Skipped || res.Code == outcome.NotReferred || res.Code == outcome.Rejected || !res.Acknowledged() {
			if r.reasons[label] == nil {
				r.reasons[label] = map[string]int{}
			}
			r.reasons[label][groupReason(res.Reason)]++
		}
		if res.Code == outcome.DryRun {
			fmt.Fprintf(r.out, "would send: %s  %s\n", res.EventID, describe(res.Sent))
		}
		if time.Since(r.lastPrint) >= progressEvery {
			r.lastPrint = time.Now()
			fmt.Fprintf(r.out, "... read %s; %s\n", joinCounts(r.read), r.progress())
		}
		return nil
	}
}

// alreadyDelivered is the label of the events this run did not send because
// the journal holds them as delivered: by an earlier run, or by the live
// webhook.
const alreadyDelivered = "already delivered"

// labelOf is what a run counts res as: what this run did. An answer the
// journal gave from an earlier delivery (Repeat) made no call, so it is
// counted as what it is now, "already delivered" (or "already rejected",
// ...), never as the outcome the earlier run had. A skip is a skip either
// way: this run mapped the event and found nothing to send again (were
// there something, the journal would have let it through).
func labelOf(res pipeline.Result) string {
	switch {
	case !res.Acknowledged():
		return notDelivered
	case !res.Repeat || res.Outcome == outcome.WordSkipped:
		return string(res.Outcome)
	case res.Outcome == outcome.WordForwarded || res.Outcome == outcome.WordDuplicate:
		return alreadyDelivered
	}
	return "already " + string(res.Outcome)
}

// finish prints the summary and says whether everything was delivered.
func (r *run) finish(ctx context.Context, err error) error {
	interrupted := ctx.Err() != nil
	fmt.Fprintf(r.out, "%-10s %s\n", "read:", joinCounts(r.read))
	for _, c := range r.tally() {
		fmt.Fprintf(r.out, "%-10s %d\n", c.label+":", c.n)
		reasons := r.reasons[c.label]
		for _, reason := range slices.SortedFunc(maps.Keys(reasons), func(a, b string) int {
			return cmpCount(reasons[a], reasons[b], a, b)
		}) {
			fmt.Fprintf(r.out, "  %6d  %s\n", reasons[reason], reason)
		}
	}
	switch {
	case interrupted:
		fmt.Fprintln(r.out, "interrupted: the counts above are what was done")
		return fmt.Errorf("interrupted: %w", ErrNotDone)
	case err != nil:
		return fmt.Errorf("stopped: %w", err)
	case r.failed > 0:
		return fmt.Errorf("%d events: %w", r.failed, ErrNotDone)
	}
	return nil
}

// count is one line of the tally.
type count struct {
	label string
	n     int
}

// tally is what the run did, in the order a person reads it: sent, then
// not sent on purpose, then what needs another run. forwarded (dry_run in a
// dry run), skipped and not delivered always show, even at 0; any other
// outcome shows once it happened.
func (r *run) tally() []count {
	always := map[string]bool{"skipped": true, notDelivered: true}
	if r.dryRun {
		always["dry_run"] = true
	} else {
		always["forwarded"] = true
	}
	order := []string{"forwarded", "duplicate", alreadyDelivered, "dry_run", "rejected", "already rejected", "skipped"}
	for _, outcome := range slices.Sorted(maps.Keys(r.outcomes)) {
		if !slices.Contains(order, outcome) {
			order = append(order, outcome)
		}
	}
	var tally []count
	for _, label := range append(order, notDelivered) {
		n := r.outcomes[label]
		if label == notDelivered {
			n = r.failed
		}
		if n > 0 || always[label] {
			tally = append(tally, count{label, n})
		}
	}
	return tally
}

func (r *run) progress() string {
	var parts []string
	for _, c := range r.tally() {
		parts = append(parts, fmt.Sprintf("%s %d", c.label, c.n))
	}
	return strings.Join(parts, ", ")
}

// cmpCount orders reasons by count, most first, then alphabetically.
func cmpCount(na, nb int, a, b string) int {
	if na != nb {
		return nb - na
	}
	return strings.Compare(a, b)
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

// describe prints a conversion as it would be sent, with the email masked,
// and a uid that is an email masked too.
func describe(c reditus.Conversion) string {
	uid := c.UID
	if strings.Contains(uid, "@") {
		uid = redact.Email(uid)
	}
	var parts []string
	for _, f := range []struct{ name, value string }{
		{"affiliate_slug", c.AffiliateSlug}, {"advocate_slug", c.AdvocateSlug},
		{"gr_id", c.GrID}, {"email", redact.Email(c.Email)}, {"uid", uid},
	} {
		if f.value != "" {
			parts = append(parts, f.name+"="+f.value)
		}
	}
	return strings.Join(parts, " ")
}

var (
	// stripeID matches the ids of Stripe objects, and the backfill's own
	// event ids: a prefix, an underscore, and letters, digits or more
	// underscores (cs_test_a1B2...).
	stripeID = regexp.MustCompile(`\b(cus|sub|cs|evt|pi|in|ch|backfill)_[A-Za-z0-9_]+`)
	// emailLike matches anything that looks like an address.
	emailLike = regexp.MustCompile(`[^\s@,;:()<>"'\[\]]+@[^\s@,;:()<>"'\[\]]+`)
)

// groupReason is a reason with the ids and addresses that differ from one
// event to the next blanked out, so that events that failed alike are
// counted together, and the whole reason, fix included, is still printed.
func groupReason(reason string) string {
	reason = emailLike.ReplaceAllString(reason, "<email>")
	return stripeID.ReplaceAllString(reason, "${1}_...")
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
		if err != nil || n <= 0 || n > math.MaxInt64/int(24*time.Hour) {
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
