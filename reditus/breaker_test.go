package reditus_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/getreditus/reditus-bridge/internal/fakereditus"
	"github.com/getreditus/reditus-bridge/reditus"
)

// clock is a breaker's clock that a test moves by hand.
type clock struct{ ns atomic.Int64 }

func newClock() *clock {
	c := &clock{}
	c.ns.Store(time.Date(2026, 12, 8, 12, 0, 0, 0, time.UTC).UnixNano())
	return c
}

func (c *clock) Now() time.Time      { return time.Unix(0, c.ns.Load()).UTC() }
func (c *clock) Add(d time.Duration) { c.ns.Add(int64(d)) }

// guarded is a client with a breaker on clk that opens after three failures
// and probes every 2 s, and the states it went through.
type guarded struct {
	client  *reditus.Client
	breaker *reditus.Breaker
	mu      sync.Mutex
	changes []string
}

func newGuarded(red *fakereditus.Server, clk *clock) *guarded {
	g := &guarded{}
	g.breaker = reditus.NewBreaker(reditus.BreakerOptions{
		OpenAfter: 3, ProbeEvery: 2 * time.Second, MaxPause: time.Minute, Now: clk.Now,
		OnChange: func(from, to reditus.State, why string) {
			g.mu.Lock()
			defer g.mu.Unlock()
			g.changes = append(g.changes, from.String()+">"+to.String())
		},
	})
	g.client = reditus.New(reditus.Options{BaseURL: red.BaseURL, APIKey: testKey, AttemptTimeout: 300 * time.Millisecond,
		Budget: testBudget, Backoff: time.Millisecond, Breaker: g.breaker})
	return g
}

func (g *guarded) track() error {
	_, err := g.client.Track(context.Background(), reditus.Conversion{AffiliateSlug: "john", Email: "a@b.c"})
	return err
}

func (g *guarded) transitions() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return strings.Join(g.changes, " ")
}

// mood is a Responder whose answer the test switches.
type mood struct {
	mu      sync.Mutex
	respond fakereditus.Responder
}

func (m *mood) set(r fakereditus.Responder) { m.mu.Lock(); m.respond = r; m.mu.Unlock() }

func (m *mood) Respond(w http.ResponseWriter, r *fakereditus.Request) {
	m.mu.Lock()
	respond := m.respond
	m.mu.Unlock()
	respond(w, r)
}

// Closed, then open after OpenAfter unavailable answers in a row: calls are
// refused without reaching Reditus, with a reason and when to come back. A
// probe goes once ProbeEvery has passed; its failure opens the breaker
// again, its success closes it.
func TestBreakerOpensProbesAndCloses(t *testing.T) {
	clk := newClock()
	m := &mood{respond: fakereditus.Status(http.StatusInternalServerError, `{"message":"boom"}`)}
	red := newFake(t, reditus.CallTrack, m.Respond)
	g := newGuarded(red, clk)

	// One call's own attempts: 3 failures in a row open it, and its fourth
	// attempt is refused, so the call ends with the answer it was sent.
	err := g.track()
	if reditus.KindOf(err) != reditus.Retryable || reditus.NotCalled(err) || !strings.Contains(err.Error(), "boom") {
		t.Fatalf("the first call: %v, want the 500 it was sent", err)
	}
	if got := red.Calls(reditus.CallTrack); got != 3 {
		t.Errorf("%d calls before the breaker opened, want 3", got)
	}
	var sent *reditus.Error
	if errors.As(err, &sent); sent == nil || !sent.RetryAt.Equal(clk.Now().Add(2*time.Second)) {
		t.Errorf("the call that opened the breaker: %+v, want its RetryAt at the first probe", sent)
	}
	if s := g.breaker.State(); s != reditus.Open {
		t.Fatalf("state %v, want open", s)
	}

	err = g.track()
	var e *reditus.Error
	if !errors.As(err, &e) || !reditus.NotCalled(err) || e.Kind != reditus.Retryable {
		t.Fatalf("a call while open: %v, want a retryable refusal", err)
	}
	if !strings.Contains(err.Error(), "not called") || !strings.Contains(err.Error(), "HTTP 500: boom") {
		t.Errorf("refusal %q does not say why", err)
	}
	if want := clk.Now().Add(2 * time.Second); !e.RetryAt.Equal(want) {
		t.Errorf("refusal's RetryAt %v, want the next probe at %v", e.RetryAt, want)
	}
	if got := red.Calls(reditus.CallTrack); got != 3 {
		t.Errorf("%d calls, want still 3: an open breaker calls no one", got)
	}

	clk.Add(2 * time.Second) // the probe is due; Reditus still fails
	if err := g.track(); reditus.NotCalled(err) {
		t.Fatalf("the probe was not sent: %v", err)
	}
	if got := red.Calls(reditus.CallTrack); got != 4 {
		t.Errorf("%d calls, want 4: the probe makes one attempt", got)
	}
	if err := g.track(); !reditus.NotCalled(err) {
		t.Errorf("after a failed probe: %v, want refused until the next", err)
	}

	clk.Add(2 * time.Second)
	m.set(fakereditus.Status(http.StatusCreated, created))
	if err := g.track(); err != nil {
		t.Fatalf("the probe after recovery: %v", err)
	}
	if err := g.track(); err != nil || g.breaker.State() != reditus.Closed {
		t.Errorf("after a good probe: %v, state %v; want closed", err, g.breaker.State())
	}
	if got, want := g.transitions(), "closed>open open>half_open half_open>open open>half_open half_open>closed"; got != want {
		t.Errorf("transitions %q, want %q", got, want)
	}
}

