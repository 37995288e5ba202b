package journal

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/getreditus/reditus-bridge/outcome"
)

// Overview counts the journal's records received since a moment, for
// /admin's overview: by outcome, by provider and outcome, and by UTC day.
type Overview struct {
	Since     time.Time
	Counts    map[outcome.Word]int
	Providers map[string]map[outcome.Word]int
	// Days are the UTC days from Since's to today's, oldest first, each
	// with its counts by outcome; a day with no events is there, empty.
	Days []Day
	// NeedsAttention counts the records that Filter.NeedsAttention selects.
	NeedsAttention int
}

// Day is one UTC day of an Overview.
type Day struct {
	Date   time.Time // midnight UTC
	Counts map[outcome.Word]int
}

// maxOverviewDays bounds an Overview's days: one since a date years back counts
// every event, and lists the latest days only.
const maxOverviewDays = 400

// Overviews counts the records received at or after each of sinces, in
// their order (Overview), from one pass over the records of the widest:
// /admin's overview of the last 24 hours, 7 days and 30 days reads the last
// 30 days once, not three times. GET /admin/api/summary is one Overview.
func (db *DB) Overviews(ctx context.Context, sinces ...time.Time) ([]Overview, error) {
	if len(sinces) == 0 {
		return nil, nil
	}
	// asc are the sinces oldest first: a record received at or after
	// asc[i] and before asc[i+1] is in windows asc[0] to asc[i].
	asc := slices.Clone(sinces)
	for i := range asc {
		asc[i] = utc(asc[i])
	}
	slices.SortFunc(asc, func(a, b time.Time) int { return a.Compare(b) })
	query, args := db.overviewQuery(asc)
	rows, err := db.read.Query(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("journal: overview: %w", err)
	}
	counted := make([]Overview, len(asc))
	byDay := make([]map[string]map[outcome.Word]int, len(asc))
	for i := range asc {
		counted[i] = Overview{Since: asc[i], Counts: map[outcome.Word]int{}, Providers: map[string]map[outcome.Word]int{}}
		byDay[i] = map[string]map[outcome.Word]int{}
	}
	err = eachCount(rows, func(c count) {
		for i := 0; i <= c.window && i < len(asc); i++ {
			counted[i].Counts[c.outcome] += c.n
			add(counted[i].Providers, c.provider, c.outcome, c.n)
			add(byDay[i], c.day, c.outcome, c.n)
			if c.attention {
				counted[i].NeedsAttention += c.n
			}
		}
	})
	if err != nil {
		return nil, fmt.Errorf("journal: overview: %w", err)
	}
	out := make([]Overview, len(sinces))
	for i, since := range sinces {
		j, _ := slices.BinarySearchFunc(asc, utc(since), func(a, b time.Time) int { return a.Compare(b) })
		out[i] = counted[j]
		out[i].Days = days(asc[j], db.clock(), byDay[j])
	}
	return out, nil
}

// overviewQuery counts the records received since asc[0] by provider, outcome,
// UTC day, the latest of asc at or before their arrival (its index), and
// whether they need attention.
func (db *DB) overviewQuery(asc []time.Time) (string, []any) {
	var window strings.Builder
	var args []any
	window.WriteString("0")
	if len(asc) > 1 {
		window.Reset()
		window.WriteString("CASE")
		for i := len(asc) - 1; i > 0; i-- {
			window.WriteString(" WHEN received_at >= ? THEN " + strconv.Itoa(i))
			args = append(args, db.t(asc[i]))
		}
		window.WriteString(" ELSE 0 END")
	}
	args = append(args, db.t(db.clock().Add(-attentionAfter)), db.t(asc[0]))
	return `SELECT provider, outcome, ` + db.d.day + `, ` + window.String() + `,
			CASE WHEN ` + attentionCond + ` THEN 1 ELSE 0 END, COUNT(*)
		FROM journal WHERE received_at >= ? GROUP BY 1, 2, 3, 4, 5`, args
}

// count is one row of overviewQuery.
type count struct {
	provider  string
	outcome   outcome.Word
	day       string
	window    int
	attention bool
	n         int
}

// eachCount calls add with each row of overviewQuery.
func eachCount(rows *sql.Rows, add func(count)) error {
	defer rows.Close()
	for rows.Next() {
		var c count
		var attention int
		if err := rows.Scan(&c.provider, &c.outcome, &c.day, &c.window, &attention, &c.n); err != nil {
			return err
		}
		c.attention = attention == 1
		add(c)
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

// days are the UTC days from since's to now's, the latest maxOverviewDays of
// them, each with its counts in byDay (by 2006-01-02).
func days(since, now time.Time, byDay map[string]map[outcome.Word]int) []Day {
	first, last := since.UTC().Truncate(24*time.Hour), now.UTC().Truncate(24*time.Hour)
	first = maxTime(first, last.AddDate(0, 0, 1-maxOverviewDays))
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

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
