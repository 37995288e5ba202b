package handlers

import (
	"errors"
	"log/slog"
	"net/http"

	"github.com/getreditus/reditus-bridge/internal/redact"
	"github.com/getreditus/reditus-bridge/outcome"
	"github.com/getreditus/reditus-bridge/reditus"
)

// row is one line of the status table.
type row struct {
	status  int
	outcome outcome.Word
	level   slog.Level
}

// table is DESIGN.md section 5, the one place that decides whether a sender
// is acknowledged or asked to retry. Stripe and Svix retry every non-2xx for
// days, so a 2xx means "done": the conversion is in Reditus, or no retry could
// ever put it there.
var table = map[outcome.Code]row{
	// Forged or stale: a retry of the same bytes cannot become valid. A 4xx
	// makes the failure visible in the sender's dashboard.
	outcome.InvalidSignature: {http.StatusBadRequest, outcome.WordInvalidSignature, slog.LevelWarn},
	// No provider sends a megabyte of event; it is an attack or a mistake.
	outcome.TooLarge: {http.StatusRequestEntityTooLarge, outcome.WordTooLarge, slog.LevelWarn},
	// The sender hung up or stalled (ReadTimeout) before the end of its
	// body. Only the client's side failed: an outcome of its own keeps it out
	// of "retry", which alerting reads as Reditus being down. A 4xx suits a
	// request that never arrived whole; a sender still listening retries it
	// like any non-2xx, so nothing is lost.
	outcome.IncompleteBody: {http.StatusBadRequest, outcome.WordIncompleteBody, slog.LevelWarn},
	// Too many unverified bodies are held (a flood, or many slow senders),
	// or the bridge is shutting down. Reading more would put the process's
	// memory in a stranger's hands; a real sender loses only a delay, as
	// its retry comes back later or reaches another machine.
	outcome.Busy: {http.StatusServiceUnavailable, outcome.WordRetry, slog.LevelWarn},
	// Signed, so really from the provider, but unreadable: the same bytes
	// would fail again, and a 4xx gets a person to look.
	outcome.InvalidPayload: {http.StatusBadRequest, outcome.WordInvalidPayload, slog.LevelWarn},
	// Not a conversion (another event type, test mode, no referral data):
	// a retry would be skipped again.
	outcome.Skipped: {http.StatusOK, outcome.WordSkipped, slog.LevelInfo},
	// Reditus has no referral for the customer of a payment, refund or
	// churn: the customer was not referred, and a retry would be told the
	// same. It is what most payments are, so it is not a warning.
	outcome.NotReferred: {http.StatusOK, outcome.WordSkipped, slog.LevelInfo},
	// Dry run is what the operator asked for.
	outcome.DryRun: {http.StatusOK, outcome.WordDryRun, slog.LevelInfo},
	// The conversion is in Reditus.
	outcome.Forwarded: {http.StatusOK, outcome.WordForwarded, slog.LevelInfo},
	// Reditus had it already (an earlier delivery, or another event of the
	// same signup): that is success.
	outcome.Duplicate: {http.StatusOK, outcome.WordDuplicate, slog.LevelInfo},
	// Reditus will never accept it (unknown slug, bad email). Retrying cannot
	// help, so acknowledge, and log at error level for a person to act on.
	outcome.Rejected: {http.StatusOK, outcome.WordRejected, slog.LevelError},
	// Our API key or URL is wrong. The conversion is good: make the sender
	// keep it and retry, so that it lands once the configuration is fixed.
	outcome.Misconfigured: {http.StatusInternalServerError, outcome.WordRetry, slog.LevelError},
	// Reditus is down, slow or rate limiting after the in-request retries,
	// and nothing durable holds the event: the sender's own retries take over.
	outcome.Unavailable: {http.StatusServiceUnavailable, outcome.WordRetry, slog.LevelWarn},
	// The same, but the journal holds the event and its worker delivers it:
	// the sender may stop, which matters for those that retry little or
	// never (Supabase, Lemon Squeezy) and those that disable an endpoint
	// after failures (Polar).
	outcome.Queued: {http.StatusAccepted, outcome.WordQueued, slog.LevelWarn},
	// The provider has no secret, so nothing it sends can be verified.
	outcome.Disabled: {http.StatusNotFound, outcome.WordDisabled, slog.LevelWarn},
}

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
	// Repeat marks the answer given to an earlier copy of the same delivery.
	Repeat bool `json:"-"`
}

// result is the Result for code, with a reason a person can act on.
func result(code outcome.Code, reason string) Result {
	return Result{Code: code, Outcome: table[code].outcome, Reason: reason}
}

// Status is the HTTP status the sender gets.
func (r Result) Status() int { return table[r.Code].status }

// Acknowledged reports whether the sender is told the event is done: in
// Reditus, durably queued, or never to be.
func (r Result) Acknowledged() bool { s := r.Status(); return s >= 200 && s < 300 }

// errorResult is the Result for err from any step of the pipeline. The
// reason goes into the log line and the answer, so every address in it is
// masked, whichever step wrote the error.
func errorResult(err error) Result {
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
	return result(code, redact.Emails(reason))
}
