// Package journal records every verified webhook and replayed event (DESIGN.md
// section 7): what it was, what became of it and why, and its raw body. The
// record dedupes re-sent deliveries across instances, holds the conversions
// Reditus could not take yet for the Worker to deliver, and answers "why was
// this signup not tracked?".
//
// Two stores implement Store: embedded SQLite (the default, one instance) and
// Postgres (several instances sharing dedupe, queue and history). Both are the
// same code over database/sql; only their SQL dialect differs.
package journal

import (
	"context"
	"errors"
	"time"

	"github.com/getreditus/reditus-bridge/outcome"
)

// The outcomes the journal gives a meaning to. Every other outcome
// (forwarded, duplicate, skipped, rejected, dry_run, ...) is final.
const (
	// Pending: a delivery in progress, held by a lease.
	Pending = outcome.WordPending
	// Queued: the Worker delivers it when it is due.
	Queued = outcome.WordQueued
	// Failed: given up on; a re-send or an operator's retry may take it again.
	Failed = outcome.WordFailed
)

// Errors returned by a Store, matched with errors.Is.
var (
	// ErrNotFound: no record has that id.
	ErrNotFound = errors.New("journal: no such event")
	// ErrBusy: the record is pending under a live lease, so someone is
	// delivering it right now.
	ErrBusy = errors.New("journal: event is being delivered")
	// ErrLeaseLost: Finish came after its lease (Finish.Lease) ended and
	// another holder took the record.
	ErrLeaseLost = errors.New("journal: the event's lease ended and another holder took it")
)

// Record is one journaled event.
type Record struct {
	ID         int64
	Provider   string
	DeliveryID string // unique with Provider
	EventType  string
	ReceivedAt time.Time
	UpdatedAt  time.Time
	Outcome    outcome.Word
	Reason     string
	Attempts   int    // calls made to Reditus for it
	Retries    int    // times Due has handed it out; the Worker's attempt for NextAttempt
	ReferralID string // what Reditus answered, when it created the conversion
	Email      string // full, for search; never logged
	Body       []byte // the raw verified body, for retry and replay
	// NextAttemptAt is when the Worker takes the record: when it is due if
	// queued, when its lease ends if pending; zero otherwise.
	NextAttemptAt time.Time
	// AffiliateSlug and AdvocateSlug are the referral's, as found in the
	// event; List has them.
	AffiliateSlug, AdvocateSlug string
	// Found, Sent and AttemptLog are the event's detail, which only Get
	// reads: what the bridge found in it, what it sent, and every attempt
	// at Reditus, oldest first (the latest MaxAttemptLog).
	Found      []Field
	Sent       []Sent
	AttemptLog []Attempt
}

// Finish is the outcome of work on a claimed record.
type Finish struct {
	Outcome outcome.Word
	Reason  string
	// ReferralID, Email and EventType replace the record's when not empty.
	ReferralID string
	Email      string
	EventType  string
	// Attempts is how many calls to Reditus this work made; it is added to
	// the record's.
	Attempts int
	// NextAttemptAt is when a queued record is due; zero means now.
	NextAttemptAt time.Time
	// AffiliateSlug, AdvocateSlug, Found and Sent replace the record's when
	// Found or Sent is not empty: what this work found and sent. AttemptLog
	// is added to the record's.
	AffiliateSlug, AdvocateSlug string
	Found                       []Field
	Sent                        []Sent
	AttemptLog                  []Attempt
	// Lease, when set, is the end of the lease the work held (its record's
	// NextAttemptAt, from Begin, Due or Retake): the outcome is written only
	// while the record is still pending under it, else Finish fails with
	// ErrLeaseLost. Work that overran its lease was taken by another holder,
	// whose outcome is newer.
	Lease time.Time
}

// Filter selects records for List. Empty fields match everything.
type Filter struct {
	Email      string // exact, case-insensitive
	DeliveryID string
	Outcome    outcome.Word
	Provider   string
	Since      time.Time // received at or after
	Limit      int       // DefaultLimit when 0, at most MaxLimit
	// NeedsAttention selects the records a person should look at: failed,
	// rejected, queued for over an hour, or skipped for an invalid field.
	NeedsAttention bool
}

