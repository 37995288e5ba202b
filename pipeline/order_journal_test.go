package pipeline

import (
	"bytes"
	"context"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/getreditus/reditus-bridge/internal/fakereditus"
	"github.com/getreditus/reditus-bridge/internal/webhooktest"
	"github.com/getreditus/reditus-bridge/journal"
	"github.com/getreditus/reditus-bridge/reditus"
)

// A payment reaches Reditus only after its customer's conversion: when the
// signup's conversion is queued by an outage and the first payment arrives
// once Reditus is back, Reditus does not know the customer yet. The payment
// must be queued behind the conversion, not skipped as "not referred", and
// the worker then delivers both, in order.
func TestPaymentWaitsForItsQueuedConversion(t *testing.T) {
	store := webhooktest.OpenStore(t, journal.Options{DataDir: t.TempDir()})
	red := fakereditus.New(t, fakereditus.WithKey(apiKey), fakereditus.NeedsReferral())
	b := journaledBridge(t, red, store, nil)
	h := b.pipeline
	sign := func(name string, body []byte) webhook { return signedAs(t, name, "msg_"+name, body) }

	// The signup, while Reditus is down: queued.
	red.Respond(reditus.CallTrack, fakereditus.Status(503, ""))
	signup := []byte(`{"email":"john.doe@example.com","uid":"usr_john","affiliate_slug":"john"}`)
	b.do(t, sign("generic", signup)).Is(t, http.StatusAccepted, "queued")

	// Reditus is back; the first payment, with no referral data of its own.
	red.Respond(reditus.CallTrack, red.Reditus)
	pay := b.do(t, sign("lemonsqueezy", webhooktest.Fixture(t, "lemonsqueezy/order_created_no_referral.json")))
	pay.Is(t, http.StatusAccepted, "queued")
	webhooktest.MustContain(t, pay.Reason, "still queued")

	// The worker's turn: oldest first, each finished before the next, as
	// journal.Worker delivers a customer's records.
	due, err := store.Due(context.Background(), time.Now().Add(time.Hour), time.Minute, 10)
	if err != nil || len(due) != 2 {
		t.Fatalf("due: %d records, %v; want the conversion and the payment", len(due), err)
	}
	for _, rec := range due {
		f := h.Redeliver(context.Background(), rec)
		if f.Outcome != "forwarded" {
			t.Errorf("%s %s redelivered: %+v, want forwarded", rec.Provider, rec.EventType, f)
		}
		f.Lease = rec.NextAttemptAt
		if err := store.Finish(context.Background(), rec.ID, f); err != nil {
			t.Fatal(err)
		}
	}
	if len(red.Created()) != 1 || len(red.Paid()) != 1 {
		t.Errorf("Reditus holds %d referrals and %d payments, want 1 and 1", len(red.Created()), len(red.Paid()))
	}
}

// drain runs a journal.Worker on store through h until done holds (or 10 s
// pass): a clock that moves ten minutes a call makes every record due at
// the next poll.
func drain(t *testing.T, store webhooktest.Store, h *Pipeline, done func() bool) {
	t.Helper()
	var ticks atomic.Int64
	w := &journal.Worker{Store: store, Deliver: h.Redeliver, Interval: 10 * time.Millisecond,
		Now: func() time.Time { return time.Now().Add(time.Duration(ticks.Add(1)) * 10 * time.Minute) }}
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	go func() { _ = w.Run(ctx); close(stopped) }()
	defer func() { cancel(); <-stopped }()
	for deadline := time.Now().Add(10 * time.Second); !done(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the worker did not deliver what was held within 10 s")
		}
	}
}

