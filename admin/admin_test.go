package admin_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/getreditus/reditus-bridge/admin"
	"github.com/getreditus/reditus-bridge/config"
	"github.com/getreditus/reditus-bridge/handlers"
	"github.com/getreditus/reditus-bridge/journal"
	"github.com/getreditus/reditus-bridge/outcome"
	"github.com/getreditus/reditus-bridge/pipeline"
)

// Without ADMIN_TOKEN every admin route answers as the bridge answers a
// route it does not have, so a scan cannot tell that /admin exists.
func TestOffAnswersLikeAnUnknownRoute(t *testing.T) {
	p, err := pipeline.New(config.Config{}, pipeline.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	bridge := handlers.New(config.Config{}, handlers.Deps{Pipeline: p})
	unknown := httptest.NewRecorder()
	bridge.ServeHTTP(unknown, httptest.NewRequest(http.MethodGet, "/no-such-route", nil))

	store := openJournal(t, fixture...)
	off := admin.New(admin.Options{Token: "", Events: store, Retry: (&retrier{store: store}).retry})
	for _, tc := range []struct{ method, path string }{
		{http.MethodGet, "/admin"},
		{http.MethodGet, "/admin/"},
		{http.MethodGet, "/admin?email=jane@example.com"},
		{http.MethodGet, "/admin/api/events"},
		{http.MethodPost, "/admin/api/events/1/retry"},
		{http.MethodPost, "/admin/events/1/retry"},
		{http.MethodGet, "/admin/anything"},
	} {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			req := httptest.NewRequest(tc.method, tc.path, nil)
			req.SetBasicAuth("admin", "") // the empty token is no password
			got := httptest.NewRecorder()
			off.ServeHTTP(got, req)
			if got.Code != unknown.Code || got.Code != http.StatusNotFound {
				t.Errorf("status %d, want %d as for an unknown route", got.Code, unknown.Code)
			}
			if got.Body.String() != unknown.Body.String() {
				t.Errorf("body %q, want %q as for an unknown route", got.Body, unknown.Body)
			}
			if !slices.Equal(slices.Sorted(keys(got.Header())), slices.Sorted(keys(unknown.Header()))) {
				t.Errorf("headers %v, want %v as for an unknown route", got.Header(), unknown.Header())
			}
			if ct, want := got.Header().Get("Content-Type"), unknown.Header().Get("Content-Type"); ct != want {
				t.Errorf("Content-Type %q, want %q", ct, want)
			}
		})
	}
}

func keys(h http.Header) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range h {
			if !yield(k) {
				return
			}
		}
	}
}

