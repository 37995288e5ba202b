package journal

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/getreditus/reditus-bridge/outcome"
)

// dialect is what differs between the two stores; everything else is shared.
type dialect struct {
	kind string
	// placeholders turns the ? and {?} of the queries below into the
	// store's own (see at).
	placeholders func(query string) string
	// timeArg turns a UTC time into what the store's time columns hold.
	timeArg func(time.Time) any
	// skipLocked ends Due's inner select: on Postgres, concurrent workers
	// skip the rows another one is claiming instead of waiting for them.
	skipLocked string
	// lockMigrations, run first in the migrations' transaction, keeps two
	// instances starting at once from migrating together. SQLite needs none:
	// its write transactions are exclusive.
	lockMigrations string
	// migrationsTable is the DDL of the table that records applied migrations.
	migrationsTable string
	// prepare: keep each query prepared (see handle).
	prepare bool
	// lastInsertID: the driver returns an inserted row's id (SQLite), so
	// that an insert needs no RETURNING, whose rows cost more to read.
	lastInsertID bool
	// syncOn and syncOff surround a write that must be on disk when it
	// returns, where commits are not all synced (SQLite, see sqliteParams).
	syncOn, syncOff string
	// day is the UTC date of received_at as text, 2006-01-02 (Summary).
	day string
	// bodyHolds is true when the body holds its argument's text, in any
	// ASCII case; bodyText turns a lower-case needle into that argument
	// (Forget).
	bodyHolds string
	bodyText  func(needle string) any
	// scrubWAL follows Forget's deletes, where the WAL would otherwise keep
	// the pages they changed (SQLite). keepFreed and scrubFreed surround
	// retention's deletes, which need not overwrite what they delete (see
	// sqliteParams).
	scrubWAL, keepFreed, scrubFreed string
}

// DB is the journal, on SQLite or on Postgres, over database/sql. Every
// method is safe for concurrent use, also by several processes on one
// Postgres. Every write has been committed when it returns, so what a webhook
// is answered never rests on a write still to be made.
type DB struct {
	d     dialect
	write *handle // every write; on SQLite, its one write connection
	read  *handle // List, Get and Status; the same as write on Postgres
	// batch, on SQLite, commits Begin's and Finish's writes together.
	batch *batcher
	// ckpt, on SQLite, checkpoints the WAL beside the writer.
	ckpt *checkpointer
	// now is this process's clock, and the store's where ownClock is
	// set: on SQLite, or when a test gives the store its clock; else
	// Postgres's is (see at).
	now      func() time.Time
	ownClock bool
	where    string
	// opened is SQLite's file as it was opened, and file that file, open
	// (see inPlace).
	opened os.FileInfo
	file   *os.File
	// readOnly: opened with Options.ReadOnly, and every write fails.
	readOnly bool
	// workerPool, on Postgres, is the worker's own connections (ForWorker).
	workerPool *handle
	// room, on SQLite, is the room held back for Prune on a full volume,
	// and full is told of a write that found the volume full (DiskFull).
	room *reserve
	full chan struct{}
	// sawFull is set when a write found the volume full, and taken by the
	// next prune that deletes something, which then frees the reserve.
	sawFull atomic.Bool
	// broken is set once SQLite's file is found corrupt (checked).
	broken atomic.Pointer[corruptError]
	// stopCheck stops a quick_check still running (verify); background
	// has it, until it has stopped.
	stopCheck  context.CancelFunc
	background sync.WaitGroup
}

// errReadOnly is what a write gets from a journal opened read-only.
var errReadOnly = errors.New("the journal was opened read-only")

// columns are a Record's, in the order scan reads them. The body is its row
// of journal_body, or, for a record made before that table (migration
// 0006), journal.body, which is empty in the others. listColumns leave the
// body out, and say only whether there is one: a page of results must not
// carry megabytes of payloads.
const (
	baseColumns = `id, provider, delivery_id, event_type, received_at, updated_at, outcome, reason, attempts, retries, referral_id, email, next_attempt_at, affiliate_slug, advocate_slug, uid, payment_key`
	bodyColumn  = `COALESCE((SELECT body FROM journal_body WHERE event_id = journal.id), journal.body)`
	columns     = baseColumns + `, ` + bodyColumn
	listColumns = baseColumns + `, (length(journal.body) > 0 OR EXISTS (SELECT 1 FROM journal_body WHERE event_id = journal.id))`
)

