package e2e

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/getreditus/reditus-bridge/internal/fakereditus"
	"github.com/getreditus/reditus-bridge/internal/testenv"
	"github.com/getreditus/reditus-bridge/internal/webhooktest"
	"github.com/getreditus/reditus-bridge/reditus"
)

// /admin against the running binary: it lets in only the operator with the
// token, shows whatever a sender or Reditus chose as text, answers hostile
// searches with a whole page, and a retry is a state change that no other
// site can make.

// Every admin route, with every method, refuses whoever does not log in as
// admin with the token, whatever else the request carries, and says so the
// same way; neither the token nor a password tried reaches the log.
func TestAdminLetsInOnlyTheOperatorWithTheToken(t *testing.T) {
	p := start(t, "ADMIN_TOKEN="+adminToken)
	if a := p.post(t, "generic", devSecret, "msg_login", signup("login").body); a.Status != http.StatusOK {
		t.Fatalf("signed webhook: %s, want 200", a)
	}
	basic := func(userPass string) string {
		return "Basic " + base64.StdEncoding.EncodeToString([]byte(userPass))
	}
	credentials := []struct {
		name   string
		header http.Header
		query  string
	}{
		{"none", nil, ""},
		{"the token as a bearer token", http.Header{"Authorization": {"Bearer " + adminToken}}, ""},
		{"wrong user", http.Header{"Authorization": {basic("root:" + adminToken)}}, ""},
		{"user in upper case", http.Header{"Authorization": {basic("ADMIN:" + adminToken)}}, ""},
		{"the token as the user", http.Header{"Authorization": {basic(adminToken + ":")}}, ""},
		{"a prefix of the token", http.Header{"Authorization": {basic("admin:" + adminToken[:len(adminToken)-1])}}, ""},
		{"the token and more", http.Header{"Authorization": {basic("admin:" + adminToken + "x")}}, ""},
		{"the token in another case", http.Header{"Authorization": {basic("admin:" + strings.ToUpper(adminToken))}}, ""},
		{"empty password", http.Header{"Authorization": {basic("admin:")}}, ""},
		{"not base64", http.Header{"Authorization": {"Basic !!!" + adminToken}}, ""},
		{"no colon", http.Header{"Authorization": {basic("admin" + adminToken)}}, ""},
		{"the token in the query", nil, "token=" + adminToken + "&password=" + adminToken},
		{"the token in a cookie", http.Header{"Cookie": {"ADMIN_TOKEN=" + adminToken + "; token=" + adminToken}}, ""},
		{"the token in another header", http.Header{"X-Admin-Token": {adminToken}, "Proxy-Authorization": {basic("admin:" + adminToken)}}, ""},
		{"60 KiB of credentials", http.Header{"Authorization": {basic("admin:" + strings.Repeat("x", 45<<10))}}, ""},
		{"a wrong password, then the token", http.Header{"Authorization": {basic("admin:wrong"), basic("admin:" + adminToken)}}, ""},
	}
	routes := []struct{ method, path string }{
		{http.MethodGet, "/admin"}, {http.MethodGet, "/admin/"}, {http.MethodHead, "/admin"},
		{http.MethodGet, "/admin/api/events"}, {http.MethodGet, "/admin/api/events?email=login@example.com"},
		{http.MethodPost, "/admin/api/events/1/retry"}, {http.MethodPost, "/admin/events/1/retry"},
		{http.MethodDelete, "/admin/api/events/1"}, {http.MethodPut, "/admin"}, {http.MethodOptions, "/admin/api/events"},
		{http.MethodGet, "/admin/no-such-page"}, {http.MethodGet, "/admin/../admin/api/events"},
	}
	for _, c := range credentials {
		for _, r := range routes {
			t.Run(c.name+" "+r.method+" "+r.path, func(t *testing.T) {
				path := r.path
				if c.query != "" {
					path += "?" + c.query
				}
				header := c.header.Clone()
				if header == nil {
					header = http.Header{}
				}
				header.Set("Origin", p.base)
				status, h, body := p.send(t, r.method, path, header, nil)
				if status != http.StatusUnauthorized {
					t.Errorf("status %d, want 401", status)
				}
				if got := h.Get("WWW-Authenticate"); !strings.HasPrefix(got, "Basic realm=") {
					t.Errorf("WWW-Authenticate %q, want a Basic realm", got)
				}
				if bytes.Contains(body, []byte("login")) || bytes.Contains(body, []byte("events")) {
					t.Errorf("the 401 shows the journal: %s", body)
				}
			})
		}
	}

	// The operator gets in; the routes answer as they are.
	for _, r := range []struct {
		method, path string
		status       int
	}{
		{http.MethodGet, "/admin", 200}, {http.MethodGet, "/admin/api/events", 200},
		{http.MethodGet, "/admin/no-such-page", 404}, {http.MethodPut, "/admin", 405},
	} {
		if status, _, _ := p.send(t, r.method, r.path, asAdmin(adminToken), nil); status != r.status {
			t.Errorf("as admin, %s %s: %d, want %d", r.method, r.path, status, r.status)
		}
	}
	p.stop(t)
	if w := p.logHolds(adminToken, strings.ToUpper(adminToken), adminToken[:len(adminToken)-1], "login@example.com"); w != "" {
		t.Errorf("the log holds %q", w)
	}
	if !p.logged("admin: wrong user name or password") {
		t.Error("no log line for wrong credentials")
	}
}

