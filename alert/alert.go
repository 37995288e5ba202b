// Package alert tells the operator when the bridge needs a person
// (docs/operating.md, "Alerts"): a refused API key, events Reditus rejects
// or that were given up on, a provider's webhooks failing their signature,
// Reditus or the journal down, and the end of such an outage.
//
// The places that see these call Alert with a Report; that never blocks and
// never fails. Run turns reports into alerts: the first of a kind (per
// provider) at once, the rest within ALERT_INTERVAL counted into one later
// alert. The count lives in a Ledger, the journal's database, so that
// several instances on one Postgres send one alert per interval in all; an
// in-memory ledger stands in without a journal, or while it fails. Each
// destination (ALERT_URLS, and email) has its own sender with a bounded
// queue, timeouts and a few retries, so a destination that hangs or fails
// delays nothing but its own alerts.
package alert

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"sync"
	"time"

	"github.com/getreditus/reditus-bridge/config"
	"github.com/getreditus/reditus-bridge/metrics"
)

// Kind is what an alert is about.
type Kind string

// The kinds (docs/operating.md, "Alerts", says what each means and what to do).
const (
	EventFailed        Kind = "event_failed"        // a queued event was given up on after RETRY_FOR
	KeyRefused         Kind = "key_refused"         // Reditus refused the API key (401/403)
	EventRejected      Kind = "event_rejected"      // Reditus rejected a conversion or payment (400/422)
	SignatureFailures  Kind = "signature_failures"  // SignatureThreshold wrong signatures on a provider within SignatureWindow
	ReditusUnavailable Kind = "reditus_unavailable" // Reditus failing for ALERT_UNAVAILABLE_AFTER
	JournalUnavailable Kind = "journal_unavailable" // the journal cannot be written
	Resolved           Kind = "resolved"            // a reditus_unavailable or journal_unavailable ended
	Test               Kind = "test"                // `reditus-bridge alert test`
)

// Kinds are the kinds a Report may have, in the order the docs list them.
var Kinds = []Kind{EventFailed, KeyRefused, EventRejected, SignatureFailures, ReditusUnavailable, JournalUnavailable, Resolved}

// A provider's wrong signatures become an alert when SignatureThreshold of
// them arrive within SignatureWindow: one is a stranger probing, five in a
// row are the provider itself with a secret the bridge does not have.
const (
	SignatureThreshold = 5
	SignatureWindow    = 10 * time.Minute
)

// Report is one thing that happened which a person may need to hear of.
type Report struct {
	Kind     Kind
	Provider string // "" for the kinds that have none
	// The event the report is about, if one. These come from webhooks and
	// from Reditus's answers, so from strangers: a message shows them
	// neutralised, and never an email address whole.
	EventID, EventType, Reason string
	// Resolves names the outage a Resolved report ends.
	Resolves Kind
}

// ReditusAnswer is the report of one attempt to call Reditus, by the HTTP
// status of its answer (0: none came): a failure of an outage (no answer,
// 429, 5xx), or an answer, which ends one.
func ReditusAnswer(status int) Report {
	switch {
	case status == 0:
		return Report{Kind: ReditusUnavailable, Reason: "no answer"}
	case status == 429 || status >= 500:
		return Report{Kind: ReditusUnavailable, Reason: fmt.Sprintf("HTTP %d", status)}
	}
	return Report{Kind: Resolved, Resolves: ReditusUnavailable}
}

// Deps are what New wires in; every field is optional.
type Deps struct {
	// Ledger keeps the counts where every instance sees them (the
	// journal's store); nil: in memory only.
	Ledger  Ledger
	Log     *slog.Logger
	Metrics *metrics.Metrics
}

// Bounds that keep the alerter's memory and its work fixed whatever
// happens: reports are aggregated per kind and provider, of which there are
// few, and a destination holds at most queueSize alerts.
const (
	maxKeys   = 256
	queueSize = 32
	// ledgerWait bounds one ledger call: the journal may be the thing
	// that is down.
	ledgerWait = 2 * time.Second
	// drainGrace is how long alerts still queued at shutdown may take:
	// after the webhooks' 12 s grace, within fly.toml's kill_timeout (15 s).
	drainGrace = 2 * time.Second
)