type rowScanner interface{ Scan(dest ...any) error }

func scanRecord(row rowScanner, withBody bool) (Record, error) {
	var r Record
	dest := []any{&r.ID, &r.Provider, &r.DeliveryID, &r.EventType,
		timeScanner{&r.ReceivedAt}, timeScanner{&r.UpdatedAt}, &r.Outcome, &r.Reason,
		&r.Attempts, &r.Retries, &r.ReferralID, &r.Email, timeScanner{&r.NextAttemptAt},
		&r.AffiliateSlug, &r.AdvocateSlug, &r.UID, &r.PaymentKey}
	if withBody {
		dest = append(dest, &r.Body)
	} else {
		dest = append(dest, &r.HasBody)
	}
	err := row.Scan(dest...)
	if withBody {
		r.HasBody = len(r.Body) > 0
	}
	return r, err
}

// discard reads a column into nothing.
type discard struct{}

func (discard) Scan(any) error { return nil }

// timeScanner reads a time column of either store into a UTC time.Time; NULL
// reads as the zero time.
type timeScanner struct{ t *time.Time }

func (s timeScanner) Scan(src any) error {
	switch v := src.(type) {
	case nil:
		*s.t = time.Time{}
	case time.Time:
		*s.t = v.UTC()
	case string:
		return s.parse(v)
	case []byte:
		return s.parse(string(v))
	default:
		return fmt.Errorf("journal: a time column holds %T", src)
	}
	return nil
}

func (s timeScanner) parse(v string) error {
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return fmt.Errorf("journal: a time column holds %q: %w", v, err)
	}
	*s.t = t.UTC()
	return nil
}