// A full refund that arrives while its payment is queued (an outage) waits
// behind it: it is not sent, where Reditus would answer 404 (payment not
// found) and the payment, delivered later, would keep its commission. A
// retry from /admin waits alike. The worker then sends the payment, and the
// refund after it. The refund's record carries the customer's email, so
// that /admin?email= finds it.
func TestARefundWaitsForItsQueuedPayment(t *testing.T) {
	ctx := context.Background()
	store := webhooktest.OpenStore(t, journal.Options{DataDir: t.TempDir()})
	red := fakereditus.New(t, fakereditus.WithKey(apiKey), fakereditus.NeedsReferral())
	b := journaledBridge(t, red, store, nil)

	red.RespondAll(fakereditus.Status(503, ""))
	b.do(t, signedAs(t, "lemonsqueezy", "", webhooktest.Fixture(t, "lemonsqueezy/order_created.json"))).Is(t, http.StatusAccepted, "queued")
	red.RespondAll(nil)
	refund := b.do(t, signedAs(t, "lemonsqueezy", "", webhooktest.Fixture(t, "lemonsqueezy/order_refunded.json")))
	refund.Is(t, http.StatusAccepted, "queued")
	webhooktest.MustContain(t, refund.Reason, "waits behind the earlier event 7f4c2a9e-3b1d-4e8f-9a6c-5d2e1f0b8c47 (lemonsqueezy order_created)")
	rec := recordOf(t, store, "lemonsqueezy", "5a8e2c7f-1d4b-4e9a-b3c6-0f7d2a9e5c18")
	if res, err := b.pipeline.Retry(ctx, rec.ID, rec.Outcome); err != nil || res.Journaled != journal.Queued {
		t.Errorf("an operator's retry of the refund: %+v, %v; want it held, queued", res, err)
	}
	if n := len(red.Refunds()); n != 0 {
		t.Fatalf("Reditus got %d refunds before the payment, want none", n)
	}
	if rec := recordOf(t, store, "lemonsqueezy", "5a8e2c7f-1d4b-4e9a-b3c6-0f7d2a9e5c18"); rec.Email != "john.doe@example.com" || rec.Attempts != 0 {
		t.Errorf("the refund's record: email %q, %d attempts; want the customer's, none", rec.Email, rec.Attempts)
	}

	drain(t, store, b.pipeline, func() bool { return len(red.Refunded()) == 1 })
	if len(red.Paid()) != 1 || len(red.Refunds()) != 1 {
		t.Errorf("Reditus holds %d payments and got %d refunds, want 1 and 1: the refund once, after its payment", len(red.Paid()), len(red.Refunds()))
	}
}

// A payment whose customer Reditus knows only by uid (a Polar order whose
// customer's external_id is the app's user id, the signup sent with that uid
// and no email) waits behind that uid's queued conversion: sent first,
// Reditus would answer "not referred", and the payment would be lost as
// skipped. A conversion part of the same event is sent at once all the
// same: Reditus must have it within 30 s of the customer.
func TestAPaymentWaitsForItsCustomersQueuedConversion(t *testing.T) {
	store := webhooktest.OpenStore(t, journal.Options{DataDir: t.TempDir()})
	red := fakereditus.New(t, fakereditus.WithKey(apiKey), fakereditus.NeedsReferral(), fakereditus.Conflicts())
	b := journaledBridge(t, red, store, nil)

	red.Respond(reditus.CallTrack, fakereditus.Status(503, ""))
	b.do(t, signedAs(t, "generic", "msg_signup", []byte(`{"uid":"usr_polar","affiliate_slug":"john"}`))).Is(t, http.StatusAccepted, "queued")
	red.Respond(reditus.CallTrack, nil)
	asUser := func(fixture string) []byte {
		return bytes.Replace(webhooktest.Fixture(t, fixture), []byte(`"external_id": null`), []byte(`"external_id": "usr_polar"`), 1)
	}
	b.do(t, signedAs(t, "polar", "msg_order", asUser("polar/order_paid_no_referral.json"))).Is(t, http.StatusAccepted, "queued")
	// Another order of the same user, with referral data: its conversion
	// goes at once; its payment waits too.
	withReferral := bytes.Replace(webhooktest.Fixture(t, "polar/order_paid.json"), []byte(`"external_id": "usr_1337"`), []byte(`"external_id": "usr_polar"`), 1)
	b.do(t, signedAs(t, "polar", "msg_order_2", withReferral)).Is(t, http.StatusAccepted, "queued")
	if n := len(red.Payments()); n != 0 {
		t.Fatalf("Reditus got %d payments before the customer's conversion, want none", n)
	}
	if c := red.Created(); len(c) != 1 || c[0].UID != "usr_polar" || c[0].Email != "john.doe@example.com" {
		t.Errorf("Reditus created %+v, want the second order's conversion, at once", c)
	}

	drain(t, store, b.pipeline, func() bool { return len(red.Paid()) == 2 })
	for _, p := range red.Paid() {
		if p.ReferralUID != "usr_polar" {
			t.Errorf("Reditus holds the payment %+v, want usr_polar's", p)
		}
	}
	if n := len(red.Payments()); n != 2 {
		t.Errorf("Reditus got %d payment calls, want 2: each once, after the conversion", n)
	}
}

// recordOf is the journal's record of provider's delivery id.
func recordOf(t *testing.T, s webhooktest.Store, provider, id string) journal.Record {
	t.Helper()
	recs, err := s.List(context.Background(), journal.Filter{Provider: provider, DeliveryID: id})
	if err != nil || len(recs) != 1 {
		t.Fatalf("the journal holds %d records of %s %s (%v), want 1", len(recs), provider, id, err)
	}
	return recs[0]
}
