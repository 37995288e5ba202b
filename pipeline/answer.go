package pipeline

import (
	"errors"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"time"

	"github.com/getreditus/reditus-bridge/internal/redact"
	"github.com/getreditus/reditus-bridge/mapping"
	"github.com/getreditus/reditus-bridge/outcome"
	"github.com/getreditus/reditus-bridge/reditus"
)

// row is one line of the status table.
type row struct {
	status int
	word   outcome.Word
	level  slog.Level
	// state is what the journal records of an event that came as a webhook:
	// its word where that is final, none ("") where nothing verified was
	// there to record. stateOf adjusts it for the other ways in.
	state outcome.Word
}

// table is the one place that decides whether a sender is acknowledged or
// asked to retry, and what the journal keeps (docs/design.md, "Answers").
// Stripe and Svix retry every non-2xx for days, so a 2xx means "done": the
// conversion is in Reditus, or no retry could ever put it there.
var table = map[outcome.Code]row{
	// Forged or stale: a retry of the same bytes cannot become valid. A 4xx
	// makes the failure visible in the sender's dashboard.
	outcome.InvalidSignature: {http.StatusBadRequest, outcome.WordInvalidSignature, slog.LevelWarn, ""},
	// No provider sends a megabyte of event; it is an attack or a mistake.
	outcome.TooLarge: {http.StatusRequestEntityTooLarge, outcome.WordTooLarge, slog.LevelWarn, ""},
	// The sender hung up or stalled (ReadTimeout) before the end of its
	// body. Only the client's side failed: an outcome of its own keeps it out
	// of "retry", which alerting reads as Reditus being down. A 4xx suits a
	// request that never arrived whole; a sender still listening retries it
	// like any non-2xx, so nothing is lost.
	outcome.IncompleteBody: {http.StatusBadRequest, outcome.WordIncompleteBody, slog.LevelWarn, ""},
	// Too many unverified bodies are held (a flood, or many slow senders),
	// or the bridge is shutting down. Reading more would put the process's
	// memory in a stranger's hands; a real sender loses only a delay, as
	// its retry comes back later or reaches another machine.
	outcome.Busy: {http.StatusServiceUnavailable, outcome.WordRetry, slog.LevelWarn, ""},
	// Signed, so really from the provider, but unreadable: the same bytes
	// would fail again, and a 4xx gets a person to look. It is journaled
	// with its reason (under its body's digest when it has no delivery id),
	// so that /admin shows it, and a re-send gets the same answer.
	outcome.InvalidPayload: {http.StatusBadRequest, outcome.WordInvalidPayload, slog.LevelWarn, outcome.WordInvalidPayload},
	// Not a conversion (another event type, test mode, no referral data):
	// a retry would be skipped again.
	outcome.Skipped: {http.StatusOK, outcome.WordSkipped, slog.LevelInfo, outcome.WordSkipped},
	// Reditus has no referral for the customer of a payment, refund or
	// churn: the customer was not referred, and a retry would be told the
	// same. It is what most payments are, so it is not a warning.
	outcome.NotReferred: {http.StatusOK, outcome.WordSkipped, slog.LevelInfo, outcome.WordSkipped},
	// Dry run is what the operator asked for.
	outcome.DryRun: {http.StatusOK, outcome.WordDryRun, slog.LevelInfo, outcome.WordDryRun},
	// The conversion is in Reditus.
	outcome.Forwarded: {http.StatusOK, outcome.WordForwarded, slog.LevelInfo, outcome.WordForwarded},
	// Reditus had it already (an earlier delivery, or another event of the
	// same signup): that is success.
	outcome.Duplicate: {http.StatusOK, outcome.WordDuplicate, slog.LevelInfo, outcome.WordDuplicate},
	// Reditus will never accept it (unknown slug, bad email). Retrying cannot
	// help, so acknowledge, and log at error level for a person to act on.
	outcome.Rejected: {http.StatusOK, outcome.WordRejected, slog.LevelError, outcome.WordRejected},
	// Our API key or URL is wrong. The conversion is good: make the sender
	// keep it and retry, so that it lands once the configuration is fixed.
	// "retry" is an answer, not a state: the journal records it failed, for
	// a person (and the sender's retries).
	outcome.Misconfigured: {http.StatusInternalServerError, outcome.WordRetry, slog.LevelError, outcome.WordFailed},
	// Reditus is down, slow or rate limiting after the in-request retries,
	// and nothing durable holds the event: the sender's own retries take over.
	// Where the journal can hold it, it is queued for the worker instead,
	// and the answer becomes Queued.
	outcome.Unavailable: {http.StatusServiceUnavailable, outcome.WordRetry, slog.LevelWarn, outcome.WordQueued},
	// The same, but the journal holds the event and its worker delivers it:
	// the sender may stop, which matters for those that retry little or
	// never (Supabase, Lemon Squeezy) and those that disable an endpoint
	// after failures (Polar).
	outcome.Queued: {http.StatusAccepted, outcome.WordQueued, slog.LevelWarn, outcome.WordQueued},
	// The provider has no secret, so nothing it sends can be verified.
	outcome.Disabled: {http.StatusNotFound, outcome.WordDisabled, slog.LevelWarn, ""},
	// The journal holds it for the worker without trying Reditus now: a
	// payment, refund or churn whose customer (or payment) has an earlier
	// event still queued or pending, which sent now would reach Reditus
	// before that one (a refund before its payment, a payment before the
	// customer is known); or, in dry run, an event a live bridge began,
	// which waits for a live start. Nothing is wrong, and the sender may
	// stop.
	outcome.Held: {http.StatusAccepted, outcome.WordQueued, slog.LevelInfo, outcome.WordQueued},
}

