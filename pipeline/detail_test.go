package pipeline

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/getreditus/reditus-bridge/internal/fakereditus"
	"github.com/getreditus/reditus-bridge/internal/webhooktest"
	"github.com/getreditus/reditus-bridge/outcome"
	"github.com/getreditus/reditus-bridge/reditus"
)

// The journal keeps how an event got where it is, for /admin's event page:
// every HTTP attempt at Reditus, the in-request retries of the webhook and
// the retry after them, with each answer; what was sent; and what the
// mapping found, and where.
func TestJournalKeepsEveryAttemptOfAnEvent(t *testing.T) {
	webhooktest.EachBackend(t, func(t *testing.T, be webhooktest.Backend) {
		ctx := context.Background()
		red := fakereditus.New(t, fakereditus.WithKey(apiKey))
		red.Respond(reditus.CallTrack, fakereditus.FailFirst(4, http.StatusServiceUnavailable, red.Reditus))
		store := webhooktest.OpenStore(t, be.Place(t))
		b := journaledBridge(t, red, store, nil)
		const email = "detail@example.com"
		b.do(t, stripeWebhook(customerCreated("evt_detail", email), stripeSecret, time.Now())).Is(t, http.StatusAccepted, "queued")
		id := webhooktest.RecordOf(t, store, "evt_detail").ID
		if res, err := b.pipeline.Retry(ctx, id, outcome.WordQueued); err != nil || res.Outcome != outcome.WordForwarded {
			t.Fatalf("Retry: %v, %v", res.Outcome, err)
		}
		rec, err := store.Get(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		var statuses []int
		for _, a := range rec.AttemptLog {
			statuses = append(statuses, a.Status)
			if a.Call != "track" || a.At.IsZero() || a.Latency <= 0 {
				t.Errorf("attempt %+v", a)
			}
		}
		if len(statuses) != 5 || statuses[0] != 503 || statuses[3] != 503 || statuses[4] != 201 ||
			rec.AttemptLog[0].Outcome != outcome.WordRetry || rec.AttemptLog[4].Outcome != outcome.WordForwarded {
			t.Errorf("attempts %v, want the webhook's four 503s, then the retry's 201", statuses)
		}
		var sent reditus.Conversion
		if len(rec.Sent) != 1 || rec.Sent[0].Call != "track" || json.Unmarshal(rec.Sent[0].Body, &sent) != nil || sent.Email != email || sent.AffiliateSlug != "john" {
			t.Errorf("sent %+v", rec.Sent)
		}
		if rec.AffiliateSlug != "john" || len(rec.Found) == 0 || rec.Found[0].From != "red in customer metadata" {
			t.Errorf("slug %q, found %+v", rec.AffiliateSlug, rec.Found)
		}
	})
}

// A skip calls no one, and says what was found where.
func TestJournalKeepsWhatASkipFound(t *testing.T) {
	store := webhooktest.OpenStore(t, webhooktest.Backends[0].Place(t))
	b := journaledBridge(t, fakereditus.New(t, fakereditus.WithKey(apiKey)), store, nil)
	body := []byte(`{"id":"evt_skip","object":"event","type":"customer.created","livemode":true,
		"data":{"object":{"id":"cus_skip","object":"customer","email":"skip@example.com","livemode":true,"metadata":{"red":"bad slug\u0007"}}}}`)
	b.do(t, stripeWebhook(body, stripeSecret, time.Now())).Is(t, http.StatusOK, "skipped")
	rec, err := store.Get(context.Background(), webhooktest.RecordOf(t, store, "evt_skip").ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(rec.AttemptLog) != 0 || len(rec.Sent) != 0 || len(rec.Found) == 0 || rec.Found[0].Value != "bad slug\a" || rec.AffiliateSlug != "bad slug\a" {
		t.Errorf("attempts %+v, sent %+v, found %+v, slug %q", rec.AttemptLog, rec.Sent, rec.Found, rec.AffiliateSlug)
	}
}
