package reditus

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/getreditus/reditus-bridge/internal/redact"
)

// Defaults for Options. Together with the Stripe look-ups' 2 s they keep a
// webhook's answer under 10 seconds, well inside Stripe's and Svix's delivery
// timeouts: at most Budget is spent on Reditus, however many attempts that
// allows.
const (
	DefaultAttemptTimeout = 3 * time.Second
	DefaultBudget         = 7 * time.Second
	DefaultMaxAttempts    = 4
	DefaultBackoff        = 150 * time.Millisecond
)

// maxBody bounds how much of an answer is read: Reditus's answers are small,
// and a misbehaving server must not make the bridge buffer megabytes.
const maxBody = 64 << 10

// Options configures a Client. Zero values take the defaults above.
type Options struct {
	BaseURL string // for example https://api.getreditus.com/api
	APIKey  string

	// HTTPClient defaults to one with keep-alive sized for many concurrent
	// webhooks. Its Timeout should be zero: AttemptTimeout bounds attempts.
	// The Client uses a copy that never follows redirects, whatever its
	// CheckRedirect says.
	HTTPClient *http.Client

	AttemptTimeout time.Duration // one HTTP attempt
	Budget         time.Duration // all attempts and the waits between them
	MaxAttempts    int
	Backoff        time.Duration // wait before the second attempt; doubles after

	// OnAttempt, if set, is told of every HTTP attempt, of every call: its
	// status (0 when no answer arrived), its duration, and whether it retried
	// a failed one. The bridge's metrics come from it.
	OnAttempt func(status int, d time.Duration, retry bool)

	// Breaker, if set, is told of every answer and may refuse a call
	// without sending it (an *Error for which NotCalled is true): Reditus
	// being down then costs it one call per probe, not one or more per
	// webhook. With it, a call also stops retrying once other calls have
	// failed too. Without it, every call is sent.
	Breaker *Breaker
}

// Client sends conversions, payments, refunds and churn to Reditus. It is
// safe for concurrent use.
type Client struct {
	base string
	key  string
	http *http.Client
	opts Options
}

// New returns a Client for Reditus's API under opts.BaseURL.
func New(opts Options) *Client {
	if opts.HTTPClient == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.MaxIdleConns = 256
		t.MaxIdleConnsPerHost = 256 // every request goes to one host
		opts.HTTPClient = &http.Client{Transport: t}
	}
	// A followed 303 turns the POST into a GET whose 2xx would be taken for
	// a created conversion, and a followed 307 sends the key and the email
	// to wherever the Location points. So a redirect is answered as it is,
	// and attempt calls it a misconfiguration.
	hc := *opts.HTTPClient
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	opts.HTTPClient = &hc
	opts.AttemptTimeout = orDefault(opts.AttemptTimeout, DefaultAttemptTimeout)
	opts.Budget = orDefault(opts.Budget, DefaultBudget)
	opts.Backoff = orDefault(opts.Backoff, DefaultBackoff)
	if opts.MaxAttempts <= 0 {
		opts.MaxAttempts = DefaultMaxAttempts
	}
	if opts.OnAttempt == nil {
		opts.OnAttempt = func(int, time.Duration, bool) {}
	}
	return &Client{
		base: strings.TrimRight(opts.BaseURL, "/"),
		key:  opts.APIKey,
		http: opts.HTTPClient,
		opts: opts,
	}
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// Track creates conv in Reditus. Retryable failures are retried with
// exponential backoff (or the server's Retry-After) while the budget allows;
// when it does not, Track returns the last failure, so that the webhook's
// sender retries instead of the bridge holding the request open. Errors are
// *Error values; use KindOf to classify them.
func (c *Client) Track(ctx context.Context, conv Conversion) (Result, error) {
	raw, err := c.post(ctx, CallTrack, conv)
	if err != nil {
		return Result{}, err
	}
	return parseCreated(raw), nil
}

