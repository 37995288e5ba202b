// Package reditus is a client for Reditus's API: it creates conversions
// (Track) and reports payments, refunds and churn (Pay, Refund, Churn), and
// classifies every answer in one vocabulary (Kind), so that the caller can
// decide whether the webhook behind it is done or must be retried.
package reditus

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/getreditus/reditus-bridge/internal/redact"
	"github.com/getreditus/reditus-bridge/outcome"
)

// Conversion is one referred signup or purchase, as POST
// /v2/tracking/conversion takes it. Empty fields are left out of the request.
type Conversion struct {
	AffiliateSlug string `json:"affiliate_slug,omitempty"`
	AdvocateSlug  string `json:"advocate_slug,omitempty"`
	Email         string `json:"email,omitempty"`
	UID           string `json:"uid,omitempty"`
	GrID          string `json:"gr_id,omitempty"`
}

// Result is what Reditus answered when it created a conversion. Both fields
// may be empty: a 2xx whose body was lost still means the conversion exists.
type Result struct {
	ReferralID string
	State      string
}

// Kind says why Reditus did not take a call, and so what the sender of the
// webhook should be told. It is the bridge's one vocabulary, outcome.Code:
// pipeline/answer.go decides the answer for each.
type Kind = outcome.Code

// The kinds of failure.
const (
	// Retryable failures (429, 5xx, timeouts, connection errors) may succeed
	// if the same conversion is sent again later.
	Retryable = outcome.Unavailable
	// Duplicate (409) means Reditus has this referral already, or this
	// payment, refund or churn: what was sent is there, so it is a success.
	Duplicate = outcome.Duplicate
	// Rejected (400, 422) means Reditus will never accept this call, for
	// example because the slug names no affiliate or the referral expired.
	Rejected = outcome.Rejected
	// Misconfigured (401, 403 and unexpected statuses such as a 3xx, or a 404
	// from Track) means the bridge's key or URL is wrong; the call succeeds
	// once it is fixed.
	Misconfigured = outcome.Misconfigured
	// NotReferred (a JSON 404 from Pay, Refund or Churn) means Reditus has no
	// referral for this customer, or no payment under the refund's id: the
	// customer was not referred, so there is nothing to credit, now or later.
	NotReferred = outcome.NotReferred
)

// Error is a failed call. Message is Reditus's own error text when it sent
// one, else a description of what went wrong; it never contains the API key,
// and every email address in it is masked ("j***@example.com").
type Error struct {
	Call    Call // which call failed; the zero Call is Track
	Kind    Kind
	Status  int // the HTTP status, or 0 when no answer arrived
	Message string
	Err     error // the transport error, if any
	// RetryAt, when set, is when Reditus may be called again: the time its
	// Retry-After named, or when the breaker lets calls through.
	RetryAt time.Time

	retryAfter retryAfter
	notCalled  bool // the breaker refused the call: nothing was sent
}

func (e *Error) Error() string {
	msg := e.Message
	if e.Err != nil {
		msg = fmt.Sprintf("%s: %v", msg, e.Err)
	}
	// Masked again here so that an Error built elsewhere, or a transport
	// error quoting a URL with an address in it, is as safe to print.
	msg = redact.Emails(msg)
	// Track's errors read as they always have ("reditus: rejected ..."):
	// the README and backfill's summary quote them. The money calls say
	// which one failed, since one webhook may make several.
	prefix := "reditus:"
	if e.Call != CallTrack {
		prefix = "reditus " + e.Call.String() + ":"
	}
	if e.Status != 0 {
		return fmt.Sprintf("%s %s (HTTP %d): %s", prefix, e.Kind, e.Status, msg)
	}
	return fmt.Sprintf("%s %s: %s", prefix, e.Kind, msg)
}

func (e *Error) Unwrap() error { return e.Err }

// brief says what Reditus answered, for the breaker's reasons: the status
// and the message, masked and cut short.
func (e *Error) brief() string {
	msg := e.Message
	if e.Err != nil {
		msg = fmt.Sprintf("%s: %v", msg, e.Err)
	}
	msg = redact.Emails(msg)
	if len(msg) > 200 {
		msg = strings.ToValidUTF8(msg[:200], "") + "..."
	}
	if e.Status != 0 {
		return fmt.Sprintf("HTTP %d: %s", e.Status, msg)
	}
	return msg
}

// OutcomeCode implements outcome.Coder.
func (e *Error) OutcomeCode() outcome.Code { return e.Kind }

// NotCalled reports whether err is a call that the Breaker refused: nothing
// was sent to Reditus.
func NotCalled(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.notCalled
}

// KindOf returns the Kind of an error from a Client call, or 0 when err is
// not one.
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return 0
}