// utc is how every time enters the journal: UTC, to the microsecond that
// both stores keep, so that what is read back equals what was written.
func utc(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

func (db *DB) clock() time.Time { return utc(db.now()) }

// t is a time argument; the zero time is NULL.
func (db *DB) t(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return db.d.timeArg(utc(t))
}

// Begin's statements, in the order it tries them. On SQLite, whose times
// are this process's, beginInsertRow returns nothing, the driver the new
// row's id (dialect.lastInsertID), and beginBody then keeps its body, in the
// same transaction (batcher). On Postgres, which runs Begin's statements on
// their own, beginInsert does both in one statement, and returns what its
// clock set (see at); beginInsertBodiless is it for an event without a body.
// The record's own body column, kept for records made before journal_body,
// is written empty.
const (
	beginInsertRow = `
		INSERT INTO journal (provider, delivery_id, event_type, received_at, updated_at,
			outcome, reason, referral_id, email, email_key, body, next_attempt_at, uid, payment_key)
		SELECT ?, ?, ?, {?}, {?}, 'pending', ?, ?, ?, ?, {blob}, {?}, ?, ?
		WHERE NOT EXISTS (SELECT 1 FROM journal_tombstone WHERE delivery_id = ? AND provider = ?)
		ON CONFLICT (provider, delivery_id) DO NOTHING`
	beginBody           = `INSERT INTO journal_body (event_id, body) VALUES (?, {blob})`
	beginInsertBodiless = beginInsertRow + `
		RETURNING id, received_at, updated_at, next_attempt_at`
	beginInsert = `
		WITH event AS (` + beginInsertBodiless + `),
		kept AS (INSERT INTO journal_body (event_id, body) SELECT id, {blob} FROM event)
		SELECT id, received_at, updated_at, next_attempt_at FROM event`
	beginRetake = `
		UPDATE journal SET outcome = 'pending', next_attempt_at = {?}, updated_at = {?}
		WHERE provider = ? AND delivery_id = ?
			AND (outcome = 'failed' OR (outcome = 'pending' AND next_attempt_at <= {?}))
		RETURNING ` + columns
	beginSelect    = `SELECT ` + columns + ` FROM journal WHERE provider = ? AND delivery_id = ?`
	beginTombstone = `SELECT received_at FROM journal_tombstone WHERE delivery_id = ? AND provider = ?`
)

// Finish's statement: finishSet, then finishEmail when it names an email,
// finishWhere, and finishLease when it writes only under the lease it names.
// An UPDATE that names email_key rewrites its index entry, changed or not,
// so only a new email is written.
const (
	finishSet = `
	UPDATE journal SET outcome = ?, reason = ?,
		referral_id = COALESCE(NULLIF(?, ''), referral_id),
		event_type = COALESCE(NULLIF(?, ''), event_type),
		uid = COALESCE(NULLIF(?, ''), uid),
		payment_key = COALESCE(NULLIF(?, ''), payment_key),
		attempts = attempts + ?, next_attempt_at = {?}, updated_at = {?},
		found = CASE WHEN ? = '' THEN found ELSE ? END,
		sent = CASE WHEN ? = '' THEN sent ELSE ? END,
		affiliate_slug = CASE WHEN ? = '' THEN affiliate_slug ELSE ? END,
		advocate_slug = CASE WHEN ? = '' THEN advocate_slug ELSE ? END`
	finishEmail = `, email = ?, email_key = ?`
	finishWhere = ` WHERE id = ?`
	finishLease = ` AND outcome = 'pending' AND next_attempt_at = ?`
)

// batchedQueries are the statements of the writes every webhook makes;
// SQLite commits them in shared transactions (batcher).
var batchedQueries = []string{beginInsertRow, beginBody, beginRetake, beginSelect, beginTombstone, attemptInsert, attemptTrim,
	finishSet + finishWhere, finishSet + finishWhere + finishLease,
	finishSet + finishEmail + finishWhere, finishSet + finishEmail + finishWhere + finishLease}

// writing runs one of the writes every webhook makes: on SQLite in the next
// shared transaction (batcher), on Postgres on its own. durable asks for the
// write to be on disk, not only committed, when it returns; every commit of
// Postgres is.
func (db *DB) writing(ctx context.Context, durable bool, run func(context.Context, querier) error) error {
	if err := db.writable(); err != nil {
		return err
	}
	if db.batch == nil {
		return run(ctx, db.write)
	}
	return db.batch.do(ctx, durable, run)
}

// writable fails when no write may be made: the journal is read-only, or
// its file was found corrupt.
func (db *DB) writable() error {
	if db.readOnly {
		return errReadOnly
	}
	return db.intact()
}

// inPlace fails once SQLite's file is no longer the one at its path: deleted
// or replaced while the bridge runs (a cleanup of DATA_DIR, a volume
// remounted). SQLite would go on writing to the deleted file, and a restart
// would find none of it: a record there keeps no event, and its dedupe lasts
// only as long as this process. The journal then fails as a store that is
// down does, and the sender is told 503 rather than 202 queued. One stat,
// after each commit of Begin's and Finish's writes (batcher.committed): a
// write made to a deleted file returns its error all the same.
//
// A file overwritten in place (cp over it) is the same file to a stat; one
// whose first bytes are no longer SQLite's is corrupt (checked). A checkpoint
// that copies SQLite's first page back from the WAL after the overwrite puts
// those bytes back, and hides it from this check; a copy of another journal
// over it (a backup) is never seen here. The check at the next start finds
// either.
func (db *DB) inPlace() error {
	if db.opened == nil {
		return nil
	}
	now, err := os.Stat(db.where)
	if err != nil || !os.SameFile(db.opened, now) {
		return fmt.Errorf("journal: %s was deleted or replaced while the bridge ran; restart the bridge to journal again", db.where)
	}
	if overwritten(db.file) {
		return &corruptError{file: db.where, found: "it was overwritten while the bridge ran"}
	}
	return nil
}

// Begin records a verified delivery as pending, leased to the caller for
// lease, and returns it with claimed=true. r needs Provider and DeliveryID;
// ReceivedAt defaults to now; its Outcome, Attempts and NextAttemptAt are the
// journal's to set. If (provider, delivery id) is already recorded, it
// returns that record; claimed is true only when the caller may work on it:
// it was pending with an expired lease (its holder crashed) or failed. Two
// callers racing on one delivery, also on two instances, never both get
// claimed=true while the lease lasts.
func (db *DB) Begin(ctx context.Context, r Record, lease time.Duration) (Record, bool, error) {
	if r.Provider == "" || r.DeliveryID == "" {
		return Record{}, false, errors.New("journal: begin: a record needs a provider and a delivery id")
	}
	if lease <= 0 {
		return Record{}, false, errors.New("journal: begin: the lease must be positive")
	}
	var rec Record
	var claimed bool
	err := db.writing(ctx, false, func(ctx context.Context, q querier) (err error) {
		rec, claimed, err = db.begin(ctx, q, r, lease)
		return err
	})
	if err = db.checked(err); err != nil {
		return Record{}, false, fmt.Errorf("journal: begin: %w", err)
	}
	return rec, claimed, nil
}

// begin is Begin's work. Each statement is atomic on its own, which is all
// that dedupe needs, so they need no transaction of their own (on SQLite
// they share one with other webhooks' writes). The unique key lets one insert
// win; the update's condition lets one taker of an abandoned or failed record
// win, because the winner's lease makes it false for the others. The last
// select only reads what the winner wrote.
func (db *DB) begin(ctx context.Context, q querier, r Record, lease time.Duration) (Record, bool, error) {
	now := db.clock()
	if r.ReceivedAt.IsZero() {
		r.ReceivedAt = now
	}
	// The record is what was just written: reading it back (the body
	// copied, three times parsed) cost about a fifth of the insert and half
	// of a webhook's journal allocations. Only times the database's clock
	// set are read (see at).
	rec := Record{
		Provider: r.Provider, DeliveryID: r.DeliveryID, EventType: r.EventType,
		ReceivedAt: utc(r.ReceivedAt), UpdatedAt: now, Outcome: Pending, Reason: r.Reason,
		ReferralID: r.ReferralID, Email: r.Email, Body: r.Body, HasBody: len(r.Body) > 0, NextAttemptAt: utc(now.Add(lease)),
		UID: r.UID, PaymentKey: r.PaymentKey,
	}
	switch inserted, err := db.insert(ctx, q, &rec, r, now, lease); {
	case err != nil:
		return Record{}, false, err
	case inserted:
		return rec, true, nil
	}
	rec, err := scanRecord(q.QueryRow(ctx, beginRetake,
		db.args(at(now.Add(lease)), at(now), r.Provider, r.DeliveryID, at(now))...), true)
	if err == nil {
		return rec, true, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return Record{}, false, err
	}
	rec, err = scanRecord(q.QueryRow(ctx, beginSelect, r.Provider, r.DeliveryID), true)
	if errors.Is(err, sql.ErrNoRows) {
		return db.tombstone(ctx, q, r)
	}
	if err != nil {
		return Record{}, false, err
	}
	return rec, false, nil
}

// insert records r as a new pending record, sets rec's ID (and on
// Postgres the times its clock set), and says whether it did: not when the
// delivery is recorded already, or its id kept after retention deleted it.
func (db *DB) insert(ctx context.Context, q querier, rec *Record, r Record, now time.Time, lease time.Duration) (bool, error) {
	args := db.args(r.Provider, r.DeliveryID, r.EventType, at(r.ReceivedAt), at(now),
		r.Reason, r.ReferralID, r.Email, emailKey(r.Email), []byte{}, at(now.Add(lease)), r.UID, r.PaymentKey,
		r.DeliveryID, r.Provider)
	if db.d.lastInsertID {
		res, err := q.Exec(ctx, beginInsertRow, args...)
		if err != nil {
			return false, err
		}
		if n, err := res.RowsAffected(); n == 0 || err != nil {
			return false, err
		}
		if rec.ID, err = res.LastInsertId(); err != nil || len(r.Body) == 0 {
			return err == nil, err
		}
		_, err = q.Exec(ctx, beginBody, rec.ID, r.Body)
		return err == nil, err
	}
	dest := []any{&rec.ID, discard{}, discard{}, discard{}}
	if !db.ownClock {
		dest = []any{&rec.ID, timeScanner{&rec.ReceivedAt}, timeScanner{&rec.UpdatedAt}, timeScanner{&rec.NextAttemptAt}}
	}
	query := beginInsertBodiless
	if len(r.Body) > 0 {
		query, args = beginInsert, append(args, r.Body)
	}
	switch err := q.QueryRow(ctx, query, args...).Scan(dest...); {
	case errors.Is(err, sql.ErrNoRows):
		return false, nil
	case err != nil:
		return false, err
	}
	return true, nil
}

// tombstone answers a delivery whose record retention deleted, and whose id
// it kept (Prune): as handled, since it called Reditus then. A captured body
// that carries no signed time (Lemon Squeezy's) is then not run again.
func (db *DB) tombstone(ctx context.Context, q querier, r Record) (Record, bool, error) {
	var received time.Time
	if err := q.QueryRow(ctx, beginTombstone, r.DeliveryID, r.Provider).Scan(timeScanner{&received}); err != nil {
		return Record{}, false, err
	}
	return Record{
		Provider: r.Provider, DeliveryID: r.DeliveryID, EventType: r.EventType, ReceivedAt: received,
		Outcome: outcome.WordDuplicate,
		Reason:  "handled on " + received.Format(time.DateOnly) + ", when Reditus was called for it; its record was deleted after JOURNAL_RETENTION, and its id kept so that it is not sent again",
	}, false, nil
}

// Finish records the outcome of the work on a claimed record and releases
// its lease. With f.Lease set it writes only while the caller still holds that
// lease: work that overran its lease may have been taken and done again, and
// the newer holder's outcome stands (ErrLeaseLost). Without, it writes
// whatever the record's state.
func (db *DB) Finish(ctx context.Context, id int64, f Finish) error {
	switch f.Outcome {
	case "", Pending:
		return fmt.Errorf("journal: finish: %q is not an outcome work can end with", f.Outcome)
	}
	now := db.clock()
	var next time.Time // zero, NULL: the record leaves the queue
	if f.Outcome == Queued {
		next = f.NextAttemptAt
		if next.IsZero() {
			next = now
		}
	}
	found, sent, detailed := detailText(f)
	query, args := finishSet, db.args(f.Outcome, f.Reason, f.ReferralID,
		f.EventType, f.UID, f.PaymentKey, f.Attempts, at(next), at(now), detailed, found, detailed, sent,
		detailed, f.AffiliateSlug, detailed, f.AdvocateSlug)
	if f.Email != "" {
		query, args = query+finishEmail, append(args, f.Email, emailKey(f.Email))
	}
	query, args = query+finishWhere, append(args, id)
	if !f.Lease.IsZero() {
		query, args = query+finishLease, append(args, db.t(f.Lease))
	}
	changed := false
	// The sender is told 202 queued once this returns, and stops retrying:
	// a queued record must survive a power cut, not only a crash.
	err := db.writing(ctx, f.Outcome == Queued, func(ctx context.Context, q querier) error {
		changed = false // the batcher may run a write twice
		res, err := q.Exec(ctx, query, args...)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); n == 0 || err != nil {
			return err
		}
		changed = true
		return db.addAttempts(ctx, q, id, f.AttemptLog)
	})
	err = db.checked(err)
	if err == nil && !changed {
		err = ErrNotFound
		if !f.Lease.IsZero() {
			err = ErrLeaseLost // or no such record: either way, nothing of the caller's to write
		}
	}
	if err != nil {
		return fmt.Errorf("journal: finish %d: %w", id, err)
	}
	return nil
}

