package pipeline

import (
	"context"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/getreditus/reditus-bridge/config"
	"github.com/getreditus/reditus-bridge/internal/fakereditus"
	"github.com/getreditus/reditus-bridge/internal/webhooktest"
	"github.com/getreditus/reditus-bridge/journal"
	"github.com/getreditus/reditus-bridge/providers"
	"github.com/getreditus/reditus-bridge/reditus"
)

// A dry run sends nothing, so its journal record must not answer the same
// delivery once the bridge is live (DRY_RUN=true then false on one DATA_DIR,
// or `backfill --dry-run` then `backfill`): it is sent for real, once.
func TestDryRunRecordDoesNotAnswerALiveDelivery(t *testing.T) {
	store := webhooktest.OpenStore(t, journal.Options{DataDir: t.TempDir()})
	fake := fakereditus.New(t, fakereditus.WithKey(apiKey))
	bridgeOn := func(dryRun bool) *bridge {
		return journaledBridge(t, fake, store, func(c *config.Config) { c.DryRunRequested = dryRun })
	}
	body := stripeFixture(t, "customer.created.json")
	send := func(b *bridge) webhooktest.Answer { return b.do(t, stripeWebhook(body, stripeSecret, time.Now())) }

	send(bridgeOn(true)).Is(t, http.StatusOK, "dry_run")
	if n := len(fake.Conversions()); n != 0 {
		t.Fatalf("dry run sent %d conversions", n)
	}
	live := bridgeOn(false)
	send(live).Is(t, http.StatusOK, "forwarded")
	send(live).Is(t, http.StatusOK, "forwarded") // now answered from the record
	if n := len(fake.Conversions()); n != 1 {
		t.Errorf("Reditus got %d conversions, want 1: sent once, for real", n)
	}
}

// backfill and recover journal what they send but run no worker: what Reditus
// could not take is recorded failed and answered 503 (their run is "not
// done"), never queued into a journal nobody may read; their next run takes
// it again.
func TestNoQueueRecordsFailedForTheNextRun(t *testing.T) {
	store := webhooktest.OpenStore(t, journal.Options{DataDir: t.TempDir()})
	red := fakereditus.New(t, fakereditus.WithKey(apiKey))
	h := journaledBridge(t, red, store, nil).pipeline
	body := stripeFixture(t, "customer.created.json")

	red.Respond(reditus.CallTrack, fakereditus.Status(503, ""))
	if res := h.Process(context.Background(), "stripe", body); res.Acknowledged() || res.Outcome != "retry" {
		t.Fatalf("Reditus down: %+v, want 503 retry", res)
	}
	recs, err := store.List(context.Background(), journal.Filter{})
	if err != nil || len(recs) != 1 || recs[0].Outcome != journal.Failed {
		t.Fatalf("journal: %+v, %v; want one failed record", recs, err)
	}
	red.Respond(reditus.CallTrack, red.Reditus)
	if res := h.Process(context.Background(), "stripe", body); res.Outcome != "forwarded" {
		t.Errorf("the next run: %+v, want forwarded", res)
	}
}

// Every verified webhook is journaled, even one with no id of its own (a
// Supabase UPDATE, which is skipped): under its body's digest, so that the
// operator sees why it was not tracked, and the same bytes re-sent are one.
func TestEventWithoutIDIsJournaled(t *testing.T) {
	store := webhooktest.OpenStore(t, journal.Options{DataDir: t.TempDir()})
	h, err := New(webhooktest.Config("http://127.0.0.1:1"), Deps{Journal: store, Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	b := &bridge{pipeline: h}
	body := webhooktest.Fixture(t, "supabase/update.json")
	supabase, err := providers.Lookup("supabase")
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		header, _ := supabase.Scheme.Sign(webhooktest.Secrets(supabase)[0].Reveal(), "", body, time.Now())
		req := providerWebhook("supabase", header, body)
		b.do(t, req).Is(t, http.StatusOK, "skipped")
	}
	recs, err := store.List(context.Background(), journal.Filter{Provider: "supabase"})
	if err != nil || len(recs) != 1 || recs[0].Outcome != "skipped" || recs[0].Reason == "" {
		t.Fatalf("journal: %+v, %v; want one skipped record with its reason", recs, err)
	}
}

// A skipped event re-sent after the configuration changed is mapped again:
// the record of a skip does not answer an event that now converts.
func TestSkipRecordDoesNotAnswerAnEventThatNowConverts(t *testing.T) {
	store := webhooktest.OpenStore(t, journal.Options{DataDir: t.TempDir()})
	fake := fakereditus.New(t, fakereditus.WithKey(apiKey))
	bridgeWith := func(acceptTest bool) *bridge {
		return journaledBridge(t, fake, store, func(c *config.Config) {
			webhooktest.SetWebhook(c, "stripe", func(w *config.Webhook) { w.AcceptTestEvents = acceptTest })
		})
	}
	body := stripeFixture(t, "customer.created.test_mode.json")
	send := func(b *bridge) webhooktest.Answer { return b.do(t, stripeWebhook(body, stripeSecret, time.Now())) }
	send(bridgeWith(false)).Is(t, http.StatusOK, "skipped")
	send(bridgeWith(true)).Is(t, http.StatusOK, "forwarded")
	if n := len(fake.Conversions()); n != 1 {
		t.Errorf("Reditus got %d conversions, want 1", n)
	}
}

// A dry run leaves the queue alone on a re-send too: a delivery a live
// bridge began and crashed in (pending, its lease over) or gave up on
// (failed) is not ended dry_run, which would take it out of the queue while
// its sender, answered, stops re-sending: it waits, queued, for a live
// start, and the sender is told so (202).
func TestDryRunLeavesWhatALiveBridgeBeganQueued(t *testing.T) {
	ctx := context.Background()
	store := webhooktest.OpenStore(t, journal.Options{DataDir: t.TempDir()})
	red := fakereditus.New(t, fakereditus.WithKey(apiKey))
	dry := journaledBridge(t, red, store, func(c *config.Config) { c.DryRunRequested = true })
	for _, tc := range []struct {
		name, id string
		left     func(id int64) // what the live bridge left of it
	}{
		{"crashed mid-delivery", "evt_crashed", func(int64) {}},
		{"given up on", "evt_failed", func(id int64) {
			if err := store.Finish(ctx, id, journal.Finish{Outcome: journal.Failed, Reason: "RETRY_FOR passed"}); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := customerCreated(tc.id, tc.id+"@example.com")
			rec, _, err := store.Begin(ctx, journal.Record{Provider: "stripe", DeliveryID: tc.id, Body: body}, time.Nanosecond)
			if err != nil {
				t.Fatal(err)
			}
			tc.left(rec.ID)
			time.Sleep(time.Millisecond) // the lease is over
			dry.do(t, stripeWebhook(body, stripeSecret, time.Now())).Is(t, http.StatusAccepted, "queued")
			if got := webhooktest.RecordOf(t, store, tc.id); got.Outcome != journal.Queued || got.Attempts != 0 {
				t.Errorf("the record is %s after %d attempts, want queued for a live start", got.Outcome, got.Attempts)
			}
		})
	}
	// A delivery no live bridge began is a dry run's as ever.
	dry.do(t, stripeWebhook(customerCreated("evt_new", "new@example.com"), stripeSecret, time.Now())).Is(t, http.StatusOK, "dry_run")
	if n := red.Requests(); n != 0 {
		t.Errorf("the dry run sent %d requests", n)
	}
}
