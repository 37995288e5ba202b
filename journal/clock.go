package journal

import (
	"strings"
	"time"
)

// Whose clock. Leases and due times are compared across instances: a lease
// one instance took must not look ended to another whose clock runs ahead
// (a re-send there would take over a delivery in progress, and Reditus would
// get it twice). So on Postgres every time the journal writes or compares is
// the database's: the queries write a time argument as {?}, which Postgres
// reads as
//
//	COALESCE($n::timestamptz, now() + $m::bigint * interval '1 microsecond')
//
// with $n NULL and $m the time's distance from this process's clock, in
// microseconds: a lease of a minute ends a minute after the database's now(),
// whatever this machine's clock says, and a time a caller passes (Due's now,
// Finish's NextAttemptAt, Prune's before) keeps its distance from now. A
// test that gives the store its clock (Options.Now) passes that clock's time
// as $n instead. SQLite's instances share one machine and its clock, which
// is the store's: {?} is a plain ?.
//
// Doing it in the SQL, rather than reading the database's clock first or
// measuring this clock's offset from it, keeps each call one statement and
// leaves no moment when the two clocks can disagree: a clock stepped by NTP
// between a measurement and a lease would open that window again.

// timeParam is how a query writes a time argument (see above).
const timeParam = "{?}"

// postgresTime is what {?} becomes on Postgres.
const postgresTime = "COALESCE(?::timestamptz, now() + ?::bigint * interval '1 microsecond')"

// at is a time argument of a query, written {?}, read on this process's
// clock (DB.now); the zero time is NULL.
type at time.Time

// args are a query's arguments, each at turned into what its {?} takes.
func (db *DB) args(vs ...any) []any {
	out := make([]any, 0, len(vs)+4)
	for _, v := range vs {
		t, ok := v.(at)
		if !ok {
			out = append(out, v)
			continue
		}
		out = append(out, db.timeArgs(time.Time(t))...)
	}
	return out
}

// timeArgs are the arguments of one {?}.
func (db *DB) timeArgs(t time.Time) []any {
	switch {
	case db.d.kind != "postgres":
		return []any{db.t(t)}
	case t.IsZero():
		return []any{nil, nil}
	case db.ownClock:
		return []any{db.t(t), 0}
	}
	return []any{nil, t.Sub(db.now()).Microseconds()}
}

// blobParam is how a query writes a body argument where nothing gives it a
// type (a SELECT's list): Postgres takes it for text otherwise.
const blobParam = "{blob}"

// sqlitePlaceholders turns {?} and {blob} into ?.
func sqlitePlaceholders(query string) string {
	return strings.NewReplacer(timeParam, "?", blobParam, "?").Replace(query)
}

// postgresPlaceholders turns {?} into the database's clock and types
// {blob}, then numbers the ? as $1, $2, ...
func postgresPlaceholders(query string) string {
	return dollarPlaceholders(strings.NewReplacer(timeParam, postgresTime, blobParam, "?::bytea").Replace(query))
}