// Any answer that is not unavailable (a 4xx) is Reditus answering: it ends
// a run of failures, and closes the breaker as a probe.
func TestBreakerCountsOnlyUnavailableAnswersInARow(t *testing.T) {
	clk := newClock()
	red := newFake(t, reditus.CallTrack, fakereditus.Sequence(
		fakereditus.Status(503, ``), fakereditus.Status(503, ``), // a call's attempts
		fakereditus.Status(400, `{"error":"unknown slug"}`),
		fakereditus.Status(503, ``), fakereditus.Status(503, ``),
		fakereditus.Status(401, ``),
	))
	g := newGuarded(red, clk)
	for range 3 {
		_ = g.track()
	}
	if s := g.breaker.State(); s != reditus.Closed {
		t.Errorf("state %v after 2 failures, a 400, 2 failures and a 401, want closed", s)
	}
}

// A Retry-After (on a 429 or a 503) pauses the whole client for that long,
// however few failures came before, and no longer than MaxPause; a call the
// pause refuses says when to come back.
func TestBreakerHonoursRetryAfterForTheWholeClient(t *testing.T) {
	for _, tt := range []struct {
		status     int
		retryAfter string
		pause      time.Duration
	}{
		{http.StatusTooManyRequests, "30", 30 * time.Second},
		{http.StatusServiceUnavailable, "5", 5 * time.Second},
		{http.StatusTooManyRequests, "86400", time.Minute}, // MaxPause
	} {
		t.Run(tt.retryAfter, func(t *testing.T) {
			clk := newClock()
			red := newFake(t, reditus.CallTrack, fakereditus.Status(tt.status, ``, "Retry-After", tt.retryAfter))
			g := newGuarded(red, clk)
			_ = g.track()
			if got := red.Calls(reditus.CallTrack); got != 1 {
				t.Errorf("%d calls, want 1: the pause holds the call's own retries too", got)
			}
			var e *reditus.Error
			if err := g.track(); !errors.As(err, &e) || !reditus.NotCalled(err) {
				t.Fatalf("a call during the pause: %v, want refused", err)
			}
			if want := clk.Now().Add(tt.pause); !e.RetryAt.Equal(want) {
				t.Errorf("RetryAt %v, want %v", e.RetryAt, want)
			}
			if n, wait := g.breaker.Ready(8); n != 0 || wait != tt.pause {
				t.Errorf("Ready(8) = %d, %v; want 0, %v", n, wait, tt.pause)
			}
			clk.Add(tt.pause)
			if n, _ := g.breaker.Ready(8); n != 1 {
				t.Errorf("Ready(8) after the pause = %d, want 1: the probe", n)
			}
		})
	}
}

