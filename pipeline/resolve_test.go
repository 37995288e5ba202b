package pipeline

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/getreditus/reditus-bridge/config"
	"github.com/getreditus/reditus-bridge/internal/fakemollie"
	"github.com/getreditus/reditus-bridge/internal/fakereditus"
	"github.com/getreditus/reditus-bridge/internal/webhooktest"
	"github.com/getreditus/reditus-bridge/journal"
	"github.com/getreditus/reditus-bridge/outcome"
)

// A provider's API step (Mollie's: a classic webhook names a payment, which
// the step reads) runs between verify and map, and the journal keeps what it
// returned: queued during a Reditus outage, the event is delivered by the
// worker from its record, without calling the provider's API again, even
// once that API is down too. A failed step journals nothing: a forged id
// (400) and the API down (503) leave the sender to retry.
func TestAnAPIStepsBodyIsJournaledAndRedeliveredWithoutTheAPI(t *testing.T) {
	const key = "live_pipeline_resolve_key"
	api := fakemollie.New(t, key)
	api.AddResolved(t, webhooktest.Fixture(t, "mollie/payment_first_paid.json"))
	store := webhooktest.OpenStore(t, journal.Options{DataDir: t.TempDir()})
	red := fakereditus.New(t, fakereditus.WithKey(apiKey))
	b := journaledBridge(t, red, store, func(c *config.Config) {
		webhooktest.SetWebhook(c, "mollie", func(w *config.Webhook) { w.APIKey, w.APIURL = key, api.URL })
	})
	classic := func(id string) webhooktest.Answer {
		return b.do(t, providerWebhook("mollie", http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}, []byte("id="+id)))
	}

	classic("tr_Forged0000").Is(t, http.StatusBadRequest, "invalid_signature")
	api.Down(true)
	classic("tr_WDqYK6vllg").Is(t, http.StatusServiceUnavailable, "retry")
	if recs, _ := store.List(context.Background(), journal.Filter{Limit: 10}); len(recs) != 0 {
		t.Fatalf("the journal holds %d records of failed steps, want none", len(recs))
	}

	api.Down(false)
	red.RespondAll(fakereditus.Status(http.StatusServiceUnavailable, `{"error":"down"}`, "Retry-After", "0"))
	classic("tr_WDqYK6vllg").Is(t, http.StatusAccepted, "queued")
	reads := len(api.Requests())
	due, err := store.Due(context.Background(), time.Now().Add(time.Hour), time.Minute, 10)
	if err != nil || len(due) != 1 {
		t.Fatalf("Due: %d records, %v; want the queued one", len(due), err)
	}
	if body := string(due[0].Body); !strings.Contains(body, `"resource":"payment"`) || !strings.Contains(body, `"customer":`) || due[0].DeliveryID != "tr_WDqYK6vllg:paid" {
		t.Errorf("journaled %s: %.200s; want the payment as read, its customer embedded", due[0].DeliveryID, body)
	}

	api.Down(true)
	red.RespondAll(red.Reditus)
	if f := b.pipeline.Redeliver(context.Background(), due[0]); f.Outcome != outcome.WordForwarded {
		t.Errorf("the worker's delivery: %+v, want forwarded", f)
	}
	if n := len(api.Requests()); n != reads {
		t.Errorf("the worker called Mollie's API %d times, want none", n-reads)
	}
	if got := red.Payments(); len(got) != 1 || got[0].IdempotencyKey != "mollie:payment:tr_WDqYK6vllg" {
		t.Errorf("Reditus received payments %+v", got)
	}
}