// post sends v as JSON to call's endpoint and returns the body of its 2xx
// answer. It is the one request path for every call: attempts, retries,
// budget and classification are the same for all of them.
func (c *Client) post(ctx context.Context, call Call, v any) ([]byte, error) {
	body, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", call, err)
	}
	ctx, cancel := context.WithTimeout(ctx, c.opts.Budget)
	defer cancel()

	wait := c.opts.Backoff
	var sent *Error // the last failure of an attempt that was sent
	for attempt := 1; ; attempt++ {
		raw, err := c.admitted(ctx, call, body, attempt > 1)
		var e *Error
		if !errors.As(err, &e) || e.Kind != Retryable {
			return raw, err
		}
		if e.notCalled {
			// A retry the breaker refused: what the call learnt is the
			// answer to the attempt it did send.
			if sent == nil {
				return nil, e
			}
			if e.RetryAt.After(sent.RetryAt) {
				sent.RetryAt = e.RetryAt
			}
			return nil, sent
		}
		sent = e
		// Reditus failing other calls too is an outage, not a blip: the
		// call ends now, and its sender or the journal tries again.
		if attempt == c.opts.MaxAttempts || c.opts.Breaker.othersFailed(attempt) {
			return raw, err
		}
		if d, ok := e.retryAfter.delay(time.Now()); ok {
			wait = d
		}
		// Sleep only if a whole attempt still fits after it: a retry that the
		// deadline would cut short only delays the 503 that makes the sender
		// retry.
		if deadline, _ := ctx.Deadline(); time.Until(deadline) < wait+c.opts.AttemptTimeout/2 {
			return raw, err
		}
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return raw, err
		}
		wait *= 2
	}
}

// admitted makes one attempt if the breaker lets it, and tells the breaker
// how it went.
func (c *Client) admitted(ctx context.Context, call Call, body []byte, retry bool) ([]byte, error) {
	probe, refused := c.opts.Breaker.admit(call)
	if refused != nil {
		return nil, refused
	}
	raw, err := c.attempt(ctx, call, body, retry)
	c.opts.Breaker.record(probe, err)
	return raw, err
}

func (c *Client) attempt(ctx context.Context, call Call, body []byte, retry bool) (answer []byte, err error) {
	ctx, cancel := context.WithTimeout(ctx, c.opts.AttemptTimeout)
	defer cancel()
	start, status := time.Now(), 0
	defer func() {
		d := time.Since(start)
		c.opts.OnAttempt(status, d, retry)
		if report, ok := ctx.Value(attemptsKey{}).(func(Attempt)); ok {
			report(newAttempt(call, body, start, d, status, answer, err))
		}
	}()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+call.Path(), bytes.NewReader(body))
	if err != nil {
		return nil, &Error{Call: call, Kind: Misconfigured, Message: "build request", Err: err}
	}
	req.Header.Set("Authorization", "Bearer "+c.key)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "reditus-bridge")

	resp, err := c.http.Do(req)
	if err != nil {
		return nil, &Error{Call: call, Kind: Retryable, Message: "no answer", Err: err}
	}
	defer resp.Body.Close()
	status = resp.StatusCode
	// A read error after the status line is ignored on purpose: the status
	// alone decides what happened, and for a 201 the conversion exists even
	// if the connection dropped before its body arrived.
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, maxBody))

	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return raw, nil
	}
	if resp.StatusCode >= 300 && resp.StatusCode < 400 {
		return nil, &Error{Call: call, Kind: Misconfigured, Status: resp.StatusCode, Message: redirectText(resp)}
	}
	// Reditus's text may quote the call's email, and whoever prints this
	// error (the log line, the answer) must not show it whole.
	e := &Error{Call: call, Kind: classify(call, resp.StatusCode, raw), Status: resp.StatusCode, Message: redact.Emails(errorText(raw))}
	if e.Message == "" {
		e.Message = http.StatusText(resp.StatusCode)
	}
	if e.Kind == Retryable {
		e.retryAfter = retryAfter(resp.Header.Get("Retry-After"))
		if d, ok := e.retryAfter.delay(start); ok && d > 0 {
			e.RetryAt = start.Add(d)
		}
	}
	return nil, e
}

