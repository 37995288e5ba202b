package reditus

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/getreditus/reditus-bridge/internal/redact"
)

// Attempt is one HTTP request of a call to Reditus, as WithAttempts reports
// it: what was sent, and what Reditus answered.
type Attempt struct {
	At      time.Time
	Call    Call
	Request []byte // the JSON body posted
	Status  int    // the HTTP status; 0 when no answer arrived
	// Kind is why the attempt failed; 0 for a 2xx.
	Kind Kind
	// Answer is what Reditus said, as text, every email address in it
	// masked: its error message, or the body of its 2xx (cut after 300
	// bytes), or why no answer came.
	Answer  string
	Latency time.Duration
}

type attemptsKey struct{}

// WithAttempts returns a copy of ctx under which every HTTP attempt of every
// call a Client makes is reported to report, in the calling goroutine, as it
// ends: the attempts of one event, for the journal, where Options.OnAttempt
// sees every event's (as net/http/httptrace does for a request).
func WithAttempts(ctx context.Context, report func(Attempt)) context.Context {
	return context.WithValue(ctx, attemptsKey{}, report)
}

func newAttempt(call Call, body []byte, start time.Time, d time.Duration, status int, answer []byte, err error) Attempt {
	a := Attempt{At: start, Call: call, Request: body, Status: status, Latency: d}
	var e *Error
	switch {
	case errors.As(err, &e):
		a.Kind, a.Answer = e.Kind, e.Message
		if e.Err != nil {
			a.Answer += ": " + redact.Emails(e.Err.Error())
		}
	case err != nil:
		a.Kind, a.Answer = Retryable, redact.Emails(err.Error())
	default:
		// A 2xx's body, as it came: parsing it for an error message, as
		// errorText does, would cost every webhook a second decoding.
		text := strings.TrimSpace(string(answer))
		if len(text) > 300 {
			text = text[:300] + "..."
		}
		a.Answer = redact.Emails(text)
	}
	return a
}
