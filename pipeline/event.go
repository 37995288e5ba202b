package pipeline

import (
	"context"
	"fmt"

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
// be skipped.
func (p *Pipeline) send(ctx context.Context, rec *journal.Record, ev mapping.Event) Result {
	res := result(outcome.Skipped, ev.Skip)
	if ev.Skip == "" {
		// The sender hanging up must not abandon a conversion half-sent:
		// finishing it costs at most the Reditus client's budget, and the
		// sender's re-send then finds it done instead of racing it.
		res = p.forward(context.WithoutCancel(ctx), rec, ev)
	}
	res.customer = customerOf(ev)
	return res
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
	return money
}
