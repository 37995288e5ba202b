package pipeline

import (
	"context"
	"fmt"

	"github.com/getreditus/reditus-bridge/journal"
	"github.com/getreditus/reditus-bridge/mapping"
	"github.com/getreditus/reditus-bridge/outcome"
)

// The order of a customer's events (docs/design.md, "Order"). Reditus takes
// money events as they come: a refund whose payment it does not hold yet is
// answered 404 and lost (and the payment, delivered later, keeps its
// commission), a payment for a customer whose conversion it does not hold
// yet is answered "not referred". Whatever the journal still holds of a
// customer, queued by an outage or being delivered right now, therefore goes
// first: one rule, asked before every money call, on every way in (a
// webhook, the worker, an operator's retry).

// customer is whom an event is about, and the payment it pays or refunds:
// what the journal keeps of it (journal.Record's UID, Email, PaymentKey) for
// the order rule.
type customer struct {
	uid, email, paymentKey string
}

func customerOf(ev mapping.Event) customer {
	return customer{uid: journalText(ev.UID()), email: journalText(ev.Email()), paymentKey: journalText(ev.PaymentKey())}
}

// Orderer finds what a customer's event must wait behind. *journal.DB is one.
type Orderer interface {
	Ahead(ctx context.Context, r journal.Record) (journal.Record, bool, error)
}

// held says whether the payment, refund or churn of ev, journaled as rec,
// must wait behind an earlier event of the same customer (uid or email) or
// the same payment that is still queued or pending, and the answer that
// holds it: queued behind that one, with a reason that names it, due when
// that one is. A conversion never waits (Reditus must have it within 30 s of
// the customer), so the conversion part of the same event is sent first.
// Without a record (no journal), or when the journal cannot answer, the
// event goes: the journal never makes the bridge less available.
func (p *Pipeline) held(ctx context.Context, rec *journal.Record, ev mapping.Event) (Result, bool) {
	if rec == nil || p.journal == nil || !ev.Money() {
		return Result{}, false
	}
	c := customerOf(ev)
	me := journal.Record{ID: rec.ID, UID: c.uid, Email: c.email, PaymentKey: c.paymentKey}
	type found struct {
		rec journal.Record
		ok  bool
	}
	earlier, err := detached(ctx, func(ctx context.Context) (found, error) {
		rec, ok, err := p.journal.Ahead(ctx, me)
		return found{rec, ok}, err
	})
	if err != nil {
		p.journalFailed(ctx, "ahead", err)
		return Result{}, false
	}
	if !earlier.ok {
		return Result{}, false
	}
	e := earlier.rec
	res := result(outcome.Held, fmt.Sprintf("waits behind the earlier event %s (%s %s) of the same customer or payment, still %s: sent once that one is done, so that Reditus gets them in order", e.DeliveryID, e.Provider, e.EventType, e.Outcome))
	if e.Outcome == journal.Queued {
		res.RetryAt = e.NextAttemptAt
	}
	return res, true
}
