package pipeline

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getreditus/reditus-bridge/config"
	"github.com/getreditus/reditus-bridge/internal/fakereditus"
	"github.com/getreditus/reditus-bridge/internal/webhooktest"
	"github.com/getreditus/reditus-bridge/journal"
	"github.com/getreditus/reditus-bridge/outcome"
	"github.com/getreditus/reditus-bridge/reditus"
)

// The pipeline with a real journal (docs/design.md, "The journal"): a re-sent
// delivery is answered from its record, on any instance; an outage of
// Reditus is queued (202) and delivered later; a journal that fails is no
// worse than none.

// customerCreated is a live Stripe customer.created event referred by
// john: a conversion of its own for each id.
func customerCreated(id, email string) []byte {
	return []byte(fmt.Sprintf(`{"id":%q,"object":"event","type":"customer.created","livemode":true,
		"data":{"object":{"id":"cus_%s","object":"customer","email":%q,"livemode":true,"metadata":{"red":"john"}}}}`, id, id, email))
}

func TestJournalAnswersAResentDeliveryFromItsRecord(t *testing.T) {
	webhooktest.EachBackend(t, func(t *testing.T, be webhooktest.Backend) {
		red := fakereditus.New(t, fakereditus.WithKey(apiKey))
		place := be.Place(t)
		first := journaledBridge(t, red, webhooktest.OpenStore(t, place), nil)
		body := customerCreated("evt_resent", "resent@example.com")

		r := first.do(t, stripeWebhook(body, stripeSecret, time.Now()))
		r.Is(t, http.StatusOK, "forwarded")
		if r.ReferralID != "ref_1" {
			t.Fatalf("referral_id %q, want ref_1", r.ReferralID)
		}
		// Stripe signs every attempt afresh; the copy is the same delivery.
		again := first.do(t, stripeWebhook(body, stripeSecret, time.Now().Add(time.Second)))
		again.Is(t, http.StatusOK, "forwarded")
		// Another instance on the same journal, with nothing in memory.
		other := journaledBridge(t, red, webhooktest.OpenStore(t, place), nil)
		elsewhere := other.do(t, stripeWebhook(body, stripeSecret, time.Now()))
		elsewhere.Is(t, http.StatusOK, "forwarded")

		for who, got := range map[string]webhooktest.Answer{"the same instance": again, "another instance": elsewhere} {
			if got.ReferralID != "ref_1" || got.EventID != "evt_resent" {
				t.Errorf("%s answered referral_id %q, event_id %q; want ref_1, evt_resent", who, got.ReferralID, got.EventID)
			}
		}
		if n := red.Calls(reditus.CallTrack); n != 1 {
			t.Errorf("Reditus got %d calls, want 1", n)
		}
		if !strings.Contains(other.logText(), `"repeat_delivery":true`) {
			t.Errorf("the other instance's log line does not mark the repeat:\n%s", other.logText())
		}
	})
}

