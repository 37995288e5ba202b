package outcome

// Word is an outcome as people and other programs read it: the "outcome" of
// a webhook's answer, its log line, the journal's record, /admin's legend and
// `events`. A Code says why an event ended as it did; its Word is what the
// sender is told. Several codes share a word (NotReferred is "skipped", Busy
// and Unavailable are "retry"), and the journal has words of its own for
// work that is not over (pending, queued) or was given up (failed).
type Word string

// The words. The sender sees every one but pending and failed; the journal
// records every one but retry, which is an answer, not a state.
const (
	WordInvalidSignature Word = "invalid_signature"
	WordTooLarge         Word = "too_large"
	WordIncompleteBody   Word = "incomplete_body"
	WordInvalidPayload   Word = "invalid_payload"
	WordSkipped          Word = "skipped"
	WordDryRun           Word = "dry_run"
	WordForwarded        Word = "forwarded"
	WordDuplicate        Word = "duplicate"
	WordRejected         Word = "rejected"
	WordRetry            Word = "retry"
	WordQueued           Word = "queued"
	WordDisabled         Word = "disabled"
	// WordPending is a journaled delivery in progress, held by a lease.
	WordPending Word = "pending"
	// WordFailed is a journaled event given up on: Reditus refused the key,
	// or stayed unavailable past RETRY_FOR. A re-send or a retry takes it again.
	WordFailed Word = "failed"
)