// Without ADMIN_TOKEN, every admin route answers every method, with or
// without credentials, byte for byte as a route the bridge does not have.
func TestAdminOffLooksLikeAnUnknownRoute(t *testing.T) {
	p := start(t)
	answer := func(method, path string, header http.Header) string {
		status, h, body := p.send(t, method, path, header, nil)
		h.Del("Date")
		return fmt.Sprintf("%d %v %s", status, h, body)
	}
	for _, method := range []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE"} {
		unknown := answer(method, "/no-such-route", nil)
		for _, path := range []string{"/admin", "/admin/", "/admin?email=jane@example.com", "/admin/api/events",
			"/admin/api/events/1/retry", "/admin/events/1/retry", "/admin/anything/else"} {
			for name, header := range map[string]http.Header{
				"no credentials":     nil,
				"empty token":        asAdmin(""),
				"a token":            asAdmin(adminToken),
				"same-origin script": asAdmin("", "Origin", p.base),
			} {
				if got := answer(method, path, header); got != unknown {
					t.Errorf("%s %s, %s: %s\nwant as for an unknown route: %s", method, path, name, got, unknown)
				}
			}
		}
	}
}

// Without ADMIN_TOKEN, a method gin does not route (any token a client may
// send) is answered on /admin as on an unknown route: no 405 with an Allow
// header that would tell /admin is there.
func TestAdminOffLooksLikeAnUnknownRouteToAnyMethod(t *testing.T) {
	p := start(t)
	for _, method := range []string{"FOO", "PROPFIND"} {
		want, _, _ := p.send(t, method, "/no-such-route", nil, nil)
		for _, path := range []string{"/admin", "/admin/api/events"} {
			if got, h, _ := p.send(t, method, path, nil, nil); got != want || h.Get("Allow") != "" {
				t.Errorf("%s %s: %d (Allow %q), want %d as for an unknown route", method, path, got, h.Get("Allow"), want)
			}
		}
	}
}

// Huge, malformed and hostile search parameters: each gets 200 or 400 with
// a whole page (or JSON), echoed as text, and the bridge stays up.
func TestAdminAnswersHostileSearchesWithAWholePage(t *testing.T) {
	p := start(t, "ADMIN_TOKEN="+adminToken)
	if a := p.post(t, "generic", devSecret, "msg_query", signup("query").body); a.Status != http.StatusOK {
		t.Fatalf("signed webhook: %s, want 200", a)
	}
	big := strings.Repeat("a", 50<<10)
	for _, tc := range []struct {
		query  string
		status int
	}{
		{"email=" + big, 400},
		{"event_id=" + big, 400},
		{big + "=1", 400},
		{"email=%zz", 200},                  // not percent-encoding: the pair is dropped
		{"email=%00query@example.com", 400}, // not text
		{"email=%ff%fe%fd", 400},            // not UTF-8
		{"email=query%40example.com&email=other%40example.com", 200},
		{"email=query@example.com;outcome=dry_run", 200},
		{"limit=99999999999999999999", 400},
		{"limit=1e3", 400},
		{"limit=-0", 400},
		{"since=99999999h", 400},
		{"since=2562047h", 200}, // the longest Duration
		{"since=36501d", 400},
		{"since=0001-01-01", 200},
		{"since=9999-12-31", 200},
		{"since=2025-02-30", 400},
		{"outcome=%3Cscript%3Ealert(1)%3C%2Fscript%3E", 400},
		{"provider=" + strings.Repeat("p", 65), 400},
		{"%3Cscript%3Ealert(1)%3C%2Fscript%3E=1", 400},
		{"retried=1%3Cscript%3E&retry=%3Cscript%3E", 200},
		{"retried=99999999999999999999&retry=gone", 200},
	} {
		name := tc.query
		if len(name) > 60 {
			name = name[:60]
		}
		t.Run(name, func(t *testing.T) {
			status, h, page := p.send(t, http.MethodGet, "/admin?"+tc.query, asAdmin(adminToken), nil)
			if status != tc.status {
				t.Errorf("page: %d, want %d", status, tc.status)
			}
			if !strings.HasPrefix(h.Get("Content-Type"), "text/html") || !bytes.HasSuffix(bytes.TrimSpace(page), []byte("</html>")) {
				t.Errorf("page: not a whole HTML page (%s, %d bytes)", h.Get("Content-Type"), len(page))
			}
			if bytes.Contains(page, []byte("<script")) {
				t.Error("page: a script element")
			}
			status, _, body := p.send(t, http.MethodGet, "/admin/api/events?"+tc.query, asAdmin(adminToken), nil)
			if status >= 500 || !json.Valid(body) {
				t.Errorf("api: %d %.200s, want 200 or 400 with JSON", status, body)
			}
		})
	}
	if status, _, _ := p.send(t, http.MethodGet, "/healthz", nil, nil); status != http.StatusOK {
		t.Fatalf("the bridge is down after the searches: %d", status)
	}
}

