package pipeline

import (
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/getreditus/reditus-bridge/internal/fakereditus"
	"github.com/getreditus/reditus-bridge/internal/webhooktest"
	"github.com/getreditus/reditus-bridge/reditus"
)

// faults is a bad network in front of Reditus: it answers a share of calls
// with a fault, and the rest as Reditus does (fakereditus with Conflicts: a
// referral is created once, and a second attempt gets 409; an unknown slug
// gets 400).
type faults struct {
	red      *fakereditus.Server
	mu       sync.Mutex
	rng      *rand.Rand
	injected map[string]int // fault -> times injected
}

const faultShare = 0.4

var faultKinds = []string{"500", "502", "429 Retry-After 0", "429 Retry-After 30", "hang", "reset", "slow", "201 then drop"}

// pick draws the fault for one call, "" for none.
func (f *faults) pick() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.rng.Float64() >= faultShare {
		return ""
	}
	fault := faultKinds[f.rng.IntN(len(faultKinds))]
	f.injected[fault]++
	return fault
}

func (f *faults) respond(w http.ResponseWriter, r *fakereditus.Request) {
	switch fault := f.pick(); fault {
	case "500":
		fakereditus.Status(500, ``)(w, r)
	case "502":
		fakereditus.Status(502, ``)(w, r)
	case "429 Retry-After 0", "429 Retry-After 30":
		fakereditus.Status(http.StatusTooManyRequests, ``, "Retry-After", fault[len("429 Retry-After "):])(w, r)
	case "hang": // past the client's attempt timeout
		fakereditus.Hang(w, r)
	case "reset":
		fakereditus.Reset(w, r)
	case "slow":
		time.Sleep(20 * time.Millisecond)
		f.red.Reditus(w, r)
	case "201 then drop": // Reditus keeps what it created; the answer is lost
		fakereditus.CutBody(f.red.Reditus)(w, r)
	default:
		f.red.Reditus(w, r)
	}
}

// created counts the referrals Reditus holds, by email.
func (f *faults) created() map[string]int {
	n := map[string]int{}
	for _, c := range f.red.Created() {
		n[c.Email]++
	}
	return n
}

// sent is what a Stripe-like sender saw of one event.
type sent struct {
	email, outcome string
	status         int
	attempts       int
}

// sendLikeStripe delivers one event as Stripe does: a fresh signature on
// every attempt, and every non-2xx retried with backoff, a bounded number of
// times.
func sendLikeStripe(t *testing.T, b *bridge, body []byte, maxAttempts int) (status int, outcome string, attempts int) {
	backoff := 5 * time.Millisecond
	for attempts = 1; ; attempts++ {
		a := b.do(t, stripeWebhook(body, stripeSecret, time.Now()))
		status, outcome = a.Status, a.Outcome
		if status >= 200 && status < 300 {
			return status, outcome, attempts
		}
		if attempts == maxAttempts {
			return status, outcome, attempts
		}
		time.Sleep(backoff)
		backoff = min(2*backoff, 100*time.Millisecond)
	}
}

func TestFaultsLoseNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("a few seconds of faults")
	}
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	red := fakereditus.New(t, fakereditus.WithKey(apiKey), fakereditus.Conflicts(), fakereditus.UnknownSlugs("unknown"))
	fake := &faults{red: red, rng: rand.New(rand.NewPCG(seed, 1)), injected: map[string]int{}}
	red.RespondAll(fake.respond)

	cfg := webhooktest.Config(red.URL)
	client := reditus.New(reditus.Options{
		BaseURL: cfg.ReditusAPIURL, APIKey: cfg.ReditusAPIKey.Reveal(),
		AttemptTimeout: 150 * time.Millisecond, Budget: 600 * time.Millisecond, Backoff: 5 * time.Millisecond,
	})
	p, err := New(cfg, Deps{Reditus: client, Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	b := &bridge{pipeline: p}

	const events, senders, maxAttempts = 300, 16, 12
	results := make([]sent, events)
	work := make(chan int)
	var wg sync.WaitGroup
	for range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				slug := "john"
				if i%25 == 0 {
					slug = "unknown" // permanently rejected by Reditus
				}
				email := fmt.Sprintf("user%03d@example.com", i)
				body := []byte(fmt.Sprintf(`{"id":"evt_fault_%03d","type":"customer.created","livemode":true,
					"data":{"object":{"id":"cus_%03d","email":%q,"metadata":{"red":%q}}}}`, i, i, email, slug))
				status, outcome, attempts := sendLikeStripe(t, b, body, maxAttempts)
				results[i] = sent{email: email, outcome: outcome, status: status, attempts: attempts}
			}
		}()
	}
	for i := range events {
		work <- i
	}
	close(work)
	wg.Wait()

	created := fake.created()
	fake.mu.Lock()
	defer fake.mu.Unlock()
	retried := 0
	for i, d := range results {
		rejected := i%25 == 0
		switch {
		case d.status < 200 || d.status > 299:
			t.Errorf("event %d lost: still %d %q after %d attempts", i, d.status, d.outcome, d.attempts)
		case rejected && d.outcome != "rejected":
			t.Errorf("event %d (unknown slug) acknowledged as %q, want rejected", i, d.outcome)
		case !rejected && d.outcome != "forwarded" && d.outcome != "duplicate":
			t.Errorf("event %d acknowledged as %q", i, d.outcome)
		case !rejected && created[d.email] == 0:
			t.Errorf("event %d acknowledged (%s) but its conversion is not in Reditus", i, d.outcome)
		}
		if n := created[d.email]; n > 1 {
			t.Errorf("event %d: %d conversions created, want 1", i, n)
		}
		if d.attempts > 1 {
			retried++
		}
	}
	if len(created) != events-events/25 {
		t.Errorf("Reditus holds %d conversions, want %d", len(created), events-events/25)
	}
	for _, kind := range faultKinds {
		if fake.injected[kind] == 0 {
			t.Errorf("fault %q was never injected; the run proves less than it says", kind)
		}
	}
	t.Logf("%d events, %d Reditus calls, faults %v, %d events needed the sender's retries", events, red.Calls(reditus.CallTrack), fake.injected, retried)
}