// Alerter turns reports into alerts. Its methods are safe for concurrent
// use, and a nil *Alerter ignores every report.
type Alerter struct {
	every, tick      time.Duration
	unavailableAfter time.Duration
	publicURL        string
	ledger           Ledger // nil without a journal
	memory           *memoryLedger
	senders          []*sender
	log              *slog.Logger
	metrics          *metrics.Metrics
	now              func() time.Time
	wake             chan struct{}

	mu         sync.Mutex
	pending    map[key]Tally // reports not yet handed to a ledger
	ended      []Message     // resolved alerts to claim
	quietUntil map[key]time.Time
	signatures map[string]*burst
	reditus    outage
	journal    outage
	ledgerDown bool
}

// key is one kind of alert for one provider: what an interval is counted by.
type key struct {
	kind     Kind
	provider string
}

// New returns the alerter of cfg: its destinations are ALERT_URLS, and
// ALERT_EMAIL through SMTP_URL. With none it still logs each alert.
func New(cfg config.Config, deps Deps) (*Alerter, error) {
	dests, err := destinations(cfg)
	if err != nil {
		return nil, err
	}
	a := &Alerter{
		every:            cfg.AlertInterval,
		tick:             min(max(cfg.AlertInterval/10, 100*time.Millisecond), 5*time.Second),
		unavailableAfter: cfg.AlertUnavailableAfter,
		publicURL:        cfg.PublicURL,
		ledger:           deps.Ledger,
		memory:           newMemoryLedger(),
		log:              cmp.Or(deps.Log, slog.New(slog.DiscardHandler)),
		metrics:          deps.Metrics,
		now:              time.Now,
		wake:             make(chan struct{}, 1),
		pending:          map[key]Tally{},
		quietUntil:       map[key]time.Time{},
		signatures:       map[string]*burst{},
		reditus:          outage{kind: ReditusUnavailable},
		journal:          outage{kind: JournalUnavailable},
	}
	if a.every <= 0 {
		a.every = time.Hour
	}
	for _, d := range dests {
		a.senders = append(a.senders, &sender{dest: d, queue: make(chan Message, queueSize), timeout: attemptTimeout, backoff: backoff})
	}
	return a, nil
}

// providerName is the shape of a provider's name; anything else in a
// report is not one, and is not shown.
var providerName = regexp.MustCompile(`^[a-z0-9_-]{1,32}$`)

// Alert takes a report. It never blocks on a destination or a ledger: what
// the report adds is counted in memory, and Run is woken when an alert may
// be due at once.
func (a *Alerter) Alert(r Report) {
	if a == nil {
		return
	}
	if r.Provider != "" && !providerName.MatchString(r.Provider) {
		r.Provider = "unknown"
	}
	now := a.now()
	a.mu.Lock()
	t, counts := a.observe(r, now)
	urgent := false
	if counts {
		k := key{Kind(t.Kind), t.Provider}
		if prev, ok := a.pending[k]; ok {
			t = merge(prev, t)
		} else if len(a.pending) >= maxKeys {
			counts = false
		}
		if counts {
			a.pending[k] = t
			urgent = !now.Before(a.quietUntil[k])
		}
	}
	urgent = urgent || len(a.ended) > 0
	a.mu.Unlock()
	if urgent {
		select {
		case a.wake <- struct{}{}:
		default: // Run is woken already
		}
	}
}

// Run sends alerts until ctx ends: what Alert counted, claimed through the
// ledger, and what falls due as intervals end. At the end it claims what is
// left and gives the senders drainGrace to deliver it.
func (a *Alerter) Run(ctx context.Context) error {
	if a == nil {
		return nil
	}
	sendCtx, stopSending := context.WithCancel(context.WithoutCancel(ctx))
	defer stopSending()
	var wg sync.WaitGroup
	for _, s := range a.senders {
		wg.Go(func() { s.run(sendCtx, a) })
	}
	ticker := time.NewTicker(a.tick)
	defer ticker.Stop()
	for done := false; !done; {
		select {
		case <-ctx.Done():
			done = true
		case <-a.wake:
		case <-ticker.C:
			a.due(ctx)
		}
		a.flush(context.WithoutCancel(ctx))
	}
	for _, s := range a.senders {
		close(s.queue)
	}
	stop := time.AfterFunc(drainGrace, stopSending)
	defer stop.Stop()
	wg.Wait()
	return nil
}

