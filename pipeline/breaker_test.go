package pipeline

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/getreditus/reditus-bridge/internal/fakereditus"
	"github.com/getreditus/reditus-bridge/internal/webhooktest"
	"github.com/getreditus/reditus-bridge/journal"
	"github.com/getreditus/reditus-bridge/metrics"
	"github.com/getreditus/reditus-bridge/reditus"
)

// probeEvery is longer than any test here: no probe goes while they run.
const probeEvery = time.Hour

// brokenBridge is a bridge whose Reditus answers 503 to every call, through
// a client whose breaker opens after two failures, with store as its
// journal (none when nil). The first webhook opens the breaker.
func brokenBridge(t *testing.T, store webhooktest.Store) (*bridge, *reditus.Breaker) {
	t.Helper()
	red := fakereditus.New(t, fakereditus.WithKey(apiKey))
	red.RespondAll(fakereditus.Status(http.StatusServiceUnavailable, ``))
	breaker := reditus.NewBreaker(reditus.BreakerOptions{OpenAfter: 2, ProbeEvery: probeEvery})
	client := reditus.New(reditus.Options{BaseURL: red.BaseURL, APIKey: apiKey, AttemptTimeout: 200 * time.Millisecond, Budget: time.Second, Backoff: time.Millisecond, Breaker: breaker})
	b := &bridge{reditus: red, metrics: metrics.New()}
	deps := Deps{Reditus: client}
	if store != nil {
		deps.Journal = store
	}
	b.start(t, nil, deps)
	status, word := http.StatusServiceUnavailable, "retry"
	if store != nil {
		status, word = http.StatusAccepted, "queued"
	}
	b.do(t, stripeWebhook(customerCreated("evt_opens", "opens@example.com"), stripeSecret, time.Now())).Is(t, status, word)
	if breaker.State() != reditus.Open {
		t.Fatalf("breaker %v after two failures, want open", breaker.State())
	}
	return b, breaker
}

// While the breaker is open, a webhook is journaled and answered 202 queued
// at once, without a call to Reditus: no attempt is counted, the reason
// says why, and the record is due no sooner than the next probe. The worker
// redelivering it meanwhile is refused alike, and calls no one either.
func TestAnOpenBreakerAnswersQueuedWithoutACall(t *testing.T) {
	webhooktest.EachBackend(t, func(t *testing.T, be webhooktest.Backend) {
		store := webhooktest.OpenStore(t, be.Place(t))
		b, _ := brokenBridge(t, store)
		calls := b.reditus.Requests()

		start := time.Now()
		a := b.do(t, stripeWebhook(customerCreated("evt_held", "held@example.com"), stripeSecret, time.Now()))
		took := time.Since(start)
		a.Is(t, http.StatusAccepted, "queued")
		if !strings.Contains(a.Reason, "not called") {
			t.Errorf("reason %q does not say Reditus was not called", a.Reason)
		}
		if n := b.reditus.Requests(); n != calls {
			t.Errorf("%d calls to Reditus while the breaker is open, want 0", n-calls)
		}
		rec := webhooktest.RecordOf(t, store, "evt_held")
		if rec.Outcome != journal.Queued || rec.Attempts != 0 {
			t.Errorf("record: %s after %d attempts, want queued after 0", rec.Outcome, rec.Attempts)
		}
		if early := start.Add(probeEvery - time.Minute); rec.NextAttemptAt.Before(early) {
			t.Errorf("due at %v, want no sooner than the next probe (about %v)", rec.NextAttemptAt, start.Add(probeEvery))
		}
		t.Logf("answered queued in %v", took)

		f := b.pipeline.Redeliver(context.Background(), rec)
		if f.Outcome != journal.Queued || f.Attempts != 0 || f.NextAttemptAt.Before(start.Add(probeEvery-time.Minute)) {
			t.Errorf("Redeliver while open: %+v, want queued, 0 attempts, due at the next probe", f)
		}
		if n := b.reditus.Requests(); n != calls {
			t.Errorf("%d calls to Reditus from the worker while the breaker is open, want 0", n-calls)
		}
	})
}

// Without a journal nothing can hold the event: while the breaker is open a
// webhook is answered 503 retry at once, and Reditus is not called.
func TestAnOpenBreakerWithoutAJournalAnswersRetryAtOnce(t *testing.T) {
	b, _ := brokenBridge(t, nil)
	calls := b.reditus.Requests()
	a := b.do(t, stripeWebhook(customerCreated("evt_nojournal", "nj@example.com"), stripeSecret, time.Now()))
	a.Is(t, http.StatusServiceUnavailable, "retry")
	if n := b.reditus.Requests(); n != calls {
		t.Errorf("%d calls to Reditus while the breaker is open, want 0", n-calls)
	}
}
