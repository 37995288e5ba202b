package pipeline

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/getreditus/reditus-bridge/internal/fakereditus"
	"github.com/getreditus/reditus-bridge/internal/webhooktest"
	"github.com/getreditus/reditus-bridge/journal"
	"github.com/getreditus/reditus-bridge/providers"
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
	sign := func(name string, body []byte) webhook {
		p, err := providers.Lookup(name)
		if err != nil {
			t.Fatal(err)
		}
		header, err := p.Scheme.Sign(webhooktest.Secrets(p)[len(webhooktest.Secrets(p))-1].Reveal(), "msg_"+name, body, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		return providerWebhook(name, header, body)
	}

	// The signup, while Reditus is down: queued.
	red.Respond(reditus.CallTrack, fakereditus.Status(503, ""))
	signup := []byte(`{"email":"john.doe@example.com","uid":"usr_john","affiliate_slug":"john"}`)
	b.do(t, sign("generic", signup)).Is(t, http.StatusAccepted, "queued")

	// Reditus is back; the first payment, with no referral data of its own.
	red.Respond(reditus.CallTrack, red.Reditus)
	pay := b.do(t, sign("lemonsqueezy", webhooktest.Fixture(t, "lemonsqueezy/order_created_no_referral.json")))
	pay.Is(t, http.StatusAccepted, "queued")
	webhooktest.MustContain(t, pay.Reason, "still queued")

	// The worker's turn: oldest first, as journal.Worker takes them.
	due, err := store.Due(context.Background(), time.Now().Add(time.Hour), time.Minute, 10)
	if err != nil || len(due) != 2 {
		t.Fatalf("due: %d records, %v; want the conversion and the payment", len(due), err)
	}
	for _, rec := range due {
		if f := h.Redeliver(context.Background(), rec); f.Outcome != "forwarded" {
			t.Errorf("%s %s redelivered: %+v, want forwarded", rec.Provider, rec.EventType, f)
		}
	}
	if len(red.Created()) != 1 || len(red.Paid()) != 1 {
		t.Errorf("Reditus holds %d referrals and %d payments, want 1 and 1", len(red.Created()), len(red.Paid()))
	}
}