// entry is how an event came into the pipeline, which decides what its
// outcome leaves in the journal (stateOf).
type entry int

const (
	// fromWebhook: a sender that retries what is not acknowledged, beside a
	// worker that delivers what is queued.
	fromWebhook entry = iota + 1
	// fromWorker: the journal's worker, redelivering a queued record.
	fromWorker
	// fromOperator: a retry from /admin, beside a worker.
	fromOperator
	// fromReplay: backfill and recover, which run no worker.
	fromReplay
)

// stateOf is the journal state an event that came in via ends in with
// code: the table's, except where the way in changes what can happen next.
func stateOf(code outcome.Code, via entry) outcome.Word {
	state := table[code].state
	switch {
	case via == fromReplay && state == outcome.WordQueued:
		// backfill and recover run no worker (on a laptop, none may ever
		// read their journal): what Reditus could not take is failed, and
		// their next run takes it again.
		return outcome.WordFailed
	case via == fromWorker && code == outcome.Misconfigured:
		// The worker keeps trying a refused key until RETRY_FOR, like an
		// outage: a key fixed meanwhile lets the event land with no one
		// pressing retry.
		return outcome.WordQueued
	}
	return state
}

// codeOfState reads a journaled state back as the code of the answer a
// re-sent delivery gets: the code whose answer is that word (what the first
// copy was told: forwarded, skipped, queued, ...), else the one the table
// records in that state (failed: Misconfigured, a retry). Codes are tried in
// order, and codes that share a word share their answer, so the first is as
// good as any. A state the table does not know is a retry.
var codeOfState = func() map[outcome.Word]outcome.Code {
	codes := slices.Sorted(maps.Keys(table))
	byState := map[outcome.Word]outcome.Code{}
	for _, code := range slices.Backward(codes) {
		if s := table[code].state; s != "" {
			byState[s] = code
		}
	}
	for _, code := range slices.Backward(codes) {
		byState[table[code].word] = code
	}
	return byState
}()

// Result is what became of one webhook or replayed event: the JSON body of
// the answer, what the log line is made of, and what backfill counts.
type Result struct {
	Code       outcome.Code `json:"-"`
	Outcome    outcome.Word `json:"outcome"`
	Reason     string       `json:"reason,omitempty"`
	EventID    string       `json:"event_id,omitempty"`
	EventType  string       `json:"event_type,omitempty"`
	ReferralID string       `json:"referral_id,omitempty"`
	// Dry run only: what would have been sent.
	Conversion *reditus.Conversion `json:"conversion,omitempty"`
	Payment    *reditus.Payment    `json:"payment,omitempty"`
	Refund     *reditus.Refund     `json:"refund,omitempty"`
	Churn      *reditus.Churn      `json:"churn,omitempty"`

	// Sent is what was sent to Reditus or, in dry run, what would have
	// been; zero when nothing was. It is logged masked, never answered.
	Sent reditus.Conversion `json:"-"`
	// Found is the referral data the mapping found, and where; Attempts
	// are the HTTP attempts made at Reditus for the event, in order. The
	// journal keeps both for /admin's event page.
	Found    []mapping.Field   `json:"-"`
	Attempts []reditus.Attempt `json:"-"`
	// Repeat marks the answer given to an earlier copy of the same delivery.
	Repeat bool `json:"-"`
	// Journaled is the state the journal was given for the event (stateOf);
	// empty when it was not journaled.
	Journaled outcome.Word `json:"-"`
	// customer is whom the event is about, for the journal (finishOf).
	customer customer
	// ReditusStatus is the HTTP status of Reditus's answer when Reditus
	// refused or failed the event, 0 otherwise: alerts tell a refused key
	// (401, 403) from the other misconfigurations by it.
	ReditusStatus int `json:"-"`
	// RetryAt, for an event Reditus could not take, is when it may be
	// called again (its Retry-After, or the breaker's next probe); zero when
	// it did not say.
	RetryAt time.Time `json:"-"`
	// uncalled: the breaker refused the event's only call, so nothing was
	// sent (and no attempt is counted).
	uncalled bool
}

// result is the Result for code, with a reason a person can act on.
func result(code outcome.Code, reason string) Result {
	return Result{Code: code, Outcome: table[code].word, Reason: reason}
}

// Status is the HTTP status the sender gets.
func (r Result) Status() int { return table[r.Code].status }

// Acknowledged reports whether the sender is told the event is done: in
// Reditus, durably queued, or never to be.
func (r Result) Acknowledged() bool { s := r.Status(); return s >= 200 && s < 300 }

// ErrorResult is the Result for err from any step of the pipeline, or from
// reading the body before it (an *http.MaxBytesError is TooLarge). The
// reason goes into the log line and the answer, so every address in it is
// masked, whichever step wrote the error.
func ErrorResult(err error) Result {
	code := outcome.Of(err)
	reason := err.Error()
	var re *reditus.Error
	var tooLarge *http.MaxBytesError
	switch {
	case code == outcome.Duplicate:
		reason = "Reditus already has this referral"
	case errors.As(err, &tooLarge):
		code, reason = outcome.TooLarge, "body is over the 1 MiB limit"
	case errors.As(err, &re) && (code == outcome.Rejected || code == outcome.NotReferred):
		reason = re.Message // Reditus's own words, e.g. which slug is unknown
	}
	res := result(code, redact.Emails(reason))
	if errors.As(err, &re) {
		res.ReditusStatus, res.RetryAt, res.uncalled = re.Status, re.RetryAt, reditus.NotCalled(re)
	}
	return res
}
