package journal

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/getreditus/reditus-bridge/outcome"
)

// Field is one piece of referral data found in an event, and where: what
// /admin's event page shows of what the bridge found.
type Field struct {
	Name  string `json:"name"` // affiliate_slug, advocate_slug, gr_id, email or uid
	Value string `json:"value"`
	From  string `json:"from"` // the key and the map it was under, when known
}

// Sent is one call's request to Reditus, as it was sent (or, in dry run,
// would have been).
type Sent struct {
	Call string          `json:"call"` // track, payment, refund or churn
	Body json.RawMessage `json:"body"`
}

// Attempt is one HTTP request made to Reditus for an event, and its answer.
type Attempt struct {
	At      time.Time
	Call    string       // track, payment, refund or churn
	Status  int          // the HTTP status; 0 when no answer came
	Outcome outcome.Word // what the answer meant
	Reason  string       // what Reditus said, emails masked
	Latency time.Duration
}

// MaxAttemptLog is how many attempts of one event the journal keeps, the
// latest: an event queued through a long outage is tried every few minutes
// for days, and its first thousand answers say no more than its last fifty.
const MaxAttemptLog = 50

// detailText is f's detail as the record's columns hold it: found and sent
// as JSON ("" for none), and detailed "1" when either is set, which makes
// Finish replace the record's detail, slugs included, rather than keep it:
// what the latest work found and sent.
func detailText(f Finish) (found, sent, detailed string) {
	if len(f.Found) > 0 {
		found = jsonText(f.Found)
	}
	if len(f.Sent) > 0 {
		sent = jsonText(f.Sent)
	}
	if found != "" || sent != "" {
		detailed = "1"
	}
	return found, sent, detailed
}

// jsonText is v as JSON text either store keeps: valid UTF-8 (Marshal makes
// it so, but for a RawMessage), with NUL escaped.
func jsonText(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return ""
	}
	return strings.ToValidUTF8(string(b), "\uFFFD")
}

// parseDetail reads the found and sent columns. Text that is not the JSON
// Finish wrote shows as nothing found or sent: the record itself still
// reads.
func parseDetail(found, sent string) ([]Field, []Sent) {
	var f []Field
	var s []Sent
	if found != "" {
		_ = json.Unmarshal([]byte(found), &f)
	}
	if sent != "" {
		_ = json.Unmarshal([]byte(sent), &s)
	}
	return f, s
}

// detailScanner scans a record's columns, then found and sent after them.
type detailScanner struct {
	row         rowScanner
	found, sent *string
}

func (d detailScanner) Scan(dest ...any) error {
	return d.row.Scan(append(dest, d.found, d.sent)...)
}

// The attempts' statements. attemptTrim keeps an event's latest
// MaxAttemptLog: it deletes those at or before the one that many places
// back, and nothing when there are no more than that.
const (
	attemptInsert = `
		INSERT INTO journal_attempts (event_id, at, reditus_call, status, outcome, reason, latency_us)
		VALUES (?, ?, ?, ?, ?, ?, ?)`
	attemptTrim = `
		DELETE FROM journal_attempts WHERE event_id = ? AND id <= (
			SELECT id FROM journal_attempts WHERE event_id = ? ORDER BY id DESC LIMIT 1 OFFSET ?)`
)

// addAttempts records event id's attempts after those it has, and drops the
// oldest past MaxAttemptLog.
func (db *DB) addAttempts(ctx context.Context, q querier, id int64, log []Attempt) error {
	for _, a := range log {
		if _, err := q.Exec(ctx, attemptInsert, id, db.t(a.At), a.Call, a.Status, a.Outcome, a.Reason, a.Latency.Microseconds()); err != nil {
			return fmt.Errorf("record an attempt: %w", err)
		}
	}
	if len(log) == 0 {
		return nil
	}
	if _, err := q.Exec(ctx, attemptTrim, id, id, MaxAttemptLog); err != nil {
		return fmt.Errorf("trim the attempts: %w", err)
	}
	return nil
}

// attempts reads event id's attempts, oldest first.
func (db *DB) attempts(ctx context.Context, id int64) ([]Attempt, error) {
	rows, err := db.read.Query(ctx, `
		SELECT at, reditus_call, status, outcome, reason, latency_us FROM journal_attempts
		WHERE event_id = ? ORDER BY id`, id)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Attempt
	for rows.Next() {
		var a Attempt
		var us int64
		if err := rows.Scan(timeScanner{&a.At}, &a.Call, &a.Status, &a.Outcome, &a.Reason, &us); err != nil {
			return nil, err
		}
		a.Latency = time.Duration(us) * time.Microsecond
		out = append(out, a)
	}
	return out, rows.Err()
}

// attentionCond selects the records a person should look at
// (Filter.NeedsAttention): failed, rejected, skipped for an invalid field
// (mapping's reason starts "invalid <field> ("), and queued since before its
// one argument.
const attentionCond = `(outcome IN ('failed', 'rejected')
		OR (outcome = 'queued' AND received_at < ?)
		OR (outcome = 'skipped' AND reason LIKE 'invalid %'))`

// attentionAfter is how long a queued record waits before a person should
// look at it: the worker's first retries are within seconds, and an hour of
// them failing is an outage, or a refused key.
const attentionAfter = time.Hour