// What a signed sender and a misbehaving Reditus choose reaches the page as
// text: markup, script, style, bidi overrides and zero-width characters in
// an email, an event type, a delivery id, a referral id and Reditus's own
// error text. The page keeps its shape, one row per event.
func TestAdminShowsHostileValuesAsText(t *testing.T) {
	const (
		script = `<script>document.title='pwned'</script>`
		img    = `'><img src=x onerror=document.title='pwned'>`
		style  = `</style><style>*{display:none}</style>`
	)
	red := newReditus(t)
	red.Respond(reditus.CallTrack, func(w http.ResponseWriter, r *fakereditus.Request) {
		switch r.Conversion.UID {
		case "usr_referral": // a 201 whose referral id is markup (JSON needs no escape for it)
			fakereditus.Status(http.StatusCreated, `{"data":{"id":"`+img+script+`","attributes":{"state":"lead"}}}`)(w, r)
		case "usr_rejected": // a 400 whose words are markup
			b, _ := json.Marshal(map[string]any{"errors": []map[string]string{{"detail": "Affiliate <b>john</b> " + script + style + " not found\u202e"}}})
			fakereditus.Status(http.StatusBadRequest, string(b))(w, r)
		default:
			red.Reditus(w, r)
		}
	})
	p := start(t, liveEnv(red)...)

	body := func(fields map[string]string) []byte {
		b, _ := json.Marshal(fields)
		return b
	}
	deliveries := []struct {
		id   string
		body []byte
	}{
		{"msg_email", body(map[string]string{"email": script + "@example.com", "uid": "usr_email", "affiliate_slug": "john"})},
		{"msg_referral", body(map[string]string{"email": "ref@example.com", "uid": "usr_referral", "affiliate_slug": "john"})},
		{"msg_rejected", body(map[string]string{"email": "rej@example.com", "uid": "usr_rejected", "affiliate_slug": "john"})},
		{"msg_type", body(map[string]string{"type": style + script + "\u202egnp.exe", "email": "type@example.com", "uid": "usr_type", "affiliate_slug": "john"})},
		{`msg_"><script>alert(1)</script>`, body(map[string]string{"email": "id@example.com", "uid": "usr_id", "affiliate_slug": "john"})},
		{"msg_invisible", body(map[string]string{"email": "ja\u200bne\u202e@example.com", "uid": "usr_invisible", "affiliate_slug": "john"})},
		{"msg_long_" + strings.Repeat("x", 3000), body(map[string]string{"type": strings.Repeat("<b>", 3000), "email": strings.Repeat("w", 3000) + "@example.com", "uid": "usr_long", "affiliate_slug": "john"})},
	}
	for _, d := range deliveries {
		if a := p.post(t, "generic", genericSecret, d.id, d.body); a.Status != http.StatusOK {
			t.Errorf("%.40s: %s, want 200", d.id, a)
		}
	}

	status, h, raw := p.send(t, http.MethodGet, "/admin", asAdmin(adminToken), nil)
	page := string(raw)
	if status != http.StatusOK || !strings.HasPrefix(h.Get("Content-Type"), "text/html") {
		t.Fatalf("GET /admin: %d %s", status, h.Get("Content-Type"))
	}
	if n := strings.Count(page, `<tr id="event-`); n != len(deliveries) {
		t.Errorf("%d rows, want %d", n, len(deliveries))
	}
	for _, bad := range []string{"<script", "<img", "<b>", "</style><style>*"} {
		if strings.Contains(page, bad) {
			t.Errorf("the page holds %q as markup", bad)
		}
	}
	if n := strings.Count(page, "<style"); n != 1 {
		t.Errorf("%d style elements, want the page's own", n)
	}
	for _, want := range []string{
		`&lt;script&gt;document.title=&#39;pwned&#39;&lt;/script&gt;@example.com`, // the email
		`&#39;&gt;&lt;img src=x onerror=document.title=&#39;pwned&#39;&gt;`,       // the referral id
		`Affiliate &lt;b&gt;john&lt;/b&gt;`,                                       // Reditus's words
		`[U&#43;202E]gnp.exe`, `ja[U&#43;200B]ne[U&#43;202E]@example.com`,         // shown, not obeyed
		`msg_&#34;&gt;&lt;script&gt;alert(1)&lt;/script&gt;`, // the delivery id
		`characters in all)`, // a long value, cut
		"</html>",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
	if len(page) > 256<<10 {
		t.Errorf("the page is %d KiB, want under 256 KiB", len(page)>>10)
	}

	// The API gives the values back as they are (JSON escapes markup).
	byID := map[string]adminEvent{}
	for _, e := range p.events(t, "") {
		byID[e.DeliveryID] = e
	}
	if e := byID["msg_referral"]; e.ReferralID != img+script || e.Outcome != "forwarded" {
		t.Errorf("msg_referral: %+v, want forwarded with the referral id Reditus gave", e)
	}
	if e := byID["msg_rejected"]; e.Outcome != "rejected" || !strings.Contains(e.Reason, "<b>john</b>") {
		t.Errorf("msg_rejected: %+v, want rejected with Reditus's words", e)
	}

	t.Run("in Chromium", func(t *testing.T) {
		browser := testenv.Chromium(t)
		u, _ := url.Parse(p.base + "/admin")
		u.User = url.UserPassword("admin", adminToken)
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Second)
		defer cancel()
		out, err := exec.CommandContext(ctx, browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
			"--disable-background-networking", "--disable-component-update", "--disable-sync",
			"--user-data-dir="+t.TempDir(), "--virtual-time-budget=3000", "--dump-dom", u.String()).Output()
		if err != nil {
			t.Fatalf("chromium: %v", err)
		}
		dom := string(out)
		if !strings.Contains(dom, "<title>Journal · reditus-bridge</title>") {
			t.Errorf("the title changed: a script ran\n%s", dom)
		}
		for _, bad := range []string{"<script", "<img", "<b>"} {
			if strings.Contains(dom, bad) {
				t.Errorf("the DOM holds a %s element", bad)
			}
		}
		if n := strings.Count(dom, `<tr id="event-`); n != len(deliveries) {
			t.Errorf("the DOM has %d rows, want %d", n, len(deliveries))
		}
	})
	p.stop(t)
	if w := p.logHolds(adminToken, apiKey, genericSecret, "ref@example.com", "rej@example.com", "type@example.com"); w != "" {
		t.Errorf("the log holds %q", w)
	}
}

