package journal

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/getreditus/reditus-bridge/outcome"
)

// Summary is the journal counted, for doctor: what became of recent events,
// and what waits.
type Summary struct {
	// Outcomes counts the records received at or after the Summary's
	// since, by provider and outcome.
	Outcomes map[string]map[outcome.Word]int
	// Queued counts the records that wait for the worker, whenever they
	// arrived; OldestQueued is when the oldest of them was received (zero
	// when none waits).
	Queued       int
	OldestQueued time.Time
	// Failed counts the records given up on (outcome failed) whose outcome
	// was written at or after since.
	Failed int
}

// Summary counts the records for doctor: those received at or after since
// by provider and outcome, the queued ones and the oldest of them, and those
// given up on since.
func (db *DB) Summary(ctx context.Context, since time.Time) (Summary, error) {
	sum := Summary{Outcomes: map[string]map[outcome.Word]int{}}
	rows, err := db.read.Query(ctx, `SELECT provider, outcome, COUNT(*) FROM journal WHERE received_at >= ? GROUP BY provider, outcome`, db.t(since))
	if err != nil {
		return Summary{}, fmt.Errorf("journal: summary: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var provider string
		var word outcome.Word
		var n int
		if err := rows.Scan(&provider, &word, &n); err != nil {
			return Summary{}, fmt.Errorf("journal: summary: %w", err)
		}
		if sum.Outcomes[provider] == nil {
			sum.Outcomes[provider] = map[outcome.Word]int{}
		}
		sum.Outcomes[provider][word] = n
	}
	if err := rows.Err(); err != nil {
		return Summary{}, fmt.Errorf("journal: summary: %w", err)
	}
	err = db.read.QueryRow(ctx, `SELECT COUNT(*), MIN(received_at) FROM journal WHERE outcome = 'queued'`).Scan(&sum.Queued, timeScanner{&sum.OldestQueued})
	if err == nil {
		err = db.read.QueryRow(ctx, `SELECT COUNT(*) FROM journal WHERE outcome = 'failed' AND updated_at >= ?`, db.t(since)).Scan(&sum.Failed)
	}
	if err != nil {
		return Summary{}, fmt.Errorf("journal: summary: %w", err)
	}
	return sum, nil
}

// Writable makes a write and takes it back in the same transaction, which
// it commits: a row into the migrations table, then out again. A store that
// cannot take writes (a read-only file or database, a full disk) says so
// now, not when a webhook needs it; the journal is as it was.
func (db *DB) Writable(ctx context.Context) error {
	if err := db.inPlace(); err != nil {
		return err
	}
	tx, err := db.write.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("journal: write: %w", err)
	}
	defer tx.Rollback()
	// A version no migration has, and no other doctor at the same moment.
	version := -1 - rand.Int32N(1<<30)
	for _, q := range []string{
		`INSERT INTO schema_migrations (version, name) VALUES (?, 'doctor: a write that is taken back')`,
		`DELETE FROM schema_migrations WHERE version = ?`,
	} {
		if _, err := tx.ExecContext(ctx, db.d.placeholders(q), version); err != nil {
			return fmt.Errorf("journal: write: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("journal: write: %w", err)
	}
	return nil
}