func basic(user, pass string) http.Header {
	return http.Header{"Authorization": {"Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))}}
}

func TestAuthentication(t *testing.T) {
	s := newSite(t, fixture...)
	s.retrier.result = admin.Outcome{Outcome: "skipped"} // event 2 stays one a retry is for
	routes := []struct{ method, path string }{
		{http.MethodGet, "/admin"},
		{http.MethodGet, "/admin/api/events"},
		{http.MethodPost, "/admin/api/events/2/retry"},
		{http.MethodPost, "/admin/events/2/retry"},
		{http.MethodGet, "/admin/no-such-page"},
	}
	for _, tc := range []struct {
		name   string
		header http.Header
		ok     bool
	}{
		{"no credentials", noAuth(), false},
		{"a bearer token", http.Header{"Authorization": {"Bearer " + token}}, false},
		{"wrong user", basic("root", token), false},
		{"user in another case", basic("Admin", token), false},
		{"wrong password", basic("admin", "correct-horse-battery-stapler"), false},
		{"a prefix of the password", basic("admin", token[:len(token)-1]), false},
		{"empty password", basic("admin", ""), false},
		{"right", basic("admin", token), true},
	} {
		for _, rt := range routes {
			t.Run(tc.name+"/"+rt.method+" "+rt.path, func(t *testing.T) {
				h := tc.header.Clone()
				h.Set("Origin", s.URL) // the retry's same-origin check is not what is tested
				resp, body := s.do(t, rt.method, rt.path, h)
				if !tc.ok {
					if resp.StatusCode != http.StatusUnauthorized {
						t.Fatalf("status %d, want 401", resp.StatusCode)
					}
					if got, want := resp.Header.Get("WWW-Authenticate"), `Basic realm="reditus-bridge admin"`; got != want {
						t.Errorf("WWW-Authenticate %q, want %q", got, want)
					}
					lacks(t, "the 401", body, "jane", "example.com", "evt_")
					return
				}
				if resp.StatusCode == http.StatusUnauthorized {
					t.Fatalf("status 401 with the right credentials: %s", body)
				}
			})
		}
	}
	if got := s.retrier.called(); len(got) != len(routes)-3 {
		// Only the two right-credential retries ran.
		t.Errorf("Retry called for %v, want twice, both with the right credentials", got)
	}
}

// Every admin answer carries the headers that keep the page to itself.
func TestSecurityHeaders(t *testing.T) {
	s := newSite(t, fixture...)
	for _, tc := range []struct {
		name, method, path string
		header             http.Header
		status             int
	}{
		{"page", http.MethodGet, "/admin", nil, http.StatusOK},
		{"page with a bad search", http.MethodGet, "/admin?limit=0", nil, http.StatusBadRequest},
		{"api", http.MethodGet, "/admin/api/events", nil, http.StatusOK},
		{"unauthenticated", http.MethodGet, "/admin", noAuth(), http.StatusUnauthorized},
		{"unknown admin route", http.MethodGet, "/admin/nope", nil, http.StatusNotFound},
		{"wrong method", http.MethodPost, "/admin", nil, http.StatusMethodNotAllowed},
		{"cross-origin retry", http.MethodPost, "/admin/api/events/2/retry", http.Header{"Origin": {"https://evil.example"}}, http.StatusForbidden},
		{"retry", http.MethodPost, "/admin/api/events/2/retry", s.sameOrigin(), http.StatusOK},
		{"form retry", http.MethodPost, "/admin/events/2/retry", s.sameOrigin(), http.StatusSeeOther},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := s.do(t, tc.method, tc.path, tc.header)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.status, body)
			}
			csp := resp.Header.Get("Content-Security-Policy")
			for _, want := range []string{"default-src 'none'", "form-action 'self'", "frame-ancestors 'none'", "style-src 'sha256-"} {
				if !strings.Contains(csp, want) {
					t.Errorf("Content-Security-Policy %q lacks %q", csp, want)
				}
			}
			if strings.Contains(csp, "script-src") || strings.Contains(csp, "unsafe-inline") {
				t.Errorf("Content-Security-Policy %q allows scripts or inline styles", csp)
			}
			for k, want := range map[string]string{
				"X-Content-Type-Options": "nosniff",
				"X-Frame-Options":        "DENY", // for browsers that ignore frame-ancestors
				"Referrer-Policy":        "same-origin",
				"Cache-Control":          "no-store",
			} {
				if got := resp.Header.Get(k); got != want {
					t.Errorf("%s %q, want %q", k, got, want)
				}
			}
		})
	}
}

// apiEvents gets /admin/api/events with query and returns the ids listed.
func apiEvents(t *testing.T, s *site, query string) []int64 {
	t.Helper()
	resp, body := s.get(t, "/admin/api/events"+query)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /admin/api/events%s: status %d, want 200: %s", query, resp.StatusCode, body)
	}
	var got struct{ Events []struct{ ID int64 } }
	if err := json.Unmarshal([]byte(body), &got); err != nil {
		t.Fatalf("%v: %s", err, body)
	}
	out := []int64{}
	for _, e := range got.Events {
		out = append(out, e.ID)
	}
	return out
}