// Bounds on Filter.Limit.
const (
	DefaultLimit = 100
	MaxLimit     = 1000
)

// Status says where a Store keeps the journal and how far it is migrated.
type Status struct {
	Kind    string // "sqlite" or "postgres"
	Where   string // the database file, or the Postgres URL without its password
	Version int    // migrations applied
	Latest  int    // migrations this binary knows
}

// Store keeps the journal. Every method is safe for concurrent use, also by
// several processes on one Postgres.
type Store interface {
	// Begin records a verified delivery as pending, leased to the caller for
	// lease, and returns it with claimed=true. r needs Provider and
	// DeliveryID; ReceivedAt defaults to now; its Outcome, Attempts and
	// NextAttemptAt are the journal's to set. If (provider, delivery id) is
	// already recorded, it returns that record; claimed is true only when the
	// caller may work on it: it was pending with an expired lease (its holder
	// crashed) or failed. Two callers racing on one delivery, also on two
	// instances, never both get claimed=true while the lease lasts.
	Begin(ctx context.Context, r Record, lease time.Duration) (rec Record, claimed bool, err error)
	// Finish records the outcome of the work on a claimed record and releases
	// its lease. With f.Lease set it writes only while the caller still holds
	// that lease: work that overran its lease may have been taken and done
	// again, and the newer holder's outcome stands (ErrLeaseLost). Without,
	// it writes whatever the record's state.
	Finish(ctx context.Context, id int64, f Finish) error
	// Due claims up to limit records whose NextAttemptAt is not after now,
	// oldest first, leasing each for lease and counting a retry on each: the
	// queued records that are due, and the pending ones whose lease ended
	// because their holder crashed (a worker, or an instance in the middle of
	// a webhook whose sender may never retry). Concurrent callers, also on
	// other instances, never get the same record.
	Due(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]Record, error)
	// Retake claims one record by id for an operator's retry, whatever its
	// outcome, unless it is pending under a live lease (ErrBusy).
	Retake(ctx context.Context, id int64, lease time.Duration) (Record, error)
	// Get returns one record, or ErrNotFound.
	Get(ctx context.Context, id int64) (Record, error)
	// List returns the records that match f, newest first, without their
	// bodies (Get has them).
	List(ctx context.Context, f Filter) ([]Record, error)
	// Prune deletes the records received before before, except those pending
	// under a live lease, and says how many it deleted.
	Prune(ctx context.Context, before time.Time) (int64, error)
	// Status reports the store's kind, place and migrations; an error means
	// the store is unreachable.
	Status(ctx context.Context) (Status, error)
	// Close closes the store's connections.
	Close() error
}

// LaterFinisher is a Store that can record an outcome after its caller has
// moved on. A webhook forwarded to Reditus is answered without waiting for
// its record's last write; should the process die before that write, the
// record stays pending, the worker takes it when its lease ends, and Reditus
// answers it as a duplicate (its referrals and idempotency keys). An outcome
// that must be kept before the answer, Queued, is recorded before
// FinishLater returns. The SQLite store is one; on Postgres it is Finish.
type LaterFinisher interface {
	// FinishLater records f on record id, as Finish does, and calls done
	// with the write's error once it is made. The store's reads (Get, List)
	// wait for the writes queued before them. FinishLater waits only for
	// room in its queue, as long as ctx lets it; an error means nothing was
	// queued and done is not called.
	FinishLater(ctx context.Context, id int64, f Finish, done func(error)) error
}

// Options says which store Open opens.
type Options struct {
	// DatabaseURL, when set, selects Postgres: postgres://user:password@host/db.
	DatabaseURL string
	// DataDir is where SQLite keeps bridge.db otherwise; it is created
	// (mode 0700) when missing.
	DataDir string
	// Now is the store's clock for leases and record times; time.Now when
	// nil. Tests pass their own.
	Now func() time.Time
}

// Open opens the journal Options select and applies its migrations: Postgres
// when DatabaseURL is set, else SQLite at DataDir/bridge.db.
func Open(ctx context.Context, o Options) (Store, error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.DatabaseURL != "" {
		return openPostgres(ctx, o)
	}
	if o.DataDir == "" {
		return nil, errors.New("journal: neither a data directory nor a database URL")
	}
	return openSQLite(ctx, o)
}