func TestJournalQueuesWhileReditusIsDown(t *testing.T) {
	webhooktest.EachBackend(t, func(t *testing.T, be webhooktest.Backend) {
		ctx := context.Background()
		red := fakereditus.New(t, fakereditus.WithKey(apiKey))
		red.Respond(reditus.CallTrack, fakereditus.Status(http.StatusServiceUnavailable, ``))
		store := webhooktest.OpenStore(t, be.Place(t))
		b := journaledBridge(t, red, store, nil)
		const email = "queued.person@example.com"
		body := customerCreated("evt_queued", email)

		before := time.Now()
		b.do(t, stripeWebhook(body, stripeSecret, time.Now())).Is(t, http.StatusAccepted, "queued")
		rec := webhooktest.RecordOf(t, store, "evt_queued")
		if rec.Outcome != journal.Queued || rec.Attempts != 1 || rec.Email != email || !bytes.Equal(rec.Body, body) {
			t.Errorf("record: outcome %q, attempts %d, email %q, body kept %v; want queued, 1, %s, true",
				rec.Outcome, rec.Attempts, rec.Email, bytes.Equal(rec.Body, body), email)
		}
		// The first retry within seconds: FirstRetry less its jitter.
		if due := rec.NextAttemptAt; due.Before(before) || due.After(time.Now().Add(journal.FirstRetry)) {
			t.Errorf("next attempt at %v, want within %v of %v", due, journal.FirstRetry, before)
		}
		log := b.logText()
		if strings.Contains(log, email) || !strings.Contains(log, "q***@example.com") {
			t.Errorf("the log line must hold the email masked, never whole:\n%s", log)
		}

		// A re-send of a queued delivery is told it is queued, and Reditus
		// is not asked again: the worker owns it now.
		calls := red.Calls(reditus.CallTrack)
		b.do(t, stripeWebhook(body, stripeSecret, time.Now())).Is(t, http.StatusAccepted, "queued")
		if n := red.Calls(reditus.CallTrack); n != calls {
			t.Errorf("the re-send made %d Reditus calls, want 0", n-calls)
		}

		// Reditus is back; the worker takes the record when it is due.
		red.Respond(reditus.CallTrack, nil)
		due, err := store.Due(ctx, rec.NextAttemptAt, time.Minute, 10)
		if err != nil || len(due) != 1 || due[0].ID != rec.ID {
			t.Fatalf("Due: %v, %d records; want the queued one", err, len(due))
		}
		f := b.pipeline.Redeliver(ctx, due[0])
		if f.Outcome != "forwarded" || f.ReferralID != "ref_1" || f.Attempts != 1 {
			t.Errorf("Redeliver: %+v, want forwarded, ref_1, 1 attempt", f)
		}
		if n := red.Calls(reditus.CallTrack); n != calls+1 {
			t.Errorf("the redelivery made %d Reditus calls, want 1", n-calls)
		}
		if got := red.Created(); len(got) != 1 || got[0].Email != email {
			t.Errorf("Reditus holds %+v, want the one conversion of %s", got, email)
		}
		if err := store.Finish(ctx, rec.ID, f); err != nil {
			t.Fatal(err)
		}
		// Now a re-send gets the delivered answer.
		r := b.do(t, stripeWebhook(body, stripeSecret, time.Now()))
		r.Is(t, http.StatusOK, "forwarded")
		if r.ReferralID != "ref_1" || red.Calls(reditus.CallTrack) != calls+1 {
			t.Errorf("re-send after delivery: referral_id %q, %d calls; want ref_1 from the record", r.ReferralID, red.Calls(reditus.CallTrack)-calls-1)
		}
	})
}

// Reditus refusing our key is our configuration's fault: the sender is told
// to retry (500), the journal says failed, and a re-send is delivered
// again, not answered from the record, so that it lands once the key is
// fixed.
func TestJournalMisconfiguredIsFailedAndARetryIsDelivered(t *testing.T) {
	webhooktest.EachBackend(t, func(t *testing.T, be webhooktest.Backend) {
		red := fakereditus.New(t, fakereditus.WithKey(apiKey))
		red.Respond(reditus.CallTrack, fakereditus.Status(http.StatusUnauthorized, `{"message":"Unauthenticated."}`))
		store := webhooktest.OpenStore(t, be.Place(t))
		b := journaledBridge(t, red, store, nil)
		body := customerCreated("evt_401", "key@example.com")

		b.do(t, stripeWebhook(body, stripeSecret, time.Now())).Is(t, http.StatusInternalServerError, "retry")
		if rec := webhooktest.RecordOf(t, store, "evt_401"); rec.Outcome != journal.Failed || rec.Attempts != 1 || rec.Reason == "" {
			t.Errorf("record: outcome %q, attempts %d, reason %q; want failed, 1, a reason", rec.Outcome, rec.Attempts, rec.Reason)
		}
		b.do(t, stripeWebhook(body, stripeSecret, time.Now())).Is(t, http.StatusInternalServerError, "retry")
		if n := red.Calls(reditus.CallTrack); n != 2 {
			t.Errorf("Reditus got %d calls, want 2: the re-send of a failed delivery is delivered again", n)
		}

		red.Respond(reditus.CallTrack, nil) // the key is fixed
		b.do(t, stripeWebhook(body, stripeSecret, time.Now())).Is(t, http.StatusOK, "forwarded")
		if rec := webhooktest.RecordOf(t, store, "evt_401"); rec.Outcome != "forwarded" || rec.Attempts != 3 || rec.ReferralID != "ref_1" {
			t.Errorf("record: outcome %q, attempts %d, referral %q; want forwarded, 3, ref_1", rec.Outcome, rec.Attempts, rec.ReferralID)
		}
	})
}

