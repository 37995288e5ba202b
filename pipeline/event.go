package pipeline

import (
	"context"
	"fmt"
	"sync"

	"github.com/getreditus/reditus-bridge/journal"
	"github.com/getreditus/reditus-bridge/mapping"
	"github.com/getreditus/reditus-bridge/outcome"
	"github.com/getreditus/reditus-bridge/reditus"
)

// event maps a verified body, and looks further for referral data it lacks
// where the provider names related objects (Stripe, with STRIPE_API_KEY).
// On an error it still returns what it knew of the event, for the log line.
func (p *Pipeline) event(ctx context.Context, a arrival) (mapping.Event, error) {
	r, ok := p.routes[a.provider]
	if !ok {
		// A record journaled by a bridge with a provider this one lacks.
		return mapping.Event{}, outcome.New(outcome.Rejected, "no provider %q in this bridge", a.provider)
	}
	ev, err := r.Map(a.body, r.options)
	if a.id != "" {
		ev.ID = a.id
	}
	if err != nil {
		return ev, err
	}
	if p.stripe == nil || !ev.NeedsLookups() {
		return ev, nil
	}
	ctx, cancel := context.WithTimeout(ctx, lookupBudget)
	defer cancel()
	related, err := p.stripe.Fetch(ctx, ev.Lookups)
	if err != nil {
		return ev, fmt.Errorf("look up related stripe objects: %w", err)
	}
	return ev.WithRelated(related...), nil
}

// send forwards ev, journaled as rec (nil: not journaled), unless it is to
// be skipped. The Result says whom the event is about, what the mapping
// found, and every attempt made at Reditus, for the journal.
func (p *Pipeline) send(ctx context.Context, rec *journal.Record, ev mapping.Event) Result {
	res := p.sent(ctx, rec, ev)
	res.customer = customerOf(ev)
	return res
}

// sent is send's Result, without whom the event is about.
func (p *Pipeline) sent(ctx context.Context, rec *journal.Record, ev mapping.Event) Result {
	// The sender hanging up must not abandon a conversion half-sent:
	// finishing it costs at most the Reditus client's budget, and the
	// sender's re-send then finds it done instead of racing it.
	ctx = context.WithoutCancel(ctx)
	switch {
	case ev.Skip != "":
		res := result(outcome.Skipped, ev.Skip)
		if p.journal != nil {
			res.Found = ev.Found()
		}
		return res
	case p.journal == nil: // nothing keeps the detail
		return p.forward(ctx, rec, ev)
	}
	var tried attempts
	res := p.forward(reditus.WithAttempts(ctx, tried.add), rec, ev)
	res.Found, res.Attempts = ev.Found(), tried.all()
	return res
}

// attempts collects the attempts at Reditus of one event.
type attempts struct {
	mu   sync.Mutex
	list []reditus.Attempt
}

func (a *attempts) add(at reditus.Attempt) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.list = append(a.list, at)
}

func (a *attempts) all() []reditus.Attempt {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.list
}

// forward sends what the event reports: its conversion, then its payment,
// refund or churn. The money call is made only once the conversion is in
// Reditus (or there is none), so that Reditus knows the customer when the
// payment arrives, and none of the customer's earlier events is still held
// by the journal (held). In dry run it says what would have been sent.
func (p *Pipeline) forward(ctx context.Context, rec *journal.Record, ev mapping.Event) Result {
	conv := ev.Conversion
	if p.dryRun {
		res := result(outcome.DryRun, "dry run: nothing was sent (REDITUS_API_KEY is not set, or DRY_RUN=true)")
		if conv != (reditus.Conversion{}) {
			res.Conversion = &conv
		}
		res.Payment, res.Refund, res.Churn, res.Sent = ev.Payment, ev.Refund, ev.Churn, conv
		return res
	}
	res := result(outcome.Forwarded, ev.Note)
	if conv != (reditus.Conversion{}) {
		created, err := p.reditus.Track(ctx, conv)
		if err != nil {
			res = ErrorResult(err)
		}
		res.ReferralID, res.Sent = created.ReferralID, conv
		if code := res.Code; code != outcome.Forwarded && code != outcome.Duplicate {
			return res
		}
	}
	if held, ok := p.held(ctx, rec, ev); ok {
		held.ReferralID, held.Sent = res.ReferralID, res.Sent
		return held
	}
	var err error
	switch {
	case ev.Payment != nil:
		err = p.reditus.Pay(ctx, *ev.Payment)
	case ev.Refund != nil:
		err = p.reditus.Refund(ctx, *ev.Refund)
	case ev.Churn != nil:
		err = p.reditus.Churn(ctx, *ev.Churn)
	default:
		return res
	}
	// The conversion, if any, is in Reditus: the money call's outcome is
	// the event's. A payment already recorded (409) was forwarded before.
	money := result(outcome.Forwarded, ev.Note)
	if err != nil && outcome.Of(err) != outcome.Duplicate {
		money = ErrorResult(err)
	}
	money.ReferralID, money.Sent = res.ReferralID, res.Sent
	// A conversion sent before a refused money call was an attempt.
	money.uncalled = money.uncalled && conv == (reditus.Conversion{})
	return money
}
