package journal_test

import (
	"cmp"
	"github.com/getreditus/reditus-bridge/outcome"

	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getreditus/reditus-bridge/internal/testenv"
	"github.com/getreditus/reditus-bridge/journal"
)

// t0 is the tests' "now": the stores take their clock from a clock, never
// from the wall.
var t0 = time.Date(2025, 3, 4, 5, 6, 7, 123456000, time.UTC)

type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: t0} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// backend is a store under test.
type backend struct {
	kind string
	// fresh makes a new, empty database for t and returns the Options that
	// open it; opening them twice stands for two instances of the bridge.
	fresh func(t *testing.T) journal.Options
}

func TestSQLite(t *testing.T) {
	testStore(t, backend{kind: "sqlite", fresh: func(t *testing.T) journal.Options {
		return journal.Options{DataDir: t.TempDir()}
	}})
}

func TestPostgres(t *testing.T) {
	testenv.Postgres(t) // skip (or fail in CI) once, not in every subtest
	testStore(t, backend{kind: "postgres", fresh: func(t *testing.T) journal.Options {
		return journal.Options{DatabaseURL: testenv.Postgres(t)}
	}})
}

// open opens o with clk as the store's clock.
func open(t *testing.T, o journal.Options, clk *clock) *journal.DB {
	t.Helper()
	o.Now = clk.Now
	s, err := journal.Open(context.Background(), o)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

const lease = time.Minute

func delivery(id string) journal.Record {
	return journal.Record{
		Provider:   "stripe",
		DeliveryID: id,
		EventType:  "customer.created",
		Email:      "Ann@Example.com",
		Body:       []byte(`{"id":"` + id + `"}`),
	}
}

func begin(t *testing.T, s *journal.DB, r journal.Record) (journal.Record, bool) {
	t.Helper()
	rec, claimed, err := s.Begin(context.Background(), r, lease)
	if err != nil {
		t.Fatalf("Begin(%s): %v", r.DeliveryID, err)
	}
	return rec, claimed
}

func finish(t *testing.T, s *journal.DB, id int64, f journal.Finish) {
	t.Helper()
	if err := s.Finish(context.Background(), id, f); err != nil {
		t.Fatalf("Finish(%d, %s): %v", id, f.Outcome, err)
	}
}

func get(t *testing.T, s *journal.DB, id int64) journal.Record {
	t.Helper()
	rec, err := s.Get(context.Background(), id)
	if err != nil {
		t.Fatalf("Get(%d): %v", id, err)
	}
	return rec
}

// queue records a delivery as queued, due at due.
func queue(t *testing.T, s *journal.DB, id string, due time.Time) journal.Record {
	t.Helper()
	rec, _ := begin(t, s, delivery(id))
	finish(t, s, rec.ID, journal.Finish{Outcome: journal.Queued, Reason: "reditus: 503", Attempts: 4, NextAttemptAt: due})
	return get(t, s, rec.ID)
}

func ids(recs []journal.Record) []string {
	out := []string{}
	for _, r := range recs {
		out = append(out, r.DeliveryID)
	}
	return out
}

// testStore is the one suite both stores pass.
func testStore(t *testing.T, b backend) {
	ctx := context.Background()
	testSummary(t, b) // doctor's reads: summary_test.go
	testOrder(t, b)   // a customer's events in order: order_test.go

	t.Run("Begin records a new delivery as pending, claimed by its caller", func(t *testing.T) {
		clk := newClock()
		s := open(t, b.fresh(t), clk)
		r := delivery("evt_1")
		r.ReferralID = "ref_0"
		rec, claimed := begin(t, s, r)
		if !claimed {
			t.Fatalf("claimed = false, want true for a new delivery")
		}
		want := journal.Record{
			ID: rec.ID, Provider: "stripe", DeliveryID: "evt_1", EventType: "customer.created",
			ReceivedAt: t0, UpdatedAt: t0, Outcome: journal.Pending, ReferralID: "ref_0",
			Email: "Ann@Example.com", Body: []byte(`{"id":"evt_1"}`), HasBody: true, NextAttemptAt: t0.Add(lease),
		}
		if rec.ID <= 0 || !reflect.DeepEqual(rec, want) {
			t.Errorf("Begin returned\n%+v, want\n%+v", rec, want)
		}
		if got := get(t, s, rec.ID); !reflect.DeepEqual(got, want) {
			t.Errorf("Get returned\n%+v, want\n%+v", got, want)
		}
		// A later received time is kept as given (a replayed event's).
		r = delivery("evt_2")
		r.ReceivedAt = t0.Add(-time.Hour)
		if rec, _ := begin(t, s, r); !rec.ReceivedAt.Equal(t0.Add(-time.Hour)) {
			t.Errorf("ReceivedAt = %v, want %v", rec.ReceivedAt, t0.Add(-time.Hour))
		}
	})

	t.Run("Begin on a recorded delivery claims it only when it is abandoned or failed", func(t *testing.T) {
		tests := []struct {
			name        string
			outcome     outcome.Word  // how the first work on it ended; "" while still pending
			after       time.Duration // time passed before the re-send
			wantClaimed bool
			wantOutcome outcome.Word
		}{
			{"pending under a live lease", "", lease - time.Second, false, journal.Pending},
			{"pending, its lease just ended (the instance crashed)", "", lease, true, journal.Pending},
			{"pending, its lease long expired", "", 10 * lease, true, journal.Pending},
			{"failed", journal.Failed, 0, true, journal.Pending},
			{"queued: the worker delivers it", journal.Queued, 0, false, journal.Queued},
			{"forwarded", "forwarded", 0, false, "forwarded"},
			{"skipped", "skipped", time.Hour, false, "skipped"},
			{"rejected", "rejected", 0, false, "rejected"},
		}
		clk := newClock()
		s := open(t, b.fresh(t), clk)
		for i, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				r := delivery(fmt.Sprintf("evt_%d", i))
				first, _ := begin(t, s, r)
				if tt.outcome != "" {
					finish(t, s, first.ID, journal.Finish{Outcome: tt.outcome, Reason: "why", NextAttemptAt: clk.Now().Add(time.Hour)})
				}
				clk.Advance(tt.after)
				rec, claimed := begin(t, s, r)
				if claimed != tt.wantClaimed {
					t.Errorf("claimed = %v, want %v", claimed, tt.wantClaimed)
				}
				if rec.ID != first.ID || rec.Outcome != tt.wantOutcome {
					t.Errorf("got record %d %s, want %d %s", rec.ID, rec.Outcome, first.ID, tt.wantOutcome)
				}
				if !bytes.Equal(rec.Body, r.Body) {
					t.Errorf("body = %q, want %q", rec.Body, r.Body)
				}
				// The taker holds a new lease: nobody else claims it now.
				if _, again := begin(t, s, r); again {
					t.Errorf("a third Begin claimed it too")
				}
			})
		}
	})

	t.Run("two instances racing Begin on one delivery: exactly one claims it", func(t *testing.T) {
		o, clk := b.fresh(t), newClock()
		instances := []*journal.DB{open(t, o, clk), open(t, o, clk)}
		for round := range 20 {
			r := delivery(fmt.Sprintf("evt_race_%d", round))
			got := race(t, 8, func(i int) (journal.Record, bool, error) {
				return instances[i%2].Begin(ctx, r, lease)
			})
			checkOneClaimed(t, got)
		}
	})

	t.Run("two instances racing to take over an abandoned delivery: exactly one claims it", func(t *testing.T) {
		o, clk := b.fresh(t), newClock()
		instances := []*journal.DB{open(t, o, clk), open(t, o, clk)}
		var rs []journal.Record
		for round := range 10 {
			r := delivery(fmt.Sprintf("evt_abandoned_%d", round))
			begin(t, instances[0], r)
			rs = append(rs, r)
		}
		clk.Advance(2 * lease)
		for _, r := range rs {
			got := race(t, 8, func(i int) (journal.Record, bool, error) {
				return instances[i%2].Begin(ctx, r, lease)
			})
			checkOneClaimed(t, got)
		}
	})

	t.Run("Finish under a lease it lost changes nothing", func(t *testing.T) {
		clk := newClock()
		clk.Advance(789 * time.Nanosecond) // a real clock's nanoseconds, which neither store keeps
		s := open(t, b.fresh(t), clk)
		first, _ := begin(t, s, delivery("evt_1"))
		clk.Advance(lease + time.Second) // the first holder stalled past its lease
		due, err := s.Due(context.Background(), clk.Now(), lease, 10)
		if err != nil || len(due) != 1 {
			t.Fatalf("Due: %d records, %v; want the abandoned one", len(due), err)
		}
		finish(t, s, due[0].ID, journal.Finish{Outcome: "forwarded", Reason: "the worker's", Attempts: 1, Lease: due[0].NextAttemptAt})
		err = s.Finish(context.Background(), first.ID, journal.Finish{Outcome: "rejected", Reason: "stale", Lease: first.NextAttemptAt})
		if !errors.Is(err, journal.ErrLeaseLost) {
			t.Errorf("the stale holder's Finish: %v, want ErrLeaseLost", err)
		}
		if got := get(t, s, first.ID); got.Outcome != "forwarded" || got.Reason != "the worker's" {
			t.Errorf("the record is %s (%q), want the worker's forwarded", got.Outcome, got.Reason)
		}
		// The holder of Begin's own lease, nanoseconds and all, may finish.
		second, _ := begin(t, s, delivery("evt_2"))
		finish(t, s, second.ID, journal.Finish{Outcome: "skipped", Lease: second.NextAttemptAt})
	})

	t.Run("a record without a body says so, listed or read", func(t *testing.T) {
		s := open(t, b.fresh(t), newClock())
		bare := delivery("evt_bare")
		bare.Body = nil
		rec, _ := begin(t, s, bare)
		begin(t, s, delivery("evt_body"))
		if rec.HasBody || get(t, s, rec.ID).HasBody {
			t.Error("Begin or Get of a record without a body: HasBody, want not")
		}
		recs, err := s.List(ctx, journal.Filter{})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			if want := r.DeliveryID == "evt_body"; r.HasBody != want || r.Body != nil {
				t.Errorf("List: %s HasBody %v (body %d bytes), want %v and no body", r.DeliveryID, r.HasBody, len(r.Body), want)
			}
		}
	})

	t.Run("Finish records the outcome and releases the lease", func(t *testing.T) {
		clk := newClock()
		s := open(t, b.fresh(t), clk)
		rec, _ := begin(t, s, delivery("evt_1"))
		clk.Advance(time.Second)
		finish(t, s, rec.ID, journal.Finish{Outcome: journal.Queued, Reason: "reditus: 503", Attempts: 4, NextAttemptAt: t0.Add(time.Minute)})
		got := get(t, s, rec.ID)
		if got.Outcome != journal.Queued || got.Reason != "reditus: 503" || got.Attempts != 4 ||
			!got.NextAttemptAt.Equal(t0.Add(time.Minute)) || !got.UpdatedAt.Equal(t0.Add(time.Second)) {
			t.Errorf("after Finish(queued): %+v", got)
		}
		// Attempts add up; empty fields keep what was recorded; the queue's
		// due time goes with the final outcome.
		finish(t, s, rec.ID, journal.Finish{Outcome: "forwarded", ReferralID: "ref_1", Email: "", EventType: "", Attempts: 1})
		got = get(t, s, rec.ID)
		want := journal.Record{
			ID: rec.ID, Provider: "stripe", DeliveryID: "evt_1", EventType: "customer.created",
			ReceivedAt: t0, UpdatedAt: t0.Add(time.Second), Outcome: "forwarded", Attempts: 5,
			ReferralID: "ref_1", Email: "Ann@Example.com", Body: []byte(`{"id":"evt_1"}`), HasBody: true,
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("after Finish(forwarded):\n%+v, want\n%+v", got, want)
		}
		finish(t, s, rec.ID, journal.Finish{Outcome: "rejected", Email: "new@example.com", EventType: "customer.updated"})
		if got := get(t, s, rec.ID); got.Email != "new@example.com" || got.EventType != "customer.updated" || got.ReferralID != "ref_1" {
			t.Errorf("after Finish with an email and a type: email %q, type %q, referral %q", got.Email, got.EventType, got.ReferralID)
		}
		// A queued finish without a due time is due at once.
		finish(t, s, rec.ID, journal.Finish{Outcome: journal.Queued})
		if got := get(t, s, rec.ID); !got.NextAttemptAt.Equal(clk.Now()) {
			t.Errorf("NextAttemptAt = %v, want now (%v)", got.NextAttemptAt, clk.Now())
		}
	})

	t.Run("Finish refuses an unknown id and a non-outcome", func(t *testing.T) {
		s := open(t, b.fresh(t), newClock())
		rec, _ := begin(t, s, delivery("evt_1"))
		tests := []struct {
			name    string
			id      int64
			outcome outcome.Word
			wantErr error
		}{
			{"unknown id", rec.ID + 1000, "forwarded", journal.ErrNotFound},
			{"empty outcome", rec.ID, "", nil},
			{"pending is not an end", rec.ID, journal.Pending, nil},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				err := s.Finish(ctx, tt.id, journal.Finish{Outcome: tt.outcome})
				if err == nil || (tt.wantErr != nil && !errors.Is(err, tt.wantErr)) {
					t.Errorf("Finish = %v, want an error (%v)", err, tt.wantErr)
				}
			})
		}
		if got := get(t, s, rec.ID); got.Outcome != journal.Pending {
			t.Errorf("outcome after refused Finishes = %q, want pending", got.Outcome)
		}
	})

	t.Run("Due takes due records oldest first, each once while leased, and abandoned ones again", func(t *testing.T) {
		clk := newClock()
		s := open(t, b.fresh(t), clk)
		queue(t, s, "q_10s", t0.Add(10*time.Second))
		queue(t, s, "q_5s", t0.Add(5*time.Second))
		queue(t, s, "q_1h", t0.Add(time.Hour))
		queue(t, s, "q_20s", t0.Add(20*time.Second))
		begin(t, s, delivery("in_request")) // its lease ends at +60s
		done, _ := begin(t, s, delivery("forwarded"))
		finish(t, s, done.ID, journal.Finish{Outcome: "forwarded"})

		due := func(now time.Time, limit int) []journal.Record {
			t.Helper()
			got, err := s.Due(ctx, now, lease, limit)
			if err != nil {
				t.Fatalf("Due: %v", err)
			}
			return got
		}
		now := t0.Add(15 * time.Second)
		if got, want := ids(due(now, 1)), []string{"q_5s"}; !reflect.DeepEqual(got, want) {
			t.Errorf("Due(+15s, limit 1) took %v, want the oldest due, %v", got, want)
		}
		got := due(now, 10)
		if want := []string{"q_10s"}; !reflect.DeepEqual(ids(got), want) {
			t.Errorf("Due(+15s) took %v, want %v", ids(got), want)
		}
		for _, r := range got {
			if r.Outcome != journal.Pending || r.Retries != 1 || r.Attempts != 4 || len(r.Body) == 0 || !r.NextAttemptAt.Equal(now.Add(lease)) {
				t.Errorf("a taken record: outcome %s, retries %d, attempts %d, body %q, next %v; want pending, 1, 4, the body, the lease's end",
					r.Outcome, r.Retries, r.Attempts, r.Body, r.NextAttemptAt)
			}
		}
		if got := due(now.Add(time.Second), 10); len(got) != 0 {
			t.Errorf("Due under the leases took %v, want nothing", ids(got))
		}
		// Once their leases end, the records whose holders crashed are due
		// again: those the worker took, and the one a webhook's request
		// left pending (lease ended at +60s).
		later := now.Add(lease)
		if got, want := ids(due(later, 2)), []string{"q_20s", "in_request"}; !reflect.DeepEqual(got, want) {
			t.Errorf("Due(+75s, limit 2) took %v, want %v", got, want)
		}
		got = due(later, 10)
		if want := []string{"q_10s", "q_5s"}; !reflect.DeepEqual(ids(got), want) {
			t.Errorf("Due(+75s) took %v, want %v", ids(got), want)
		}
		if len(got) == 2 && got[1].Retries != 2 {
			t.Errorf("retries = %d, want 2", got[1].Retries)
		}
		// Final records never come back.
		for _, r := range due(t0.Add(24*time.Hour), 10) {
			if r.ID == done.ID {
				t.Errorf("Due took %s", r.DeliveryID)
			}
		}
	})

	t.Run("two instances claiming 20 due records concurrently take each once", func(t *testing.T) {
		o, clk := b.fresh(t), newClock()
		instances := []*journal.DB{open(t, o, clk), open(t, o, clk)}
		for i := range 20 {
			queue(t, instances[0], fmt.Sprintf("q_%02d", i), t0.Add(time.Duration(i)*time.Millisecond))
		}
		var mu sync.Mutex
		taken := map[int64]int{}
		var wg sync.WaitGroup
		start := make(chan struct{})
		for w := range 6 {
			wg.Go(func() {
				<-start
				for range 20 { // 20 records, at least 1 a call while any is left
					recs, err := instances[w%2].Due(ctx, t0.Add(time.Second), lease, 3)
					if err != nil {
						t.Errorf("Due: %v", err)
						return
					}
					if len(recs) == 0 {
						return
					}
					mu.Lock()
					for _, r := range recs {
						taken[r.ID]++
					}
					mu.Unlock()
				}
			})
		}
		close(start)
		wg.Wait()
		if len(taken) != 20 {
			t.Errorf("%d distinct records taken, want 20", len(taken))
		}
		for id, n := range taken {
			if n != 1 {
				t.Errorf("record %d taken %d times, want once", id, n)
			}
		}
	})

	t.Run("List filters and orders newest first", func(t *testing.T) {
		clk := newClock()
		s := open(t, b.fresh(t), clk)
		add := func(provider, id, email string, word outcome.Word, at time.Duration) {
			r := journal.Record{Provider: provider, DeliveryID: id, EventType: "user.created", Email: email,
				ReceivedAt: t0.Add(at), Body: []byte("{}")}
			rec, _ := begin(t, s, r)
			finish(t, s, rec.ID, journal.Finish{Outcome: word})
		}
		add("stripe", "evt_1", "ann@example.com", "forwarded", 0)
		add("clerk", "msg_2", "Bob@Example.com", "skipped", time.Minute)
		add("stripe", "evt_3", "ANN@example.COM", "rejected", 2*time.Minute)
		add("supabase", "sb_4", "", journal.Queued, 3*time.Minute)
		add("stripe", "evt_5", "ann@example.com.evil", "forwarded", 4*time.Minute)
		add("clerk", "msg_6", "ann@example.com", "forwarded", 4*time.Minute) // same time: the later id first
		tests := []struct {
			name string
			f    journal.Filter
			want []string
		}{
			{"everything", journal.Filter{}, []string{"msg_6", "evt_5", "sb_4", "evt_3", "msg_2", "evt_1"}},
			{"email, case-insensitive and exact", journal.Filter{Email: "Ann@EXAMPLE.com"}, []string{"msg_6", "evt_3", "evt_1"}},
			{"another email", journal.Filter{Email: "bob@example.com"}, []string{"msg_2"}},
			{"an email nobody has", journal.Filter{Email: "ann@example"}, []string{}},
			{"delivery id", journal.Filter{DeliveryID: "evt_3"}, []string{"evt_3"}},
			{"outcome", journal.Filter{Outcome: "forwarded"}, []string{"msg_6", "evt_5", "evt_1"}},
			{"provider", journal.Filter{Provider: "stripe"}, []string{"evt_5", "evt_3", "evt_1"}},
			{"since, inclusive", journal.Filter{Since: t0.Add(3 * time.Minute)}, []string{"msg_6", "evt_5", "sb_4"}},
			{"limit", journal.Filter{Limit: 2}, []string{"msg_6", "evt_5"}},
			{"filters together", journal.Filter{Provider: "stripe", Outcome: "forwarded", Email: "ann@example.com"}, []string{"evt_1"}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				got, err := s.List(ctx, tt.f)
				if err != nil {
					t.Fatalf("List: %v", err)
				}
				if !reflect.DeepEqual(ids(got), tt.want) {
					t.Errorf("List(%+v) = %v, want %v", tt.f, ids(got), tt.want)
				}
				for _, r := range got {
					if r.Body != nil {
						t.Errorf("List returned %s with its body, want none", r.DeliveryID)
					}
				}
			})
		}
	})

	t.Run("Prune deletes old records but not one being delivered", func(t *testing.T) {
		clk := newClock()
		s := open(t, b.fresh(t), clk)
		old := func(id string, l time.Duration) journal.Record {
			r := delivery(id)
			r.ReceivedAt = t0.Add(-31 * 24 * time.Hour)
			rec, _, err := s.Begin(ctx, r, l)
			if err != nil {
				t.Fatalf("Begin: %v", err)
			}
			return rec
		}
		oldDone := old("old_forwarded", lease)
		finish(t, s, oldDone.ID, journal.Finish{Outcome: "forwarded"})
		oldQueued := old("old_queued", lease)
		finish(t, s, oldQueued.ID, journal.Finish{Outcome: journal.Queued})
		oldLeased := old("old_pending_leased", time.Hour)
		oldAbandoned := old("old_pending_abandoned", time.Second)
		recent, _ := begin(t, s, delivery("recent"))
		finish(t, s, recent.ID, journal.Finish{Outcome: "forwarded"})
		clk.Advance(time.Minute)

		n, err := s.Prune(ctx, t0.Add(-30*24*time.Hour))
		if err != nil {
			t.Fatalf("Prune: %v", err)
		}
		if n != 3 {
			t.Errorf("Prune deleted %d, want 3", n)
		}
		for _, tt := range []struct {
			rec  journal.Record
			kept bool
		}{{oldDone, false}, {oldQueued, false}, {oldAbandoned, false}, {oldLeased, true}, {recent, true}} {
			_, err := s.Get(ctx, tt.rec.ID)
			if kept := err == nil; kept != tt.kept || (err != nil && !errors.Is(err, journal.ErrNotFound)) {
				t.Errorf("%s: Get after Prune = %v, want kept %v", tt.rec.DeliveryID, err, tt.kept)
			}
		}
	})

	t.Run("a delivery that called Reditus is known by its id for a year after Prune deleted its record", func(t *testing.T) {
		clk := newClock()
		s := open(t, b.fresh(t), clk)
		sent, _ := begin(t, s, delivery("evt_sent"))
		finish(t, s, sent.ID, journal.Finish{Outcome: "forwarded", Attempts: 1})
		skipped, _ := begin(t, s, delivery("evt_skipped"))
		finish(t, s, skipped.ID, journal.Finish{Outcome: "skipped"})
		clk.Advance(31 * 24 * time.Hour)
		if n, err := s.Prune(ctx, clk.Now().Add(-30*24*time.Hour)); err != nil || n != 2 {
			t.Fatalf("Prune: %d, %v; want 2 deleted", n, err)
		}
		if recs, err := s.List(ctx, journal.Filter{}); err != nil || len(recs) != 0 {
			t.Fatalf("List after Prune: %v, %v; want nothing", ids(recs), err)
		}
		// The same delivery, sent again: handled, and not to be sent.
		rec, claimed := begin(t, s, delivery("evt_sent"))
		if claimed || rec.Outcome != "duplicate" || !rec.ReceivedAt.Equal(t0) || !strings.Contains(rec.Reason, "deleted") {
			t.Errorf("Begin of a pruned delivery that was sent: claimed %v, %+v; want not claimed, duplicate, received at %v", claimed, rec, t0)
		}
		if recs, _ := s.List(ctx, journal.Filter{}); len(recs) != 0 {
			t.Errorf("the re-send made a record: %v", ids(recs))
		}
		// One that called no one is new again, as before.
		if _, claimed := begin(t, s, delivery("evt_skipped")); !claimed {
			t.Error("Begin of a pruned delivery that called no one: not claimed, want a new record")
		}
		// A year after the record went, so does the id.
		clk.Advance(journal.TombstoneKeep)
		if _, err := s.Prune(ctx, clk.Now().Add(-30*24*time.Hour)); err != nil {
			t.Fatal(err)
		}
		if _, claimed := begin(t, s, delivery("evt_sent")); !claimed {
			t.Error("Begin of a delivery pruned over a year ago: not claimed, want a new record")
		}
	})

	t.Run("Retake claims a record for an operator unless it is being delivered or changed", func(t *testing.T) {
		clk := newClock()
		s := open(t, b.fresh(t), clk)
		tests := []struct {
			name    string
			outcome outcome.Word  // "" leaves it pending
			lease   time.Duration // Begin's
			saw     outcome.Word  // what the caller saw, when not outcome
			wantErr error
		}{
			{"failed", journal.Failed, lease, "", nil},
			{"skipped (the configuration was fixed)", "skipped", lease, "", nil},
			{"queued", journal.Queued, lease, "", nil},
			{"forwarded", "forwarded", lease, "", nil},
			{"pending under a live lease", "", time.Hour, "", journal.ErrBusy},
			{"pending, lease expired", "", time.Millisecond, "", nil},
			// Seen queued, then delivered by the worker: a retry would
			// send it again.
			{"forwarded since the caller saw it queued", "forwarded", lease, journal.Queued, journal.ErrBusy},
			{"queued since the caller saw it skipped", journal.Queued, lease, "skipped", journal.ErrBusy},
		}
		for i, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				r := delivery(fmt.Sprintf("evt_%d", i))
				rec, _, err := s.Begin(ctx, r, tt.lease)
				if err != nil {
					t.Fatalf("Begin: %v", err)
				}
				if tt.outcome != "" {
					finish(t, s, rec.ID, journal.Finish{Outcome: tt.outcome, NextAttemptAt: clk.Now()})
				}
				clk.Advance(time.Second)
				was := cmp.Or(tt.saw, tt.outcome, journal.Pending)
				got, err := s.Retake(ctx, rec.ID, lease, was)
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("Retake = %v, want %v", err, tt.wantErr)
				}
				if err != nil {
					if now := get(t, s, rec.ID); tt.saw != "" && now.Outcome != tt.outcome {
						t.Errorf("a refused Retake changed the record to %s, want it %s", now.Outcome, tt.outcome)
					}
					return
				}
				if got.ID != rec.ID || got.Outcome != journal.Pending || !bytes.Equal(got.Body, r.Body) {
					t.Errorf("Retake returned %d %s %q, want %d pending with the body", got.ID, got.Outcome, got.Body, rec.ID)
				}
				// Retaken, it is the operator's: neither a re-send nor the
				// worker takes it while the lease lasts.
				if _, claimed := begin(t, s, r); claimed {
					t.Errorf("a re-send claimed a retaken record")
				}
				due, _ := s.Due(ctx, clk.Now().Add(lease-time.Second), lease, 100)
				for _, d := range due {
					if d.ID == rec.ID {
						t.Errorf("Due took %s under the operator's lease", d.DeliveryID)
					}
				}
				if _, err := s.Retake(ctx, rec.ID, lease, journal.Pending); !errors.Is(err, journal.ErrBusy) {
					t.Errorf("a second Retake = %v, want ErrBusy", err)
				}
			})
		}
		if _, err := s.Retake(ctx, 1<<40, lease, journal.Queued); !errors.Is(err, journal.ErrNotFound) {
			t.Errorf("Retake(unknown id) = %v, want ErrNotFound", err)
		}
	})

	t.Run("Get of an unknown id is ErrNotFound", func(t *testing.T) {
		s := open(t, b.fresh(t), newClock())
		if _, err := s.Get(ctx, 42); !errors.Is(err, journal.ErrNotFound) {
			t.Errorf("Get = %v, want ErrNotFound", err)
		}
	})

	t.Run("opening again migrates nothing and keeps the records", func(t *testing.T) {
		o, clk := b.fresh(t), newClock()
		first := open(t, o, clk)
		rec, _ := begin(t, first, delivery("evt_1"))
		for i := range 2 {
			s := open(t, o, clk)
			if got := get(t, s, rec.ID); got.DeliveryID != "evt_1" {
				t.Errorf("open %d: record %d is %q, want evt_1", i+2, rec.ID, got.DeliveryID)
			}
			st, err := s.Status(ctx)
			if err != nil {
				t.Fatalf("Status: %v", err)
			}
			if st.Latest < 1 || st.Version != st.Latest {
				t.Errorf("open %d: Status version %d of %d, want all applied", i+2, st.Version, st.Latest)
			}
		}
	})

	t.Run("instances starting at once migrate once", func(t *testing.T) {
		o := b.fresh(t)
		o.Now = newClock().Now
		stores := make([]*journal.DB, 4)
		var wg sync.WaitGroup
		for i := range stores {
			wg.Go(func() {
				s, err := journal.Open(ctx, o)
				if err != nil {
					t.Errorf("Open %d: %v", i, err)
					return
				}
				stores[i] = s
			})
		}
		wg.Wait()
		for _, s := range stores {
			if s == nil {
				continue
			}
			if st, err := s.Status(ctx); err != nil || st.Version != st.Latest {
				t.Errorf("Status = %+v, %v; want all migrations applied", st, err)
			}
			s.Close()
		}
	})

	t.Run("instances whose clocks differ by 90 s share the database's clock for leases and due times", func(t *testing.T) {
		if b.kind == "sqlite" {
			t.Skip("SQLite's instances share one machine, and its clock")
		}
		o := b.fresh(t) // no clock of the test's: the store's own
		one, err := journal.Open(ctx, o)
		if err != nil {
			t.Fatal(err)
		}
		defer one.Close()
		ahead, err := journal.Open(ctx, o)
		if err != nil {
			t.Fatal(err)
		}
		defer ahead.Close()
		skew := 90 * time.Second
		journal.SetProcessClock(ahead, func() time.Time { return time.Now().Add(skew) })

		rec, claimed, err := one.Begin(ctx, delivery("evt_live"), lease)
		if err != nil || !claimed {
			t.Fatalf("Begin: claimed %v, %v", claimed, err)
		}
		// A re-send of the delivery reaches the instance whose clock is
		// ahead, while the first is inside Reditus.
		if _, claimed, err := ahead.Begin(ctx, delivery("evt_live"), lease); err != nil || claimed {
			t.Errorf("Begin at the instance 90 s ahead: claimed %v, %v; want the live lease kept", claimed, err)
		}
		if due, err := ahead.Due(ctx, time.Now().Add(skew), lease, 10); err != nil || len(due) != 0 {
			t.Errorf("Due at the instance 90 s ahead: %v, %v; want nothing, the lease is live", ids(due), err)
		}
		if _, err := ahead.Retake(ctx, rec.ID, lease, journal.Pending); !errors.Is(err, journal.ErrBusy) {
			t.Errorf("Retake at the instance 90 s ahead: %v, want ErrBusy", err)
		}
		if err := one.Finish(ctx, rec.ID, journal.Finish{Outcome: "forwarded", Lease: rec.NextAttemptAt}); err != nil {
			t.Errorf("Finish under the lease: %v", err)
		}

		// Queued by the instance ahead, due in 5 s: in 5 s of the
		// database's time, not 95.
		q, _, err := ahead.Begin(ctx, delivery("evt_queued"), lease)
		if err != nil {
			t.Fatal(err)
		}
		if err := ahead.Finish(ctx, q.ID, journal.Finish{Outcome: journal.Queued, NextAttemptAt: time.Now().Add(skew + 5*time.Second), Lease: q.NextAttemptAt}); err != nil {
			t.Fatal(err)
		}
		if due, err := one.Due(ctx, time.Now().Add(4*time.Second), lease, 10); err != nil || len(due) != 0 {
			t.Errorf("Due 4 s on: %v, %v; want nothing yet", ids(due), err)
		}
		if due, err := one.Due(ctx, time.Now().Add(6*time.Second), lease, 10); err != nil || len(due) != 1 {
			t.Errorf("Due 6 s on: %v, %v; want evt_queued", ids(due), err)
		}
	})

	t.Run("a worker whose calls stall holds none of the connections webhooks need", func(t *testing.T) {
		if b.kind == "sqlite" {
			t.Skip("SQLite's writes, the worker's and the webhooks', share its one write connection")
		}
		o, clk := b.fresh(t), newClock()
		s := open(t, o, clk)
		worker := s.ForWorker()
		const n = 12 // more than the store has connections
		for i := range n {
			queue(t, s, fmt.Sprintf("evt_q%02d", i), t0)
		}
		due, err := worker.Due(ctx, t0, lease, n)
		if err != nil || len(due) != n {
			t.Fatalf("Due: %d records, %v", len(due), err)
		}
		// Another holder locks every row: each Finish the worker makes
		// waits, holding the connection it runs on.
		lock, err := sql.Open("pgx", o.DatabaseURL)
		if err != nil {
			t.Fatal(err)
		}
		defer lock.Close()
		tx, err := lock.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tx.ExecContext(ctx, `SELECT id FROM journal FOR UPDATE`); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		for _, r := range due {
			wg.Go(func() {
				if err := worker.Finish(ctx, r.ID, journal.Finish{Outcome: "forwarded", Lease: r.NextAttemptAt}); err != nil {
					t.Errorf("Finish %s: %v", r.DeliveryID, err)
				}
			})
		}
		time.Sleep(200 * time.Millisecond) // the Finishes take what connections they can
		wctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		defer cancel()
		if _, _, err := s.Begin(wctx, delivery("evt_webhook"), lease); err != nil {
			t.Errorf("a webhook's Begin while the worker's calls stall: %v", err)
		}
		if _, err := s.List(wctx, journal.Filter{}); err != nil {
			t.Errorf("/admin's List while the worker's calls stall: %v", err)
		}
		if err := tx.Rollback(); err != nil {
			t.Fatal(err)
		}
		wg.Wait()
	})

	t.Run("ReadOnly reads only a journal the bridge made, and makes and writes nothing", func(t *testing.T) {
		o, clk := b.fresh(t), newClock()
		ro := o
		ro.ReadOnly = true
		if _, err := journal.Open(ctx, ro); !errors.Is(err, journal.ErrNoJournal) {
			t.Fatalf("Open(ReadOnly) of a database the bridge never opened: %v, want ErrNoJournal", err)
		}
		if o.DataDir != "" {
			if names, _ := os.ReadDir(o.DataDir); len(names) > 0 {
				t.Errorf("Open(ReadOnly) made %v in the data directory", names)
			}
		}
		s := open(t, o, clk)
		begin(t, s, delivery("evt_written"))
		r := open(t, ro, clk)
		if got, err := r.List(ctx, journal.Filter{}); err != nil || len(got) != 1 || got[0].DeliveryID != "evt_written" {
			t.Errorf("List = %v, %v; want the one record written", ids(got), err)
		}
		if _, _, err := r.Begin(ctx, delivery("evt_new"), lease); err == nil {
			t.Error("Begin on a read-only journal succeeded")
		}
		if got, err := s.List(ctx, journal.Filter{}); err != nil || len(got) != 1 {
			t.Errorf("after a write through the read-only journal, List = %v, %v; want the one record", ids(got), err)
		}
	})

	t.Run("Status says which store and where", func(t *testing.T) {
		s := open(t, b.fresh(t), newClock())
		st, err := s.Status(ctx)
		if err != nil {
			t.Fatalf("Status: %v", err)
		}
		if st.Kind != b.kind {
			t.Errorf("Kind = %q, want %q", st.Kind, b.kind)
		}
		switch b.kind {
		case "sqlite":
			if filepath.Base(st.Where) != "bridge.db" || !filepath.IsAbs(st.Where) {
				t.Errorf("Where = %q, want the absolute path of bridge.db", st.Where)
			}
		case "postgres":
			if !strings.HasPrefix(st.Where, "postgres://") {
				t.Errorf("Where = %q, want a postgres:// URL", st.Where)
			}
		}
	})

	testDetail(t, b)
}

// race runs n calls of begin at once and returns what each got.
func race(t *testing.T, n int, begin func(i int) (journal.Record, bool, error)) []raced {
	t.Helper()
	got := make([]raced, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			got[i].rec, got[i].claimed, got[i].err = begin(i)
		})
	}
	close(start)
	wg.Wait()
	return got
}

type raced struct {
	rec     journal.Record
	claimed bool
	err     error
}

func checkOneClaimed(t *testing.T, got []raced) {
	t.Helper()
	claimed := 0
	for _, g := range got {
		if g.err != nil {
			t.Fatalf("Begin: %v", g.err)
		}
		if g.claimed {
			claimed++
		}
		if g.rec.ID != got[0].rec.ID {
			t.Errorf("racers got records %d and %d, want one record", got[0].rec.ID, g.rec.ID)
		}
	}
	if claimed != 1 {
		t.Errorf("%d of %d racers claimed %s, want exactly 1", claimed, len(got), got[0].rec.DeliveryID)
	}
}