// Retry-After: 0 asks for no pause.
func TestBreakerRetryAfterZeroPausesNothing(t *testing.T) {
	clk := newClock()
	red := newFake(t, reditus.CallTrack, fakereditus.Sequence(
		fakereditus.Status(429, ``, "Retry-After", "0"),
		fakereditus.Status(201, created),
	))
	g := newGuarded(red, clk)
	if err := g.track(); err != nil {
		t.Fatalf("Track: %v, want the retry's 201", err)
	}
}

// While open, one call at a time probes: calls arriving while the probe is
// inside Reditus are refused, and the worker is told to wait.
func TestBreakerLetsOneProbeAtATime(t *testing.T) {
	clk := newClock()
	m := &mood{respond: fakereditus.Status(500, ``)}
	red := newFake(t, reditus.CallTrack, m.Respond)
	g := newGuarded(red, clk)
	_ = g.track()
	if g.breaker.State() != reditus.Open {
		t.Fatal("not open")
	}

	gate := fakereditus.NewGate(1, fakereditus.Status(201, created))
	defer gate.Release()
	m.set(gate.Respond)
	clk.Add(2 * time.Second)
	if n, wait := g.breaker.Ready(8); n != 1 || wait != 0 {
		t.Errorf("Ready(8) with a probe due = %d, %v; want 1, 0", n, wait)
	}
	probed := make(chan error, 1)
	go func() { probed <- g.track() }()
	<-gate.Held()
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if err := g.track(); !reditus.NotCalled(err) {
				t.Errorf("a call during the probe: %v, want refused", err)
			}
		})
	}
	wg.Wait()
	if n, wait := g.breaker.Ready(8); n != 0 || wait <= 0 {
		t.Errorf("Ready(8) during the probe = %d, %v; want 0 and a wait", n, wait)
	}
	gate.Release()
	if err := <-probed; err != nil {
		t.Fatalf("the probe: %v", err)
	}
	if n, _ := g.breaker.Ready(8); n != 8 {
		t.Errorf("Ready(8) once closed = %d, want 8", n)
	}
	if got := red.Calls(reditus.CallTrack); got != 4 {
		t.Errorf("%d calls, want 4: three failures and one probe", got)
	}
}

// A call retries inside the request only while the failures in a row are
// its own: once another call has failed too, Reditus is down, not blipping,
// and the call ends with its answer, before the breaker opens.
func TestBreakerStopsRetriesOnceOtherCallsFail(t *testing.T) {
	clk := newClock()
	red := newFake(t, reditus.CallTrack, fakereditus.Status(503, ``))
	b := reditus.NewBreaker(reditus.BreakerOptions{OpenAfter: 100, Now: clk.Now})
	c := reditus.New(reditus.Options{BaseURL: red.BaseURL, APIKey: testKey, Budget: testBudget, Backoff: time.Millisecond, Breaker: b})
	for range 2 {
		if _, err := c.Track(context.Background(), reditus.Conversion{AffiliateSlug: "john", Email: "a@b.c"}); reditus.KindOf(err) != reditus.Retryable {
			t.Errorf("Track: %v, want retryable", err)
		}
	}
	if got, want := red.Calls(reditus.CallTrack), reditus.DefaultMaxAttempts+1; got != want {
		t.Errorf("%d calls, want %d: the first call's own attempts, then one for the second", got, want)
	}
	if b.State() != reditus.Closed {
		t.Errorf("state %v, want closed: 100 failures open it", b.State())
	}
}

// A nil Breaker lets everything through, and a worker take a full batch.
func TestNilBreakerIsClosed(t *testing.T) {
	var b *reditus.Breaker
	if n, wait := b.Ready(8); n != 8 || wait != 0 || b.State() != reditus.Closed {
		t.Errorf("nil breaker: Ready(8) = %d, %v, state %v", n, wait, b.State())
	}
}
