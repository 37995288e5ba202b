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
	"time"
)

// dialect is what differs between the two stores; everything else is shared.
type dialect struct {
	kind string
	// placeholders turns the ? of the queries below into the store's own.
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
	// syncOn and syncOff surround a write that must be on disk when it
	// returns, where commits are not always synced (SQLite, see sqliteParams).
	syncOn, syncOff string
}

// sqlStore is a Store over database/sql.
type sqlStore struct {
	d     dialect
	write *handle // every write
	read  *handle // List, Get and Status; the same as write on Postgres
	// batch, on SQLite, commits Begin's and Finish's writes together.
	batch *batcher
	// ckpt, on SQLite, checkpoints the WAL beside the writer.
	ckpt  *checkpointer
	now   func() time.Time
	where string
	// opened is SQLite's file as it was opened (see inPlace).
	opened os.FileInfo
}

var (
	_ Store         = (*sqlStore)(nil)
	_ LaterFinisher = (*sqlStore)(nil)
)

// columns are a Record's, in the order scan reads them. listColumns leave the
// body out: a page of results must not carry megabytes of payloads.
const (
	columns     = `id, provider, delivery_id, event_type, received_at, updated_at, outcome, reason, attempts, retries, referral_id, email, next_attempt_at, body`
	listColumns = `id, provider, delivery_id, event_type, received_at, updated_at, outcome, reason, attempts, retries, referral_id, email, next_attempt_at`
)

type rowScanner interface{ Scan(dest ...any) error }

func scanRecord(row rowScanner, withBody bool) (Record, error) {
	var r Record
	dest := []any{&r.ID, &r.Provider, &r.DeliveryID, &r.EventType,
		timeScanner{&r.ReceivedAt}, timeScanner{&r.UpdatedAt}, &r.Outcome, &r.Reason,
		&r.Attempts, &r.Retries, &r.ReferralID, &r.Email, timeScanner{&r.NextAttemptAt}}
	if withBody {
		dest = append(dest, &r.Body)
	}
	err := row.Scan(dest...)
	return r, err
}

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

func (s *sqlStore) clock() time.Time { return utc(s.now()) }

// t is a time argument; the zero time is NULL.
func (s *sqlStore) t(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return s.d.timeArg(utc(t))
}

// Begin's statements, in the order it tries them.
const (
	beginInsert = `
		INSERT INTO journal (provider, delivery_id, event_type, received_at, updated_at,
			outcome, reason, referral_id, email, email_key, body, next_attempt_at)
		VALUES (?, ?, ?, ?, ?, 'pending', ?, ?, ?, ?, ?, ?)
		ON CONFLICT (provider, delivery_id) DO NOTHING
		RETURNING id`
	beginRetake = `
		UPDATE journal SET outcome = 'pending', next_attempt_at = ?, updated_at = ?
		WHERE provider = ? AND delivery_id = ?
			AND (outcome = 'failed' OR (outcome = 'pending' AND next_attempt_at <= ?))
		RETURNING ` + columns
	beginSelect = `SELECT ` + columns + ` FROM journal WHERE provider = ? AND delivery_id = ?`
)

// Finish's statements: finishFenced writes only under the lease it names.
const (
	finishQuery = `
	UPDATE journal SET outcome = ?, reason = ?,
		referral_id = COALESCE(NULLIF(?, ''), referral_id),
		email = COALESCE(NULLIF(?, ''), email),
		email_key = COALESCE(NULLIF(?, ''), email_key),
		event_type = COALESCE(NULLIF(?, ''), event_type),
		attempts = attempts + ?, next_attempt_at = ?, updated_at = ?
	WHERE id = ?`
	finishFenced = finishQuery + ` AND outcome = 'pending' AND next_attempt_at = ?`
)

// batchedQueries are the statements of the writes every webhook makes;
// SQLite commits them in shared transactions (batcher).
var batchedQueries = []string{beginInsert, beginRetake, beginSelect, finishQuery, finishFenced}

// writing runs one of the writes every webhook makes: in the next shared
// transaction where there is a batcher (SQLite), else on its own. durable
// asks for the write to be on disk, not only committed, when it returns.
func (s *sqlStore) writing(ctx context.Context, durable bool, run func(context.Context, querier) error) error {
	if s.batch == nil {
		return run(ctx, s.write)
	}
	if err := s.inPlace(); err != nil {
		return err
	}
	if err := s.batch.do(ctx, durable, run); err != nil {
		return err
	}
	if durable { // a 202 queued must not rest on a file that was deleted meanwhile
		return s.inPlace()
	}
	return nil
}

// settle waits for the outcomes queued with FinishLater, so that a read
// shows what the webhooks before it were answered.
func (s *sqlStore) settle(ctx context.Context) error {
	if s.batch == nil {
		return nil
	}
	return s.batch.settle(ctx)
}

