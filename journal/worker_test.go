package journal

import (
	"github.com/getreditus/reditus-bridge/outcome"

	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

var w0 = time.Date(2025, 6, 7, 8, 9, 10, 0, time.UTC)

// testClock is the worker's and the store's clock: due times pass when the
// test says so, never by waiting.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

// logBuffer collects a logger's lines from several goroutines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func (b *logBuffer) Logger() *slog.Logger { return slog.New(slog.NewTextHandler(b, nil)) }

func openTestStore(t *testing.T, dir string, clk *testClock) *DB {
	t.Helper()
	s, err := Open(context.Background(), Options{DataDir: dir, Now: clk.Now})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// queueOne journals a delivery the pipeline could not forward: queued, due at
// due, after 4 in-request attempts.
func queueOne(t *testing.T, s *DB, id string, due time.Time) Record {
	t.Helper()
	ctx := context.Background()
	r := Record{Provider: "supabase", DeliveryID: id, EventType: "INSERT", Email: "ann@example.com", Body: []byte(`{"id":"` + id + `"}`)}
	rec, claimed, err := s.Begin(ctx, r, time.Minute)
	if err != nil || !claimed {
		t.Fatalf("Begin: %v, claimed %v", err, claimed)
	}
	if err := s.Finish(ctx, rec.ID, Finish{Outcome: Queued, Reason: "reditus: 503", Attempts: 4, NextAttemptAt: due}); err != nil {
		t.Fatalf("Finish: %v", err)
	}
	return rec
}

func mustGet(t *testing.T, s *DB, id int64) Record {
	t.Helper()
	r, err := s.Get(context.Background(), id)
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	return r
}

func TestNextAttempt(t *testing.T) {
	tests := []struct {
		attempt  int
		min, max time.Duration
	}{
		{-1, 4 * time.Second, 5 * time.Second},
		{0, 4 * time.Second, 5 * time.Second},
		{1, 8 * time.Second, 10 * time.Second},
		{2, 16 * time.Second, 20 * time.Second},
		{5, 128 * time.Second, 160 * time.Second},
		{6, 4 * time.Minute, 5 * time.Minute}, // 320 s, capped
		{64, 4 * time.Minute, 5 * time.Minute},
		{1 << 40, 4 * time.Minute, 5 * time.Minute},
	}
	for _, tt := range tests {
		seen := map[time.Duration]bool{}
		for range 200 {
			d := NextAttempt(tt.attempt, w0).Sub(w0)
			if d < tt.min || d > tt.max {
				t.Fatalf("NextAttempt(%d) is %v after now, want %v to %v", tt.attempt, d, tt.min, tt.max)
			}
			seen[d] = true
		}
		if len(seen) < 2 {
			t.Errorf("NextAttempt(%d) gave one delay 200 times, want jitter", tt.attempt)
		}
	}
}

func TestWorkerDeliversAQueuedRecordOnceItIsDue(t *testing.T) {
	clk := &testClock{now: w0}
	s := openTestStore(t, t.TempDir(), clk)
	rec := queueOne(t, s, "sb_1", NextAttempt(0, w0))
	var got []Record
	w := &Worker{Store: s, Now: clk.Now, Deliver: func(ctx context.Context, r Record) Finish {
		got = append(got, r)
		return Finish{Outcome: "forwarded", ReferralID: "ref_9", Attempts: 1}
	}}
	w.defaults()

	if n, err := w.poll(context.Background(), w.Batch); n != 0 || err != nil {
		t.Fatalf("poll before the backoff = %d, %v; want nothing delivered", n, err)
	}
	clk.Set(w0.Add(FirstRetry))
	if n, err := w.poll(context.Background(), w.Batch); n != 1 || err != nil {
		t.Fatalf("poll after the backoff = %d, %v; want 1 delivered", n, err)
	}
	if len(got) != 1 || got[0].ID != rec.ID || string(got[0].Body) != `{"id":"sb_1"}` {
		t.Fatalf("Deliver got %+v, want record %d with its body", got, rec.ID)
	}
	after := mustGet(t, s, rec.ID)
	if after.Outcome != "forwarded" || after.ReferralID != "ref_9" || after.Attempts != 5 || !after.NextAttemptAt.IsZero() {
		t.Errorf("after delivery: outcome %s, referral %s, attempts %d, next %v; want forwarded, ref_9, 5, none",
			after.Outcome, after.ReferralID, after.Attempts, after.NextAttemptAt)
	}
	if n, _ := w.poll(context.Background(), w.Batch); n != 0 {
		t.Errorf("a delivered record was taken again")
	}
}

func TestWorkerRecordsWhatDeliverSays(t *testing.T) {
	retryAfter := w0.Add(time.Hour)
	tests := []struct {
		name        string
		f           Finish
		wantOutcome outcome.Word
		wantNext    func(t *testing.T, next time.Time)
	}{
		{"rejected is final", Finish{Outcome: "rejected", Reason: "reditus: 422 unknown slug"}, "rejected",
			func(t *testing.T, next time.Time) {
				if !next.IsZero() {
					t.Errorf("NextAttemptAt = %v, want none", next)
				}
			}},
		{"queued again: the next backoff", Finish{Outcome: Queued, Reason: "reditus: 503"}, Queued,
			func(t *testing.T, next time.Time) {
				// Retries is 1 once the worker took it: the second step.
				if d := next.Sub(w0); d < 8*time.Second || d > 10*time.Second {
					t.Errorf("next attempt in %v, want 8 to 10 s", d)
				}
			}},
		{"queued with a later time (Retry-After)", Finish{Outcome: Queued, NextAttemptAt: retryAfter}, Queued,
			func(t *testing.T, next time.Time) {
				if !next.Equal(retryAfter) {
					t.Errorf("NextAttemptAt = %v, want %v", next, retryAfter)
				}
			}},
		{"no outcome: queued again, not left pending", Finish{}, Queued,
			func(t *testing.T, next time.Time) {
				if !next.After(w0) {
					t.Errorf("NextAttemptAt = %v, want after now", next)
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := &testClock{now: w0}
			s := openTestStore(t, t.TempDir(), clk)
			rec := queueOne(t, s, "sb_1", w0)
			w := &Worker{Store: s, Now: clk.Now, Deliver: func(context.Context, Record) Finish { return tt.f }}
			w.defaults()
			if n, err := w.poll(context.Background(), w.Batch); n != 1 || err != nil {
				t.Fatalf("poll = %d, %v; want 1", n, err)
			}
			got := mustGet(t, s, rec.ID)
			if got.Outcome != tt.wantOutcome {
				t.Errorf("outcome = %q, want %q", got.Outcome, tt.wantOutcome)
			}
			tt.wantNext(t, got.NextAttemptAt)
		})
	}
}

func TestWorkerGivesUpAfterRetryFor(t *testing.T) {
	clk := &testClock{now: w0}
	s := openTestStore(t, t.TempDir(), clk)
	rec := queueOne(t, s, "sb_1", NextAttempt(0, w0))
	var logs logBuffer
	var failed []Record
	w := &Worker{
		Store: s, Now: clk.Now, RetryFor: time.Hour, Log: logs.Logger(),
		OnFailed: func(r Record) { failed = append(failed, r) },
		Deliver: func(context.Context, Record) Finish {
			return Finish{Outcome: Queued, Reason: "reditus: 503 Service Unavailable", Attempts: 1}
		},
	}
	w.defaults()
	deadline := rec.ReceivedAt.Add(time.Hour)

	var delays []time.Duration
	for round := 0; ; round++ {
		if round > 100 {
			t.Fatalf("still %s after 100 rounds", mustGet(t, s, rec.ID).Outcome)
		}
		r := mustGet(t, s, rec.ID)
		if r.Outcome != Queued {
			break
		}
		if r.NextAttemptAt.After(deadline) {
			t.Fatalf("round %d: due at %v, after the deadline %v", round, r.NextAttemptAt, deadline)
		}
		delays = append(delays, r.NextAttemptAt.Sub(clk.Now()))
		clk.Set(r.NextAttemptAt)
		if n, err := w.poll(context.Background(), w.Batch); n != 1 || err != nil {
			t.Fatalf("round %d: poll = %d, %v; want 1", round, n, err)
		}
	}

	got := mustGet(t, s, rec.ID)
	if got.Outcome != Failed || got.Reason != "reditus: 503 Service Unavailable" || !got.NextAttemptAt.IsZero() {
		t.Errorf("gave up with outcome %q, reason %q, next %v; want failed, the last reason, none", got.Outcome, got.Reason, got.NextAttemptAt)
	}
	if now := clk.Now(); !now.Equal(deadline) {
		t.Errorf("gave up at %v, want at the deadline %v: the last attempt is made then", now, deadline)
	}
	if got.Attempts != 4+len(delays) { // the pipeline's 4, then 1 a round
		t.Errorf("attempts = %d, want %d", got.Attempts, 4+len(delays))
	}
	// The backoff grows: first within seconds, then doubling to the cap.
	if delays[0] > FirstRetry || delays[1] < 8*time.Second || delays[len(delays)-2] < 4*time.Minute {
		t.Errorf("delays %v: want the first within %v, then doubling up to about %v", delays, FirstRetry, MaxBackoff)
	}
	if len(failed) != 1 || failed[0].ID != rec.ID {
		t.Errorf("OnFailed told of %d records, want record %d once", len(failed), rec.ID)
	}
	out := logs.String()
	if !strings.Contains(out, "level=ERROR") || !strings.Contains(out, "gave up") || !strings.Contains(out, "sb_1") {
		t.Errorf("log lacks an error line for the record given up on:\n%s", out)
	}
	if strings.Contains(out, "ann@example.com") {
		t.Errorf("log shows the email:\n%s", out)
	}
	// Given up on, it is no longer the worker's.
	clk.Set(deadline.Add(24 * time.Hour))
	if n, _ := w.poll(context.Background(), w.Batch); n != 0 {
		t.Errorf("a failed record was taken again")
	}
}

func TestWorkerRunDeliversWhatFellDueWhileDown(t *testing.T) {
	dir := t.TempDir()
	clk := &testClock{now: w0}
	before := openTestStore(t, dir, clk)
	want := map[int64]bool{}
	for _, id := range []string{"sb_1", "sb_2", "sb_3", "sb_4"} {
		want[queueOne(t, before, id, w0.Add(time.Minute)).ID] = true
	}
	// A worker took one and crashed before it recorded the outcome.
	clk.Set(w0.Add(2 * time.Minute))
	taken, err := before.Due(context.Background(), clk.Now(), time.Minute, 1)
	if err != nil || len(taken) != 1 {
		t.Fatalf("Due = %v, %v; want 1", taken, err)
	}
	// The bridge crashed in the middle of a webhook from a sender that never
	// retries.
	inRequest, _, err := before.Begin(context.Background(), Record{Provider: "supabase", DeliveryID: "sb_5", Body: []byte("{}")}, time.Minute)
	if err != nil {
		t.Fatalf("Begin: %v", err)
	}
	want[inRequest.ID] = true
	before.Close()

	// The bridge restarts after the lease ran out. Interval is long, so only
	// the poll at start (and those straight after a full batch) can deliver.
	clk.Set(w0.Add(time.Hour))
	s := openTestStore(t, dir, clk)
	delivered := make(chan int64, 10)
	w := &Worker{Store: s, Now: clk.Now, Interval: time.Hour, Batch: 3, Deliver: func(_ context.Context, r Record) Finish {
		delivered <- r.ID
		return Finish{Outcome: "forwarded", Attempts: 1}
	}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- w.Run(ctx) }()
	// docs/design.md, "The journal": every due item is attempted within 10 s of start.
	timeout := time.After(10 * time.Second)
	for len(want) > 0 {
		select {
		case id := <-delivered:
			if !want[id] {
				t.Errorf("delivered record %d: not one of %v, or twice", id, want)
			}
			delete(want, id)
		case <-timeout:
			t.Fatalf("records %v not delivered within 10 s of start", want)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run = %v, want nil after its context ended", err)
	}
}

func TestWorkerStopLetsDeliveriesInFlightFinish(t *testing.T) {
	clk := &testClock{now: w0}
	s := openTestStore(t, t.TempDir(), clk)
	rec := queueOne(t, s, "sb_1", w0)
	started, release := make(chan struct{}), make(chan struct{})
	var deliverCtxErr error
	w := &Worker{Store: s, Now: clk.Now, Deliver: func(ctx context.Context, r Record) Finish {
		close(started)
		<-release
		deliverCtxErr = ctx.Err()
		return Finish{Outcome: "forwarded", Attempts: 1}
	}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- w.Run(ctx) }()
	<-started
	cancel()
	close(release)
	if err := <-done; err != nil {
		t.Errorf("Run = %v, want nil", err)
	}
	// Run returned only after the delivery was recorded.
	if got := mustGet(t, s, rec.ID); got.Outcome != "forwarded" {
		t.Errorf("outcome after Run returned = %q, want forwarded", got.Outcome)
	}
	if deliverCtxErr != nil {
		t.Errorf("Deliver's context ended with the worker's: %v", deliverCtxErr)
	}
}

// fakeStore is a Queue and a Pruner whose methods a test sets; the ones it
// leaves nil are not expected to be called.
type fakeStore struct {
	due    func(now time.Time, limit int) ([]Record, error)
	finish func(id int64, f Finish) error
	prune  func(before time.Time) (int64, error)
}

func (f *fakeStore) Finish(_ context.Context, id int64, fin Finish) error {
	return f.finish(id, fin)
}

func (f *fakeStore) Due(_ context.Context, now time.Time, _ time.Duration, limit int) ([]Record, error) {
	return f.due(now, limit)
}

func (f *fakeStore) Prune(_ context.Context, before time.Time) (int64, error) {
	return f.prune(before)
}

func TestWorkerLogsAStoreOutageOnceAndKeepsPolling(t *testing.T) {
	var logs logBuffer
	polls := make(chan int, 100)
	n := 0
	store := &fakeStore{due: func(time.Time, int) ([]Record, error) {
		n++
		select {
		case polls <- n:
		default: // the test has seen enough
		}
		if n <= 3 {
			return nil, errors.New("database is locked")
		}
		return nil, nil
	}}
	w := &Worker{Store: store, Log: logs.Logger(), Interval: time.Millisecond,
		Deliver: func(context.Context, Record) Finish { return Finish{} }}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- w.Run(ctx) }()
	for <-polls < 5 {
	}
	cancel()
	<-done
	out := logs.String()
	if c := strings.Count(out, "cannot take due events"); c != 1 {
		t.Errorf("the outage was logged %d times, want once:\n%s", c, out)
	}
	if !strings.Contains(out, "taking due events again") {
		t.Errorf("the recovery was not logged:\n%s", out)
	}
}

func TestWorkerNeedsAStoreAndDeliver(t *testing.T) {
	if err := (&Worker{}).Run(context.Background()); err == nil {
		t.Error("Run of an empty Worker = nil, want an error")
	}
}

func TestRetentionPrunesAtStartAndThenEveryPeriod(t *testing.T) {
	tests := []struct {
		name string
		keep time.Duration
		want time.Time
	}{
		{"JOURNAL_RETENTION", 48 * time.Hour, w0.Add(-48 * time.Hour)},
		{"the default", 0, w0.Add(-DefaultKeep)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			befores := make(chan time.Time, 100)
			calls := 0
			store := &fakeStore{prune: func(before time.Time) (int64, error) {
				calls++
				select {
				case befores <- before:
				default: // the test has seen enough
				}
				if calls == 1 {
					return 0, errors.New("disk I/O error")
				}
				return 3, nil
			}}
			var logs logBuffer
			// Every is the period between prunes after the first, which
			// Run makes at once.
			r := &Retention{Store: store, Keep: tt.keep, Every: time.Millisecond, Now: func() time.Time { return w0 }, Log: logs.Logger()}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error)
			go func() { done <- r.Run(ctx) }()
			for range 2 { // a failed prune does not stop the next
				if got := <-befores; !got.Equal(tt.want) {
					t.Errorf("Prune(%v), want Prune(%v)", got, tt.want)
				}
			}
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run = %v, want nil", err)
			}
			if out := logs.String(); !strings.Contains(out, "disk I/O error") || !strings.Contains(out, "count=3") {
				t.Errorf("log lacks the failure or the count:\n%s", out)
			}
		})
	}
}