// Due claims up to limit records whose NextAttemptAt is not after now, oldest
// first, leasing each for lease and counting a retry on each: the queued
// records that are due, and the pending ones whose lease ended because their
// holder crashed (a worker, or an instance in the middle of a webhook whose
// sender may never retry). Concurrent callers, also on other instances, never
// get the same record. now is read on this process's clock; on Postgres it
// keeps its distance from the database's (see at), so that instances whose
// clocks differ agree on what is due.
func (db *DB) Due(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]Record, error) {
	if lease <= 0 || limit <= 0 {
		return nil, errors.New("journal: due: the lease and the limit must be positive")
	}
	if err := db.writable(); err != nil {
		return nil, fmt.Errorf("journal: due: %w", err)
	}
	now = utc(now)
	// A pending record is due when its lease ends: its holder, a worker or
	// an instance answering a webhook, crashed, and a sender that never
	// retries (Supabase) must not lose it. The outcome IN term lets both
	// stores find the few candidates through the outcome index.
	rows, err := db.write.Query(ctx, `
		UPDATE journal SET outcome = 'pending', next_attempt_at = {?}, updated_at = {?}, retries = retries + 1
		WHERE id IN (
			SELECT id FROM journal
			WHERE outcome IN ('queued', 'pending') AND next_attempt_at <= {?}
			ORDER BY next_attempt_at, id
			LIMIT ?`+db.d.skipLocked+`)
		RETURNING `+columns,
		db.args(at(now.Add(lease)), at(db.clock()), at(now), limit)...)
	if err != nil {
		return nil, fmt.Errorf("journal: due: %w", db.checked(err))
	}
	recs, err := collect(rows, true)
	if err != nil {
		return nil, fmt.Errorf("journal: due: %w", db.checked(err))
	}
	// RETURNING keeps no order, and the due times are now the lease's end.
	slices.SortFunc(recs, func(a, b Record) int { return cmp.Compare(a.ID, b.ID) })
	return recs, nil
}