// The page and the API cut a long value: thirty signed events holding a
// megabyte each, shown whole, would take the bridge to hundreds of MiB at
// one look at /admin (escaping makes a "<" four bytes, and each link repeats
// the value), and a machine with 256 MB would be killed, webhooks with it.
func TestAdminCutsLongValues(t *testing.T) {
	p := start(t, "ADMIN_TOKEN="+adminToken)
	const events = 30
	// The type stays under the 64 KiB log line that start reads: the bridge
	// logs it whole.
	typ, email := strings.Repeat("<", 9_000), strings.Repeat("<", 1_000_000)
	for i := range events {
		body := []byte(`{"type":"` + typ + `","email":"` + email + `","uid":"usr_big","affiliate_slug":"john"}`)
		if a := p.post(t, "generic", devSecret, fmt.Sprintf("msg_big_%d", i), body); a.Status != http.StatusOK {
			t.Fatalf("event %d: %s, want 200", i, a)
		}
	}
	before := p.peakRSS(t)
	status, _, page := p.send(t, http.MethodGet, "/admin", asAdmin(adminToken), nil)
	switch rows := strings.Count(string(page), `<tr id="event-`); {
	case len(page) > 512<<10: // send reads 8 MiB at most
		t.Errorf("the page is at least %d KiB, want under 512 KiB", len(page)>>10)
	case status != http.StatusOK || rows != events:
		t.Errorf("GET /admin: %d with %d rows, want 200 with %d", status, rows, events)
	}
	status, _, list := p.send(t, http.MethodGet, "/admin/api/events?limit=1000", asAdmin(adminToken), nil)
	if status != http.StatusOK || len(list) > 1<<20 {
		t.Errorf("GET /admin/api/events: %d, %d KiB, want 200 under 1 MiB", status, len(list)>>10)
	}
	// What remains is the journal's: List reads each value whole
	// (TestTheJournalCutsLongValues).
	after := p.peakRSS(t)
	t.Logf("page %d KiB, API %d KiB; peak RSS %d MiB before, %d MiB after", len(page)>>10, len(list)>>10, before>>20, after>>20)
	if after-before > 160<<20 {
		t.Errorf("looking at /admin took peak RSS from %d to %d MiB, want under 160 MiB more", before>>20, after>>20)
	}
}

// A retry is a state change: a request that a browser may have made for
// another site (cross-site request forgery, with the operator's cached
// credentials) is refused, whatever it claims, and Reditus hears nothing.
func TestAdminRetryRefusesCrossSiteRequests(t *testing.T) {
	red := newReditus(t)
	red.set(rejecting)
	p := start(t, liveEnv(red)...)
	if a := p.deliver(t, signup("csrf")); a.String() != "200 rejected" {
		t.Fatalf("setup: %s, want 200 rejected", a)
	}
	// Reditus keeps rejecting it, so that it stays an event a retry is for,
	// retry after retry.
	calls := red.Calls(reditus.CallTrack)
	host := strings.TrimPrefix(p.base, "http://")

	refused := []struct {
		name   string
		header []string
	}{
		{"no Origin, no Referer", nil},
		{"cross-site Origin", []string{"Origin", "https://evil.example"}},
		{"Origin null", []string{"Origin", "null"}},
		{"Origin null, cross-site Referer", []string{"Origin", "null", "Referer", "https://evil.example/admin"}},
		{"cross-site Referer naming the bridge in its path", []string{"Referer", "https://evil.example/" + p.base + "/admin"}},
		{"Referer on a host that starts like the bridge's", []string{"Referer", p.base + ".evil.example/admin"}},
		{"Referer with the bridge as its user info", []string{"Referer", "http://" + host + "@evil.example/admin"}},
		{"Origin on another port", []string{"Origin", "http://127.0.0.1:1"}},
		{"Origin not a URL", []string{"Origin", "evil"}},
		{"two Origins, the first cross-site", []string{"Origin", "https://evil.example", "Origin", p.base}},
		{"https Origin, the bridge on http", []string{"Origin", "https://" + host}},
		{"http Origin, X-Forwarded-Proto https", []string{"Origin", p.base, "X-Forwarded-Proto", "https"}},
		{"cross-site Origin, X-Forwarded-Host naming it", []string{"Origin", "https://evil.example", "X-Forwarded-Host", "evil.example", "X-Forwarded-Proto", "https"}},
		{"cross-site Origin, Forwarded naming it", []string{"Origin", "https://evil.example", "Forwarded", "host=evil.example;proto=https"}},
		{"Host spoofed, the bridge's Origin", []string{"Host", "evil.example", "Origin", p.base}},
		{"Sec-Fetch-Site cross-site, the bridge's Origin", []string{"Sec-Fetch-Site", "cross-site", "Origin", p.base}},
		{"Sec-Fetch-Site same-site", []string{"Sec-Fetch-Site", "same-site", "Origin", p.base}},
		{"Sec-Fetch-Site none (typed into the address bar)", []string{"Sec-Fetch-Site", "none", "Origin", p.base}},
	}
	for _, tc := range refused {
		for _, path := range []string{"/admin/api/events/1/retry", "/admin/events/1/retry"} {
			t.Run(tc.name+" "+path, func(t *testing.T) {
				status, _, body := p.send(t, http.MethodPost, path, asAdmin(adminToken, tc.header...), []byte("id=1"))
				if status != http.StatusForbidden {
					t.Errorf("%d %s, want 403", status, body)
				}
			})
		}
	}
	if status, _, _ := p.send(t, http.MethodGet, "/admin/api/events/1/retry", asAdmin(adminToken, "Origin", p.base), nil); status != http.StatusMethodNotAllowed {
		t.Errorf("GET retry: %d, want 405", status)
	}
	if got := red.Calls(reditus.CallTrack); got != calls {
		t.Fatalf("Reditus got %d calls from refused retries", got-calls)
	}
	if e := p.event(t, "msg_csrf"); e.Outcome != "rejected" || e.Attempts != 1 {
		t.Fatalf("after the refused retries the event is %s with %d attempts, want rejected with 1", e.Outcome, e.Attempts)
	}

	// The page's own form, as a browser sends it, and a script that says
	// where it comes from.
	for _, tc := range []struct {
		name   string
		path   string
		header []string
		status int
	}{
		{"the bridge's Origin", "/admin/api/events/1/retry", []string{"Origin", p.base}, http.StatusOK},
		{"Sec-Fetch-Site same-origin", "/admin/api/events/1/retry", []string{"Sec-Fetch-Site", "same-origin"}, http.StatusOK},
		{"the form, Origin null with the page as Referer", "/admin/events/1/retry?email=csrf%40example.com", []string{"Origin", "null", "Referer", p.base + "/admin"}, http.StatusSeeOther},
	} {
		status, h, body := p.send(t, http.MethodPost, tc.path, asAdmin(adminToken, tc.header...), nil)
		if status != tc.status {
			t.Errorf("%s: %d %s, want %d", tc.name, status, body, tc.status)
		}
		if loc := h.Get("Location"); status == http.StatusSeeOther && !strings.HasPrefix(loc, "/admin?") {
			t.Errorf("%s: redirected to %q, want the page", tc.name, loc)
		}
	}
	if e := p.event(t, "msg_csrf"); e.Outcome != "rejected" || e.Attempts != 4 {
		t.Errorf("after the retries the event is %s with %d attempts, want rejected with 4", e.Outcome, e.Attempts)
	}
	if got := red.Calls(reditus.CallTrack) - calls; got != 3 {
		t.Errorf("Reditus got %d calls, want 3: one per accepted retry", got)
	}
}

