package stripeapi

import (
	"context"
	"io"
	"net/http"
	"strconv"
	"time"
)

// RateLimitRetry says how a Client answers Stripe's 429. stripe-go v76
// retries a 429 only when Stripe marks it (Stripe-Should-Retry, or a lock
// timeout), and a plain rate limit would stop a backfill halfway.
type RateLimitRetry struct {
	// Retries is how often one call answered 429 is sent again; 0 never
	// retries, which suits the webhook path: the sender retries later.
	Retries int
	// Backoff is the wait before the first retry; it doubles on each one,
	// up to MaxWait. Default 1 s.
	Backoff time.Duration
	// MaxWait caps a wait. A Retry-After longer than it ends the retries,
	// since honouring it would hold the run for longer than it is worth.
	// Default 30 s.
	MaxWait time.Duration
}

// transport paces and retries the HTTP calls that stripe-go makes. It works
// below stripe-go's iterators, so a retried list call asks for the same page
// (the same starting_after) again: a listing resumes where it was, and never
// reads a page twice or skips one.
type transport struct {
	next  http.RoundTripper
	pace  <-chan time.Time // nil: unpaced
	retry RateLimitRetry
	// sleep waits d or until ctx ends; tests replace it to see the waits.
	sleep func(ctx context.Context, d time.Duration) error
}

func newTransport(pace <-chan time.Time, retry RateLimitRetry) *transport {
	if retry.Backoff <= 0 {
		retry.Backoff = time.Second
	}
	if retry.MaxWait <= 0 {
		retry.MaxWait = 30 * time.Second
	}
	return &transport{next: http.DefaultTransport, pace: pace, retry: retry, sleep: sleep}
}

// RoundTrip sends req, after the pace allows it, and again after a wait
// each time Stripe answers 429, up to the bounded number of retries. The
// last answer, 429 or not, goes to stripe-go, which reads its error.
func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	retries := t.retry.Retries
	if req.Body != nil && req.GetBody == nil {
		// Every call the bridge makes is a GET without a body; a request
		// whose body cannot be read again is sent once.
		retries = 0
	}
	for attempt := 0; ; attempt++ {
		if err := t.wait(ctx); err != nil {
			return nil, err
		}
		r := req
		if attempt > 0 && req.Body != nil {
			body, err := req.GetBody()
			if err != nil {
				return nil, err
			}
			r = req.Clone(ctx)
			r.Body = body
		}
		resp, err := t.next.RoundTrip(r)
		if err != nil || resp.StatusCode != http.StatusTooManyRequests || attempt >= retries {
			return resp, err
		}
		d, ok := t.backoff(attempt, resp.Header.Get("Retry-After"))
		if !ok {
			return resp, nil
		}
		// Drain the refused answer so that its connection is reused.
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		if err := t.sleep(ctx, d); err != nil {
			return nil, err
		}
	}
}

// backoff returns the wait before retry number attempt+1: the exponential
// backoff, or Retry-After when Stripe asks for longer. ok is false when
// Retry-After asks for more than MaxWait.
func (t *transport) backoff(attempt int, retryAfter string) (d time.Duration, ok bool) {
	d = t.retry.MaxWait
	if attempt < 30 { // beyond, the shift overflows; the cap applies anyway
		d = min(t.retry.Backoff<<attempt, t.retry.MaxWait)
	}
	if after, set := parseRetryAfter(retryAfter); set {
		if after > t.retry.MaxWait {
			return 0, false
		}
		d = max(d, after)
	}
	return d, true
}

// parseRetryAfter reads a Retry-After header: seconds, or an HTTP date.
func parseRetryAfter(h string) (time.Duration, bool) {
	if h == "" {
		return 0, false
	}
	if s, err := strconv.Atoi(h); err == nil {
		return time.Duration(max(s, 0)) * time.Second, true
	}
	if at, err := http.ParseTime(h); err == nil {
		return max(time.Until(at), 0), true
	}
	return 0, false
}

// wait blocks until the pace allows another call, or ctx ends.
func (t *transport) wait(ctx context.Context) error {
	if t.pace == nil {
		return ctx.Err()
	}
	select {
	case <-t.pace:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func sleep(ctx context.Context, d time.Duration) error {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