func collect(rows *sql.Rows, withBody bool) ([]Record, error) {
	defer rows.Close()
	var recs []Record
	for rows.Next() {
		r, err := scanRecord(rows, withBody)
		if err != nil {
			return nil, err
		}
		recs = append(recs, r)
	}
	return recs, rows.Err()
}

// Retake claims one record by id, for an operator's retry or to run a
// stale record again, while its outcome is still was, the one its caller
// saw and judged (a record delivered meanwhile is not sent again), and it
// is not pending under a live lease; else ErrBusy.
func (db *DB) Retake(ctx context.Context, id int64, lease time.Duration, was outcome.Word) (Record, error) {
	if lease <= 0 {
		return Record{}, errors.New("journal: retake: the lease must be positive")
	}
	if err := db.writable(); err != nil {
		return Record{}, fmt.Errorf("journal: retake %d: %w", id, err)
	}
	now := db.clock()
	rec, err := scanRecord(db.write.QueryRow(ctx, `
		UPDATE journal SET outcome = 'pending', next_attempt_at = {?}, updated_at = {?}
		WHERE id = ? AND outcome = ? AND NOT (outcome = 'pending' AND next_attempt_at > {?})
		RETURNING `+columns,
		db.args(at(now.Add(lease)), at(now), id, was, at(now))...), true)
	if errors.Is(err, sql.ErrNoRows) {
		// Not taken: say why. The record may change meanwhile; the answer
		// is still one that was true.
		var one int
		err = db.write.QueryRow(ctx, `SELECT 1 FROM journal WHERE id = ?`, id).Scan(&one)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			err = ErrNotFound
		case err == nil:
			err = ErrBusy
		}
	}
	if err != nil {
		return Record{}, fmt.Errorf("journal: retake %d: %w", id, db.checked(err))
	}
	return rec, nil
}