// Retries of events that do not exist, and of one event twice at once: the
// second is told the event is busy, and Reditus hears of it once.
func TestAdminRetryRefusesMissingAndBusyEvents(t *testing.T) {
	red := newReditus(t)
	red.set(rejecting)
	p := start(t, liveEnv(red)...)
	if a := p.deliver(t, signup("race")); a.String() != "200 rejected" {
		t.Fatalf("setup: %s, want 200 rejected", a)
	}
	origin := asAdmin(adminToken, "Origin", p.base)
	for _, id := range []string{"2", "999999", "0", "-1", "99999999999999999999", "1e0", "0x1", "%20%31", "1.0", "%31%00"} {
		if status, _, body := p.send(t, http.MethodPost, "/admin/api/events/"+id+"/retry", origin, nil); status != http.StatusNotFound {
			t.Errorf("retry %s: %d %s, want 404", id, status, body)
		}
		status, h, _ := p.send(t, http.MethodPost, "/admin/events/"+id+"/retry", origin, nil)
		if loc := h.Get("Location"); status != http.StatusSeeOther || !strings.Contains(loc, "retry=gone") {
			t.Errorf("form retry %s: %d to %q, want 303 to the page saying it is gone", id, status, loc)
		}
	}

	gate := fakereditus.NewGate(1, red.Reditus)
	red.Respond(reditus.CallTrack, gate.Respond)
	defer gate.Release()
	calls := red.Calls(reditus.CallTrack)
	first := make(chan string, 1)
	go func() {
		status, _, body := p.send(t, http.MethodPost, "/admin/api/events/1/retry", origin, nil)
		first <- fmt.Sprintf("%d %s", status, body)
	}()
	select {
	case <-gate.Held():
	case <-time.After(20 * time.Second):
		t.Fatal("the first retry never reached Reditus")
	}
	if status, _, body := p.send(t, http.MethodPost, "/admin/api/events/1/retry", origin, nil); status != http.StatusConflict {
		t.Errorf("a second retry while the first is in Reditus: %d %s, want 409", status, body)
	}
	if status, h, _ := p.send(t, http.MethodPost, "/admin/events/1/retry", origin, nil); status != http.StatusSeeOther || !strings.Contains(h.Get("Location"), "retry=busy") {
		t.Errorf("the form meanwhile: %d to %q, want 303 saying it is busy", status, h.Get("Location"))
	}
	gate.Release()
	if got := <-first; !strings.HasPrefix(got, "200 ") || !strings.Contains(got, `"outcome":"forwarded"`) {
		t.Errorf("the first retry: %s, want 200 forwarded", got)
	}
	if got := red.Calls(reditus.CallTrack) - calls; got != 1 {
		t.Errorf("Reditus got %d calls for two retries at once, want 1", got)
	}
}

// On Postgres, a search for text no journal holds (NUL, bytes that are not
// UTF-8) is a 400 naming the parameter, not a query Postgres refuses (a 500
// and an error in the log).
func TestAdminSearchOnPostgresForTextItCannotHoldIsA400(t *testing.T) {
	dbURL := testenv.Postgres(t)
	p := start(t, "DATABASE_URL="+dbURL, "ADMIN_TOKEN="+adminToken)
	for _, q := range []string{"email=%00", "event_id=%ff", "event_id=a%00b"} {
		if status, _, body := p.send(t, http.MethodGet, "/admin/api/events?"+q, asAdmin(adminToken), nil); status != http.StatusBadRequest {
			t.Errorf("GET /admin/api/events?%s: %d %s, want 400", q, status, body)
		}
	}
	p.stop(t)
	if p.logged("admin: list the journal") {
		t.Error("a search logged an error")
	}
}

