package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stripe/stripe-go/v76/webhook"

	"github.com/getreditus/reditus-bridge/verify"
)

// Hostile requests against the real server: each gets its documented answer
// (README.md, "Hostile input"), the process stays up with bounded memory, and
// no secret or full email reaches the log.
func TestHostileRequests(t *testing.T) {
	rec, fakeURL := newRecorder(t)
	const (
		stripeSecret = "whsec_hostile_stripe_secret"
		clerkSecret  = "whsec_aG9zdGlsZS1jbGVyaw=="
		apiKey       = "rk_live_hostile_api_key"
		supaToken    = "hostile-supabase-token"
	)
	p := start(t, "REDITUS_API_KEY="+apiKey, "REDITUS_API_URL="+fakeURL+"/api",
		"STRIPE_WEBHOOK_SECRET="+stripeSecret, "CLERK_WEBHOOK_SECRET="+clerkSecret, "SUPABASE_WEBHOOK_SECRET="+supaToken)

	event, err := os.ReadFile("mapping/testdata/stripe/customer.created.json")
	if err != nil {
		t.Fatal(err)
	}
	stripeReq := func(body []byte, secret string, at time.Time) *http.Request {
		req, _ := http.NewRequest(http.MethodPost, p.base+"/webhooks/stripe", bytes.NewReader(body))
		signed := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: body, Secret: secret, Timestamp: at})
		req.Header.Set("Stripe-Signature", signed.Header)
		req.Header.Set("Content-Type", "application/json")
		return req
	}
	signed := func(body []byte) *http.Request { return stripeReq(body, stripeSecret, time.Now()) }
	withEvent := func(id, object string) []byte {
		return []byte(`{"id":"` + id + `","type":"customer.created","livemode":true,"data":{"object":` + object + `}}`)
	}
	tenMiB := bytes.Repeat([]byte("a"), 10<<20)

	tests := []struct {
		name    string
		req     func() *http.Request
		status  int
		outcome string
	}{
		{"no signature", func() *http.Request {
			r := signed(event)
			r.Header.Del("Stripe-Signature")
			return r
		}, 400, "invalid_signature"},
		{"wrong secret", func() *http.Request { return stripeReq(event, "whsec_guess", time.Now()) }, 400, "invalid_signature"},
		{"Svix signature on the Stripe route", func() *http.Request {
			h, _ := verify.SignSvix("svix", clerkSecret, "msg_1", event, time.Now())
			r, _ := http.NewRequest(http.MethodPost, p.base+"/webhooks/stripe", bytes.NewReader(event))
			r.Header = h
			return r
		}, 400, "invalid_signature"},
		{"Stripe signature on the Clerk route", func() *http.Request {
			r := signed(event)
			r.URL.Path = "/webhooks/clerk"
			return r
		}, 400, "invalid_signature"},
		{"Stripe's secret as Supabase's token", func() *http.Request {
			r, _ := http.NewRequest(http.MethodPost, p.base+"/webhooks/supabase", strings.NewReader(`{}`))
			r.Header.Set("Authorization", "Bearer "+stripeSecret)
			return r
		}, 400, "invalid_signature"},
		{"replayed: signed an hour ago", func() *http.Request { return stripeReq(event, stripeSecret, time.Now().Add(-time.Hour)) }, 400, "invalid_signature"},
		{"signed an hour in the future", func() *http.Request { return stripeReq(event, stripeSecret, time.Now().Add(time.Hour)) }, 400, "invalid_signature"},
		{"tampered body", func() *http.Request {
			r := signed(event)
			forged := bytes.Replace(event, []byte("john"), []byte("evil"), 1)
			r.Body, r.ContentLength = io.NopCloser(bytes.NewReader(forged)), int64(len(forged))
			return r
		}, 400, "invalid_signature"},
		{"10 MiB body", func() *http.Request { return signed(tenMiB) }, 413, "too_large"},
		{"10 MiB body, chunked", func() *http.Request {
			r := signed(tenMiB)
			r.Body, r.ContentLength = io.NopCloser(bytes.NewReader(tenMiB)), -1
			return r
		}, 413, "too_large"},
		{"JSON nested 100,000 deep", func() *http.Request {
			return signed(append(bytes.Repeat([]byte("["), 100_000), bytes.Repeat([]byte("]"), 100_000)...))
		}, 400, "invalid_payload"},
		{"huge JSON: 20,000 metadata keys", func() *http.Request {
			var meta strings.Builder
			meta.WriteString(`{"id":"cus_big","email":"big@example.com","metadata":{`)
			for i := range 20_000 {
				fmt.Fprintf(&meta, `"k%d":"v%d",`, i, i)
			}
			meta.WriteString(`"last":"x"}}`)
			return signed(withEvent("evt_huge", meta.String()))
		}, 200, "skipped"},
		{"invalid UTF-8 in a field", func() *http.Request {
			return signed(withEvent("evt_utf8", "{\"id\":\"cus_u\",\"email\":\"u@example.com\",\"name\":\"\xff\xfe\",\"metadata\":{}}"))
		}, 200, "skipped"},
		{"invalid UTF-8 in the cookie", func() *http.Request {
			return signed(withEvent("evt_utf8c", "{\"id\":\"cus_u\",\"email\":\"u@example.com\",\"metadata\":{\"gr_id\":\"gr_cmw6\xff\"}}"))
		}, 200, "skipped"},
		{"duplicate JSON keys: the last wins", func() *http.Request {
			return signed([]byte(`{"id":"evt_dupkeys","type":"invoice.paid","type":"customer.created","livemode":true,
				"data":{"object":{"id":"cus_d","email":"d@example.com","metadata":{"red":"mallory","red":"john"}}}}`))
		}, 200, "forwarded"},
		{"two Stripe-Signature headers: the first is read", func() *http.Request {
			r := signed(event)
			r.Header["Stripe-Signature"] = []string{"t=1,v1=00", r.Header.Get("Stripe-Signature")}
			return r
		}, 400, "invalid_signature"},
		{"wrong content type, signed", func() *http.Request {
			r := signed(event)
			r.Header.Set("Content-Type", "text/plain")
			return r
		}, 200, "forwarded"},
		{"not JSON, signed", func() *http.Request { return signed([]byte("<xml/>")) }, 400, "invalid_payload"},
		// stripe-go verifies the last t=; a current t= in front once hid a
		// signature made an hour ahead from the future check.
		{"doubled t=", func() *http.Request {
			r := stripeReq(withEvent("evt_doubled_t", `{"id":"cus_t","email":"t@example.com","metadata":{"red":"evil"}}`), stripeSecret, time.Now().Add(time.Hour))
			r.Header.Set("Stripe-Signature", "t="+strconv.FormatInt(time.Now().Unix(), 10)+","+r.Header.Get("Stripe-Signature"))
			return r
		}, 400, "invalid_signature"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := http.DefaultClient.Do(tt.req())
			if err != nil {
				t.Fatalf("no answer: %v", err)
			}
			defer resp.Body.Close()
			var answer struct{ Outcome, Reason string }
			_ = json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&answer)
			if resp.StatusCode != tt.status || answer.Outcome != tt.outcome {
				t.Errorf("%d %q (%s), want %d %q", resp.StatusCode, answer.Outcome, answer.Reason, tt.status, tt.outcome)
			}
		})
	}

	// Still up, with bounded memory.
	if resp, err := http.Get(p.base + "/healthz"); err != nil || resp.StatusCode != 200 {
		t.Fatalf("the bridge is down after the hostile requests: %v", err)
	}
	if hwm := peakRSS(t, p.cmd.Process.Pid); hwm > 96<<20 {
		t.Errorf("peak RSS %d MiB after the hostile requests, want under 96 MiB", hwm>>20)
	}
	rec.mu.Lock()
	for _, c := range rec.received {
		if c.AffiliateSlug == "evil" || c.AffiliateSlug == "mallory" {
			t.Errorf("a forged or shadowed slug reached Reditus: %+v", c)
		}
	}
	rec.mu.Unlock()
	p.stop(t)

	logText := fmt.Sprint(p.lines())
	for _, secret := range []string{stripeSecret, clerkSecret, apiKey, supaToken, "jane.doe@example.com", "d@example.com"} {
		if strings.Contains(logText, secret) {
			t.Errorf("the log contains %q", secret)
		}
	}
}