func TestAPIShape(t *testing.T) {
	s := newSite(t, fixture...)
	resp, body := s.get(t, "/admin/api/events?event_id=evt_jane_1")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json; charset=utf-8" {
		t.Errorf("Content-Type %q, want application/json; charset=utf-8", ct)
	}
	var got map[string][]map[string]any
	if err := json.Unmarshal([]byte(body), &got); err != nil {
		t.Fatalf("%v: %s", err, body)
	}
	if len(got) != 1 || len(got["events"]) != 1 {
		t.Fatalf("got %s, want {\"events\":[one event]}", body)
	}
	want := map[string]any{
		"id": 1.0, "provider": "stripe", "delivery_id": "evt_jane_1", "event_type": "customer.created",
		"outcome": "forwarded", "reason": "", "attempts": 1.0, "received_at": "2025-03-02T10:00:00Z",
		"referral_id": "ref_jane", "email": "jane@example.com",
	}
	e := got["events"][0]
	for k, w := range want {
		if e[k] != w {
			t.Errorf("%s: got %#v, want %#v", k, e[k], w)
		}
	}
	for k := range e {
		if _, ok := want[k]; !ok {
			t.Errorf("unexpected field %q", k)
		}
	}

	// Nothing matches: an empty list, not null.
	_, body = s.get(t, "/admin/api/events?email=nobody@example.com")
	if body != `{"events":[]}` {
		t.Errorf("no match: got %s, want {\"events\":[]}", body)
	}
}

func TestAPIFilters(t *testing.T) {
	s := newSite(t, fixture...)
	for _, tc := range []struct {
		query string
		want  []int64
	}{
		{"", ids(6, 5, 4, 3, 2, 1)}, // newest first
		{"?email=jane@example.com", ids(3, 1)},
		{"?email=JANE@EXAMPLE.COM", ids(3, 1)},                          // case-insensitive
		{"?email=%20jane@example.com%20", ids(3, 1)},                    // pasted with spaces
		{"?email=jane", ids()},                                          // exact, not a prefix
		{"?email=ane@example.com", ids()},                               // nor a suffix
		{"?event_id=msg_bob_1", ids(2)},                                 // the delivery id
		{"?event_id=MSG_BOB_1", ids()},                                  // ids are exact
		{"?outcome=queued", ids(3)},                                     //
		{"?outcome=forwarded", ids(1)},                                  //
		{"?provider=stripe", ids(6, 4, 1)},                              //
		{"?provider=stripe&email=x@example.com", ids(6)},                // both
		{"?since=3h", ids(6, 5, 4)},                                     // a duration back from now
		{"?since=2d", ids(6, 5, 4, 3, 2)},                               // days
		{"?since=2025-03-03", ids(6, 5, 4, 3, 2)},                       // a date: midnight UTC
		{"?since=2025-03-04T10:15:00Z", ids(6, 5)},                      // RFC 3339
		{"?limit=2", ids(6, 5)},                                         //
		{"?limit=1000", ids(6, 5, 4, 3, 2, 1)},                          // the most
		{"?email=&event_id=&outcome=&provider=", ids(6, 5, 4, 3, 2, 1)}, // an empty form
	} {
		t.Run(tc.query, func(t *testing.T) {
			if got := apiEvents(t, s, tc.query); !slices.Equal(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestAPIBadParameters(t *testing.T) {
	s := newSite(t, fixture...)
	for _, tc := range []struct{ query, want string }{
		{"?limit=0", "limit"},
		{"?limit=1001", "limit"},
		{"?limit=-1", "limit"},
		{"?limit=ten", "limit"},
		{"?since=yesterday", "since"},
		{"?since=-24h", "since"},
		{"?since=0d", "since"},
		{"?outcome=Not%20An%20Outcome", "outcome"},
		{"?provider=%3Cscript%3E", "provider"},
		{"?emial=jane@example.com", "unknown parameter"}, // a typo must not show everything
		{"?email=" + strings.Repeat("a", 1001), "email"},
	} {
		t.Run(tc.query[:min(len(tc.query), 40)], func(t *testing.T) {
			resp, body := s.get(t, "/admin/api/events"+tc.query)
			if resp.StatusCode != http.StatusBadRequest {
				t.Fatalf("status %d, want 400: %s", resp.StatusCode, body)
			}
			var e struct{ Error string }
			if err := json.Unmarshal([]byte(body), &e); err != nil || !strings.Contains(e.Error, tc.want) {
				t.Errorf("body %s (%v), want a JSON error naming %q", body, err, tc.want)
			}
		})
	}
}

func TestAPIUnreadableJournal(t *testing.T) {
	for _, tc := range []struct {
		name   string
		events admin.Journal
		status int
	}{
		{"no journal", nil, http.StatusServiceUnavailable},
		{"failing journal", failing{}, http.StatusInternalServerError},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := admin.New(admin.Options{Token: token, Events: tc.events})
			for _, path := range []string{"/admin/api/events", "/admin"} {
				req := httptest.NewRequest(http.MethodGet, path, nil)
				req.SetBasicAuth("admin", token)
				got := httptest.NewRecorder()
				h.ServeHTTP(got, req)
				if got.Code != tc.status {
					t.Errorf("%s: status %d, want %d", path, got.Code, tc.status)
				}
				lacks(t, path, got.Body.String(), errBoom.Error())
			}
		})
	}
}

type retryAnswer struct {
	ID         int64  `json:"id"`
	Outcome    string `json:"outcome"`
	Reason     string `json:"reason"`
	ReferralID string `json:"referral_id"`
}

func TestRetry(t *testing.T) {
	s := newSite(t, fixture...)
	resp, body := s.do(t, http.MethodPost, "/admin/api/events/3/retry", s.sameOrigin())
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d, want 200: %s", resp.StatusCode, body)
	}
	var got retryAnswer
	if err := json.Unmarshal([]byte(body), &got); err != nil {
		t.Fatalf("%v: %s", err, body)
	}
	if want := (retryAnswer{ID: 3, Outcome: "forwarded", ReferralID: "ref_new"}); got != want {
		t.Errorf("got %+v, want %+v", got, want)
	}
	if calls := s.retrier.called(); !slices.Equal(calls, ids(3)) {
		t.Errorf("Retry called for %v, want [3]", calls)
	}
	if rec, err := s.store.Get(t.Context(), 3); err != nil || rec.Outcome != "forwarded" {
		t.Errorf("journaled outcome %q (%v), want forwarded", rec.Outcome, err)
	}
}

func TestRetryErrors(t *testing.T) {
	s := newSite(t, append(fixture, event{provider: "stripe", deliveryID: "evt_busy", email: "busy@example.com", pending: true})...)
	for _, tc := range []struct {
		path   string
		status int
	}{
		{"/admin/api/events/999/retry", http.StatusNotFound},
		{"/admin/api/events/abc/retry", http.StatusNotFound},
		{"/admin/api/events/0/retry", http.StatusNotFound},
		{"/admin/api/events/-1/retry", http.StatusNotFound},
		{"/admin/api/events/7/retry", http.StatusConflict}, // being delivered
	} {
		t.Run(tc.path, func(t *testing.T) {
			resp, body := s.do(t, http.MethodPost, tc.path, s.sameOrigin())
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.status, body)
			}
			var e struct{ Error string }
			if err := json.Unmarshal([]byte(body), &e); err != nil || e.Error == "" {
				t.Errorf("body %s, want a JSON error", body)
			}
		})
	}
	if rec, err := s.store.Get(t.Context(), 7); err != nil || rec.Outcome != journal.Pending {
		t.Errorf("the busy event is now %q (%v), want it left pending", rec.Outcome, err)
	}
}

