package journal

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/getreditus/reditus-bridge/internal/redact"
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

// Pacer paces deliveries as a whole, by the health of where they go: the
// Reditus client's breaker (*reditus.Breaker) is one.
type Pacer interface {
	// Ready says how many of max records may be delivered now; with none,
	// wait is how long until asking again is worth it.
	Ready(max int) (n int, wait time.Duration)
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
	// Pace, if set, says how many records the worker may take: with the
	// Reditus client's breaker, none while Reditus is down, one to probe
	// it, a batch once it is back. A record queued again with a time from
	// the pipeline (when Reditus may be called again: its Retry-After, or
	// the breaker's next probe) is then due at that time, without its own
	// backoff on top: the pace holds the calls back, and after an outage
	// every record is due at once, for the drain.
	Pace Pacer

	// Optional: DefaultInterval, DefaultLease, DefaultBatch and time.Now
	// when zero.
	Interval time.Duration    // between polls while nothing is due
	Lease    time.Duration    // how long a taken record is held; bounds Deliver
	Batch    int              // records taken and delivered together: the most deliveries at a time
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
		limit, wait := w.ready()
		if limit == 0 {
			if wait <= 0 || wait > w.Interval {
				wait = w.Interval
			}
			timer.Reset(wait)
			continue
		}
		n, err := w.poll(ctx, limit)
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
		if n == limit {
			next = 0
		}
		timer.Reset(next)
	}
}

// ready says how many records the worker may take now, up to a batch, and
// with none, how long to wait.
func (w *Worker) ready() (int, time.Duration) {
	if w.Pace == nil {
		return w.Batch, 0
	}
	n, wait := w.Pace.Ready(w.Batch)
	return min(n, w.Batch), wait
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

// poll takes up to limit due records, delivers them, and returns once each
// is finished. The records of one customer or one payment (chains) are
// delivered in order, oldest first, each finished before the next begins:
// the pipeline holds a refund behind its payment while that one is pending,
// so delivered together the refund would wait a whole backoff; in order it
// finds the payment done and goes at once. Chains go concurrently.
func (w *Worker) poll(ctx context.Context, limit int) (int, error) {
	recs, err := w.Store.Due(ctx, w.Now(), w.Lease, limit)
	if err != nil {
		return 0, err
	}
	// Shutdown must not cut a delivery short: one that reached Reditus but
	// was not recorded would be sent again after a restart.
	work := context.WithoutCancel(ctx)
	started := time.Now()
	var wg sync.WaitGroup
	for _, chain := range chains(recs) {
		wg.Go(func() {
			for i, r := range chain {
				// A record whose lease is half gone before its turn is put
				// back, due at once, for the next poll to take with a lease
				// of its own: delivered late, its lease could end mid-way,
				// and another instance take it too. The first always goes.
				if i > 0 && time.Since(started) > w.Lease/2 {
					w.putBack(work, r)
					continue
				}
				w.deliver(work, r)
			}
		})
	}
	wg.Wait()
	return len(recs), nil
}

// chains splits recs, oldest first, into the records that must go in order:
// those that share a customer (a uid or an email) or a payment, directly or
// through another record of the batch. Each chain keeps recs' order.
func chains(recs []Record) [][]Record {
	root := make([]int, len(recs)) // union-find over recs' indexes
	for i := range root {
		root[i] = i
	}
	find := func(i int) int {
		for root[i] != i {
			root[i], i = root[root[i]], root[root[i]]
		}
		return i
	}
	first := map[string]int{} // a key's first record
	for i, r := range recs {
		for _, k := range []string{"uid " + r.UID, "email " + emailKey(r.Email), "payment " + r.PaymentKey} {
			if strings.HasSuffix(k, " ") {
				continue // no value: shared with nobody
			}
			if j, ok := first[k]; ok {
				root[find(i)] = find(j)
			} else {
				first[k] = i
			}
		}
	}
	var out [][]Record
	at := map[int]int{} // a chain's root: its index in out
	for i, r := range recs {
		c, ok := at[find(i)]
		if !ok {
			c = len(out)
			at[find(i)] = c
			out = append(out, nil)
		}
		out[c] = append(out[c], r)
	}
	return out
}

// putBack gives r back untouched, due at once, under the lease Due gave it.
func (w *Worker) putBack(ctx context.Context, r Record) {
	fctx, cancel := context.WithTimeout(ctx, w.Lease)
	defer cancel()
	if err := w.Store.Finish(fctx, r.ID, Finish{Outcome: Queued, Reason: r.Reason, Lease: r.NextAttemptAt}); err != nil {
		// Its lease runs out, and Due hands it out again.
		w.Log.Error("journal: cannot put an event back in the queue", "journal_id", r.ID, "err", err)
	}
}

func (w *Worker) deliver(ctx context.Context, r Record) {
	log := w.Log.With("journal_id", r.ID, "provider", r.Provider, "event_id", r.DeliveryID, "event_type", r.EventType)
	f := w.attempt(ctx, r, log)
	if f.Outcome == "" || f.Outcome == Pending {
		log.Error("journal: delivery ended without an outcome; queued again", "outcome", f.Outcome)
		f = Finish{Outcome: Queued, Reason: "the delivery ended without an outcome", Attempts: f.Attempts}
	}
	now := w.Now()
	if f.Outcome == Queued {
		deadline := r.ReceivedAt.Add(w.RetryFor)
		if now.Before(deadline) {
			next := NextAttempt(r.Retries, now)
			switch {
			case w.Pace != nil && !f.NextAttemptAt.IsZero():
				next = f.NextAttemptAt // when the pace lets calls through
			case f.NextAttemptAt.After(next): // the pipeline knows better, e.g. Retry-After, or the event it waits behind
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

// attempt runs Deliver on r within its lease. A panic in it (a mapping's
// bug on one body, say) is a failed attempt of r: r is queued again with its
// backoff, and RETRY_FOR still ends it. Unrecovered, it would kill the
// process, and the restart's first poll would take the same record and die
// again. What the panic says may quote the body, so its emails are masked.
func (w *Worker) attempt(ctx context.Context, r Record, log *slog.Logger) (f Finish) {
	dctx, cancel := context.WithTimeout(ctx, w.Lease)
	defer cancel()
	defer func() {
		if v := recover(); v != nil {
			what := redact.Emails(fmt.Sprint(v))
			log.Error("journal: a delivery panicked; queued again", "panic", what, "stack", string(debug.Stack()))
			f = Finish{Outcome: Queued, Reason: "the delivery failed: the bridge panicked (" + what + "); its log has the stack", Attempts: 1}
		}
	}()
	return w.Deliver(dctx, r)
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