// The retry API runs again only what a retry can change, as the page's
// button does: a forwarded payment is not sent again (a second commission,
// were its key ever to differ), nor a refund or churn; it is answered 409
// saying why, and Reditus hears nothing. A parameter the API does not know
// is a 400. A skipped event, once its cause is fixed, is retried.
func TestAdminRetriesOnlyWhatARetryCanChange(t *testing.T) {
	red := newReditus(t)
	const secret = "e2e-lemonsqueezy-signing-secret"
	p := start(t, liveEnv(red, "LEMONSQUEEZY_WEBHOOK_SECRET="+secret)...)
	if a := p.post(t, "lemonsqueezy", secret, "", webhooktest.Fixture(t, "lemonsqueezy/order_created.json")); a.String() != "200 forwarded" {
		t.Fatalf("the order: %s, want 200 forwarded", a)
	}
	if a := p.post(t, "lemonsqueezy", secret, "", webhooktest.Fixture(t, "lemonsqueezy/order_refunded.json")); a.String() != "200 forwarded" {
		t.Fatalf("its refund: %s, want 200 forwarded", a)
	}
	if a := p.deliver(t, delivery{"generic", "msg_noslug", "noslug@example.com", []byte(`{"email":"noslug@example.com"}`)}); a.String() != "200 skipped" {
		t.Fatalf("a signup without referral data: %s, want 200 skipped", a)
	}
	origin := asAdmin(adminToken, "Origin", p.base)
	calls := red.Requests()
	for _, e := range p.events(t, "outcome=forwarded") {
		status, _, body := p.send(t, http.MethodPost, fmt.Sprintf("/admin/api/events/%d/retry", e.ID), origin, nil)
		if status != http.StatusConflict || !strings.Contains(string(body), "is forwarded, which a retry cannot change") {
			t.Errorf("retry of the forwarded %s: %d %s, want 409 saying why", e.EventType, status, body)
		}
	}
	if n := red.Requests() - calls; n != 0 || len(red.Payments()) != 1 || len(red.Refunds()) != 1 {
		t.Errorf("the refused retries made %d Reditus requests (%d payments, %d refunds in all), want none (1 and 1)", n, len(red.Payments()), len(red.Refunds()))
	}
	skipped := p.event(t, "msg_noslug")
	for _, q := range []string{"?force=1", "?outcome=skipped&dry_run=false"} {
		if status, _, body := p.send(t, http.MethodPost, fmt.Sprintf("/admin/api/events/%d/retry%s", skipped.ID, q), origin, nil); status != http.StatusBadRequest || !strings.Contains(string(body), "unknown parameter") {
			t.Errorf("retry%s: %d %s, want 400 naming the unknown parameter", q, status, body)
		}
	}
	if status, _, body := p.send(t, http.MethodPost, fmt.Sprintf("/admin/api/events/%d/retry", skipped.ID), origin, nil); status != http.StatusOK || !strings.Contains(string(body), `"outcome":"skipped"`) {
		t.Errorf("retry of the skipped event: %d %s, want 200, skipped again", status, body)
	}
	p.stop(t)
}

// /admin's overview, one event's page and erasure, against the running
// binary on both journals: every attempt at Reditus is kept with its answer,
// the summary counts what happened, and a customer's events are erased
// whole, by their exact email, from the bridge's own origin only.

// eachJournal runs test against a bridge on SQLite, then on Postgres; env
// selects the journal, and names the same one for a command run beside it.
func eachJournal(t *testing.T, test func(t *testing.T, env []string)) {
	t.Run("sqlite", func(t *testing.T) { test(t, []string{"DATA_DIR=" + t.TempDir()}) })
	t.Run("postgres", func(t *testing.T) { test(t, []string{"DATABASE_URL=" + testenv.Postgres(t)}) })
}

// adminDetail is one event as GET /admin/api/events/{id} answers it.
type adminDetail struct {
	ID      int64  `json:"id"`
	Outcome string `json:"outcome"`
	Email   string `json:"email"`
	Slug    string `json:"affiliate_slug"`
	Body    string `json:"body"`
	Found   []struct{ Field, Value, From string }
	Sent    []struct {
		Call, Path string
		Body       map[string]string
	}
	Attempts []struct {
		At        time.Time `json:"at"`
		Call      string    `json:"call"`
		Status    int       `json:"status"`
		Outcome   string    `json:"outcome"`
		Reason    string    `json:"reason"`
		LatencyMS int64     `json:"latency_ms"`
	}
}

// detail reads GET /admin/api/events/{id} as the operator.
func (p *bridge) detail(t *testing.T, id int64) adminDetail {
	t.Helper()
	status, _, body := p.send(t, http.MethodGet, fmt.Sprintf("/admin/api/events/%d", id), asAdmin(adminToken), nil)
	var d struct{ Event adminDetail }
	if err := json.Unmarshal(body, &d); status != http.StatusOK || err != nil {
		t.Fatalf("GET /admin/api/events/%d: %d %s (%v)", id, status, body, err)
	}
	return d.Event
}

