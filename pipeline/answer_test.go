package pipeline

import (
	"testing"

	"github.com/getreditus/reditus-bridge/outcome"
)

// Every outcome the journal keeps, by the way the event came in: the
// table's state, but for an outage where nothing runs a worker (replay) and
// a refused key the worker keeps trying.
func TestJournalStateOfEachWayIn(t *testing.T) {
	const (
		queued = outcome.WordQueued
		failed = outcome.WordFailed
	)
	tests := []struct {
		code                              outcome.Code
		webhook, worker, operator, replay outcome.Word
	}{
		{outcome.Forwarded, "forwarded", "forwarded", "forwarded", "forwarded"},
		{outcome.Duplicate, "duplicate", "duplicate", "duplicate", "duplicate"},
		{outcome.Skipped, "skipped", "skipped", "skipped", "skipped"},
		{outcome.NotReferred, "skipped", "skipped", "skipped", "skipped"},
		{outcome.DryRun, "dry_run", "dry_run", "dry_run", "dry_run"},
		{outcome.Rejected, "rejected", "rejected", "rejected", "rejected"},
		{outcome.InvalidPayload, "invalid_payload", "invalid_payload", "invalid_payload", "invalid_payload"},
		{outcome.Misconfigured, failed, queued, failed, failed},
		{outcome.Unavailable, queued, queued, queued, failed},
		{outcome.Held, queued, queued, queued, failed},
	}
	for _, tt := range tests {
		t.Run(tt.code.String(), func(t *testing.T) {
			for via, want := range map[entry]outcome.Word{fromWebhook: tt.webhook, fromWorker: tt.worker, fromOperator: tt.operator, fromReplay: tt.replay} {
				if got := stateOf(tt.code, via); got != want {
					t.Errorf("stateOf(%v, %d) = %q, want %q", tt.code, via, got, want)
				}
			}
		})
	}
}

// A re-sent delivery gets the answer its journaled state stands for: the
// first copy's answer, and a retry for one that failed.
func TestJournaledStatesAnswerAsTheFirstCopy(t *testing.T) {
	tests := []struct {
		state  outcome.Word
		status int
		word   outcome.Word
	}{
		{"forwarded", 200, "forwarded"},
		{"duplicate", 200, "duplicate"},
		{"skipped", 200, "skipped"},
		{"dry_run", 200, "dry_run"},
		{"rejected", 200, "rejected"},
		{"invalid_payload", 400, "invalid_payload"},
		{outcome.WordQueued, 202, "queued"},
		{outcome.WordFailed, 500, "retry"},
	}
	for _, tt := range tests {
		res := result(codeOfState[tt.state], "")
		if res.Status() != tt.status || res.Outcome != tt.word {
			t.Errorf("journaled %q answers %d %q, want %d %q", tt.state, res.Status(), res.Outcome, tt.status, tt.word)
		}
	}
}
