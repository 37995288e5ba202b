package handlers

import (
	"errors"
	"log/slog"
	"net/http"

	"github.com/getreditus/reditus-bridge/internal/redact"
	"github.com/getreditus/reditus-bridge/mapping"
	"github.com/getreditus/reditus-bridge/reditus"
	"github.com/getreditus/reditus-bridge/stripeapi"
	"github.com/getreditus/reditus-bridge/verify"
)

// code is what happened to one webhook. It decides the status, the outcome
// the sender sees, and the log level.
type code int

const (
	codeInvalidSignature code = iota + 1
	codeTooLarge
	codeInvalidPayload
	codeSkipped
	codeDryRun
	codeForwarded
	codeDuplicate
	codeRejected
	codeMisconfigured
	codeUnavailable
	codeDisabled
	codeBusy
	codeIncompleteBody
)

// row is one line of the status table.
type row struct {
	status  int
	outcome string
	level   slog.Level
}

// table is DESIGN.md section 5, the one place that decides whether a sender
// is acknowledged or asked to retry. Stripe and Svix retry every non-2xx for
// days, so a 2xx means "done": the conversion is in Reditus, or no retry could
// ever put it there.
var table = map[code]row{
	// Forged or stale: a retry of the same bytes cannot become valid. A 4xx
	// makes the failure visible in the sender's dashboard.
	codeInvalidSignature: {http.StatusBadRequest, "invalid_signature", slog.LevelWarn},
	// No provider sends a megabyte of event; it is an attack or a mistake.
	codeTooLarge: {http.StatusRequestEntityTooLarge, "too_large", slog.LevelWarn},
	// Signed, so really from the provider, but unreadable: the same bytes
	// would fail again, and a 4xx gets a person to look.
	codeInvalidPayload: {http.StatusBadRequest, "invalid_payload", slog.LevelWarn},
	// Not a conversion (another event type, test mode, no referral data):
	// a retry would be skipped again.
	codeSkipped: {http.StatusOK, "skipped", slog.LevelInfo},
	// Dry run is what the operator asked for.
	codeDryRun: {http.StatusOK, "dry_run", slog.LevelInfo},
	// The conversion is in Reditus.
	codeForwarded: {http.StatusOK, "forwarded", slog.LevelInfo},
	// Reditus had it already (an earlier delivery, or another event of the
	// same signup): that is success.
	codeDuplicate: {http.StatusOK, "duplicate", slog.LevelInfo},
	// Reditus will never accept it (unknown slug, bad email). Retrying cannot
	// help, so acknowledge, and log at error level for a person to act on.
	codeRejected: {http.StatusOK, "rejected", slog.LevelError},
	// Our API key or URL is wrong. The conversion is good: make the sender
	// keep it and retry, so that it lands once the configuration is fixed.
	codeMisconfigured: {http.StatusInternalServerError, "retry", slog.LevelError},
	// Reditus is down, slow or rate limiting after the in-request retries:
	// the sender's own retries take over.
	codeUnavailable: {http.StatusServiceUnavailable, "retry", slog.LevelWarn},
	// The provider has no secret, so nothing it sends can be verified.
	codeDisabled: {http.StatusNotFound, "disabled", slog.LevelWarn},
	// Too many unverified bodies are held (a flood, or many slow senders),
	// or the bridge is shutting down. Reading more would put the process's
	// memory in a stranger's hands; a real sender loses only a delay, as
	// its retry comes back later or reaches another machine.
	codeBusy: {http.StatusServiceUnavailable, "retry", slog.LevelWarn},
	// The sender hung up or stalled (ReadTimeout) before the end of its
	// body. Only the client's side failed: an outcome of its own keeps it out
	// of "retry", which alerting reads as Reditus being down. A 4xx suits a
	// request that never arrived whole; a sender still listening retries it
	// like any non-2xx, so nothing is lost.
	codeIncompleteBody: {http.StatusBadRequest, "incomplete_body", slog.LevelWarn},
}

// answer is the JSON body of every webhook response, and what the log line
// is made of.
type answer struct {
	Outcome    string              `json:"outcome"`
	Reason     string              `json:"reason,omitempty"`
	EventID    string              `json:"event_id,omitempty"`
	EventType  string              `json:"event_type,omitempty"`
	ReferralID string              `json:"referral_id,omitempty"`
	Conversion *reditus.Conversion `json:"conversion,omitempty"` // dry run only

	code code
	sent reditus.Conversion // what was (or would have been) sent, for the log
}

func newAnswer(c code, reason string) answer {
	return answer{Outcome: table[c].outcome, Reason: reason, code: c}
}

func (a answer) status() int { return table[a.code].status }

// acknowledged reports whether the sender is told the webhook is done.
func (a answer) acknowledged() bool { s := a.status(); return s >= 200 && s < 300 }

// codeOf classifies an error from any step of the pipeline. An error it does
// not know asks for a retry: nothing is acknowledged that was not delivered.
func codeOf(err error) code {
	var tooLarge *http.MaxBytesError
	switch {
	case errors.Is(err, verify.ErrSignature):
		return codeInvalidSignature
	case errors.As(err, &tooLarge):
		return codeTooLarge
	case errors.Is(err, errBusy), errors.Is(err, errStopping):
		return codeBusy
	case errors.Is(err, errIncompleteBody):
		return codeIncompleteBody
	case errors.Is(err, mapping.ErrInvalidPayload):
		return codeInvalidPayload
	case errors.Is(err, stripeapi.ErrMisconfigured):
		return codeMisconfigured
	case errors.Is(err, stripeapi.ErrUnavailable):
		return codeUnavailable
	}
	switch reditus.KindOf(err) {
	case reditus.Duplicate:
		return codeDuplicate
	case reditus.Rejected:
		return codeRejected
	case reditus.Misconfigured:
		return codeMisconfigured
	default:
		return codeUnavailable
	}
}

// errorAnswer is the answer for err, with a reason a person can act on. The
// reason goes into the log line and the answer, so every address in it is
// masked, whichever step or Tracker wrote the error.
func errorAnswer(err error) answer {
	c := codeOf(err)
	reason := err.Error()
	var re *reditus.Error
	switch {
	case c == codeDuplicate:
		reason = "Reditus already has this referral"
	case c == codeTooLarge:
		reason = "body is over the 1 MiB limit"
	case errors.As(err, &re) && c == codeRejected:
		reason = re.Message // Reditus's own words, e.g. which slug is unknown
	}
	return newAnswer(c, redact.Emails(reason))
}
