// Package journal records every verified webhook and replayed event
// (docs/design.md, "The journal"): what it was, what became of it and why,
// and its raw body. The record dedupes re-sent deliveries across instances,
// holds the conversions Reditus could not take yet for the Worker to deliver,
// and answers "why was this signup not tracked?".
//
// Open returns a DB on embedded SQLite (the default, one instance) or on
// Postgres (several instances sharing dedupe, queue and history): the same
// code over database/sql; only the SQL dialect differs.
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

// Errors returned by a DB, matched with errors.Is.
var (
	// ErrNotFound: no record has that id.
	ErrNotFound = errors.New("journal: no such event")
	// ErrBusy: the record is pending under a live lease, so someone is
	// delivering it right now, or (Retake) its outcome changed since its
	// caller looked: someone just did.
	ErrBusy = errors.New("journal: event is being delivered")
	// ErrLeaseLost: Finish came after its lease (Finish.Lease) ended and
	// another holder took the record.
	ErrLeaseLost = errors.New("journal: the event's lease ended and another holder took it")
	// ErrNoBody: the record keeps no body to run again (HasBody).
	ErrNoBody = errors.New("journal: the event's body was not kept: the bridge keeps none for an event type it does not handle")
	// ErrNoJournal: Open with ReadOnly found no journal, which only the
	// bridge makes, when it starts. Its message is the whole sentence:
	// "no journal at DATA_DIR/bridge.db".
	ErrNoJournal = errors.New("no journal")
	// ErrCorrupt: SQLite's file is damaged (found by the check at Open or
	// by Check, or by SQLite at any call, or overwritten while the bridge
	// ran). Open refuses it, and once a DB has seen it every call fails
	// with it. Its message names the file and says what to do.
	ErrCorrupt = errors.New("journal: the journal's file is corrupt")
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
	// UID is the customer's id as the event names it, and PaymentKey the
	// idempotency key of the payment it pays or refunds; "" where it has
	// none. Ahead reads them.
	UID        string
	PaymentKey string
	Body       []byte // the raw verified body, for retry and replay
	// HasBody says a body was kept: List leaves Body out. An event the
	// bridge can never need to retry (a type it does not handle) is
	// recorded without one.
	HasBody bool
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
	// ReferralID, Email, EventType, UID and PaymentKey replace the record's
	// when not empty.
	ReferralID string
	Email      string
	EventType  string
	UID        string
	PaymentKey string
	// Attempts is how many calls to Reditus this work made; it is added to
	// the record's.
	Attempts int
	// NextAttemptAt is when a queued record is due, on this process's
	// clock (Postgres keeps its distance from now, on the database's clock);
	// zero means now.
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

// Status says where a DB keeps the journal and how far it is migrated.
type Status struct {
	Kind    string // "sqlite" or "postgres"
	Where   string // the database file, or the Postgres URL without its password
	Version int    // migrations applied
	Latest  int    // migrations this binary knows
}

// Options says which database Open opens.
type Options struct {
	// DatabaseURL, when set, selects Postgres: postgres://user:password@host/db.
	DatabaseURL string
	// DataDir is where SQLite keeps bridge.db otherwise; it is created
	// (mode 0700) when missing, and bridge.db in it (mode 0600).
	DataDir string
	// ReadOnly opens the journal to read it only, for the commands that
	// read it (events, check): no directory, file or table is made, no
	// migration is applied, and a journal that is not there is
	// ErrNoJournal. SQLite opens the file read-only, so that a read-only
	// volume can be read. Every write fails.
	ReadOnly bool
	// Now, for tests, is the store's clock for leases and record times in
	// place of its own: Postgres's (now(), shared by every instance on it;
	// see at), or on SQLite this machine's, time.Now.
	Now func() time.Time
}

// Open opens the journal Options select, Postgres when DatabaseURL is set,
// else SQLite at DataDir/bridge.db, and unless ReadOnly applies its
// migrations. It refuses a SQLite file that quick_check finds corrupt
// (ErrCorrupt; a file too large to check within 2 s is checked on while the
// journal serves).
func Open(ctx context.Context, o Options) (*DB, error) {
	ownClock := o.Now != nil || o.DatabaseURL == ""
	if o.Now == nil {
		o.Now = time.Now
	}
	var db *DB
	var err error
	switch {
	case o.DatabaseURL != "":
		db, err = openPostgres(ctx, o)
	case o.DataDir == "":
		err = errors.New("journal: neither a data directory nor a database URL")
	default:
		db, err = openSQLite(ctx, o)
	}
	if err != nil {
		return nil, err
	}
	db.ownClock = ownClock
	return db, nil
}
