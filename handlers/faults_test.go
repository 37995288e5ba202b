package handlers

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/getreditus/reditus-bridge/reditus"
)

// faultyReditus is Reditus behind a bad network: it answers a share of calls
// with a fault. Underneath it keeps Reditus's contract: a referral is created
// once, and a second attempt gets 409. An unknown slug gets 400.
type faultyReditus struct {
	mu       sync.Mutex
	rng      *rand.Rand
	created  map[string]int // email -> conversions created (must end at 1)
	faults   map[string]int // fault -> times injected
	attempts int
}

const faultShare = 0.4

var faultKinds = []string{"500", "502", "429 Retry-After 0", "429 Retry-After 30", "hang", "reset", "slow", "201 then drop"}

func (f *faultyReditus) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var c reditus.Conversion
	_ = json.NewDecoder(r.Body).Decode(&c)
	f.mu.Lock()
	f.attempts++
	fault := ""
	if f.rng.Float64() < faultShare {
		fault = faultKinds[f.rng.IntN(len(faultKinds))]
		f.faults[fault]++
	}
	f.mu.Unlock()

	switch fault {
	case "500", "502":
		code := 500
		if fault == "502" {
			code = 502
		}
		w.WriteHeader(code)
		return
	case "429 Retry-After 0", "429 Retry-After 30":
		w.Header().Set("Retry-After", fault[len("429 Retry-After "):])
		w.WriteHeader(http.StatusTooManyRequests)
		return
	case "hang": // past the client's attempt timeout
		select {
		case <-r.Context().Done():
		case <-time.After(2 * time.Second):
		}
		return
	case "reset":
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			_ = conn.(*net.TCPConn).SetLinger(0) // RST, not FIN
			_ = conn.Close()
		}
		return
	case "slow":
		time.Sleep(20 * time.Millisecond)
	}

	f.mu.Lock()
	var status int
	switch {
	case c.AffiliateSlug == "unknown":
		status = http.StatusBadRequest
	case f.created[c.Email] > 0:
		status = http.StatusConflict
	default:
		f.created[c.Email]++
		status = http.StatusCreated
	}
	f.mu.Unlock()

	if fault == "201 then drop" && status == http.StatusCreated {
		conn, buf, err := w.(http.Hijacker).Hijack()
		if err == nil {
			_, _ = buf.WriteString("HTTP/1.1 201 Created\r\nContent-Length: 200\r\n\r\n{\"data\":")
			_ = buf.Flush()
			_ = conn.Close()
		}
		return
	}
	w.WriteHeader(status)
	if status == http.StatusBadRequest {
		_, _ = io.WriteString(w, `{"errors":[{"detail":"affiliate unknown not found"}]}`)
	} else {
		_, _ = io.WriteString(w, `{"data":{"id":"ref_1"}}`)
	}
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
func sendLikeStripe(client *http.Client, url string, body []byte, maxAttempts int) (status int, outcome string, attempts int) {
	backoff := 5 * time.Millisecond
	for attempts = 1; ; attempts++ {
		req := stripeRequest(body, stripeSecret, time.Now())
		req.RequestURI = ""
		req.URL, _ = req.URL.Parse(url)
		resp, err := client.Do(req)
		if err == nil {
			var a struct{ Outcome string }
			_ = json.NewDecoder(resp.Body).Decode(&a)
			resp.Body.Close()
			status, outcome = resp.StatusCode, a.Outcome
			if status >= 200 && status < 300 {
				return status, outcome, attempts
			}
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
	fake := &faultyReditus{rng: rand.New(rand.NewPCG(seed, 1)), created: map[string]int{}, faults: map[string]int{}}
	red := httptest.NewServer(fake)
	defer red.Close()

	cfg := liveConfig(red.URL)
	client := reditus.New(reditus.Options{
		BaseURL: cfg.ReditusAPIURL, APIKey: cfg.ReditusAPIKey.Reveal(),
		AttemptTimeout: 150 * time.Millisecond, Budget: 600 * time.Millisecond, Backoff: 5 * time.Millisecond,
	})
	bridge, err := New(cfg, Deps{Reditus: client, Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(bridge)
	defer srv.Close()

	const events, senders, maxAttempts = 300, 16, 12
	results := make([]sent, events)
	work := make(chan int)
	var wg sync.WaitGroup
	for range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			httpClient := &http.Client{Timeout: 5 * time.Second}
			for i := range work {
				slug := "john"
				if i%25 == 0 {
					slug = "unknown" // permanently rejected by Reditus
				}
				email := fmt.Sprintf("user%03d@example.com", i)
				body := []byte(fmt.Sprintf(`{"id":"evt_fault_%03d","type":"customer.created","livemode":true,
					"data":{"object":{"id":"cus_%03d","email":%q,"metadata":{"red":%q}}}}`, i, i, email, slug))
				status, outcome, attempts := sendLikeStripe(httpClient, srv.URL+"/webhooks/stripe", body, maxAttempts)
				results[i] = sent{email: email, outcome: outcome, status: status, attempts: attempts}
			}
		}()
	}
	for i := range events {
		work <- i
	}
	close(work)
	wg.Wait()

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
		case !rejected && fake.created[d.email] == 0:
			t.Errorf("event %d acknowledged (%s) but its conversion is not in Reditus", i, d.outcome)
		}
		if n := fake.created[d.email]; n > 1 {
			t.Errorf("event %d: %d conversions created, want 1", i, n)
		}
		if d.attempts > 1 {
			retried++
		}
	}
	if len(fake.created) != events-events/25 {
		t.Errorf("Reditus holds %d conversions, want %d", len(fake.created), events-events/25)
	}
	for _, kind := range faultKinds {
		if fake.faults[kind] == 0 {
			t.Errorf("fault %q was never injected; the run proves less than it says", kind)
		}
	}
	t.Logf("%d events, %d Reditus calls, faults %v, %d events needed the sender's retries", events, fake.attempts, fake.faults, retried)
}
