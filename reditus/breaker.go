package reditus

import (
	"fmt"
	"sync"
	"time"
)

// Defaults for BreakerOptions (docs/decisions.md, "The breaker's
// thresholds").
const (
	// DefaultOpenAfter unavailable answers in a row open the breaker. It is
	// more than one call's own attempts (DefaultMaxAttempts) and the first
	// attempts of a few others, which is all a blip costs, since a call stops
	// retrying once another has failed too; and fewer than a burst of
	// concurrent webhooks makes on their first attempts.
	DefaultOpenAfter = 10
	// DefaultProbeEvery is how often one call tests an open breaker's
	// Reditus: recovery is noticed within it, at one call per interval.
	DefaultProbeEvery = 2 * time.Second
	// DefaultMaxPause bounds how long a Retry-After may silence the client:
	// a longer one is taken for a mistake, and probed after this.
	DefaultMaxPause = 5 * time.Minute
)

// halfOpenPoll is how soon a worker asks again while a probe is in flight:
// a probe takes at most an attempt, and the drain should start as soon as it
// answers.
const halfOpenPoll = 100 * time.Millisecond

// State is a Breaker's state.
type State int

// The states.
const (
	// Closed: calls go to Reditus.
	Closed State = iota
	// Open: Reditus failed too often in a row, or asked for a pause
	// (Retry-After); no call goes until the next probe is due.
	Open
	// HalfOpen: one call, the probe, is testing Reditus; no other goes.
	HalfOpen
)

// States lists every State, for a metric that shows each.
func States() []State { return []State{Closed, Open, HalfOpen} }

// String names the state as the metric and the logs do.
func (s State) String() string {
	switch s {
	case Closed:
		return "closed"
	case Open:
		return "open"
	case HalfOpen:
		return "half_open"
	}
	return fmt.Sprintf("State(%d)", int(s))
}

// BreakerOptions configures a Breaker. Zero values take the defaults above.
type BreakerOptions struct {
	OpenAfter  int           // unavailable answers in a row that open it
	ProbeEvery time.Duration // while open, one call this often tests Reditus
	MaxPause   time.Duration // the longest Retry-After honoured
	// OnChange, if set, is told of every change of state, with why (what
	// Reditus last answered). It is called with the Breaker's lock held, so
	// that changes arrive in order, and must not call the Breaker.
	OnChange func(from, to State, why string)
	Now      func() time.Time // the clock, for tests
}

// Breaker is what a Client knows of Reditus's health, shared by every call
// it makes: webhooks in flight and the journal's worker alike. After
// OpenAfter unavailable answers in a row (429, 5xx, timeouts, network
// errors), or an answer with a Retry-After, it opens: calls are refused at
// once, without reaching Reditus, and a single call every ProbeEvery (or
// when the Retry-After ends) is let through to test it. The first answer
// that is not unavailable closes it. So an outage costs Reditus one call per
// interval, however many webhooks arrive. A nil *Breaker lets every call
// through. Its methods are safe for concurrent use.
type Breaker struct {
	opts BreakerOptions

	mu       sync.Mutex
	state    State
	failures int       // unavailable answers in a row
	opened   time.Time // when it opened, from closed
	why      string    // why it is open: what Reditus last answered
	resume   time.Time // while open: when the next probe may go
}

// NewBreaker returns a closed Breaker.
func NewBreaker(opts BreakerOptions) *Breaker {
	if opts.OpenAfter <= 0 {
		opts.OpenAfter = DefaultOpenAfter
	}
	opts.ProbeEvery = orDefault(opts.ProbeEvery, DefaultProbeEvery)
	opts.MaxPause = orDefault(opts.MaxPause, DefaultMaxPause)
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.OnChange == nil {
		opts.OnChange = func(State, State, string) {}
	}
	return &Breaker{opts: opts}
}

// Options returns the options the Breaker runs with, defaults filled in.
func (b *Breaker) Options() BreakerOptions { return b.opts }

