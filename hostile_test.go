package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
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

// A hostile or misconfigured Reditus, against the real server: a redirect is
// never followed (a 303 would turn the POST into a GET whose 2xx looks like a
// created conversion, a 307 would carry the key and the email to another
// host), and an email quoted in Reditus's error text reaches neither the log
// nor the answer whole.
func TestHostileReditus(t *testing.T) {
	const (
		stripeSecret = "whsec_hostile_reditus_stripe"
		apiKey       = "rk_live_hostile_reditus_key"
		email        = "jane.doe@example.com" // customer.created.json's
	)
	redirect := func(code int, target string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, target+r.URL.Path+"?email="+email, code)
		}
	}
	tests := []struct {
		name    string
		reditus func(target string) http.HandlerFunc
		status  int
		outcome string
		reason  string // what the answer's reason must say
	}{
		{"Reditus redirects with 303", func(target string) http.HandlerFunc { return redirect(http.StatusSeeOther, target) },
			500, "retry", "REDITUS_API_URL redirects"},
		{"Reditus redirects with 307", func(target string) http.HandlerFunc { return redirect(http.StatusTemporaryRedirect, target) },
			500, "retry", "REDITUS_API_URL redirects"},
		{"Reditus quotes the email in its error", func(string) http.HandlerFunc {
			return func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(http.StatusBadRequest)
				_, _ = io.WriteString(w, `{"errors":[{"detail":"Referral `+email+` (`+email+`) is not valid"}]}`)
			}
		}, 200, "rejected", "Referral j***@example.com (j***@example.com) is not valid"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			target, targetURL := newRecorder(t)
			fake := httptest.NewServer(tt.reditus(targetURL))
			t.Cleanup(fake.Close)
			p := start(t, "REDITUS_API_KEY="+apiKey, "REDITUS_API_URL="+fake.URL+"/api", "STRIPE_WEBHOOK_SECRET="+stripeSecret)

			status, answer := postStripe(t, p.base, "customer.created.json", stripeSecret)
			reason, _ := answer["reason"].(string)
			if status != tt.status || answer["outcome"] != tt.outcome {
				t.Errorf("%d %v (%s), want %d %q", status, answer["outcome"], reason, tt.status, tt.outcome)
			}
			if !strings.Contains(reason, tt.reason) {
				t.Errorf("reason %q does not say %q", reason, tt.reason)
			}
			target.mu.Lock()
			if n := len(target.received); n != 0 {
				t.Errorf("the redirect target received %d requests, want 0: %+v", n, target.received)
			}
			target.mu.Unlock()
			p.stop(t)

			// The whole output: every log line, and stderr (complete once the
			// process has exited).
			output := fmt.Sprint(p.lines()) + p.cmd.Stderr.(*bytes.Buffer).String()
			if !strings.Contains(output, tt.reason) {
				t.Errorf("the log does not carry the reason %q: %s", tt.reason, output)
			}
			for _, leak := range []string{email, apiKey, stripeSecret} {
				if strings.Contains(output, leak) || strings.Contains(reason, leak) {
					t.Errorf("the log or the answer contains %q", leak)
				}
			}
		})
	}
}