// Ahead returns the earliest record before r (received earlier: a smaller
// id) that is still queued or pending, and is about r's customer (the same
// UID, or Email in any case) or r's payment (the same PaymentKey); found is
// false when there is none. Empty values match nothing. A payment, refund or
// churn waits behind it, so that Reditus gets a customer's events in the
// order they happened: a refund never before its payment, a payment never
// before the conversion that makes the customer known.
func (db *DB) Ahead(ctx context.Context, r Record) (rec Record, found bool, err error) {
	rec, err = scanRecord(db.read.QueryRow(ctx, `
		SELECT `+listColumns+` FROM journal
		WHERE outcome IN ('queued', 'pending') AND id < ?
			AND ((uid = ? AND uid <> '') OR (email_key = ? AND email_key <> '') OR (payment_key = ? AND payment_key <> ''))
		ORDER BY id LIMIT 1`,
		r.ID, r.UID, emailKey(r.Email), r.PaymentKey), false)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return Record{}, false, nil
	case err != nil:
		return Record{}, false, fmt.Errorf("journal: ahead of %d: %w", r.ID, err)
	}
	return rec, true, nil
}

// Waiting counts the records that wait to reach Reditus: queued (due now or
// later) and pending (being delivered, or left by a holder that crashed,
// until its lease ends). check prints them; a dry run leaves them for a
// live start.
func (db *DB) Waiting(ctx context.Context) (queued, pending int, err error) {
	err = db.read.QueryRow(ctx, `
		SELECT COALESCE(SUM(CASE WHEN outcome = 'queued' THEN 1 ELSE 0 END), 0),
			COALESCE(SUM(CASE WHEN outcome = 'pending' THEN 1 ELSE 0 END), 0)
		FROM journal WHERE outcome IN ('queued', 'pending')`).Scan(&queued, &pending)
	if err != nil {
		return 0, 0, fmt.Errorf("journal: waiting: %w", err)
	}
	return queued, pending, nil
}