// peakRSS is the process's peak resident set size (VmHWM), in bytes.
func peakRSS(t *testing.T, pid int) int {
	t.Helper()
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	for _, line := range strings.Split(string(status), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(rest), " kB"))
			return kb << 10
		}
	}
	t.Fatal("no VmHWM in /proc status")
	return 0
}

// A Standard Webhooks delivery replayed with a forged svix-id beside its
// signed webhook-* headers must be known by the id its signature covers.
// Before, the bridge took the forged svix-id: the replay claimed the id of
// a delivery still to come, was acknowledged under it, and that genuine
// delivery was then answered from memory and never reached Reditus.
func TestHostileForgedSvixID(t *testing.T) {
	rec, fakeURL := newRecorder(t)
	const secret = "whsec_aG9zdGlsZS1nZW5lcmljLXNlY3JldC1rZXk=" // "hostile-generic-secret-key"
	p := start(t, "REDITUS_API_KEY=rk_live_hostile_api_key", "REDITUS_API_URL="+fakeURL+"/api", "GENERIC_WEBHOOK_SECRET="+secret)

	post := func(t *testing.T, body []byte, header http.Header) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, p.base+"/webhooks/generic", bytes.NewReader(body))
		req.Header = header
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("no answer: %v", err)
		}
		defer resp.Body.Close()
		var answer struct{ Outcome string }
		_ = json.NewDecoder(resp.Body).Decode(&answer)
		return resp.StatusCode, answer.Outcome
	}
	sign := func(t *testing.T, id string, body []byte) http.Header {
		t.Helper()
		h, err := verify.SignSvix("webhook", secret, id, body, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	bodyA := []byte(`{"email":"alice@example.com","uid":"usr_alice","affiliate_slug":"john"}`)
	bodyB := []byte(`{"email":"bob@example.com","uid":"usr_bob","affiliate_slug":"john"}`)
	headerA := sign(t, "msg_A", bodyA)

	steps := []struct {
		name    string
		body    []byte
		header  http.Header
		outcome string
	}{
		{"delivery A", bodyA, headerA, "forwarded"},
		{"A replayed with a forged svix-id naming B", bodyA, func() http.Header {
			h := headerA.Clone()
			h.Set("svix-id", "msg_B")
			return h
		}(), "forwarded"}, // answered from A's memory: A is in Reditus
		{"delivery B", bodyB, sign(t, "msg_B", bodyB), "forwarded"},
	}
	for _, step := range steps {
		if status, outcome := post(t, step.body, step.header); status != http.StatusOK || outcome != step.outcome {
			t.Errorf("%s: %d %q, want 200 %q", step.name, status, outcome, step.outcome)
		}
	}
	p.stop(t)

	rec.mu.Lock()
	defer rec.mu.Unlock()
	got := map[string]int{}
	for _, c := range rec.received {
		got[c.Email]++
	}
	want := map[string]int{"alice@example.com": 1, "bob@example.com": 1}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("Reditus received conversions for %v, want %v: each delivery once, B not swallowed", got, want)
	}
}
