// Package outcome is the bridge's one vocabulary for what becomes of a
// webhook: every step of the pipeline (verify, mapping, the Stripe look-ups,
// the Reditus client, the journal) says how it ended with a Code, and
// pipeline/answer.go holds the one table from Code to HTTP status, outcome
// word, log level and journal state.
package outcome

import (
	"errors"
	"fmt"
)

// Code is how a webhook ended. The zero Code is not used, so that a
// forgotten assignment is never mistaken for one of them.
type Code int

// The codes, in the order of docs/design.md, "Answers".
const (
	InvalidSignature Code = iota + 1 // missing, malformed or wrong signature; stale timestamp
	TooLarge                         // body over the limit
	IncompleteBody                   // the sender hung up or stalled mid-body
	Busy                             // too many unverified bodies in flight, or shutting down
	InvalidPayload                   // signed, but not the provider's event
	Skipped                          // nothing to send: event type, test mode, no referral data
	NotReferred                      // Reditus does not know the customer (a payment's 404)
	DryRun                           // logged, not sent
	Forwarded                        // in Reditus
	Duplicate                        // Reditus had it already (409)
	Rejected                         // Reditus will never take it (400/422)
	Misconfigured                    // our key or URL is wrong (401/403/3xx, unexpected answers)
	Unavailable                      // Reditus or Stripe is down, slow or rate limiting
	Queued                           // the journal holds it for the worker to deliver
	Disabled                         // the provider has no secret
	Held                             // the journal holds it for the worker, Reditus not tried: behind an earlier event of its customer, or for a live start
)

var names = map[Code]string{
	InvalidSignature: "invalid signature",
	TooLarge:         "too large",
	IncompleteBody:   "incomplete body",
	Busy:             "busy",
	InvalidPayload:   "invalid payload",
	Skipped:          "skipped",
	NotReferred:      "not referred",
	DryRun:           "dry run",
	Forwarded:        "forwarded",
	Duplicate:        "duplicate",
	Rejected:         "rejected",
	Misconfigured:    "misconfigured",
	Unavailable:      "retryable",
	Queued:           "queued",
	Disabled:         "disabled",
	Held:             "held",
}

// String names the code in error messages: "reditus: rejected (HTTP 400)".
func (c Code) String() string {
	if name, ok := names[c]; ok {
		return name
	}
	return fmt.Sprintf("Code(%d)", int(c))
}

// Error is a failure with its Code. Packages keep their own sentinels of it
// (verify.ErrSignature, mapping.ErrInvalidPayload) and wrap them with %w.
type Error struct {
	Code    Code
	Message string
	Err     error // the cause, if any
}

// New returns an *Error with a message.
func New(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

func (e *Error) Error() string {
	if e.Err != nil {
		return e.Message + ": " + e.Err.Error()
	}
	return e.Message
}

func (e *Error) Unwrap() error { return e.Err }

// OutcomeCode implements Coder.
func (e *Error) OutcomeCode() Code { return e.Code }

// Coder is an error that knows its Code: *Error, and the Reditus client's
// richer *reditus.Error.
type Coder interface {
	error
	OutcomeCode() Code
}

// Of returns the Code of err. An error that has none is Unavailable: an
// unknown failure asks the sender to retry, so that nothing is acknowledged
// that was not delivered.
func Of(err error) Code {
	var c Coder
	if errors.As(err, &c) {
		return c.OutcomeCode()
	}
	return Unavailable
}