// A retry, from the page or a script, runs only for an event whose outcome
// a retry can change: the page's button and the API follow one rule. A
// forwarded payment retried would be paid again under a key that ever
// differed; a refund or a churn would be sent again.
func TestRetryOnlyWhatARetryCanChange(t *testing.T) {
	evs := append(fixture,
		event{provider: "lemonsqueezy", deliveryID: "ls_dry", eventType: "order_created", email: "dry@example.com", outcome: "dry_run"},
		event{provider: "polar", deliveryID: "polar_bad", eventType: "order.paid", outcome: "invalid_payload", reason: "amount is a string"},
	)
	s := newSite(t, evs...)
	s.retrier.result = admin.Outcome{Outcome: "queued"} // each stays as retryable as it was
	_, page := s.get(t, "/admin")
	for i, ev := range evs {
		id := int64(i + 1)
		want := map[string]bool{"queued": true, "skipped": true, "rejected": true, "failed": true}[string(ev.outcome)]
		t.Run(string(ev.outcome), func(t *testing.T) {
			before := len(s.retrier.called())
			resp, body := s.do(t, http.MethodPost, fmt.Sprintf("/admin/api/events/%d/retry", id), s.sameOrigin())
			ran := len(s.retrier.called()) > before
			button := strings.Contains(page, fmt.Sprintf(`action="/admin/events/%d/retry"`, id))
			if ran != want || button != want {
				t.Errorf("retried %v, Retry button %v; want %v for both", ran, button, want)
			}
			if want {
				if resp.StatusCode != http.StatusOK {
					t.Errorf("status %d, want 200: %s", resp.StatusCode, body)
				}
				return
			}
			if resp.StatusCode != http.StatusConflict {
				t.Errorf("status %d, want 409: %s", resp.StatusCode, body)
			}
			var e struct{ Error string }
			if err := json.Unmarshal([]byte(body), &e); err != nil {
				t.Fatalf("body %s, want a JSON error", body)
			}
			contains(t, "the refusal", e.Error, fmt.Sprintf("event %d is %s", id, ev.outcome), "Only queued, skipped, rejected, failed events are retried")
			// The page's own form is refused alike, and says so.
			resp, _ = s.do(t, http.MethodPost, fmt.Sprintf("/admin/events/%d/retry", id), s.sameOrigin())
			if loc := resp.Header.Get("Location"); !strings.Contains(loc, "retry=refused") || len(s.retrier.called()) > before {
				t.Errorf("the form: Location %q, retried %v; want retry=refused and no retry", loc, s.retrier.called())
			}
			_, flash := s.get(t, resp.Header.Get("Location"))
			contains(t, "the page after a refused retry", flash, fmt.Sprintf("Event %d was not retried", id))
		})
	}
}

