package e2e

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/getreditus/reditus-bridge/internal/fakereditus"
	"github.com/getreditus/reditus-bridge/internal/webhooktest"
	"github.com/getreditus/reditus-bridge/reditus"
)

// Limits and hostile input, against the real server: a hostile sender, a
// hostile Reditus, floods and held connections.

// Each hostile request gets its documented answer (docs/development.md,
// "Hostile input"), the process stays up with bounded memory, and no secret
// or full email reaches the log.
func TestHostileRequestsGetTheirDocumentedAnswers(t *testing.T) {
	const clerkSecret = "whsec_aG9zdGlsZS1jbGVyaw=="
	red := newReditus(t)
	p := start(t, "REDITUS_API_KEY="+apiKey, "REDITUS_API_URL="+red.BaseURL,
		"STRIPE_WEBHOOK_SECRET="+stripeSecret, "CLERK_WEBHOOK_SECRET="+clerkSecret, "SUPABASE_WEBHOOK_SECRET="+supabaseToken)

	event := webhooktest.Fixture(t, "stripe/customer.created.json")
	stripeReq := func(body []byte, secret string, at time.Time) *http.Request {
		return p.signed(t, "stripe", secret, "", body, at)
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
			r := p.signed(t, "clerk", clerkSecret, "msg_1", event, time.Now())
			r.URL.Path = "/webhooks/stripe"
			return r
		}, 400, "invalid_signature"},
		{"Stripe signature on the Clerk route", func() *http.Request {
			r := signed(event)
			r.URL.Path = "/webhooks/clerk"
			return r
		}, 400, "invalid_signature"},
		{"Stripe's secret as Supabase's token", func() *http.Request {
			return p.signed(t, "supabase", stripeSecret, "", []byte(`{}`), time.Now())
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
		// stripe-go verifies the last t=; a current t= in front must not
		// hide a signature made an hour ahead from the future check.
		{"doubled t=", func() *http.Request {
			r := stripeReq(withEvent("evt_doubled_t", `{"id":"cus_t","email":"t@example.com","metadata":{"red":"evil"}}`), stripeSecret, time.Now().Add(time.Hour))
			r.Header.Set("Stripe-Signature", "t="+strconv.FormatInt(time.Now().Unix(), 10)+","+r.Header.Get("Stripe-Signature"))
			return r
		}, 400, "invalid_signature"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if a := answerTo(t, tt.req()); a.Status != tt.status || a.Outcome != tt.outcome {
				t.Errorf("%s (%s), want %d %q", a, a.Reason, tt.status, tt.outcome)
			}
		})
	}

	// Still up, with bounded memory.
	if resp, err := http.Get(p.base + "/healthz"); err != nil || resp.StatusCode != 200 {
		t.Fatalf("the bridge is down after the hostile requests: %v", err)
	}
	if hwm := p.peakRSS(t); hwm > 96<<20 {
		t.Errorf("peak RSS %d MiB after the hostile requests, want under 96 MiB", hwm>>20)
	}
	for _, c := range red.Conversions() {
		if c.AffiliateSlug == "evil" || c.AffiliateSlug == "mallory" {
			t.Errorf("a forged or shadowed slug reached Reditus: %+v", c)
		}
	}
	p.stop(t)
	if w := p.logHolds(stripeSecret, clerkSecret, apiKey, supabaseToken, "jane.doe@example.com", "d@example.com"); w != "" {
		t.Errorf("the log contains %q", w)
	}
}

// A hostile or misconfigured Reditus, against the real server: a redirect is
// never followed (a 303 would turn the POST into a GET whose 2xx looks like a
// created conversion, a 307 would carry the key and the email to another
// host), and an email quoted in Reditus's error text reaches neither the log
// nor the answer whole.
func TestReditusRedirectsAreNotFollowedAndQuotedEmailsAreMasked(t *testing.T) {
	const email = "jane.doe@example.com" // customer.created.json's
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
			target := newReditus(t)
			red := newReditus(t)
			red.RespondAll(tt.reditus(target.URL))
			p := start(t, "REDITUS_API_KEY="+apiKey, "REDITUS_API_URL="+red.BaseURL, "STRIPE_WEBHOOK_SECRET="+stripeSecret)

			a := p.post(t, "stripe", stripeSecret, "", webhooktest.Fixture(t, "stripe/customer.created.json"))
			if a.Status != tt.status || a.Outcome != tt.outcome {
				t.Errorf("%s (%s), want %d %q", a, a.Reason, tt.status, tt.outcome)
			}
			if !strings.Contains(a.Reason, tt.reason) {
				t.Errorf("reason %q does not say %q", a.Reason, tt.reason)
			}
			if n := target.Requests(); n != 0 {
				t.Errorf("the redirect target received %d requests, want 0: %+v", n, target.Conversions())
			}
			p.stop(t)

			// The whole output: every log line, and stderr (complete once the
			// process has exited).
			output := fmt.Sprint(p.lines()) + p.errOut.String()
			if !strings.Contains(output, tt.reason) {
				t.Errorf("the log does not carry the reason %q: %s", tt.reason, output)
			}
			for _, leak := range []string{email, apiKey, stripeSecret} {
				if strings.Contains(output, leak) || strings.Contains(a.Reason, leak) {
					t.Errorf("the log or the answer contains %q", leak)
				}
			}
		})
	}
}