// flush hands what Alert counted to the ledger, and sends what it claims:
// the first alert of an interval, and the resolved alerts.
func (a *Alerter) flush(ctx context.Context) {
	a.mu.Lock()
	pending, ended := a.pending, a.ended
	a.pending, a.ended = map[key]Tally{}, nil
	a.mu.Unlock()
	keys := make([]key, 0, len(pending))
	for k := range pending {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(x, y key) int { return cmp.Or(cmp.Compare(x.kind, y.kind), cmp.Compare(x.provider, y.provider)) })
	now := a.now()
	for _, k := range keys {
		due, send, next := a.add(ctx, pending[k], now)
		a.mu.Lock()
		a.quietUntil[k] = next
		a.mu.Unlock()
		if send {
			a.dispatch(a.message(due))
		}
	}
	for _, m := range ended {
		if a.resolve(ctx, m.Resolves) {
			a.dispatch(m)
		}
	}
}

// due sends the alerts whose interval ended with occurrences counted.
func (a *Alerter) due(ctx context.Context) {
	now := a.now()
	var due []Tally
	if a.ledger != nil {
		lctx, cancel := context.WithTimeout(ctx, ledgerWait)
		shared, err := a.ledger.DueAlerts(lctx, now, a.every)
		cancel()
		a.ledgerAnswered(err)
		due = append(due, shared...)
	}
	own, _ := a.memory.DueAlerts(ctx, now, a.every)
	for _, t := range append(due, own...) {
		a.dispatch(a.message(t))
	}
}

// add counts t in the shared ledger, or in memory while there is none or
// it fails: a journal that is down must not silence the alert saying so.
func (a *Alerter) add(ctx context.Context, t Tally, now time.Time) (Tally, bool, time.Time) {
	if a.ledger != nil {
		lctx, cancel := context.WithTimeout(ctx, ledgerWait)
		due, send, next, err := a.ledger.AddAlert(lctx, t, now, a.every)
		cancel()
		if a.ledgerAnswered(err) {
			return due, send, next
		}
	}
	due, send, next, _ := a.memory.AddAlert(ctx, t, now, a.every)
	return due, send, next
}

// resolve ends the outage of kind in both ledgers: the resolved alert is
// sent when either held an alert or a count of it.
func (a *Alerter) resolve(ctx context.Context, kind Kind) bool {
	shared := false
	if a.ledger != nil {
		lctx, cancel := context.WithTimeout(ctx, ledgerWait)
		ok, err := a.ledger.ResolveAlert(lctx, string(kind))
		cancel()
		shared = a.ledgerAnswered(err) && ok
	}
	own, _ := a.memory.ResolveAlert(ctx, string(kind))
	return shared || own
}

// ledgerAnswered reports whether err is nil, and logs the shared ledger
// failing once per failure, not once per call.
func (a *Alerter) ledgerAnswered(err error) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	switch {
	case err != nil && !a.ledgerDown:
		a.log.Error("alerts: the journal cannot keep their counts; counting in memory meanwhile (instances may each alert)", "err", err)
		a.ledgerDown = true
	case err == nil && a.ledgerDown:
		a.log.Info("alerts: counting in the journal again")
		a.ledgerDown = false
	}
	return err == nil
}

// dispatch logs m and queues it to every destination; a destination whose
// queue is full loses it, and counts it dropped.
func (a *Alerter) dispatch(m Message) {
	level := slog.LevelWarn
	if m.Kind == Resolved {
		level = slog.LevelInfo
	}
	a.log.Log(context.Background(), level, "alert", "kind", m.Kind, "provider", m.Provider, "count", m.Count,
		"first_at", m.First, "resolves", m.Resolves, "destinations", len(a.senders))
	for _, s := range a.senders {
		select {
		case s.queue <- m:
		default:
			a.metrics.Alert(string(m.Kind), "dropped")
			a.log.Error("alert dropped: its destination is not keeping up", "kind", m.Kind, "destination", s.dest.String())
		}
	}
}