// A skipped event is in the journal with its reason and the whole email, so
// that "why was this signup not tracked?" has an answer; the log keeps the
// email out.
func TestJournalKeepsASkippedEventsReasonAndEmail(t *testing.T) {
	red := fakereditus.New(t, fakereditus.WithKey(apiKey))
	store := webhooktest.OpenStore(t, journal.Options{DataDir: t.TempDir()})
	b := journaledBridge(t, red, store, nil)

	r := b.do(t, stripeWebhook(stripeFixture(t, "customer.created.no_referral.json"), stripeSecret, time.Now()))
	r.Is(t, http.StatusOK, "skipped")
	rec := webhooktest.RecordOf(t, store, "evt_1QcustCreated03")
	type kept struct {
		Outcome                  outcome.Word
		Reason, Email, EventType string
	}
	want := kept{"skipped", r.Reason, "jane.doe@example.com", "customer.created"}
	got := kept{rec.Outcome, rec.Reason, rec.Email, rec.EventType}
	if got != want || !strings.Contains(rec.Reason, "no Reditus referral data") {
		t.Errorf("record %+v, want %+v", got, want)
	}
	if rec.Attempts != 0 || red.Requests() != 0 {
		t.Errorf("attempts %d, %d requests to Reditus; want none", rec.Attempts, red.Requests())
	}
	// Searchable by email, as /admin and the events command search.
	if found, err := store.List(context.Background(), journal.Filter{Email: "Jane.Doe@example.com"}); err != nil || len(found) != 1 {
		t.Errorf("search by email: %d records, %v; want 1", len(found), err)
	}
	log := b.logText()
	if !strings.Contains(log, `"outcome":"skipped"`) || strings.Contains(log, "jane.doe@example.com") {
		t.Errorf("the log line must say skipped and hold no full email:\n%s", log)
	}
}

// beginWatch passes a store through and tells begun whether each Begin
// claimed its delivery.
type beginWatch struct {
	webhooktest.Store
	begun chan bool
}

func (w beginWatch) Begin(ctx context.Context, r journal.Record, lease time.Duration) (journal.Record, bool, error) {
	rec, claimed, err := w.Store.Begin(ctx, r, lease)
	select {
	case w.begun <- claimed:
	default:
	}
	return rec, claimed, err
}

