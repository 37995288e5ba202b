package admin_test

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/getreditus/reditus-bridge/journal"
)

// failedEvent is an event the bridge gave up on: found in the body, sent,
// refused by Reditus twice, its body a stranger's JSON.
var failedEvent = event{
	provider: "stripe", deliveryID: "evt_failed_1", eventType: "customer.created", email: "fay@example.com",
	ago: 3 * time.Hour, outcome: "failed", reason: "reditus: misconfigured (HTTP 401): Unauthenticated.", attempts: 2,
	body: `{"id":"evt_failed_1","type":"customer.created","data":{"object":{"email":"fay@example.com","metadata":{"red":"john"}}}}`,
	detail: &journal.Finish{
		AffiliateSlug: "john",
		Found: []journal.Field{
			{Name: "affiliate_slug", Value: "john", From: "red in customer metadata"},
			{Name: "email", Value: "fay@example.com", From: "one of the customer's email, metadata.user_id and id"},
		},
		Sent: []journal.Sent{{Call: "track", Body: json.RawMessage(`{"affiliate_slug":"john","email":"fay@example.com","uid":"cus_1"}`)}},
		AttemptLog: []journal.Attempt{
			{At: now.Add(-3 * time.Hour), Call: "track", Status: 503, Outcome: "retry", Reason: "Service Unavailable", Latency: 41 * time.Millisecond},
			{At: now.Add(-2 * time.Hour), Call: "track", Status: 401, Outcome: "retry", Reason: "Unauthenticated.", Latency: 12 * time.Millisecond},
		},
	},
}

// One event, whole: its record, what the bridge found and where, what it
// sent, every attempt with Reditus's answer, and the raw body, formatted.
func TestEventPage(t *testing.T) {
	s := newSite(t, append(fixture, failedEvent)...)
	resp, page := s.get(t, "/admin/events/7")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, page)
	}
	contains(t, "the event page", page,
		`<title>Event 7 · reditus-bridge</title>`,
		`<span class="provider">stripe</span> <span class="mono">customer.created</span>`, `>failed</span>`,
		`<dd class="mono" id="slug">john</dd>`, `reditus: misconfigured (HTTP 401): Unauthenticated.`,
		// What it found, and where.
		`<td class="mono">affiliate_slug</td><td class="mono value">john</td><td class="where">red in customer metadata</td>`,
		// What it sent.
		`<span class="mono">POST /v2/tracking/conversion</span>`, `&#34;affiliate_slug&#34;: &#34;john&#34;`,
		// Every attempt, oldest first.
		`<td class="status">503 Service Unavailable</td>`, `<td class="status">401 Unauthorized</td>`, `<td class="num">41 ms</td>`,
		// The raw body, indented.
		"{\n  &#34;id&#34;: &#34;evt_failed_1&#34;,",
		// Retry, back to this page.
		`action="/admin/events/7/retry?back=event"`,
		`href="/admin/api/events/7"`,
	)
	if i, j := strings.Index(page, "503 Service"), strings.Index(page, "401 Unauth"); i < 0 || j < i {
		t.Error("the attempts are not in the order they were made")
	}
	lacks(t, "the event page", page, "<script", ` style="`)
}

func TestEventAPI(t *testing.T) {
	s := newSite(t, append(fixture, failedEvent)...)
	resp, body := s.get(t, "/admin/api/events/7")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	var got struct {
		Event map[string]json.RawMessage `json:"event"`
	}
	if err := json.Unmarshal([]byte(body), &got); err != nil {
		t.Fatalf("%v: %s", err, body)
	}
	var keys []string
	for k := range got.Event {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	want := []string{"advocate_slug", "affiliate_slug", "attempts", "body", "delivery_id", "email", "event_type", "found", "id",
		"next_attempt_at", "outcome", "provider", "reason", "received_at", "referral_id", "sent", "updated_at"}
	if !slices.Equal(keys, want) {
		t.Errorf("event fields %v, want %v", keys, want)
	}
	var attempts []map[string]any
	_ = json.Unmarshal(got.Event["attempts"], &attempts)
	if len(attempts) != 2 {
		t.Fatalf("attempts %s", got.Event["attempts"])
	}
	first := attempts[0]
	for k, v := range map[string]any{"at": "2025-03-04T09:00:00Z", "call": "track", "status": 503.0, "outcome": "retry", "reason": "Service Unavailable", "latency_ms": 41.0} {
		if first[k] != v {
			t.Errorf("attempts[0].%s = %#v, want %#v", k, first[k], v)
		}
	}
	var sent []map[string]any
	_ = json.Unmarshal(got.Event["sent"], &sent)
	if len(sent) != 1 || sent[0]["call"] != "track" || sent[0]["path"] != "/v2/tracking/conversion" || sent[0]["body"].(map[string]any)["email"] != "fay@example.com" {
		t.Errorf("sent %s", got.Event["sent"])
	}
	var raw string
	_ = json.Unmarshal(got.Event["body"], &raw)
	if raw != failedEvent.body {
		t.Errorf("body %q, want the raw body %q", raw, failedEvent.body)
	}

	// An event journaled before any detail was kept: empty lists, not null.
	_, body = s.get(t, "/admin/api/events/2")
	contains(t, "event 2", body, `"found":[]`, `"sent":[]`, `"attempts":[]`, `"body":"{}"`)
}

func TestEventNotFound(t *testing.T) {
	s := newSite(t, fixture...)
	for _, path := range []string{"/admin/events/99", "/admin/events/0", "/admin/events/x", "/admin/api/events/99", "/admin/api/events/-1"} {
		resp, body := s.get(t, path)
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("%s: status %d, want 404", path, resp.StatusCode)
		}
		if strings.HasPrefix(path, "/admin/events/") {
			contains(t, path, body, `role="alert"`, `href="/admin"`)
		}
	}
}

// The page's rows link to each event, and show who referred it.
func TestPageLinksEachEventAndShowsItsSlug(t *testing.T) {
	advocate := event{provider: "clerk", deliveryID: "msg_adv", eventType: "user.created", email: "ann@example.com", ago: time.Minute,
		outcome: "forwarded", detail: &journal.Finish{AdvocateSlug: "jwe512", Found: []journal.Field{{Name: "advocate_slug", Value: "jwe512"}}}}
	s := newSite(t, append(fixture, failedEvent, advocate)...)
	_, page := s.get(t, "/admin")
	contains(t, "the page", page, `<th>Referred by</th>`, `<td class="mono slug">john</td>`, `<td class="mono slug">jwe512 (advocate)</td>`,
		`<a class="details" href="/admin/events/7"`, `<a class="details" href="/admin/events/1"`)
}

// The retry button of the event page comes back to it.
func TestEventPageRetryComesBack(t *testing.T) {
	s := newSite(t, append(fixture, failedEvent)...)
	resp, _ := s.do(t, http.MethodPost, "/admin/events/7/retry?back=event", s.sameOrigin())
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/admin/events/7?retried=7" {
		t.Fatalf("status %d, Location %q; want 303 to the event's page", resp.StatusCode, resp.Header.Get("Location"))
	}
	_, page := s.get(t, "/admin/events/7?retried=7")
	contains(t, "the page after the retry", page, `Retried event 7 (stripe evt_failed_1). It is now`, `>forwarded</span>`)
}