// State is the Breaker's state now.
func (b *Breaker) State() State {
	if b == nil {
		return Closed
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.state
}

// Ready says how many of max deliveries a worker of queued events may make
// now: max while the Breaker is closed, one (the probe) when a probe is due,
// none while it is open or a probe is in flight. With none, wait is how long
// until asking again is worth it. Ready reserves nothing: a webhook may take
// the probe first, and the worker's delivery is then refused like any call.
func (b *Breaker) Ready(max int) (n int, wait time.Duration) {
	if b == nil {
		return max, 0
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	switch now := b.opts.Now(); {
	case b.state == Closed:
		return max, 0
	case b.state == HalfOpen:
		return 0, halfOpenPoll
	case now.Before(b.resume):
		return 0, b.resume.Sub(now)
	}
	return min(max, 1), 0
}

// admit decides whether a call may go to Reditus now. A call that goes as
// the probe must report its answer with record(probe=true, ...), as every
// admitted call must. A refused call gets a Retryable *Error that says why,
// with when Reditus may be called again.
func (b *Breaker) admit(call Call) (probe bool, refused *Error) {
	if b == nil {
		return false, nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.opts.Now()
	switch {
	case b.state == Closed:
		return false, nil
	case b.state == Open && !now.Before(b.resume):
		b.change(HalfOpen, "a call probes Reditus")
		return true, nil
	}
	msg := fmt.Sprintf("not called: the breaker is open since %s (%s)", b.opened.UTC().Format(time.RFC3339), b.why)
	if b.state == HalfOpen {
		msg += "; a probe is testing whether it is back"
	} else {
		msg += fmt.Sprintf("; the next probe is in %v", b.resume.Sub(now).Round(time.Millisecond))
	}
	return false, &Error{Call: call, Kind: Retryable, Message: msg, RetryAt: b.resumeAt(now), notCalled: true}
}

// resumeAt is when a refused call may be tried again: the next probe, or
// soon while one is in flight. The caller holds b.mu.
func (b *Breaker) resumeAt(now time.Time) time.Time {
	if b.state == HalfOpen || b.resume.Before(now) {
		return now.Add(b.opts.ProbeEvery)
	}
	return b.resume
}

// record counts the answer to an admitted call (err nil for a 2xx). An
// unavailable answer while the breaker is open gets its RetryAt: the next
// probe.
func (b *Breaker) record(probe bool, err error) {
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	e, _ := err.(*Error)
	if e == nil || e.Kind != Retryable {
		b.failures = 0
		if b.state != Closed {
			b.change(Closed, "Reditus answered")
		}
		return
	}
	now := b.opts.Now()
	b.failures++
	pause, paused := e.retryAfter.delay(now)
	switch {
	case paused && pause > 0:
		pause = min(pause, b.opts.MaxPause)
		b.open(now, pause, fmt.Sprintf("Reditus asked for a pause of %v (Retry-After) with %s", pause, e.brief()))
	case probe && b.state == HalfOpen:
		b.open(now, b.opts.ProbeEvery, "the probe failed: "+e.brief())
	case b.state == Closed && b.failures >= b.opts.OpenAfter:
		b.open(now, b.opts.ProbeEvery, fmt.Sprintf("%d unavailable answers in a row, the last: %s", b.failures, e.brief()))
	}
	// A call that failed as the breaker opened, or while it was open, may
	// go again when the breaker lets calls through, and no sooner.
	if resume := b.resumeAt(now); b.state != Closed && resume.After(e.RetryAt) {
		e.RetryAt = resume
	}
}

// open opens the Breaker for at least d from now: a later resume already
// set stands. The caller holds b.mu.
func (b *Breaker) open(now time.Time, d time.Duration, why string) {
	if resume := now.Add(d); b.state != Open || resume.After(b.resume) {
		b.resume = resume
	}
	if b.state == Closed {
		b.opened = now
	}
	if b.state != Open {
		b.why = why
		b.change(Open, why)
	}
}

// othersFailed reports whether Reditus failed calls other than one that has
// had own unavailable answers in a row: then it is down rather than
// blipping, and retrying inside the request only delays the answer (the
// sender's retry, or the journal's worker, tries again).
func (b *Breaker) othersFailed(own int) bool {
	if b == nil {
		return false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.failures > own
}

// change moves the Breaker to state to. The caller holds b.mu.
func (b *Breaker) change(to State, why string) {
	from := b.state
	b.state = to
	b.opts.OnChange(from, to, why)
}