// Two instances receiving one delivery at once make one Reditus call, and
// both answer it: the second waits for the first's outcome.
func TestJournalTwinsOnTwoInstancesMakeOneCall(t *testing.T) {
	webhooktest.EachBackend(t, func(t *testing.T, be webhooktest.Backend) {
		red := fakereditus.New(t, fakereditus.WithKey(apiKey))
		gate := fakereditus.NewGate(1, red.Reditus)
		red.Respond(reditus.CallTrack, gate.Respond)
		defer gate.Release()
		place := be.Place(t)
		watch := beginWatch{Store: webhooktest.OpenStore(t, place), begun: make(chan bool, 1)}
		one := journaledBridge(t, red, webhooktest.OpenStore(t, place), nil)
		two := journaledBridge(t, red, watch, nil)
		body := customerCreated("evt_twin", "twin@example.com")

		answers := make(chan webhooktest.Answer, 2)
		send := func(b *bridge) { answers <- b.do(t, stripeWebhook(body, stripeSecret, time.Now())) }
		go send(one)
		select {
		case <-gate.Held(): // the first copy is inside Reditus
		case <-time.After(10 * time.Second):
			t.Fatal("the first copy never reached Reditus")
		}
		go send(two)
		select {
		case claimed := <-watch.begun:
			if claimed {
				t.Fatal("the second instance claimed a delivery the first holds")
			}
		case <-time.After(10 * time.Second):
			t.Fatal("the second copy never reached the journal")
		}
		gate.Release()
		for range 2 {
			select {
			case r := <-answers:
				if r.Status != http.StatusOK || r.Outcome != "forwarded" || r.ReferralID != "ref_1" {
					t.Errorf("answer %d %q %q (reason %q), want 200 forwarded ref_1", r.Status, r.Outcome, r.ReferralID, r.Reason)
				}
			case <-time.After(20 * time.Second):
				t.Fatal("a copy was never answered")
			}
		}
		if n := red.Calls(reditus.CallTrack); n != 1 {
			t.Errorf("Reditus got %d calls, want 1", n)
		}

		// The same, with no gate: 20 deliveries, each posted to both
		// instances at the same moment.
		const deliveries = 20
		var wg sync.WaitGroup
		statuses := make(chan string, 2*deliveries)
		for i := range deliveries {
			start := make(chan struct{})
			body := customerCreated(fmt.Sprintf("evt_race_%02d", i), fmt.Sprintf("race%02d@example.com", i))
			for _, b := range []*bridge{one, two} {
				wg.Go(func() {
					<-start
					r := b.do(t, stripeWebhook(body, stripeSecret, time.Now()))
					statuses <- fmt.Sprintf("%d %s", r.Status, r.Outcome)
				})
			}
			close(start)
		}
		wg.Wait()
		close(statuses)
		for s := range statuses {
			if s != "200 forwarded" {
				t.Errorf("a copy was answered %s, want 200 forwarded", s)
			}
		}
		if n := red.Calls(reditus.CallTrack); n != 1+deliveries {
			t.Errorf("Reditus got %d calls for %d deliveries sent twice each, want %d", n, deliveries, deliveries)
		}
	})
}

// brokenStore is a journal whose store is down: every method fails.
type brokenStore struct{}

var errStoreDown = errors.New("journal: the store is down")

func (brokenStore) Begin(context.Context, journal.Record, time.Duration) (journal.Record, bool, error) {
	return journal.Record{}, false, errStoreDown
}
func (brokenStore) Finish(context.Context, int64, journal.Finish) error { return errStoreDown }
func (brokenStore) Due(context.Context, time.Time, time.Duration, int) ([]journal.Record, error) {
	return nil, errStoreDown
}
func (brokenStore) Retake(context.Context, int64, time.Duration, outcome.Word) (journal.Record, error) {
	return journal.Record{}, errStoreDown
}
func (brokenStore) Get(context.Context, int64) (journal.Record, error) {
	return journal.Record{}, errStoreDown
}
func (brokenStore) List(context.Context, journal.Filter) ([]journal.Record, error) {
	return nil, errStoreDown
}
func (brokenStore) Ahead(context.Context, journal.Record) (journal.Record, bool, error) {
	return journal.Record{}, false, errStoreDown
}
func (brokenStore) Close() error { return nil }

// finishFails is a journal that takes deliveries but cannot record their
// outcome: the disk filled up, or Postgres went away mid-webhook.
type finishFails struct{ webhooktest.Store }

func (finishFails) Finish(context.Context, int64, journal.Finish) error { return errStoreDown }

