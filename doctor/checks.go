package doctor

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/getreditus/reditus-bridge/config"
	"github.com/getreditus/reditus-bridge/journal"
	"github.com/getreditus/reditus-bridge/outcome"
	"github.com/getreditus/reditus-bridge/reditus"
)

// queuedTooLong is the age of the oldest queued event past which doctor
// warns: the worker retries within minutes, so an hour means Reditus has
// refused or failed it all that time.
const queuedTooLong = time.Hour

// configuration reports what `check` reports: the mode, PUBLIC_URL, and
// every warning.
func configuration(r *Report, cfg config.Config) {
	switch {
	case cfg.LocalDefault():
		r.add("configuration", Warn, "dry run, the local default: no REDITUS_API_KEY and no provider secret, so nothing is sent")
	case cfg.DryRun():
		r.add("configuration", Warn, "dry run: DRY_RUN=true or no REDITUS_API_KEY, so conversions are logged and not sent")
	default:
		r.add("configuration", OK, "valid; live: conversions are sent to %s", cfg.ReditusAPIURL)
	}
	if cfg.PublicURL == "" {
		r.add("configuration", Warn, "PUBLIC_URL is not set (on Fly.io it is https://$FLY_APP_NAME.fly.dev): the providers' endpoints cannot be checked")
	} else {
		r.add("configuration", OK, "public URL %s", cfg.PublicURL)
	}
	for _, w := range cfg.Warnings() {
		r.add("configuration", Warn, "%s", w)
	}
}

// journalChecks reports the journal: open, writable, what is queued and
// what failed in the window. It returns the journal's summary, nil when it
// could not be read.
func journalChecks(ctx context.Context, r *Report, d Deps) *journal.Summary {
	if d.Journal == nil {
		r.add("journal", Fail, "cannot be opened: %v; the bridge would serve without it, queueing nothing", d.JournalErr)
		return nil
	}
	st, err := d.Journal.Status(ctx)
	if err != nil {
		r.add("journal", Fail, "cannot be read: %v", err)
		return nil
	}
	if err := d.Journal.Writable(ctx); err != nil {
		r.add("journal", Fail, "%s at %s cannot be written: %v; the bridge answers an outage 503 instead of queueing", st.Kind, st.Where, err)
	} else {
		r.add("journal", OK, "%s at %s, writable, migrations %d of %d", st.Kind, st.Where, st.Version, st.Latest)
	}
	now := d.Now()
	sum, err := d.Journal.Summary(ctx, now.Add(-window))
	if err != nil {
		r.add("journal", Fail, "cannot be counted: %v", err)
		return nil
	}
	switch age := now.Sub(sum.OldestQueued).Round(time.Second); {
	case sum.Queued == 0:
		r.add("journal", OK, "nothing queued")
	case age > queuedTooLong:
		r.add("journal", Warn, "%d queued, the oldest for %v: Reditus has not taken it since (reditus-bridge events --outcome queued)", sum.Queued, age)
	default:
		r.add("journal", OK, "%d queued, the oldest for %v; the worker delivers them", sum.Queued, age)
	}
	if sum.Failed > 0 {
		r.add("journal", Warn, "%d given up in the last 24 h (reditus-bridge events --outcome failed --since 24h); retry them from /admin once fixed", sum.Failed)
	} else {
		r.add("journal", OK, "nothing given up in the last 24 h")
	}
	return &sum
}

// reditusChecks probes Reditus with the read-only request and judges its
// status alone: the key accepted (2xx) or refused (401, 403); the path
// unknown to Reditus (404 or another 4xx: reachable, the key not checked);
// anything else, Reditus out of reach.
func reditusChecks(ctx context.Context, r *Report, d Deps) {
	cfg := d.Config
	probe := "GET " + cfg.ReditusAPIURL + reditus.ProbePath
	status, err := d.Reditus.Probe(ctx)
	switch {
	case err != nil:
		r.add("reditus", Fail, "unreachable (%s): %v; events are queued meanwhile", probe, err)
	case cfg.ReditusAPIKey == "" && status < 500 && status != http.StatusTooManyRequests:
		r.add("reditus", Warn, "reachable (%s answered %d); REDITUS_API_KEY is not set, so no key was checked", probe, status)
	case status >= 200 && status < 300:
		r.add("reditus", OK, "reachable, REDITUS_API_KEY accepted (%s answered %d)", probe, status)
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		r.add("reditus", Fail, "refused REDITUS_API_KEY (%s answered %d): no conversion can be sent; check the key in Reditus", probe, status)
	case status >= 300 && status < 400:
		r.add("reditus", Fail, "%s answered a redirect (%d): is REDITUS_API_URL right?", probe, status)
	case status >= 400 && status < 500 && status != http.StatusTooManyRequests:
		r.add("reditus", Warn, "reachable, key not checked: %s answered %d, not a page of partners", probe, status)
	default:
		r.add("reditus", Fail, "unavailable (%s answered %d); events are queued meanwhile", probe, status)
	}
	if !cfg.DryRun() {
		breakerCheck(r, err != nil || status == http.StatusTooManyRequests || status >= 500)
	}
}

// breakerCheck says what a running bridge's breaker makes of Reditus as
// doctor's request found it. Doctor is a process of its own, with a breaker
// that has seen nothing: the running bridge's state is on its /metrics.
func breakerCheck(r *Report, unavailable bool) {
	o := reditus.NewBreaker(reditus.BreakerOptions{}).Options()
	if unavailable {
		r.add("reditus", Warn, "breaker: a running bridge's opens once Reditus has failed %d times in a row: webhooks are queued at once without calling it, one call probes it every %v, and the queue drains when it answers (reditus_bridge_reditus_breaker on /metrics)",
			o.OpenAfter, o.ProbeEvery)
		return
	}
	r.add("reditus", OK, "breaker: closed while Reditus answers; after %d unavailable answers in a row, a running bridge queues webhooks without calling it and probes it every %v (reditus_bridge_reditus_breaker on /metrics)",
		o.OpenAfter, o.ProbeEvery)
}

// outcomes is a provider's last 24 hours from the journal, as one line.
func outcomes(counts map[outcome.Word]int) string {
	if len(counts) == 0 {
		return "no events in the last 24 h"
	}
	words := make([]string, 0, len(counts))
	for w := range counts {
		words = append(words, string(w))
	}
	slices.Sort(words)
	for i, w := range words {
		words[i] = fmt.Sprintf("%d %s", counts[outcome.Word(w)], w)
	}
	return "last 24 h: " + strings.Join(words, ", ")
}
