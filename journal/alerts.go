package journal

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// Tally is what the alerts table holds of one kind of alert for one
// provider: occurrences counted and not yet alerted, from First to Last, and
// the last one's event. The alert package keeps the rules; the journal keeps
// the counts where every instance sees them, and lets one claim each alert.
type Tally struct {
	Kind     string
	Provider string // "" for the kinds without one
	Count    int
	First    time.Time
	Last     time.Time
	// The last occurrence's event.
	EventID, EventType, Reason string
}

// maxAlertText bounds what a tally keeps of a stranger's text: an alert
// shows less.
const maxAlertText = 1000

// The alert statements. A claim reads sent_count and sent_first, which it
// sets from pending and first_at: RETURNING sees the row as updated, and
// SET reads the row as it was, in both stores.
const (
	alertAdd = `
		INSERT INTO alerts (kind, provider, pending, first_at, last_at, event_id, event_type, reason)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (kind, provider) DO UPDATE SET
			first_at = CASE WHEN alerts.pending = 0 THEN excluded.first_at ELSE alerts.first_at END,
			pending = alerts.pending + excluded.pending,
			last_at = excluded.last_at, event_id = excluded.event_id,
			event_type = excluded.event_type, reason = excluded.reason
		RETURNING sent_at`
	alertClaimed = `
		SET sent_count = pending, sent_first = first_at, pending = 0, sent_at = ?, alerted = TRUE
		WHERE pending > 0 AND (sent_at IS NULL OR sent_at <= ?)`
	alertReturning = ` RETURNING kind, provider, sent_count, sent_first, last_at, event_id, event_type, reason`
	alertClaim     = `UPDATE alerts` + alertClaimed + ` AND kind = ? AND provider = ?` + alertReturning
	alertDue       = `UPDATE alerts` + alertClaimed + alertReturning
	alertResolve   = `
		UPDATE alerts SET alerted = FALSE, pending = 0
		WHERE kind = ? AND provider = '' AND (alerted OR pending > 0)`
)

// AddAlert adds t to its kind and provider's tally and, when no alert of
// them was claimed within every before now, claims it for the caller: send
// is true and due is everything counted, t included. next is when the next
// alert of them may be claimed. It is atomic against every caller on every
// instance: of those who add at once, at most one is told to send.
func (db *DB) AddAlert(ctx context.Context, t Tally, now time.Time, every time.Duration) (due Tally, send bool, next time.Time, err error) {
	if t.Kind == "" || t.Count <= 0 {
		return Tally{}, false, time.Time{}, errors.New("journal: add alert: a tally needs a kind and a count")
	}
	now = utc(now)
	var sentAt time.Time
	err = db.write.QueryRow(ctx, alertAdd, t.Kind, t.Provider, t.Count, db.t(t.First), db.t(t.Last),
		alertText(t.EventID), alertText(t.EventType), alertText(t.Reason)).Scan(timeScanner{&sentAt})
	if err != nil {
		return Tally{}, false, time.Time{}, fmt.Errorf("journal: add alert: %w", err)
	}
	due, err = scanTally(db.write.QueryRow(ctx, alertClaim, db.t(now), db.t(now.Add(-every)), t.Kind, t.Provider))
	switch {
	case err == nil:
		return due, true, now.Add(every), nil
	case !errors.Is(err, sql.ErrNoRows):
		return Tally{}, false, time.Time{}, fmt.Errorf("journal: claim alert: %w", err)
	case sentAt.IsZero(): // another instance claimed it between the two
		return Tally{}, false, now.Add(every), nil
	}
	return Tally{}, false, sentAt.Add(every), nil
}

// DueAlerts claims, for the caller to send, every tally that holds
// occurrences and whose last alert was claimed at least every before now.
func (db *DB) DueAlerts(ctx context.Context, now time.Time, every time.Duration) ([]Tally, error) {
	now = utc(now)
	rows, err := db.write.Query(ctx, alertDue, db.t(now), db.t(now.Add(-every)))
	if err != nil {
		return nil, fmt.Errorf("journal: due alerts: %w", err)
	}
	defer rows.Close()
	var due []Tally
	for rows.Next() {
		t, err := scanTally(rows)
		if err != nil {
			return nil, fmt.Errorf("journal: due alerts: %w", err)
		}
		due = append(due, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("journal: due alerts: %w", err)
	}
	return due, nil
}

// ResolveAlert ends an outage of kind (an alert without a provider): it
// reports whether an alert of it was claimed, or occurrences counted, since
// the last end, and drops the count, which the resolved alert tells of
// instead. Of several instances ending the same outage, one is told true.
func (db *DB) ResolveAlert(ctx context.Context, kind string) (bool, error) {
	res, err := db.write.Exec(ctx, alertResolve, kind)
	if err != nil {
		return false, fmt.Errorf("journal: resolve alert: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("journal: resolve alert: %w", err)
	}
	return n > 0, nil
}

func scanTally(row rowScanner) (Tally, error) {
	var t Tally
	err := row.Scan(&t.Kind, &t.Provider, &t.Count, timeScanner{&t.First}, timeScanner{&t.Last}, &t.EventID, &t.EventType, &t.Reason)
	return t, err
}

// alertText makes a stranger's text storable, as journalText does for
// the journal's columns: valid UTF-8, no NUL (Postgres refuses both), and
// at most maxAlertText bytes.
func alertText(s string) string {
	s = strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "")
	if len(s) <= maxAlertText {
		return s
	}
	cut := maxAlertText
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut]
}