// A journal that fails never makes the bridge less available: webhooks are
// forwarded as without one, re-sends recognised in memory, and a Reditus
// outage answered 503, never 202, since nothing holds the event.
func TestJournalDownForwardsAsBefore(t *testing.T) {
	closed := func(t *testing.T) webhooktest.Store {
		s := webhooktest.OpenStore(t, journal.Options{DataDir: t.TempDir()})
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		return s
	}
	tests := []struct {
		name  string
		store func(t *testing.T) webhooktest.Store
		// op is the journal operation that fails; errors is how often
		// it fails in the test.
		op     string
		errors int
		// resend: a re-send is recognised in memory (when Begin fails).
		resend bool
	}{
		{"closed", closed, "begin", 3, true},
		{"every method fails", func(*testing.T) webhooktest.Store { return brokenStore{} }, "begin", 3, true},
		{"outcomes cannot be recorded", func(t *testing.T) webhooktest.Store {
			return finishFails{webhooktest.OpenStore(t, journal.Options{DataDir: t.TempDir()})}
		}, "finish", 2, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			red := fakereditus.New(t, fakereditus.WithKey(apiKey))
			b := journaledBridge(t, red, tt.store(t), nil)
			body := customerCreated("evt_nojournal", "nojournal@example.com")

			b.do(t, stripeWebhook(body, stripeSecret, time.Now())).Is(t, http.StatusOK, "forwarded")
			if tt.resend {
				r := b.do(t, stripeWebhook(body, stripeSecret, time.Now()))
				r.Is(t, http.StatusOK, "forwarded")
				if n := red.Calls(reditus.CallTrack); n != 1 || r.ReferralID != "ref_1" {
					t.Errorf("re-send: %d Reditus calls, referral_id %q; want 1 call, ref_1", n, r.ReferralID)
				}
			}
			red.Respond(reditus.CallTrack, fakereditus.Status(http.StatusServiceUnavailable, ``))
			b.do(t, stripeWebhook(customerCreated("evt_down", "down@example.com"), stripeSecret, time.Now())).
				Is(t, http.StatusServiceUnavailable, "retry")

			want := fmt.Sprintf(`reditus_bridge_journal_errors_total{op=%q} %d`, tt.op, tt.errors)
			if m := scrape(t, b); !strings.Contains(m, want) {
				t.Errorf("/metrics lacks %s:\n%s", want, grepLines(m, "journal"))
			}
			if log := b.logText(); !strings.Contains(log, "journal "+tt.op+" failed") {
				t.Errorf("the log does not say the journal failed:\n%s", log)
			}
		})
	}
}

// grepLines returns the lines of s that contain sub, for a failure message.
func grepLines(s, sub string) string {
	var out []string
	for _, line := range strings.Split(s, "\n") {
		if strings.Contains(line, sub) {
			out = append(out, line)
		}
	}
	return strings.Join(out, "\n")
}

// retakeFails is a journal whose Retake fails as one that is down, or past
// the bound, does: not ErrBusy, nobody else took the record.
type retakeFails struct{ webhooktest.Store }

func (retakeFails) Retake(context.Context, int64, time.Duration, outcome.Word) (journal.Record, error) {
	return journal.Record{}, errors.New("journal: retake 1: context deadline exceeded")
}

// A live delivery of an event a dry run recorded, whose Retake fails, is
// not answered from the stale dry-run record: its sender would stop
// re-sending, and the conversion would never reach Reditus. It goes on as
// without a journal.
func TestAStaleRecordThatCannotBeTakenAgainIsNotTheAnswer(t *testing.T) {
	store := webhooktest.OpenStore(t, journal.Options{DataDir: t.TempDir()})
	red := fakereditus.New(t, fakereditus.WithKey(apiKey))
	body := stripeFixture(t, "customer.created.json")
	dry := journaledBridge(t, red, store, func(c *config.Config) { c.DryRunRequested = true })
	dry.do(t, stripeWebhook(body, stripeSecret, time.Now())).Is(t, http.StatusOK, "dry_run")

	live := journaledBridge(t, red, retakeFails{store}, nil)
	live.do(t, stripeWebhook(body, stripeSecret, time.Now())).Is(t, http.StatusOK, "forwarded")
	if n := len(red.Conversions()); n != 1 {
		t.Errorf("Reditus holds %d conversions, want 1", n)
	}
}