// An event queued through an outage, then delivered by the worker: its page
// shows every attempt, the 503s and the 201, what was sent, what the bridge
// found and where, and the raw body. A rejected one shows Reditus's words,
// the customer's address in them masked.
func TestAdminEventPageShowsEveryAttempt(t *testing.T) {
	eachJournal(t, func(t *testing.T, env []string) {
		red := newReditus(t)
		red.set(down)
		p := start(t, liveEnv(red, env...)...)
		d := signup("attempts")
		if a := p.deliver(t, d); a.String() != "202 queued" {
			t.Fatalf("during the outage: %s, want 202 queued", a)
		}
		red.set(up)
		waitFor(t, 30*time.Second, "the worker's delivery", func() bool { return p.event(t, "msg_attempts").Outcome == "forwarded" })
		ev := p.detail(t, p.event(t, "msg_attempts").ID)
		n := len(ev.Attempts)
		if n < 2 || ev.Attempts[0].Status != http.StatusServiceUnavailable || ev.Attempts[0].Outcome != "retry" ||
			ev.Attempts[n-1].Status != http.StatusCreated || ev.Attempts[n-1].Outcome != "forwarded" {
			t.Fatalf("attempts %+v, want the 503s, then the 201", ev.Attempts)
		}
		for i, a := range ev.Attempts {
			if a.Call != "track" || a.At.IsZero() || (i > 0 && a.At.Before(ev.Attempts[i-1].At)) {
				t.Errorf("attempt %d: %+v", i, a)
			}
		}
		if !strings.Contains(ev.Attempts[n-1].Reason, `"id":"ref_`) {
			t.Errorf("the 201's answer %q, want Reditus's body", ev.Attempts[n-1].Reason)
		}
		if len(ev.Sent) != 1 || ev.Sent[0].Path != "/v2/tracking/conversion" || ev.Sent[0].Body["email"] != d.email || ev.Sent[0].Body["affiliate_slug"] != "john" {
			t.Errorf("sent %+v", ev.Sent)
		}
		if ev.Body != string(d.body) || ev.Slug != "john" || len(ev.Found) == 0 || ev.Found[0].From != "affiliate_slug in the body" {
			t.Errorf("body %q, slug %q, found %+v", ev.Body, ev.Slug, ev.Found)
		}
		status, _, page := p.send(t, http.MethodGet, fmt.Sprintf("/admin/events/%d", ev.ID), asAdmin(adminToken), nil)
		if status != http.StatusOK {
			t.Fatalf("the event's page: %d", status)
		}
		for _, want := range []string{"503 Service Unavailable", "201 Created", "affiliate_slug in the body", "POST /v2/tracking/conversion", "What was received", `&#34;uid&#34;: &#34;usr_attempts&#34;`} {
			if !strings.Contains(string(page), want) {
				t.Errorf("the event's page lacks %q", want)
			}
		}

		red.set(rejecting)
		if a := p.deliver(t, signup("refused")); a.String() != "200 rejected" {
			t.Fatalf("rejected: %s", a)
		}
		rej := p.detail(t, p.event(t, "msg_refused").ID)
		if len(rej.Attempts) != 1 || rej.Attempts[0].Status != http.StatusBadRequest || rej.Attempts[0].Reason != "Affiliate john not found (referral r***@example.com)" {
			t.Errorf("rejected attempts %+v", rej.Attempts)
		}
	})
}

// The summary API counts what happened by outcome, provider and day; /admin
// shows it above the events, with a chart drawn on the server.
func TestAdminOverviewAndSummary(t *testing.T) {
	eachJournal(t, func(t *testing.T, env []string) {
		red := newReditus(t)
		p := start(t, liveEnv(red, env...)...)
		expect(t, p, signup("one"), "200 forwarded")
		expect(t, p, stripeSignup("two"), "200 forwarded")
		unreferred := delivery{"generic", "msg_plain", "plain@example.com", []byte(`{"email":"plain@example.com","uid":"usr_plain"}`)}
		expect(t, p, unreferred, "200 skipped")
		red.set(rejecting)
		expect(t, p, signup("three"), "200 rejected")

		status, _, body := p.send(t, http.MethodGet, "/admin/api/summary?since=24h", asAdmin(adminToken), nil)
		var sum struct {
			Since     time.Time
			Counts    map[string]int
			Providers map[string]map[string]int
			Days      []struct {
				Date   string
				Counts map[string]int
			}
			NeedsAttention int `json:"needs_attention"`
		}
		if err := json.Unmarshal(body, &sum); status != http.StatusOK || err != nil {
			t.Fatalf("GET /admin/api/summary: %d %s (%v)", status, body, err)
		}
		if sum.Counts["forwarded"] != 2 || sum.Counts["skipped"] != 1 || sum.Counts["rejected"] != 1 || len(sum.Counts) != 3 {
			t.Errorf("counts %v", sum.Counts)
		}
		if sum.Providers["stripe"]["forwarded"] != 1 || sum.Providers["generic"]["forwarded"] != 1 || sum.Providers["generic"]["rejected"] != 1 {
			t.Errorf("providers %v", sum.Providers)
		}
		today := time.Now().UTC().Format(time.DateOnly)
		if last := sum.Days[len(sum.Days)-1]; last.Date != today || last.Counts["forwarded"] != 2 {
			t.Errorf("days %+v, want today %s last", sum.Days, today)
		}
		if sum.NeedsAttention != 1 || time.Since(sum.Since) < 23*time.Hour {
			t.Errorf("needs attention %d, since %v", sum.NeedsAttention, sum.Since)
		}
		status, _, page := p.send(t, http.MethodGet, "/admin", asAdmin(adminToken), nil)
		for _, want := range []string{`id="overview"`, `<svg`, `<span class="n">4</span> events</a> in the last 24 hours`, `1 need attention`} {
			if status != http.StatusOK || !strings.Contains(string(page), want) {
				t.Errorf("/admin: %d, lacks %q", status, want)
			}
		}
	})
}