// classify maps a non-2xx status of call to a Kind (docs/design.md, "Reditus").
func classify(call Call, status int, body []byte) Kind {
	switch {
	case status == http.StatusConflict:
		// Reditus documents 409 only for Track (the referral exists). On a
		// payment it can only mean that its idempotency_key is recorded
		// already, and on a refund or churn that it was done before: what
		// was sent is in Reditus either way, so it counts as success.
		return Duplicate
	case status == http.StatusBadRequest, status == http.StatusUnprocessableEntity:
		return Rejected
	case status == http.StatusNotFound && call != CallTrack && isJSONObject(body):
		// The money calls answer 404 with a JSON error when the referral
		// (or the refunded payment) is unknown. A 404 that is not JSON
		// comes from whatever REDITUS_API_URL points at instead (a web
		// server's page, a router's empty 404): taking that for "not
		// referred" would skip every payment in silence.
		return NotReferred
	case status == http.StatusTooManyRequests, status == http.StatusRequestTimeout, status >= 500:
		return Retryable
	default:
		// 401 and 403 are a wrong key. Anything else (404, 405, a 3xx) means
		// REDITUS_API_URL does not point at Reditus's API. Either way the
		// call is good and must be retried once the bridge is fixed.
		return Misconfigured
	}
}

// isJSONObject reports whether body is one JSON object, as Reditus's own
// error answers are.
func isJSONObject(body []byte) bool {
	body = bytes.TrimSpace(body)
	return len(body) > 0 && body[0] == '{' && json.Valid(body)
}

// redirectText says what to fix when REDITUS_API_URL answers with a
// redirect. It names the Location's host, which is what the operator needs,
// and nothing after it: a query could carry anything.
func redirectText(resp *http.Response) string {
	msg := "REDITUS_API_URL redirects"
	if loc, err := resp.Location(); err == nil && loc.Host != "" {
		msg += " to " + loc.Host
	}
	return msg + ": set it to Reditus's own API URL (the bridge never follows redirects)"
}

func parseCreated(raw []byte) Result {
	var body struct {
		Data struct {
			ID         json.RawMessage `json:"id"`
			Attributes struct {
				State string `json:"state"`
			} `json:"attributes"`
		} `json:"data"`
	}
	if json.Unmarshal(raw, &body) != nil {
		return Result{}
	}
	// JSON:API ids are strings, decoded as JSON (PHP writes "/" as "\/");
	// a number costs nothing to accept, as its digits.
	var id string
	if json.Unmarshal(body.Data.ID, &id) != nil {
		var n json.Number
		if json.Unmarshal(body.Data.ID, &n) == nil {
			id = n.String()
		}
	}
	return Result{ReferralID: id, State: body.Data.Attributes.State}
}

// errorText finds the human-readable message in an error answer: a JSON:API
// errors list, an "error" or "message" field, or else the text itself.
func errorText(raw []byte) string {
	var body struct {
		Errors []struct {
			Title  string `json:"title"`
			Detail string `json:"detail"`
		} `json:"errors"`
		Error   json.RawMessage `json:"error"`
		Message string          `json:"message"`
	}
	if json.Unmarshal(raw, &body) == nil {
		var parts []string
		for _, e := range body.Errors {
			if text := cmp.Or(e.Detail, e.Title); text != "" {
				parts = append(parts, text)
			}
		}
		var nested struct{ Message string }
		var plain string
		switch {
		case len(parts) > 0:
			return strings.Join(parts, "; ")
		case json.Unmarshal(body.Error, &plain) == nil && plain != "":
			return plain
		case json.Unmarshal(body.Error, &nested) == nil && nested.Message != "":
			return nested.Message
		case body.Message != "":
			return body.Message
		}
	}
	text := strings.TrimSpace(string(raw))
	if len(text) > 300 {
		text = text[:300] + "..."
	}
	return text
}

// retryAfter is a Retry-After header value: seconds or an HTTP date.
type retryAfter string

func (r retryAfter) delay(now time.Time) (time.Duration, bool) {
	if r == "" {
		return 0, false
	}
	if secs, err := strconv.Atoi(string(r)); err == nil && secs >= 0 {
		return time.Duration(secs) * time.Second, true
	}
	if t, err := http.ParseTime(string(r)); err == nil {
		return max(t.Sub(now), 0), true
	}
	return 0, false
}