// The retry API takes no parameter it does not know: a script that sends
// ?force=1 learns that there is no such thing, and nothing is retried.
func TestRetryRefusesUnknownParameters(t *testing.T) {
	s := newSite(t, fixture...)
	for _, path := range []string{"/admin/api/events/3/retry?force=1", "/admin/api/events/3/retry?email=jane%40example.com&dry_run=true"} {
		resp, body := s.do(t, http.MethodPost, path, s.sameOrigin())
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("%s: status %d, want 400: %s", path, resp.StatusCode, body)
		}
		contains(t, path, body, "unknown parameter")
	}
	if calls := s.retrier.called(); len(calls) != 0 {
		t.Errorf("Retry called for %v, want never", calls)
	}
}

func TestRetrySameOrigin(t *testing.T) {
	s := newSite(t, fixture...)
	s.retrier.result = admin.Outcome{Outcome: "skipped"} // event 2 stays one a retry is for
	host := strings.TrimPrefix(s.URL, "http://")
	for _, tc := range []struct {
		name   string
		header http.Header
		ok     bool
	}{
		{"same Origin", http.Header{"Origin": {s.URL}}, true},
		{"same Origin, other case", http.Header{"Origin": {"HTTP://" + strings.ToUpper(host)}}, true},
		{"cross-site Origin", http.Header{"Origin": {"https://evil.example"}}, false},
		{"Origin of a host that starts like ours", http.Header{"Origin": {s.URL + ".evil.example"}}, false},
		{"Origin on another port", http.Header{"Origin": {"http://127.0.0.1:1"}}, false},
		{"no Origin, no Referer", nil, false},
		{"Origin null, no Referer", http.Header{"Origin": {"null"}}, false},
		{"same-origin Referer", http.Header{"Referer": {s.URL + "/admin?email=jane%40example.com"}}, true},
		{"cross-site Referer", http.Header{"Referer": {"https://evil.example/admin"}}, false},
		{"Origin null, same-origin Referer", http.Header{"Origin": {"null"}, "Referer": {s.URL + "/admin"}}, true},
		{"Sec-Fetch-Site same-origin", http.Header{"Sec-Fetch-Site": {"same-origin"}}, true},
		{"Sec-Fetch-Site cross-site, whatever Origin says", http.Header{"Sec-Fetch-Site": {"cross-site"}, "Origin": {s.URL}}, false},
		{"Sec-Fetch-Site same-site", http.Header{"Sec-Fetch-Site": {"same-site"}, "Origin": {s.URL}}, false},
		// Behind Fly's proxy: TLS ends at the proxy, so the bridge sees
		// http while the browser's Origin is https.
		{"https Origin behind a TLS proxy", http.Header{"Origin": {"https://" + host}, "X-Forwarded-Proto": {"https"}}, true},
		{"https Origin, X-Forwarded-Proto listing https first", http.Header{"Origin": {"https://" + host}, "X-Forwarded-Proto": {"https, http"}}, true},
		{"https Origin without the proxy's header", http.Header{"Origin": {"https://" + host}}, false},
		{"http Origin when the proxy says https", http.Header{"Origin": {s.URL}, "X-Forwarded-Proto": {"https"}}, false},
		{"cross-site Origin behind a TLS proxy", http.Header{"Origin": {"https://evil.example"}, "X-Forwarded-Proto": {"https"}}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, path := range []string{"/admin/api/events/2/retry", "/admin/events/2/retry"} {
				before := len(s.retrier.called())
				resp, body := s.do(t, http.MethodPost, path, tc.header)
				ran := len(s.retrier.called()) > before
				if tc.ok {
					if resp.StatusCode == http.StatusForbidden || !ran {
						t.Errorf("%s: status %d, retried %v; want it allowed: %s", path, resp.StatusCode, ran, body)
					}
					continue
				}
				if resp.StatusCode != http.StatusForbidden || ran {
					t.Errorf("%s: status %d, retried %v; want 403 and no retry: %s", path, resp.StatusCode, ran, body)
				}
			}
		})
	}
}