// Erasure deletes every record of one customer, raw bodies and attempts
// included, by their exact email in any case; a pattern erases nothing, and
// another site cannot make the operator's browser erase anything. The
// events command erases as the API does.
func TestAdminErasesACustomer(t *testing.T) {
	eachJournal(t, func(t *testing.T, env []string) {
		red := newReditus(t)
		p := start(t, liveEnv(red, env...)...)
		erased := []delivery{signup("erase.me"), stripeSignup("erase.me")}
		kept := []delivery{signup("erase_me"), signup("keep")}
		for _, d := range append(append([]delivery{}, erased...), kept...) {
			expect(t, p, d, "200 forwarded")
		}
		erase := func(email string, header http.Header) (int, string) {
			status, _, body := p.send(t, http.MethodDelete, "/admin/api/events?"+url.Values{"email": {email}}.Encode(), header, nil)
			return status, string(body)
		}
		for name, h := range map[string]http.Header{
			"another site":     asAdmin(adminToken, "Origin", "https://evil.example"),
			"a cross-site tab": asAdmin(adminToken, "Origin", p.base, "Sec-Fetch-Site", "cross-site"),
			"no origin":        asAdmin(adminToken),
		} {
			if status, body := erase("erase.me@example.com", h); status != http.StatusForbidden {
				t.Errorf("%s: %d %s, want 403", name, status, body)
			}
		}
		for _, pattern := range []string{"%@example.com", "erase_me@example.com%", "*@example.com", "erase.me@example.%"} {
			if status, body := erase(pattern, asAdmin(adminToken, "Origin", p.base)); status != http.StatusOK || body != `{"deleted":0}` {
				t.Errorf("erase %q: %d %s, want nothing deleted", pattern, status, body)
			}
		}
		if got := len(p.events(t, "")); got != 4 {
			t.Fatalf("%d events before the erasure, want 4", got)
		}
		if status, body := erase("ERASE.ME@Example.com", asAdmin(adminToken, "Origin", p.base)); status != http.StatusOK || body != `{"deleted":2}` {
			t.Errorf("erase: %d %s, want {\"deleted\":2}", status, body)
		}
		if evs := p.events(t, "email=erase.me@example.com"); len(evs) != 0 {
			t.Errorf("after the erasure: %+v", evs)
		}
		if got := len(p.events(t, "")); got != 2 {
			t.Errorf("%d events after the erasure, want the 2 of others", got)
		}
		if n := journalRows(t, env, "erase.me@"); n != 0 {
			t.Errorf("%d rows of the journal still hold the address", n)
		}
		if files := sqliteFiles(t, env); bytes.Contains(files, []byte("erase.me@")) {
			t.Error("the SQLite files still hold the address: the deleted rows' bytes were not overwritten")
		}
		if !p.logged("admin: erased a customer's events") || p.logHolds("erase.me@example.com", "ERASE.ME") != "" {
			t.Error("the erasure is not logged, or the log holds the address")
		}

		stdout, stderr, code := runCommand(t, env, "events", "forget", "--email", "keep@EXAMPLE.com")
		if code != 0 || stdout != "deleted 1 event of keep@EXAMPLE.com\n" {
			t.Errorf("events forget: exit %d\n%s%s", code, stdout, stderr)
		}
		if evs := p.events(t, ""); len(evs) != 1 || evs[0].Email != "erase_me@example.com" {
			t.Errorf("after events forget: %+v", evs)
		}
	})
}

// journalRows counts the rows of the journal's tables (events, attempts and
// bodies) whose text holds s: what an erasure must leave none of.
func journalRows(t *testing.T, env []string, s string) int {
	t.Helper()
	var db *sql.DB
	var query string
	for _, kv := range env {
		if dir, ok := strings.CutPrefix(kv, "DATA_DIR="); ok {
			db = journalDB(t, dir)
			query = `SELECT (SELECT COUNT(*) FROM journal WHERE instr(CAST(body AS TEXT), ?) > 0 OR instr(email, ?) > 0)
				+ (SELECT COUNT(*) FROM journal_attempts WHERE instr(reason, ?) > 0)
				+ (SELECT COUNT(*) FROM journal_body WHERE instr(CAST(body AS TEXT), ?) > 0)`
		}
		if u, ok := strings.CutPrefix(kv, "DATABASE_URL="); ok {
			var err error
			if db, err = sql.Open("pgx", u); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			query = `SELECT (SELECT COUNT(*) FROM journal WHERE position($1::bytea in body) > 0 OR position($2 in email) > 0)
				+ (SELECT COUNT(*) FROM journal_attempts WHERE position($3 in reason) > 0)
				+ (SELECT COUNT(*) FROM journal_body WHERE position($4::bytea in body) > 0)`
		}
	}
	var n int
	if err := db.QueryRow(query, s, s, s, s).Scan(&n); err != nil {
		t.Fatalf("count the rows: %v", err)
	}
	return n
}

// sqliteFiles are the bytes of the SQLite journal env names, and of its WAL;
// nothing on Postgres.
func sqliteFiles(t *testing.T, env []string) []byte {
	t.Helper()
	var all []byte
	for _, kv := range env {
		if dir, ok := strings.CutPrefix(kv, "DATA_DIR="); ok {
			for _, name := range []string{"bridge.db", "bridge.db-wal"} {
				b, err := os.ReadFile(filepath.Join(dir, name))
				if err != nil && !errors.Is(err, fs.ErrNotExist) {
					t.Fatal(err)
				}
				all = append(all, b...)
			}
		}
	}
	return all
}

// Erasing a customer whose event carried a body of a few KB, the address
// past its first page: the built bridge's files keep no copy of it, though
// the record was rewritten (its outcome) after the body was first written.
func TestErasingACustomerLeavesNoCopyOfALargeBody(t *testing.T) {
	red := newReditus(t)
	env := []string{"DATA_DIR=" + t.TempDir()}
	p := start(t, liveEnv(red, env...)...)
	const email = "large.body@example.com"
	expect(t, p, delivery{"generic", "msg_large_body", email,
		[]byte(`{"note":"` + strings.Repeat("x", 6000) + `","email":"` + email + `","uid":"usr_large","affiliate_slug":"john"}`)}, "200 forwarded")
	// Erased by the command while the bridge runs, a second process on
	// the file, whose retention has just run (its deletes overwrite
	// nothing).
	stdout, stderr, code := runCommand(t, env, "events", "forget", "--email", email)
	if code != 0 || stdout != "deleted 1 event of "+email+"\n" {
		t.Fatalf("events forget: exit %d\n%s%s", code, stdout, stderr)
	}
	p.stop(t)
	if bytes.Contains(sqliteFiles(t, env), []byte(email)) {
		t.Error("the SQLite files still hold the erased address")
	}
}
