// Package pipeline is the one path every event takes to Reditus, whichever
// way it came in: a signed webhook (handlers), a body replayed from the
// provider's own API (backfill, recover), a queued record (the journal's
// worker), or an operator's retry (/admin).
//
// The path of one event (run):
//
//  1. verify: the provider's signature over the raw body (webhooks only);
//     the unverified body's memory is given back right after.
//  2. map: the provider's mapping makes a mapping.Event of the body.
//  3. look up: Stripe objects the event names, when it lacks referral data.
//  4. claim: the journal records the delivery as pending under a lease, or
//     answers a copy already delivered from its record (once); without a
//     journal, the memory of recent deliveries does.
//  5. forward: the conversion, then the payment, refund or churn, to Reditus.
//  6. outcome: one table (answer.go) gives the code its HTTP status, word,
//     log level and journal state; the state is committed before the
//     answer (settle), and an outage the journal holds is answered queued.
//  7. log: one line per event.
package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/getreditus/reditus-bridge/config"
	"github.com/getreditus/reditus-bridge/journal"
	"github.com/getreditus/reditus-bridge/mapping"
	"github.com/getreditus/reditus-bridge/metrics"
	"github.com/getreditus/reditus-bridge/outcome"
	"github.com/getreditus/reditus-bridge/providers"
	"github.com/getreditus/reditus-bridge/reditus"
	"github.com/getreditus/reditus-bridge/verify"
)

// Reditus is where the pipeline sends conversions, payments, refunds and
// churn. *reditus.Client is one.
type Reditus interface {
	Track(ctx context.Context, c reditus.Conversion) (reditus.Result, error)
	Pay(ctx context.Context, p reditus.Payment) error
	Refund(ctx context.Context, r reditus.Refund) error
	Churn(ctx context.Context, c reditus.Churn) error
}

// StripeFetcher fetches the Stripe objects an event names when it lacks
// referral data. *stripeapi.Client is one.
type StripeFetcher interface {
	Fetch(ctx context.Context, lookups []mapping.StripeLookup) ([]mapping.Related, error)
}

// Deps are what New wires together. A nil field turns its part off.
type Deps struct {
	Reditus Reditus       // never called in dry run
	Stripe  StripeFetcher // Stripe API look-ups; nil without STRIPE_API_KEY
	Journal Journal       // nil: in-memory dedupe only, nothing queued
	Log     *slog.Logger
	Metrics *metrics.Metrics
	Alerter Alerter // nil: no alerts
}

// Memory for re-sent deliveries: a sender re-sends within seconds or minutes,
// and 4096 answers are a few hundred KiB.
const (
	rememberDeliveries = 4096
	rememberFor        = 10 * time.Minute
)

// lookupBudget bounds the Stripe look-ups for one event. With Reditus's 7 s
// budget it keeps the answer under 10 s.
const lookupBudget = 2 * time.Second

// Pipeline runs events to Reditus. It is safe for concurrent use.
type Pipeline struct {
	dryRun     bool
	reditus    Reditus
	stripe     StripeFetcher
	journal    Journal
	log        *slog.Logger
	metrics    *metrics.Metrics
	alerter    Alerter
	deliveries *deliveries
	routes     map[string]route // by provider name
}

// route is one provider as the pipeline runs it.
type route struct {
	providers.Provider
	check   verify.Func        // nil: the provider is off (no secret)
	resolve providers.Resolver // nil: the verified body is the event
	options mapping.Options
}

// New returns the pipeline for every registered provider under cfg. It
// fails when a provider's secret cannot verify anything, naming the
// variable.
func New(cfg config.Config, deps Deps) (*Pipeline, error) {
	if deps.Log == nil {
		deps.Log = slog.New(slog.DiscardHandler)
	}
	p := &Pipeline{
		dryRun:     cfg.DryRun(),
		reditus:    deps.Reditus,
		stripe:     deps.Stripe,
		journal:    deps.Journal,
		log:        deps.Log,
		metrics:    deps.Metrics,
		alerter:    deps.Alerter,
		deliveries: newDeliveries(rememberDeliveries, rememberFor),
		routes:     map[string]route{},
	}
	for _, provider := range providers.All() {
		r, err := newRoute(cfg, provider)
		if err != nil {
			return nil, err
		}
		p.routes[provider.Name] = r
	}
	return p, nil
}

// newRoute prepares provider p under cfg: its verifier, or off without a
// secret.
func newRoute(cfg config.Config, p providers.Provider) (route, error) {
	settings, err := cfg.Webhook(p.Name)
	if err != nil {
		return route{}, err
	}
	r := route{Provider: p, options: mapping.Options{AcceptTestEvents: settings.AcceptTestEvents}}
	if cfg.Enabled(p) {
		if r.check, err = p.Scheme.Verifier(cfg.WebhookSecrets(p).Reveal()); err != nil {
			return route{}, fmt.Errorf("%s: %w", p.SecretVar(), err)
		}
		r.resolve = resolver(cfg, p)
	}
	return r, nil
}

// Delivery is one webhook as handlers hand it over.
type Delivery struct {
	Provider string // the provider whose route it came to
	Header   http.Header
	// Read returns the raw body, which the signature is computed over, and
	// release, which the pipeline calls as soon as the signature is checked:
	// until then the body is a stranger's bytes, which handlers bound. Its
	// error is the delivery's outcome (outcome.Busy, *http.MaxBytesError,
	// outcome.IncompleteBody).
	Read func() (body []byte, release func(), err error)
}