// The page's Retry button retries, then sends the browser back to the
// search it came from, which shows how the retry went.
func TestRetryButton(t *testing.T) {
	s := newSite(t, append(fixture, event{provider: "stripe", deliveryID: "evt_busy", email: "busy@example.com", pending: true})...)
	for _, tc := range []struct {
		name, path string
		location   url.Values
		flash      string
	}{
		{"retried", "/admin/events/3/retry?email=jane%40example.com&outcome=queued",
			url.Values{"email": {"jane@example.com"}, "outcome": {"queued"}, "retried": {"3"}},
			"Retried event 3 (supabase ins_jane_2). It is now"},
		{"busy", "/admin/events/7/retry",
			url.Values{"retried": {"7"}, "retry": {"busy"}}, "Event 7 is being delivered right now"},
		{"gone", "/admin/events/999/retry",
			url.Values{"retried": {"999"}, "retry": {"gone"}}, "There is no such event"},
		{"a bad search is dropped, not echoed", "/admin/events/2/retry?evil=1&email=bob%40example.com",
			url.Values{"retried": {"2"}}, "Retried event 2 (clerk msg_bob_1)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := s.do(t, http.MethodPost, tc.path, s.sameOrigin())
			if resp.StatusCode != http.StatusSeeOther {
				t.Fatalf("status %d, want 303: %s", resp.StatusCode, body)
			}
			loc, err := url.Parse(resp.Header.Get("Location"))
			if err != nil {
				t.Fatal(err)
			}
			if loc.Path != "/admin" || loc.Host != "" || loc.Query().Encode() != tc.location.Encode() {
				t.Errorf("Location %q, want /admin?%s", loc, tc.location.Encode())
			}
			resp, page := s.get(t, loc.String())
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("the page after the retry: status %d", resp.StatusCode)
			}
			contains(t, "the page after the retry", page, tc.flash)
		})
	}
	// The flash shows the outcome the journal holds now.
	_, page := s.get(t, "/admin?retried=3")
	contains(t, "the flash", page, `It is now <span class="badge ok">forwarded</span>`)
}

func TestRetryOff(t *testing.T) {
	store := openJournal(t, fixture...)
	srv := httptest.NewServer(admin.New(admin.Options{Token: token, Events: store}))
	defer srv.Close()
	s := &site{Server: srv, store: store}
	for _, path := range []string{"/admin/api/events/2/retry", "/admin/events/2/retry"} {
		if resp, body := s.do(t, http.MethodPost, path, s.sameOrigin()); resp.StatusCode != http.StatusNotFound {
			t.Errorf("%s without Retry: status %d, want 404: %s", path, resp.StatusCode, body)
		}
	}
	_, page := s.get(t, "/admin")
	lacks(t, "the page without Retry", page, "/retry", "Retry runs")
}

