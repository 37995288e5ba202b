package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stripe/stripe-go/v76/webhook"

	"github.com/getreditus/reditus-bridge/internal/fakereditus"
	"github.com/getreditus/reditus-bridge/reditus"
	"github.com/getreditus/reditus-bridge/verify"
)

// Hostile requests against the real server: each gets its documented answer
// (README.md, "Hostile input"), the process stays up with bounded memory, and
// no secret or full email reaches the log.
func TestHostileRequests(t *testing.T) {
	const (
		stripeSecret = "whsec_hostile_stripe_secret"
		clerkSecret  = "whsec_aG9zdGlsZS1jbGVyaw=="
		apiKey       = "rk_live_hostile_api_key"
		supaToken    = "hostile-supabase-token"
	)
	red := fakereditus.New(t, fakereditus.WithKey(apiKey))
	p := start(t, "REDITUS_API_KEY="+apiKey, "REDITUS_API_URL="+red.BaseURL,
		"STRIPE_WEBHOOK_SECRET="+stripeSecret, "CLERK_WEBHOOK_SECRET="+clerkSecret, "SUPABASE_WEBHOOK_SECRET="+supaToken)

	event, err := os.ReadFile("providers/testdata/stripe/customer.created.json")
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
	for _, c := range red.Conversions() {
		if c.AffiliateSlug == "evil" || c.AffiliateSlug == "mallory" {
			t.Errorf("a forged or shadowed slug reached Reditus: %+v", c)
		}
	}
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
	redirect := func(code int, target string) fakereditus.Responder {
		return func(w http.ResponseWriter, r *fakereditus.Request) {
			http.Redirect(w, r.HTTP, target+r.HTTP.URL.Path+"?email="+email, code)
		}
	}
	tests := []struct {
		name    string
		reditus func(target string) fakereditus.Responder
		status  int
		outcome string
		reason  string // what the answer's reason must say
	}{
		{"Reditus redirects with 303", func(target string) fakereditus.Responder { return redirect(http.StatusSeeOther, target) },
			500, "retry", "REDITUS_API_URL redirects"},
		{"Reditus redirects with 307", func(target string) fakereditus.Responder { return redirect(http.StatusTemporaryRedirect, target) },
			500, "retry", "REDITUS_API_URL redirects"},
		{"Reditus quotes the email in its error", func(string) fakereditus.Responder {
			return fakereditus.Status(http.StatusBadRequest, `{"errors":[{"detail":"Referral `+email+` (`+email+`) is not valid"}]}`)
		}, 200, "rejected", "Referral j***@example.com (j***@example.com) is not valid"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			target := fakereditus.New(t, fakereditus.WithKey(apiKey))
			red := fakereditus.New(t, fakereditus.WithKey(apiKey))
			red.RespondAll(tt.reditus(target.URL))
			p := start(t, "REDITUS_API_KEY="+apiKey, "REDITUS_API_URL="+red.BaseURL, "STRIPE_WEBHOOK_SECRET="+stripeSecret)

			status, answer := postStripe(t, p.base, "customer.created.json", stripeSecret)
			reason, _ := answer["reason"].(string)
			if status != tt.status || answer["outcome"] != tt.outcome {
				t.Errorf("%d %v (%s), want %d %q", status, answer["outcome"], reason, tt.status, tt.outcome)
			}
			if !strings.Contains(reason, tt.reason) {
				t.Errorf("reason %q does not say %q", reason, tt.reason)
			}
			if n := target.Requests(); n != 0 {
				t.Errorf("the redirect target received %d requests, want 0: %+v", n, target.Conversions())
			}
			p.stop(t)

			// The whole output: every log line, and stderr (complete once the
			// process has exited).
			output := fmt.Sprint(p.lines()) + p.cmd.Stderr.(*lockedBuffer).String()
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
	red := fakereditus.New(t, fakereditus.WithKey("rk_live_hostile_referral"))
	const stripeSecret = "whsec_hostile_referral_secret"
	p := start(t, "REDITUS_API_KEY=rk_live_hostile_referral", "REDITUS_API_URL="+red.BaseURL,
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
		var slugs []string
		for _, c := range red.Conversions() {
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

// held is an attacker's connection: a request sent all but its end, then held
// open. answer gets what the bridge answered on it, if anything.
type held struct {
	conn    net.Conn
	written chan struct{} // closed once head and body are written (or failed)
	answer  chan heldAnswer
}

type heldAnswer struct {
	status int
	body   string
	err    error
}

// hold opens a connection to the bridge, writes head and body, and keeps the
// connection open until the test ends.
func hold(t *testing.T, addr, head string, body []byte) *held {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { conn.Close() })
	h := &held{conn: conn, written: make(chan struct{}), answer: make(chan heldAnswer, 1)}
	go func() {
		// A write may fail: the bridge is free to answer and close first.
		_, _ = conn.Write(append([]byte(head), body...))
		close(h.written)
		h.answer <- readAnswer(conn)
	}()
	return h
}

func readAnswer(conn net.Conn) heldAnswer {
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return heldAnswer{err: err}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return heldAnswer{status: resp.StatusCode, body: string(body), err: err}
}

// metric is the value of a metric without labels on the bridge's /metrics,
// or -1 when there is none.
func metric(t *testing.T, base, name string) int {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatalf("GET /metrics: %v", err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			n, _ := strconv.ParseFloat(v, 64)
			return int(n)
		}
	}
	return -1
}

func signedStripe(t *testing.T, base, secret, id string) (int, string) {
	t.Helper()
	body := []byte(`{"id":"` + id + `","type":"customer.created","livemode":true,
		"data":{"object":{"id":"cus_` + id + `","email":"` + id + `@example.com","metadata":{"red":"john"}}}}`)
	signed := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: body, Secret: secret})
	req, _ := http.NewRequest(http.MethodPost, base+"/webhooks/stripe", bytes.NewReader(body))
	req.Header.Set("Stripe-Signature", signed.Header)
	client := &http.Client{Timeout: 15 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		t.Errorf("signed webhook %s: no answer: %v", id, err)
		return 0, ""
	}
	defer resp.Body.Close()
	var a struct{ Outcome string }
	_ = json.NewDecoder(resp.Body).Decode(&a)
	return resp.StatusCode, a.Outcome
}

// Memory without a signature: 300 unsigned 1 MiB bodies sent all but their
// last KiB and held open, and 100 clients sending 1 MB of headers, leave the
// bridge's peak RSS under 96 MiB; the senders past the body budget are told
// 503 retry at once, and signed webhooks sent meanwhile are forwarded.
func TestHostileHeldBodiesAndHeaders(t *testing.T) {
	if testing.Short() {
		t.Skip("opens 400 connections")
	}
	red := fakereditus.New(t, fakereditus.WithKey("rk_live_held"))
	const secret = "whsec_held_bodies_secret"
	p := start(t, "HOST=127.0.0.1", "REDITUS_API_KEY=rk_live_held", "REDITUS_API_URL="+red.BaseURL, "STRIPE_WEBHOOK_SECRET="+secret)
	addr := strings.TrimPrefix(p.base, "http://")

	const bodies, headerClients = 300, 100
	const declared, sent = 1 << 20, 1<<20 - 1<<10
	body := bytes.Repeat([]byte("a"), sent)
	var headers bytes.Buffer
	for headers.Len() < 1_000_000 {
		fmt.Fprintf(&headers, "X-Pad-%d: %s\r\n", headers.Len(), strings.Repeat("h", 1000))
	}
	var attackers, headerAttackers []*held
	for range bodies {
		attackers = append(attackers, hold(t, addr, fmt.Sprintf(
			"POST /webhooks/stripe HTTP/1.1\r\nHost: bridge\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", declared), body))
	}
	for range headerClients {
		// All but the blank line that ends the headers.
		headerAttackers = append(headerAttackers, hold(t, addr, "POST /webhooks/stripe HTTP/1.1\r\nHost: bridge\r\n", headers.Bytes()))
	}
	// Signed webhooks in the thick of it, while the bodies pour in.
	type result struct {
		status  int
		outcome string
	}
	during := make(chan result, 5)
	for i := range cap(during) {
		go func() {
			s, o := signedStripe(t, p.base, secret, fmt.Sprintf("evt_during_%d", i))
			during <- result{s, o}
		}()
	}

	// Settled: every body sender is answered, or held with its whole 1 MiB
	// read (and charged), waiting for its last KiB.
	var answered []heldAnswer
	settled := false
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		for _, a := range attackers {
			select {
			case got := <-a.answer:
				answered = append(answered, got)
			default:
			}
		}
		if metric(t, p.base, "reditus_bridge_unverified_body_bytes") == (bodies-len(answered))*declared {
			settled = true
			break
		}
	}
	if !settled {
		t.Errorf("held bodies never settled: %d of %d answered, /metrics says %d bytes held", len(answered), bodies, metric(t, p.base, "reditus_bridge_unverified_body_bytes"))
	}
	for _, a := range answered {
		if a.status != http.StatusServiceUnavailable || !strings.Contains(a.body, `"outcome":"retry"`) {
			t.Errorf("a sender past the budget got %d %s (%v), want 503 retry", a.status, a.body, a.err)
			break
		}
	}
	for range cap(during) {
		if r := <-during; r.status != 200 || r.outcome != "forwarded" {
			t.Errorf("signed webhook sent as the attack began: %d %q, want 200 forwarded", r.status, r.outcome)
		}
	}
	for i := range 5 {
		if status, outcome := signedStripe(t, p.base, secret, fmt.Sprintf("evt_held_%d", i)); status != 200 || outcome != "forwarded" {
			t.Errorf("signed webhook while bodies are held: %d %q, want 200 forwarded", status, outcome)
		}
	}
	for _, h := range headerAttackers {
		select {
		case a := <-h.answer:
			if a.err == nil && a.status != http.StatusRequestHeaderFieldsTooLarge {
				t.Errorf("1 MB of headers: got %d, want 431", a.status)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("1 MB of headers: no answer and no close within 10 s")
		}
	}

	hwm := peakRSS(t, p.cmd.Process.Pid)
	t.Logf("peak RSS %d MiB; %d of %d held bodies answered 503 retry, %d held", hwm>>20, len(answered), bodies, bodies-len(answered))
	if hwm > 96<<20 {
		t.Errorf("peak RSS %d MiB under held bodies and headers, want under 96 MiB", hwm>>20)
	}
	for _, a := range append(attackers, headerAttackers...) {
		a.conn.Close()
	}
	p.stop(t)
}

// SIGTERM while a client trickles a body: the read is cut off with 503 retry,
// a webhook already inside Reditus still gets 200 forwarded, and the process
// exits 0 well within its grace instead of waiting out ReadTimeout.
func TestShutdownDuringTrickledBody(t *testing.T) {
	red := fakereditus.New(t, fakereditus.WithKey("rk_live_trickle"))
	gate := fakereditus.NewGate(1, red.Reditus)
	red.Respond(reditus.CallTrack, gate.Respond)
	defer gate.Release()
	const secret = "whsec_trickle_secret"
	p := start(t, "HOST=127.0.0.1", "REDITUS_API_KEY=rk_live_trickle", "REDITUS_API_URL="+red.BaseURL, "STRIPE_WEBHOOK_SECRET="+secret)

	trickler := hold(t, strings.TrimPrefix(p.base, "http://"),
		"POST /webhooks/stripe HTTP/1.1\r\nHost: bridge\r\nContent-Length: 4096\r\n\r\n", []byte(`{"id":`))
	go func() {
		<-trickler.written
		for range 4096 {
			if _, err := trickler.conn.Write([]byte(" ")); err != nil {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
	}()
	for deadline := time.Now().Add(10 * time.Second); metric(t, p.base, "reditus_bridge_webhooks_in_flight") < 1; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the trickled request never reached the webhook handler")
		}
	}

	type result struct {
		status  int
		outcome string
	}
	inFlight := make(chan result, 1)
	go func() {
		s, o := signedStripe(t, p.base, secret, "evt_in_flight")
		inFlight <- result{s, o}
	}()
	select {
	case <-gate.Held(): // inside Reditus, while the trickled body is still being read
	case <-time.After(10 * time.Second):
		t.Fatal("the webhook never reached Reditus")
	}

	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	signalled := time.Now()
	select {
	case a := <-trickler.answer:
		if a.status != http.StatusServiceUnavailable || !strings.Contains(a.body, `"outcome":"retry"`) {
			t.Errorf("trickled body at shutdown: %d %s (%v), want 503 retry", a.status, a.body, a.err)
		}
	case <-time.After(shutdownGrace / 2):
		t.Errorf("the trickled body got no answer within %v of SIGTERM", shutdownGrace/2)
	}
	gate.Release()
	if r := <-inFlight; r.status != http.StatusOK || r.outcome != "forwarded" {
		t.Errorf("webhook in flight at SIGTERM: %d %q, want 200 forwarded", r.status, r.outcome)
	}
	select {
	case err := <-p.done:
		if err != nil {
			t.Errorf("exit after SIGTERM: %v, want 0", err)
		}
		t.Logf("exited %v after SIGTERM", time.Since(signalled).Round(time.Millisecond))
	case <-time.After(shutdownGrace + 5*time.Second):
		t.Fatal("the bridge did not exit")
	}
}

// A Standard Webhooks delivery replayed with a forged svix-id beside its
// signed webhook-* headers must be known by the id its signature covers.
// Before, the bridge took the forged svix-id: the replay claimed the id of
// a delivery still to come, was acknowledged under it, and that genuine
// delivery was then answered from memory and never reached Reditus.
func TestHostileForgedSvixID(t *testing.T) {
	red := fakereditus.New(t, fakereditus.WithKey("rk_live_hostile_api_key"))
	const secret = "whsec_aG9zdGlsZS1nZW5lcmljLXNlY3JldC1rZXk=" // "hostile-generic-secret-key"
	p := start(t, "REDITUS_API_KEY=rk_live_hostile_api_key", "REDITUS_API_URL="+red.BaseURL, "GENERIC_WEBHOOK_SECRET="+secret)

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

	got := map[string]int{}
	for _, c := range red.Conversions() {
		got[c.Email]++
	}
	want := map[string]int{"alice@example.com": 1, "bob@example.com": 1}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("Reditus received conversions for %v, want %v: each delivery once, B not swallowed", got, want)
	}
}