// Reditus's referral id is decoded from its JSON, escapes and all (PHP's
// json_encode writes a "/" as "\/"): the answer and the journal hold the id
// itself, so that a payment sent by referral id names the referral.
func TestReditusReferralIDsAreDecoded(t *testing.T) {
	red := newReditus(t)
	red.Respond(reditus.CallTrack, fakereditus.Status(http.StatusCreated, `{"data":{"id":"ref\/42\u00e9","attributes":{"state":"lead"}}}`))
	p := start(t, liveEnv(red)...)
	ref := signup("ref")
	if got := p.deliver(t, ref).ReferralID; got != "ref/42é" {
		t.Errorf("the answer's referral id is %q, want %q", got, "ref/42é")
	}
	if got := p.event(t, ref.id).ReferralID; got != "ref/42é" {
		t.Errorf("the journal's referral id is %q, want %q", got, "ref/42é")
	}
}

// Referral data in a signed event reaches Reditus the same way on every
// delivery, or not at all (docs/referral.md, "Which key wins").
func TestReferralDataMapsTheSameOnEveryDelivery(t *testing.T) {
	red := newReditus(t)
	p := start(t, "REDITUS_API_KEY="+apiKey, "REDITUS_API_URL="+red.BaseURL, "STRIPE_WEBHOOK_SECRET="+stripeSecret)

	// send posts a signed customer.created for customer cus with metadata
	// (a JSON object) and returns the answer.
	send := func(t *testing.T, eventID, cus, metadata string) answer {
		t.Helper()
		return p.post(t, "stripe", stripeSecret, "", []byte(`{"id":"`+eventID+`","type":"customer.created","livemode":true,"data":{"object":`+
			`{"id":"`+cus+`","email":"hostile@example.com","metadata":`+metadata+`}}}`))
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
		// Without the exact key the first variant in byte order wins, not
		// Go's map order.
		{"RED, Red and rEd", `{"Red":"title","rEd":"odd","RED":"upper"}`, "upper"},
	}
	for n, tt := range caseVariants {
		t.Run("case variants sent 20 times: "+tt.name, func(t *testing.T) {
			prefix := fmt.Sprintf("cus_case%d_", n)
			for i := range 20 {
				if a := send(t, fmt.Sprintf("evt_case%d_%d", n, i), prefix+strconv.Itoa(i), tt.metadata); a.String() != "200 forwarded" {
					t.Fatalf("delivery %d: %s (%s), want 200 forwarded", i, a, a.Reason)
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
			a := send(t, fmt.Sprintf("evt_bad%d", n), prefix+"0", tt.metadata)
			if a.String() != "200 skipped" {
				t.Errorf("%s (%s), want 200 skipped", a, a.Reason)
			}
			if want := "invalid affiliate_slug (red in customer metadata)"; !strings.HasPrefix(a.Reason, want) {
				t.Errorf("reason %q, want it to start with %q", a.Reason, want)
			}
			if slugs := received(prefix); len(slugs) != 0 {
				t.Errorf("Reditus got %q, want nothing", slugs)
			}
		})
	}
	p.stop(t)
}

// A Standard Webhooks delivery replayed with a forged svix-id beside its
// signed webhook-* headers is known by the id its signature covers: the
// replay is answered from its own record, and the delivery whose id it
// claimed still reaches Reditus.
func TestADeliveryIsKnownByTheIDItsSignatureCovers(t *testing.T) {
	red := newReditus(t)
	p := start(t, "REDITUS_API_KEY="+apiKey, "REDITUS_API_URL="+red.BaseURL, "GENERIC_WEBHOOK_SECRET="+genericSecret)
	alice, bob := signup("alice"), signup("bob")
	signedA := p.signed(t, "generic", genericSecret, alice.id, alice.body, time.Now())
	replayed, _ := http.NewRequest(http.MethodPost, signedA.URL.String(), bytes.NewReader(alice.body))
	replayed.Header = signedA.Header.Clone()
	replayed.Header.Set("svix-id", bob.id)

	steps := []struct {
		name string
		req  *http.Request
	}{
		{"delivery A", signedA},
		{"A replayed with a forged svix-id naming B", replayed}, // answered from A's memory: A is in Reditus
		{"delivery B", p.signed(t, "generic", genericSecret, bob.id, bob.body, time.Now())},
	}
	for _, step := range steps {
		if a := answerTo(t, step.req); a.String() != "200 forwarded" {
			t.Errorf("%s: %s, want 200 forwarded", step.name, a)
		}
	}
	p.stop(t)
	red.createdOnce(t, []delivery{alice, bob})
}

// Memory without a signature: 300 unsigned 1 MiB bodies sent all but their
// last KiB and held open, and 100 clients sending 1 MB of headers, leave the
// bridge's peak RSS under 96 MiB; the senders past the body budget are told
// 503 retry at once, and signed webhooks sent meanwhile are forwarded.
func TestHeldBodiesAndHugeHeadersLeaveMemoryBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("opens 400 connections")
	}
	red := newReditus(t)
	p := start(t, "REDITUS_API_KEY="+apiKey, "REDITUS_API_URL="+red.BaseURL, "STRIPE_WEBHOOK_SECRET="+stripeSecret)
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
	during := make(chan answer, 5)
	for i := range cap(during) {
		go func() { during <- p.deliver(t, stripeSignup(fmt.Sprintf("during_%d", i))) }()
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
		if p.metric(t, "reditus_bridge_unverified_body_bytes") == (bodies-len(answered))*declared {
			settled = true
			break
		}
	}
	if !settled {
		t.Errorf("held bodies never settled: %d of %d answered, /metrics says %d bytes held", len(answered), bodies, p.metric(t, "reditus_bridge_unverified_body_bytes"))
	}
	for _, a := range answered {
		if a.status != http.StatusServiceUnavailable || !strings.Contains(a.body, `"outcome":"retry"`) {
			t.Errorf("a sender past the budget got %d %s (%v), want 503 retry", a.status, a.body, a.err)
			break
		}
	}
	for range cap(during) {
		if a := <-during; a.String() != "200 forwarded" {
			t.Errorf("signed webhook sent as the attack began: %s, want 200 forwarded", a)
		}
	}
	for i := range 5 {
		if a := p.deliver(t, stripeSignup(fmt.Sprintf("held_%d", i))); a.String() != "200 forwarded" {
			t.Errorf("signed webhook while bodies are held: %s, want 200 forwarded", a)
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

	hwm := p.peakRSS(t)
	t.Logf("peak RSS %d MiB; %d of %d held bodies answered 503 retry, %d held", hwm>>20, len(answered), bodies, bodies-len(answered))
	if hwm > 96<<20 {
		t.Errorf("peak RSS %d MiB under held bodies and headers, want under 96 MiB", hwm>>20)
	}
	for _, a := range append(attackers, headerAttackers...) {
		a.conn.Close()
	}
	p.stop(t)
}

// A flood of 2,000 signed deliveries with distinct ids: each is forwarded
// once and journaled, the journal stays small on disk, and the process in
// memory.
func TestAFloodIsForwardedOnceEachInBoundedDiskAndMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("2,000 webhooks")
	}
	red := newReditus(t)
	dir := t.TempDir()
	p := start(t, liveEnv(red, "DATA_DIR="+dir)...)
	const n, senders = 2000, 8
	var wg sync.WaitGroup
	var bad atomic.Int64
	for w := range senders {
		wg.Go(func() {
			for i := w; i < n; i += senders {
				d := signup(fmt.Sprintf("flood%04d", i))
				if a := p.deliver(t, d); a.String() != "200 forwarded" {
					if bad.Add(1) <= 5 {
						t.Errorf("%s: %s, want 200 forwarded", d.id, a)
					}
				}
			}
		})
	}
	wg.Wait()
	if got := len(red.Created()); got != n {
		t.Errorf("Reditus created %d conversions, want %d", got, n)
	}
	if got := len(p.events(t, "limit=1000")); got != 1000 {
		t.Errorf("/admin lists %d events, want the newest 1000", got)
	}
	var size int64
	for _, f := range []string{"bridge.db", "bridge.db-wal", "bridge.db-shm"} {
		if fi, err := os.Stat(filepath.Join(dir, f)); err == nil {
			size += fi.Size()
		}
	}
	rss := p.peakRSS(t)
	t.Logf("%d webhooks: journal %d KiB on disk, peak RSS %d MiB", n, size>>10, rss>>20)
	if size > 16<<20 {
		t.Errorf("the journal takes %d MiB on disk for %d small events, want under 16 MiB", size>>20, n)
	}
	if rss > 96<<20 {
		t.Errorf("peak RSS %d MiB, want under 96 MiB", rss>>20)
	}
	if w := p.logHolds("flood0000@example.com", "flood1999@example.com", apiKey, genericSecret); w != "" {
		t.Errorf("the log holds %q", w)
	}
}