func TestMethodNotAllowed(t *testing.T) {
	s := newSite(t, fixture...)
	for _, tc := range []struct{ method, path, allow string }{
		{http.MethodPost, "/admin", "GET, HEAD"},
		{http.MethodPut, "/admin/api/events", "GET, HEAD, DELETE"},
		{http.MethodDelete, "/admin/api/summary", "GET, HEAD"},
		{http.MethodPost, "/admin/events/2", "GET, HEAD"},
		{http.MethodGet, "/admin/api/events/2/retry", "POST"},
	} {
		resp, body := s.do(t, tc.method, tc.path, s.sameOrigin())
		if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != tc.allow {
			t.Errorf("%s %s: status %d, Allow %q; want 405, %q: %s", tc.method, tc.path, resp.StatusCode, resp.Header.Get("Allow"), tc.allow, body)
		}
	}
	if len(s.retrier.called()) != 0 {
		t.Errorf("a GET retried: %v", s.retrier.called())
	}
}

// A retry runs to its end even when the browser that asked goes away:
// otherwise the event would stay pending until its lease ended.
func TestRetryOutlivesItsRequest(t *testing.T) {
	store := openJournal(t, fixture...)
	started, release := make(chan struct{}), make(chan struct{})
	finished := make(chan error, 1)
	h := admin.New(admin.Options{Token: token, Events: store, Retry: func(ctx context.Context, id int64, was outcome.Word) (admin.Outcome, error) {
		close(started)
		<-release
		finished <- ctx.Err()
		return admin.Outcome{Outcome: "forwarded"}, nil
	}})
	ctx, cancel := context.WithCancel(context.Background())
	req := httptest.NewRequestWithContext(ctx, http.MethodPost, "/admin/api/events/2/retry", nil)
	req.SetBasicAuth("admin", token)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	done := make(chan struct{})
	go func() {
		h.ServeHTTP(httptest.NewRecorder(), req)
		close(done)
	}()
	<-started
	cancel()
	close(release)
	if err := <-finished; err != nil {
		t.Errorf("the retry's context ended with its request: %v", err)
	}
	<-done
}

// The log names what went wrong, never the token (a mistyped password may
// be most of it) nor an email.
func TestLogsNoSecretNoEmail(t *testing.T) {
	var logs strings.Builder
	store := openJournal(t, fixture...)
	h := admin.New(admin.Options{
		Token: token, Events: store, Log: slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Retry: func(ctx context.Context, id int64, was outcome.Word) (admin.Outcome, error) {
			if id == 2 {
				return admin.Outcome{}, errBoom
			}
			return (&retrier{store: store, result: admin.Outcome{Outcome: "forwarded"}}).retry(ctx, id, was)
		},
	})
	srv := httptest.NewServer(h)
	defer srv.Close()
	s := &site{Server: srv, store: store}
	for _, tc := range []struct {
		method, path string
		header       http.Header
		status       int
	}{
		{http.MethodGet, "/admin?email=jane%40example.com", basic("admin", token+"-typo"), http.StatusUnauthorized},
		{http.MethodGet, "/admin", basic(token, token), http.StatusUnauthorized},
		{http.MethodPost, "/admin/api/events/2/retry?email=jane%40example.com", s.sameOrigin(), http.StatusInternalServerError},
		{http.MethodPost, "/admin/api/events/3/retry", s.sameOrigin(), http.StatusOK},
		{http.MethodPost, "/admin/events/3/retry?email=jane%40example.com", http.Header{"Referer": {"https://evil.example/?email=jane@example.com"}}, http.StatusForbidden},
	} {
		if resp, body := s.do(t, tc.method, tc.path, tc.header); resp.StatusCode != tc.status {
			t.Errorf("%s %s: status %d, want %d: %s", tc.method, tc.path, resp.StatusCode, tc.status, body)
		}
	}
	contains(t, "the log", logs.String(), "wrong user name or password", "admin: retry", "boom", "retried an event", "cross-origin")
	lacks(t, "the log", logs.String(), token, "example.com")
}