// pace is a Pacer whose answer the test sets, and which counts its calls.
// With probe set it allows one record, once, as a breaker lets one probe
// through, and then none.
type pace struct {
	mu    sync.Mutex
	n     int
	probe bool
	wait  time.Duration
	asked int
}

func (p *pace) set(n int, probe bool) { p.mu.Lock(); p.n, p.probe = n, probe; p.mu.Unlock() }

func (p *pace) Ready(max int) (int, time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.asked++
	if p.probe {
		p.probe = false
		return 1, 0
	}
	return min(p.n, max), p.wait
}

// With a Pace (the Reditus breaker), the worker takes nothing while it
// allows none, one record when it allows a probe, and a batch at a time
// once it allows them all: an outage costs Reditus no call per queued
// record, and the drain after it is bounded by the batch.
func TestWorkerTakesWhatItsPaceAllows(t *testing.T) {
	clk := &testClock{now: w0}
	s := openTestStore(t, t.TempDir(), clk)
	for _, id := range []string{"sb_1", "sb_2", "sb_3", "sb_4", "sb_5", "sb_6", "sb_7"} {
		queueOne(t, s, id, w0)
	}
	var mu sync.Mutex
	inFlight, most, delivered := 0, 0, 0
	p := &pace{wait: 5 * time.Millisecond}
	w := &Worker{Store: s, Now: clk.Now, Interval: time.Hour, Batch: 3, Pace: p, Deliver: func(context.Context, Record) Finish {
		mu.Lock()
		inFlight++
		most, delivered = max(most, inFlight), delivered+1
		mu.Unlock()
		time.Sleep(10 * time.Millisecond)
		mu.Lock()
		inFlight--
		mu.Unlock()
		return Finish{Outcome: "forwarded", Attempts: 1}
	}}
	count := func() int { mu.Lock(); defer mu.Unlock(); return delivered }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- w.Run(ctx) }()
	defer func() { cancel(); <-done }()

	// Nothing allowed: asked again after the pace's wait, not Interval.
	time.Sleep(100 * time.Millisecond)
	if n := count(); n != 0 {
		t.Fatalf("%d records delivered while the pace allowed none", n)
	}
	p.mu.Lock()
	asked := p.asked
	p.mu.Unlock()
	if asked < 3 {
		t.Errorf("the pace was asked %d times in 100 ms with a 5 ms wait, want it asked again after each wait", asked)
	}
	// A probe: one record, then nothing until the pace allows more.
	p.set(0, true)
	waitUntil(t, func() bool { return count() >= 1 })
	time.Sleep(50 * time.Millisecond)
	if n := count(); n != 1 {
		t.Errorf("%d records delivered for one probe, want 1", n)
	}
	// Back: the rest, a batch at a time.
	p.set(100, false)
	waitUntil(t, func() bool { return count() == 7 })
	mu.Lock()
	defer mu.Unlock()
	if most > 3 {
		t.Errorf("%d deliveries at a time, want at most the batch, 3", most)
	}
}