// Referral data in a signed event that must reach Reditus the same way on
// every delivery, or not at all (README.md, "Where the bridge looks for the
// referral").
func TestHostileReferralData(t *testing.T) {
	rec, fakeURL := newRecorder(t)
	const stripeSecret = "whsec_hostile_referral_secret"
	p := start(t, "REDITUS_API_KEY=rk_live_hostile_referral", "REDITUS_API_URL="+fakeURL+"/api",
		"STRIPE_WEBHOOK_SECRET="+stripeSecret)

	// send posts a signed customer.created for customer cus with metadata
	// (a JSON object) and returns the answer.
	send := func(t *testing.T, eventID, cus, metadata string) (status int, outcome, reason string) {
		t.Helper()
		body := []byte(`{"id":"` + eventID + `","type":"customer.created","livemode":true,"data":{"object":` +
			`{"id":"` + cus + `","email":"hostile@example.com","metadata":` + metadata + `}}}`)
		signed := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: body, Secret: stripeSecret})
		req, _ := http.NewRequest(http.MethodPost, p.base+"/webhooks/stripe", bytes.NewReader(body))
		req.Header.Set("Stripe-Signature", signed.Header)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("no answer: %v", err)
		}
		defer resp.Body.Close()
		var answer struct{ Outcome, Reason string }
		_ = json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&answer)
		return resp.StatusCode, answer.Outcome, answer.Reason
	}
	// received returns the slugs Reditus got for customers whose id starts
	// with prefix.
	received := func(prefix string) []string {
		rec.mu.Lock()
		defer rec.mu.Unlock()
		var slugs []string
		for _, c := range rec.received {
			if strings.HasPrefix(c.UID, prefix) {
				slugs = append(slugs, c.AffiliateSlug)
			}
		}
		return slugs
	}

	// Each delivery has its own event id: the bridge answers a repeated id
	// from memory without calling Reditus, which would hide what it maps.
	caseVariants := []struct {
		name, metadata, want string
	}{
		{"red, RED and Red", `{"Red":"title","RED":"upper","red":"exact"}`, "exact"},
		// Without the exact key the first variant in byte order wins; before
		// that rule, Go's map order chose.
		{"RED, Red and rEd", `{"Red":"title","rEd":"odd","RED":"upper"}`, "upper"},
	}
	for n, tt := range caseVariants {
		t.Run("case variants sent 20 times: "+tt.name, func(t *testing.T) {
			prefix := fmt.Sprintf("cus_case%d_", n)
			for i := range 20 {
				status, outcome, reason := send(t, fmt.Sprintf("evt_case%d_%d", n, i), prefix+strconv.Itoa(i), tt.metadata)
				if status != 200 || outcome != "forwarded" {
					t.Fatalf("delivery %d: %d %q (%s), want 200 forwarded", i, status, outcome, reason)
				}
			}
			slugs := received(prefix)
			if len(slugs) != 20 {
				t.Fatalf("Reditus got %d conversions, want 20", len(slugs))
			}
			for i, s := range slugs {
				if s != tt.want {
					t.Errorf("conversion %d has slug %q, want %q (all: %q)", i, s, tt.want, slugs)
					break
				}
			}
		})
	}

	// A slug with bytes no slug has is skipped, and nothing reaches Reditus:
	// not the bytes, and not another slug (the cookie here names "mary").
	cookie := `"gr_id":"rl:0f8fad5b-d9cb-469f-a165-70867728950e::pk:::mary:::sid:affiliate"`
	badSlugs := []struct {
		name, metadata string
	}{
		{"NUL in the slug", `{"red":"jo\u0000hn",` + cookie + `}`},
		// Raw bytes that are not UTF-8: Go's JSON decoder makes them U+FFFD.
		{"invalid UTF-8 in the slug", "{\"red\":\"jo\xff\xfehn\"," + cookie + "}"},
		{"a lone surrogate in the slug", `{"red":"jo\udc00hn",` + cookie + `}`},
		{"a line break in the slug", `{"red":"jo\nhn",` + cookie + `}`},
		{"a right-to-left override in the slug", `{"red":"jo\u202ehn",` + cookie + `}`},
		{"a 101-byte slug", `{"red":"` + strings.Repeat("x", 101) + `",` + cookie + `}`},
	}
	for n, tt := range badSlugs {
		t.Run(tt.name, func(t *testing.T) {
			prefix := fmt.Sprintf("cus_bad%d_", n)
			status, outcome, reason := send(t, fmt.Sprintf("evt_bad%d", n), prefix+"0", tt.metadata)
			if status != 200 || outcome != "skipped" {
				t.Errorf("%d %q (%s), want 200 skipped", status, outcome, reason)
			}
			if want := "invalid affiliate_slug (red in customer metadata)"; !strings.HasPrefix(reason, want) {
				t.Errorf("reason %q, want it to start with %q", reason, want)
			}
			if slugs := received(prefix); len(slugs) != 0 {
				t.Errorf("Reditus got %q, want nothing", slugs)
			}
		})
	}
	p.stop(t)
}
