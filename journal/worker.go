package journal

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"
)

// The retry schedule: the first retry within seconds, since most Reditus
// outages are brief, then doubling, capped so that a long outage is still
// probed every few minutes.
const (
	FirstRetry = 5 * time.Second
	MaxBackoff = 5 * time.Minute
)

// NextAttempt returns when a queued record is next due, after attempt earlier
// rounds in the queue (0 when it is queued first): FirstRetry doubled attempt
// times, at most MaxBackoff, less up to a fifth at random so that records
// queued together by an outage do not all come due in the same instant.
func NextAttempt(attempt int, now time.Time) time.Time {
	d := FirstRetry
	switch {
	case attempt >= 16: // long past the cap; and FirstRetry<<attempt would overflow
		d = MaxBackoff
	case attempt > 0:
		d = min(FirstRetry<<attempt, MaxBackoff)
	}
	return now.Add(d - rand.N(d/5))
}

// Defaults for Worker's optional fields.
const (
	DefaultRetryFor = 72 * time.Hour
	DefaultInterval = 2 * time.Second
	DefaultLease    = time.Minute
	DefaultBatch    = 8
)

// Queue is the journal as a Worker uses it; *DB is one.
type Queue interface {
	// Due claims the records due at now (DB.Due).
	Due(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]Record, error)
	// Finish records the outcome of a claimed record (DB.Finish).
	Finish(ctx context.Context, id int64, f Finish) error
}

// Worker delivers the queued records when they fall due. Several workers, in
// one process or in several on one Postgres, share a queue: each record goes
// to one of them.
type Worker struct {
	Store Queue
	// Deliver runs a record through the pipeline again and says how it ended.
	// Its context ends at the lease, not at shutdown.
	Deliver func(ctx context.Context, r Record) Finish
	// RetryFor (RETRY_FOR) is how long after it was received a record that
	// still cannot be delivered becomes failed; DefaultRetryFor when 0.
	RetryFor time.Duration
	Log      *slog.Logger
	// OnFailed, if set, is told of every record given up on (a metric).
	OnFailed func(Record)

	// Optional: DefaultInterval, DefaultLease, DefaultBatch and time.Now
	// when zero.
	Interval time.Duration    // between polls while nothing is due
	Lease    time.Duration    // how long a taken record is held; bounds Deliver
	Batch    int              // records taken and delivered together
	Now      func() time.Time // the clock, for tests
}

// Run delivers due records until ctx ends, then waits for the deliveries in
// flight and returns nil. It polls at once, so that a restart delivers what
// fell due while the bridge was down, then every Interval, and again at once
// after a full batch, so that a backlog drains at full speed.
func (w *Worker) Run(ctx context.Context) error {
	if w.Store == nil || w.Deliver == nil {
		return errors.New("journal: a worker needs a store and a deliver function")
	}
	c := *w // defaults go in a copy: w stays as its owner set it
	c.defaults()
	return c.run(ctx)
}

func (w *Worker) run(ctx context.Context) error {
	timer := time.NewTimer(0)
	defer timer.Stop()
	storeDown := false
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-timer.C:
		}
		n, err := w.poll(ctx)
		switch {
		case err != nil && ctx.Err() == nil && !storeDown:
			// Once per outage: the store being down is logged and counted
			// by the pipeline too, and a poll every Interval must not
			// flood the log.
			w.Log.Error("journal: cannot take due events", "err", err)
			storeDown = true
		case err == nil && storeDown:
			w.Log.Info("journal: taking due events again")
			storeDown = false
		}
		next := w.Interval
		if n == w.Batch {
			next = 0
		}
		timer.Reset(next)
	}
}

func (w *Worker) defaults() {
	if w.RetryFor <= 0 {
		w.RetryFor = DefaultRetryFor
	}
	if w.Interval <= 0 {
		w.Interval = DefaultInterval
	}
	if w.Lease <= 0 {
		w.Lease = DefaultLease
	}
	if w.Batch <= 0 {
		w.Batch = DefaultBatch
	}
	if w.Now == nil {
		w.Now = time.Now
	}
	if w.Log == nil {
		w.Log = slog.New(slog.DiscardHandler)
	}
}

// poll takes one batch of due records, delivers them concurrently, and
// returns once each is finished.
func (w *Worker) poll(ctx context.Context) (int, error) {
	recs, err := w.Store.Due(ctx, w.Now(), w.Lease, w.Batch)
	if err != nil {
		return 0, err
	}
	// Shutdown must not cut a delivery short: one that reached Reditus but
	// was not recorded would be sent again after a restart.
	work := context.WithoutCancel(ctx)
	var wg sync.WaitGroup
	for _, r := range recs {
		wg.Go(func() { w.deliver(work, r) })
	}
	wg.Wait()
	return len(recs), nil
}

func (w *Worker) deliver(ctx context.Context, r Record) {
	dctx, cancel := context.WithTimeout(ctx, w.Lease)
	f := w.Deliver(dctx, r)
	cancel()
	log := w.Log.With("journal_id", r.ID, "provider", r.Provider, "event_id", r.DeliveryID, "event_type", r.EventType)
	if f.Outcome == "" || f.Outcome == Pending {
		log.Error("journal: delivery ended without an outcome; queued again", "outcome", f.Outcome)
		f = Finish{Outcome: Queued, Reason: "the delivery ended without an outcome", Attempts: f.Attempts}
	}
	now := w.Now()
	if f.Outcome == Queued {
		deadline := r.ReceivedAt.Add(w.RetryFor)
		if now.Before(deadline) {
			next := NextAttempt(r.Retries, now)
			if f.NextAttemptAt.After(next) { // the pipeline knows better, e.g. Retry-After
				next = f.NextAttemptAt
			}
			// The last attempt is made at the deadline, not up to a
			// backoff later.
			f.NextAttemptAt = minTime(next, deadline)
		} else {
			f.Outcome = Failed
			log.Error("journal: gave up delivering an event", "reason", f.Reason,
				"attempts", r.Attempts+f.Attempts, "received_at", r.ReceivedAt, "retry_for", w.RetryFor)
			if w.OnFailed != nil {
				w.OnFailed(r)
			}
		}
	}
	f.Lease = r.NextAttemptAt // Due's lease: a newer holder's outcome stands
	fctx, cancel := context.WithTimeout(ctx, w.Lease)
	defer cancel()
	if err := w.Store.Finish(fctx, r.ID, f); err != nil {
		// The lease runs out and Due hands the record out again: Reditus
		// answers a repeated conversion with 409, which counts as success.
		log.Error("journal: cannot record a delivery's outcome", "outcome", f.Outcome, "err", err)
	}
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