// With a Pace, a record queued again with a time from the pipeline (the
// breaker's next probe) is due then, without its own backoff on top, so
// that it is delivered as soon as Reditus is back.
func TestWorkerWithAPaceTakesThePipelinesTime(t *testing.T) {
	clk := &testClock{now: w0}
	s := openTestStore(t, t.TempDir(), clk)
	rec := queueOne(t, s, "sb_1", w0)
	probe := w0.Add(2 * time.Second)
	w := &Worker{Store: s, Now: clk.Now, Pace: &pace{n: 8}, Deliver: func(context.Context, Record) Finish {
		return Finish{Outcome: Queued, Reason: "reditus: not called", NextAttemptAt: probe}
	}}
	w.defaults()
	if n, err := w.poll(context.Background(), w.Batch); n != 1 || err != nil {
		t.Fatalf("poll = %d, %v; want 1", n, err)
	}
	if got := mustGet(t, s, rec.ID); got.Outcome != Queued || !got.NextAttemptAt.Equal(probe) {
		t.Errorf("record %s due at %v, want queued, due at the probe %v (the backoff would be 8 to 10 s)", got.Outcome, got.NextAttemptAt, probe)
	}
}

func waitUntil(t *testing.T, done func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !done(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("not within 5 s")
		}
	}
}