// Webhook runs one delivery through the pipeline: read and verify, then
// the rest of the path, and says what to answer.
func (p *Pipeline) Webhook(ctx context.Context, d Delivery) Result {
	start := time.Now()
	a, err := p.verified(d)
	if err == nil {
		a.body, err = p.resolved(ctx, a.provider, d.Header, a.body)
	}
	if err != nil {
		res := ErrorResult(err)
		p.logLine(ctx, d.Provider, res, start)
		p.notify(d.Provider, res)
		return res
	}
	return p.run(ctx, a, start)
}

// verified reads d's body and checks its signature: the arrival of a
// verified webhook.
func (p *Pipeline) verified(d Delivery) (arrival, error) {
	r, ok := p.routes[d.Provider]
	switch {
	case !ok:
		return arrival{}, outcome.New(outcome.Disabled, "no provider %q", d.Provider)
	case r.check == nil:
		return arrival{}, outcome.New(outcome.Disabled, "%s webhooks are off: set %s", r.Name, r.OnVar())
	}
	body, release, err := d.Read()
	if err != nil {
		return arrival{}, err
	}
	// Verified or refused, the body is no longer a stranger's bytes; the
	// deferred release gives them back even if a verifier panicked, so that
	// the budget cannot leak.
	err = func() error {
		defer release()
		return r.check(d.Header, body)
	}()
	if err != nil {
		return arrival{}, err
	}
	a := arrival{via: fromWebhook, provider: r.Name, body: body}
	if r.DeliveryID != nil {
		a.id = r.DeliveryID(d.Header)
	}
	return a, nil
}

// Process runs an event that the bridge fetched from the provider's own API
// (so it carries no signature to check) through the pipeline: map, look up,
// forward and log, exactly as if it had arrived signed. The backfill and
// recover commands replay history through it; they run no worker, so what
// Reditus cannot take is journaled failed, for their next run, not queued.
func (p *Pipeline) Process(ctx context.Context, provider string, body []byte) Result {
	start := time.Now()
	if _, ok := p.routes[provider]; !ok {
		res := result(outcome.Disabled, fmt.Sprintf("no provider %q", provider))
		p.logLine(ctx, provider, res, start)
		return res
	}
	return p.run(ctx, arrival{via: fromReplay, provider: provider, body: body}, start)
}

// Redeliver runs a journaled event through the pipeline again for the
// journal's worker (journal.Worker's Deliver), and says how it ended; the
// worker records it, with its backoff and RETRY_FOR. A failure that a later
// attempt may cure is queued.
func (p *Pipeline) Redeliver(ctx context.Context, rec journal.Record) journal.Finish {
	return finishOf(p.run(ctx, claimed(fromWorker, rec), time.Now()))
}

// Retry runs journaled event id through the pipeline again at an operator's
// request (/admin), after a configuration fix: it takes the record, delivers
// it and records the new outcome; the Result's Journaled says which. It
// runs only while the record's outcome is still was, the one the operator's
// rule allowed: an event delivered meanwhile is not sent again. Its error
// matches journal.ErrNotFound, journal.ErrBusy (being delivered, or changed)
// or journal.ErrNoBody (a record kept without its body has nothing to run).
func (p *Pipeline) Retry(ctx context.Context, id int64, was outcome.Word) (Result, error) {
	if p.journal == nil {
		return Result{}, errors.New("no journal")
	}
	if rec, err := p.journal.Get(ctx, id); err != nil {
		return Result{}, err
	} else if !rec.HasBody {
		return Result{}, journal.ErrNoBody
	}
	rec, err := p.journal.Retake(ctx, id, lease, was)
	if err != nil {
		return Result{}, err
	}
	return p.run(ctx, claimed(fromOperator, rec), time.Now()), nil
}

// arrival is one event on its way in: how it came, and what it is.
type arrival struct {
	via      entry
	provider string
	body     []byte
	// id is the delivery id the sender's headers or the journal give the
	// event; "" lets the event's own id stand.
	id string
	// rec is the journal's record when the event was claimed before it came
	// in (the worker, an operator's retry); nil when the pipeline claims it.
	rec *journal.Record
}

// claimed is the arrival of a journaled record that via already holds.
func claimed(via entry, rec journal.Record) arrival {
	return arrival{via: via, provider: rec.Provider, body: rec.Body, id: rec.DeliveryID, rec: &rec}
}

// run is the path every arrival takes after verification: the event, what
// became of it (once), its journal state, and its one log line. It is the
// one place a Result is made from an event or an error.
func (p *Pipeline) run(ctx context.Context, a arrival, start time.Time) Result {
	ev, err := p.event(ctx, a)
	var res Result
	switch {
	case err == nil:
		res = p.once(ctx, a, ev)
	case a.rec != nil:
		// A claimed record is finished whatever became of it, or it would
		// stay pending until its lease ran out.
		res = p.settle(ctx, a, *a.rec, ErrorResult(err))
	default:
		res = p.unreadable(ctx, a, ev, err)
	}
	res.EventID, res.EventType = ev.ID, ev.Type
	p.logLine(ctx, a.provider, res, start)
	p.notify(a.provider, res)
	return res
}
