package journal

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/getreditus/reditus-bridge/outcome"
)

// maxSummaryDays bounds a Summary's days: one since a date years back counts
// every event, and lists the latest days only.
const maxSummaryDays = 400

// Summary counts the records received at or after since: by outcome, by
// provider and outcome, by UTC day, and those that need attention
// (Filter.NeedsAttention). It is /admin's overview.
func (db *DB) Summary(ctx context.Context, since time.Time) (Summary, error) {
	since = utc(since)
	sum := Summary{Since: since, Counts: map[outcome.Word]int{}, Providers: map[string]map[outcome.Word]int{}}
	rows, err := db.read.Query(ctx, `
		SELECT provider, outcome, `+db.d.day+`, COUNT(*) FROM journal
		WHERE received_at >= ? GROUP BY 1, 2, 3`, db.t(since))
	if err != nil {
		return sum, fmt.Errorf("journal: summary: %w", err)
	}
	byDay := map[string]map[outcome.Word]int{}
	err = eachCount(rows, func(provider string, o outcome.Word, day string, n int) {
		sum.Counts[o] += n
		add(sum.Providers, provider, o, n)
		add(byDay, day, o, n)
	})
	if err != nil {
		return sum, fmt.Errorf("journal: summary: %w", err)
	}
	err = db.read.QueryRow(ctx, `SELECT COUNT(*) FROM journal WHERE received_at >= ? AND `+attentionCond,
		db.t(since), db.t(db.clock().Add(-attentionAfter))).Scan(&sum.NeedsAttention)
	if err != nil {
		return sum, fmt.Errorf("journal: summary: %w", err)
	}
	sum.Days = days(since, db.clock(), byDay)
	return sum, nil
}

// eachCount calls count with each row of Summary's query.
func eachCount(rows *sql.Rows, count func(provider string, o outcome.Word, day string, n int)) error {
	defer rows.Close()
	for rows.Next() {
		var provider, day string
		var o outcome.Word
		var n int
		if err := rows.Scan(&provider, &o, &day, &n); err != nil {
			return err
		}
		count(provider, o, day, n)
	}
	return rows.Err()
}

// add adds n to m[k][o].
func add(m map[string]map[outcome.Word]int, k string, o outcome.Word, n int) {
	if m[k] == nil {
		m[k] = map[outcome.Word]int{}
	}
	m[k][o] += n
}

// days are the UTC days from since's to now's, the latest maxSummaryDays of
// them, each with its counts in byDay (by 2006-01-02).
func days(since, now time.Time, byDay map[string]map[outcome.Word]int) []Day {
	first, last := since.UTC().Truncate(24*time.Hour), now.UTC().Truncate(24*time.Hour)
	if earliest := last.AddDate(0, 0, 1-maxSummaryDays); first.Before(earliest) {
		first = earliest
	}
	var out []Day
	for d := first; !d.After(last); d = d.AddDate(0, 0, 1) {
		counts := byDay[d.Format(time.DateOnly)]
		if counts == nil {
			counts = map[outcome.Word]int{}
		}
		out = append(out, Day{Date: d, Counts: counts})
	}
	return out
}