// inPlace fails once SQLite's file is no longer the one at its path: deleted
// or replaced while the bridge runs (a cleanup of DATA_DIR, a volume
// remounted). SQLite would go on writing to the deleted file, and a restart
// would find none of it: a record there keeps no event, and its dedupe lasts
// only as long as this process. The journal then fails as a store that is
// down does, and the sender is told 503 rather than 202 queued. One stat.
func (s *sqlStore) inPlace() error {
	if s.opened == nil {
		return nil
	}
	now, err := os.Stat(s.where)
	if err != nil || !os.SameFile(s.opened, now) {
		return fmt.Errorf("journal: %s was deleted or replaced while the bridge ran; restart the bridge to journal again", s.where)
	}
	return nil
}

func (s *sqlStore) Begin(ctx context.Context, r Record, lease time.Duration) (Record, bool, error) {
	if r.Provider == "" || r.DeliveryID == "" {
		return Record{}, false, errors.New("journal: begin: a record needs a provider and a delivery id")
	}
	if lease <= 0 {
		return Record{}, false, errors.New("journal: begin: the lease must be positive")
	}
	if r.Body == nil {
		r.Body = []byte{} // the column is NOT NULL; an empty body is still a body
	}
	var rec Record
	var claimed bool
	err := s.writing(ctx, false, func(ctx context.Context, q querier) (err error) {
		rec, claimed, err = s.begin(ctx, q, r, lease)
		return err
	})
	if err != nil {
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
func (s *sqlStore) begin(ctx context.Context, q querier, r Record, lease time.Duration) (Record, bool, error) {
	now := s.clock()
	if r.ReceivedAt.IsZero() {
		r.ReceivedAt = now
	}
	var id int64
	err := q.QueryRow(ctx, beginInsert,
		r.Provider, r.DeliveryID, r.EventType, s.t(r.ReceivedAt), s.t(now),
		r.Reason, r.ReferralID, r.Email, emailKey(r.Email), r.Body, s.t(now.Add(lease))).Scan(&id)
	if err == nil {
		// The record is what was just written: reading it back (the body
		// copied, three times parsed) cost about a fifth of the insert and
		// half of a webhook's journal allocations.
		return Record{
			ID: id, Provider: r.Provider, DeliveryID: r.DeliveryID, EventType: r.EventType,
			ReceivedAt: utc(r.ReceivedAt), UpdatedAt: now, Outcome: Pending, Reason: r.Reason,
			ReferralID: r.ReferralID, Email: r.Email, Body: r.Body, NextAttemptAt: utc(now.Add(lease)),
		}, true, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return Record{}, false, err
	}
	rec, err := scanRecord(q.QueryRow(ctx, beginRetake,
		s.t(now.Add(lease)), s.t(now), r.Provider, r.DeliveryID, s.t(now)), true)
	if err == nil {
		return rec, true, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return Record{}, false, err
	}
	rec, err = scanRecord(q.QueryRow(ctx, beginSelect, r.Provider, r.DeliveryID), true)
	if err != nil {
		return Record{}, false, err
	}
	return rec, false, nil
}

func (s *sqlStore) Finish(ctx context.Context, id int64, f Finish) error {
	run, ended, err := s.finishing(id, f)
	if err != nil {
		return err
	}
	// The sender is told 202 queued once this returns: a queued record
	// must survive a power cut, not only a crash.
	return ended(s.writing(ctx, f.Outcome == Queued, run))
}

// FinishLater is Finish for an outcome already answered: SQLite commits it
// with the next writes while the webhook's answer goes out, which spares the
// answer a commit (see LaterFinisher). Elsewhere it is Finish.
func (s *sqlStore) FinishLater(ctx context.Context, id int64, f Finish, done func(error)) error {
	if s.batch == nil || f.Outcome == Queued {
		done(s.Finish(ctx, id, f))
		return nil
	}
	run, ended, err := s.finishing(id, f)
	if err != nil {
		return err
	}
	if err := s.inPlace(); err != nil {
		return err
	}
	return s.batch.doLater(ctx, run, func(err error) { done(ended(err)) })
}

// finishing returns Finish's write, and ended, which turns the write's
// outcome into Finish's error.
func (s *sqlStore) finishing(id int64, f Finish) (run func(context.Context, querier) error, ended func(error) error, err error) {
	switch f.Outcome {
	case "", Pending:
		return nil, nil, fmt.Errorf("journal: finish: %q is not an outcome work can end with", f.Outcome)
	}
	var changed int64
	run = func(ctx context.Context, q querier) error {
		now := s.clock()
		var next any // NULL: the record leaves the queue
		if f.Outcome == Queued {
			next = s.t(f.NextAttemptAt)
			if next == nil {
				next = s.t(now)
			}
		}
		query, args := finishQuery, []any{f.Outcome, f.Reason, f.ReferralID, f.Email, emailKey(f.Email),
			f.EventType, f.Attempts, next, s.t(now), id}
		if !f.Lease.IsZero() {
			query, args = finishFenced, append(args, s.t(f.Lease))
		}
		res, err := q.Exec(ctx, query, args...)
		if err != nil {
			return err
		}
		changed, err = res.RowsAffected()
		return err
	}
	ended = func(err error) error {
		if err == nil && changed == 0 {
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
	return run, ended, nil
}

func (s *sqlStore) Due(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]Record, error) {
	if lease <= 0 || limit <= 0 {
		return nil, errors.New("journal: due: the lease and the limit must be positive")
	}
	now = utc(now)
	// A pending record is due when its lease ends: its holder, a worker or
	// an instance answering a webhook, crashed, and a sender that never
	// retries (Supabase) must not lose it. The outcome IN term lets both
	// stores find the few candidates through the outcome index.
	rows, err := s.write.Query(ctx, `
		UPDATE journal SET outcome = 'pending', next_attempt_at = ?, updated_at = ?, retries = retries + 1
		WHERE id IN (
			SELECT id FROM journal
			WHERE outcome IN ('queued', 'pending') AND next_attempt_at <= ?
			ORDER BY next_attempt_at, id
			LIMIT ?`+s.d.skipLocked+`)
		RETURNING `+columns,
		s.t(now.Add(lease)), s.t(s.clock()), s.t(now), limit)
	if err != nil {
		return nil, fmt.Errorf("journal: due: %w", err)
	}
	recs, err := collect(rows, true)
	if err != nil {
		return nil, fmt.Errorf("journal: due: %w", err)
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

func (s *sqlStore) Retake(ctx context.Context, id int64, lease time.Duration) (Record, error) {
	if lease <= 0 {
		return Record{}, errors.New("journal: retake: the lease must be positive")
	}
	now := s.clock()
	rec, err := scanRecord(s.write.QueryRow(ctx, `
		UPDATE journal SET outcome = 'pending', next_attempt_at = ?, updated_at = ?
		WHERE id = ? AND NOT (outcome = 'pending' AND next_attempt_at > ?)
		RETURNING `+columns,
		s.t(now.Add(lease)), s.t(now), id, s.t(now)), true)
	if errors.Is(err, sql.ErrNoRows) {
		// Not taken: say why. The record may change meanwhile; the answer
		// is still one that was true.
		var one int
		err = s.write.QueryRow(ctx, `SELECT 1 FROM journal WHERE id = ?`, id).Scan(&one)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			err = ErrNotFound
		case err == nil:
			err = ErrBusy
		}
	}
	if err != nil {
		return Record{}, fmt.Errorf("journal: retake %d: %w", id, err)
	}
	return rec, nil
}

func (s *sqlStore) Get(ctx context.Context, id int64) (Record, error) {
	if err := s.settle(ctx); err != nil {
		return Record{}, fmt.Errorf("journal: get %d: %w", id, err)
	}
	rec, err := scanRecord(s.read.QueryRow(ctx, `SELECT `+columns+` FROM journal WHERE id = ?`, id), true)
	if errors.Is(err, sql.ErrNoRows) {
		err = ErrNotFound
	}
	if err != nil {
		return Record{}, fmt.Errorf("journal: get %d: %w", id, err)
	}
	return rec, nil
}

func (s *sqlStore) List(ctx context.Context, f Filter) ([]Record, error) {
	if err := s.settle(ctx); err != nil {
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
		add("received_at >= ?", s.t(f.Since))
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
	rows, err := s.read.Query(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("journal: list: %w", err)
	}
	recs, err := collect(rows, false)
	if err != nil {
		return nil, fmt.Errorf("journal: list: %w", err)
	}
	return recs, nil
}

// pruneBatch bounds one delete, so that pruning a large backlog never holds
// SQLite's one writer for long while webhooks wait.
const pruneBatch = 5000

func (s *sqlStore) Prune(ctx context.Context, before time.Time) (int64, error) {
	var total int64
	for {
		res, err := s.write.Exec(ctx, `
			DELETE FROM journal WHERE id IN (
				SELECT id FROM journal
				WHERE received_at < ? AND NOT (outcome = 'pending' AND next_attempt_at > ?)
				LIMIT ?)`,
			s.t(before), s.t(s.clock()), pruneBatch)
		if err != nil {
			return total, fmt.Errorf("journal: prune: %w", err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return total, fmt.Errorf("journal: prune: %w", err)
		}
		total += n
		if n < pruneBatch {
			return total, nil
		}
	}
}

func (s *sqlStore) Status(ctx context.Context) (Status, error) {
	st := Status{Kind: s.d.kind, Where: s.where, Latest: len(migrations[s.d.kind])}
	var v sql.NullInt64
	if err := s.read.QueryRow(ctx, `SELECT MAX(version) FROM schema_migrations`).Scan(&v); err != nil {
		return st, fmt.Errorf("journal: status: %w", err)
	}
	st.Version = int(v.Int64)
	return st, nil
}

func (s *sqlStore) Close() error {
	var err error
	if s.batch != nil {
		s.batch.close()
	}
	if s.ckpt != nil {
		err = s.ckpt.close()
	}
	err = errors.Join(err, s.write.Close())
	if s.read != s.write {
		err = errors.Join(err, s.read.Close())
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