// Get returns one record with its detail (what was found and sent, and its
// attempts), or ErrNotFound.
func (db *DB) Get(ctx context.Context, id int64) (Record, error) {
	if err := db.intact(); err != nil {
		return Record{}, fmt.Errorf("journal: get %d: %w", id, err)
	}
	var found, sent string
	rec, err := scanRecord(detailScanner{db.read.QueryRow(ctx, `SELECT `+columns+`, found, sent FROM journal WHERE id = ?`, id), &found, &sent}, true)
	if errors.Is(err, sql.ErrNoRows) {
		err = ErrNotFound
	}
	if err == nil {
		rec.Found, rec.Sent = parseDetail(found, sent)
		rec.AttemptLog, err = db.attempts(ctx, id)
	}
	if err != nil {
		return Record{}, fmt.Errorf("journal: get %d: %w", id, db.checked(err))
	}
	return rec, nil
}

// List returns the records that match f, newest first, without their bodies
// (Get has them).
func (db *DB) List(ctx context.Context, f Filter) ([]Record, error) {
	if err := db.intact(); err != nil {
		return nil, fmt.Errorf("journal: list: %w", err)
	}
	var where []string
	var args []any
	add := func(cond string, arg any) {
		where = append(where, cond)
		args = append(args, arg)
	}
	if f.Email != "" {
		add("email_key = ?", emailKey(f.Email))
	}
	if f.DeliveryID != "" {
		add("delivery_id = ?", f.DeliveryID)
	}
	if f.Outcome != "" {
		add("outcome = ?", f.Outcome)
	}
	if f.Provider != "" {
		add("provider = ?", f.Provider)
	}
	if !f.Since.IsZero() {
		add("received_at >= ?", db.t(f.Since))
	}
	if f.NeedsAttention {
		add(attentionCond, db.t(db.clock().Add(-attentionAfter)))
	}
	limit := f.Limit
	if limit <= 0 {
		limit = DefaultLimit
	}
	limit = min(limit, MaxLimit)
	query := `SELECT ` + listColumns + ` FROM journal`
	if len(where) > 0 {
		query += ` WHERE ` + strings.Join(where, " AND ")
	}
	query += ` ORDER BY received_at DESC, id DESC LIMIT ?`
	args = append(args, limit)
	rows, err := db.read.Query(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("journal: list: %w", db.checked(err))
	}
	recs, err := collect(rows, false)
	if err != nil {
		return nil, fmt.Errorf("journal: list: %w", db.checked(err))
	}
	return recs, nil
}

// Status reports the journal's kind, place and migrations; an error means
// the database is unreachable.
func (db *DB) Status(ctx context.Context) (Status, error) {
	st := Status{Kind: db.d.kind, Where: db.where, Latest: len(migrations[db.d.kind])}
	if err := db.intact(); err != nil {
		return st, fmt.Errorf("journal: status: %w", err)
	}
	var v sql.NullInt64
	if err := db.read.QueryRow(ctx, `SELECT MAX(version) FROM schema_migrations`).Scan(&v); err != nil {
		return st, fmt.Errorf("journal: status: %w", db.checked(err))
	}
	st.Version = int(v.Int64)
	return st, nil
}

// ForWorker returns the journal as a Worker uses it. On Postgres it runs on
// connections of its own (two), so that a worker whose calls stall (rows
// locked by another instance, a slow database) holds none of those webhooks
// and /admin need, however many records it delivers at once. On SQLite it
// is db: every write, the worker's too, takes turns on one connection.
func (db *DB) ForWorker() Queue {
	if db.workerPool == nil {
		return db
	}
	return &DB{d: db.d, write: db.workerPool, read: db.workerPool, now: db.now, ownClock: db.ownClock, where: db.where, readOnly: db.readOnly}
}

// Close closes the journal's connections.
func (db *DB) Close() error {
	if db.stopCheck != nil {
		db.stopCheck()
	}
	db.background.Wait()
	var err error
	if db.batch != nil {
		db.batch.close()
	}
	if db.ckpt != nil {
		err = db.ckpt.close()
	}
	err = errors.Join(err, db.write.Close())
	if db.read != db.write {
		err = errors.Join(err, db.read.Close())
	}
	if db.workerPool != nil {
		err = errors.Join(err, db.workerPool.Close())
	}
	if db.file != nil {
		err = errors.Join(err, db.file.Close())
	}
	return err
}

// emailKey is the form an email is searched by.
func emailKey(email string) string { return strings.ToLower(strings.TrimSpace(email)) }

// dollarPlaceholders numbers the ? of a query as Postgres's $1, $2, ...; the
// queries here hold no ? in a literal.
func dollarPlaceholders(query string) string {
	var b strings.Builder
	n := 0
	for _, c := range query {
		if c == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(c)
	}
	return b.String()
}
