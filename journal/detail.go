package journal

import (
	"encoding/json"
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

// Summary counts the journal's events received since a moment: by outcome,
// by provider and outcome, and by UTC day.
type Summary struct {
	Since     time.Time
	Counts    map[outcome.Word]int
	Providers map[string]map[outcome.Word]int
	// Days are the UTC days from Since's to today's, oldest first, each
	// with its counts by outcome; a day with no events is there, empty.
	Days []Day
	// NeedsAttention counts the events that Filter.NeedsAttention selects.
	NeedsAttention int
}

// Day is one UTC day of a Summary.
type Day struct {
	Date   time.Time // midnight UTC
	Counts map[outcome.Word]int
}
