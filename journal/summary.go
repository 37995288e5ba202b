package journal

import (
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
