package admin_test

import (
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// rowIDs are the ids of the event rows of a page, in order.
func rowIDs(page string) []int64 {
	out := []int64{}
	for _, m := range regexp.MustCompile(`<tr id="event-(\d+)">`).FindAllStringSubmatch(page, -1) {
		id, _ := strconv.ParseInt(m[1], 10, 64)
		out = append(out, id)
	}
	return out
}

// retryButtons are the ids of the events the page offers to retry.
func retryButtons(page string) []int64 {
	out := []int64{}
	for _, m := range regexp.MustCompile(`action="/admin/events/(\d+)/retry[^"]*"`).FindAllStringSubmatch(page, -1) {
		id, _ := strconv.ParseInt(m[1], 10, 64)
		out = append(out, id)
	}
	return out
}

func TestPage(t *testing.T) {
	s := newSite(t, fixture...)
	resp, page := s.get(t, "/admin")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "text/html; charset=utf-8" {
		t.Errorf("Content-Type %q", ct)
	}
	if got, want := rowIDs(page), ids(6, 5, 4, 3, 2, 1); !slices.Equal(got, want) {
		t.Errorf("rows %v, want %v, newest first", got, want)
	}
	// Retry where it can change the answer: queued, failed, skipped, rejected.
	if got, want := retryButtons(page), ids(5, 4, 3, 2); !slices.Equal(got, want) {
		t.Errorf("retry buttons for %v, want %v", got, want)
	}
	contains(t, "the page", page,
		// Each column of an event.
		`<time datetime="2025-03-04T10:00:00Z">2025-03-04 10:00:00</time><br><span class="ago">2 h ago</span>`,
		`<span class="provider">stripe</span> <span class="mono">checkout.session.completed</span>`, `>evt_eve_1</a>`, `eve@example.com`,
		`<span class="badge bad" title="Reditus refused it`, `>rejected</span>`,
		`affiliate_slug: no affiliate with this slug`, `ref_jane`,
		`Jane@Example.COM`, // as it arrived
		// Every search is a link.
		`href="/admin?email=eve%40example.com"`, `href="/admin?event_id=evt_eve_1"`,
		// The legend, and what to do.
		`What the outcomes mean`, `RETRY_FOR`, `then retry`,
		// The search form.
		`<form class="search" method="get" action="/admin">`, `name="email"`, `name="event_id"`,
		`<option value="queued">queued</option>`, `<option value="supabase">supabase</option>`,
		`6 events`,
	)
	lacks(t, "the page", page, `<script`, `id="empty"`, `Show all events`, `the newest`)

	// The one style element is the one the policy allows: a browser would
	// show the page unstyled otherwise.
	m := regexp.MustCompile(`(?s)<style>(.*?)</style>`).FindAllStringSubmatch(page, -1)
	if len(m) != 1 {
		t.Fatalf("%d style elements, want 1", len(m))
	}
	sum := sha256.Sum256([]byte(m[0][1]))
	if want, csp := "style-src 'sha256-"+base64.StdEncoding.EncodeToString(sum[:])+"'", resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, want) {
		t.Errorf("Content-Security-Policy %q does not allow the page's style element (%s)", csp, want)
	}
	if strings.Contains(page, ` style="`) {
		t.Error("a style attribute, which the policy does not allow")
	}
}

func TestPageSearch(t *testing.T) {
	s := newSite(t, fixture...)
	for _, tc := range []struct {
		query string
		rows  []int64
		form  []string // what the form shows of the search
	}{
		{"?email=JANE@example.com", ids(3, 1), []string{`name="email" value="JANE@example.com"`}},
		{"?event_id=evt_x_2", ids(6), []string{`name="event_id" value="evt_x_2"`}},
		{"?outcome=skipped", ids(2), []string{`<option value="skipped" selected>skipped</option>`}},
		{"?provider=stripe&since=24h", ids(6, 4), []string{`<option value="stripe" selected>`, `<option value="24h" selected>last 24 hours</option>`}},
		{"?since=36h", ids(6, 5, 4, 3, 2), []string{`<option value="36h" selected>36h</option>`}},
		{"?provider=polar", ids(), []string{`<option value="polar" selected>polar</option>`}},
		{"?limit=2", ids(6, 5), []string{`<option value="50">50</option>`, `<option value="2" selected>2</option>`, `the newest 2 only`}},
	} {
		t.Run(tc.query, func(t *testing.T) {
			resp, page := s.get(t, "/admin"+tc.query)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d", resp.StatusCode)
			}
			if got := rowIDs(page); !slices.Equal(got, tc.rows) {
				t.Errorf("rows %v, want %v", got, tc.rows)
			}
			contains(t, "the page", page, tc.form...)
			if tc.query != "?limit=2" { // a limit is not a search
				contains(t, "the page", page, `<a href="/admin">Show all events</a>`)
			}
			if len(tc.rows) == 0 {
				contains(t, "the page", page, `id="empty">No event matches this search.`)
			}
		})
	}
}

// The Retry button brings the browser back to the same search.
func TestPageRetryKeepsTheSearch(t *testing.T) {
	s := newSite(t, fixture...)
	_, page := s.get(t, "/admin?email=jane%40example.com&outcome=queued")
	contains(t, "the page", page, `action="/admin/events/3/retry?email=jane%40example.com&amp;outcome=queued"`)
}

func TestPageEmptyJournal(t *testing.T) {
	s := newSite(t)
	_, page := s.get(t, "/admin")
	contains(t, "the page", page, `id="empty">No events yet.`)
	lacks(t, "the page", page, `<table`, `Show all events`)
}

func TestPageBadSearch(t *testing.T) {
	s := newSite(t, fixture...)
	for _, q := range []string{"?limit=0", "?since=tomorrow", "?emial=jane@example.com"} {
		resp, page := s.get(t, "/admin"+q)
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("%s: status %d, want 400", q, resp.StatusCode)
		}
		// The form stays, so that the search can be fixed.
		contains(t, q, page, `role="alert"`, `<form class="search"`)
		if len(rowIDs(page)) != 0 {
			t.Errorf("%s: rows listed for a search that was refused", q)
		}
	}
}

// Emails, reasons and ids come from the internet: the page shows them as
// text, wherever they land (element, attribute, link).
func TestPageEscapes(t *testing.T) {
	const (
		scriptTag = `<script>alert(1)</script>`
		imgTag    = `"><img src=x onerror=alert(1)>`
	)
	s := newSite(t,
		event{provider: "generic", deliveryID: "msg_" + imgTag, eventType: "user.created" + scriptTag,
			email: scriptTag + imgTag + "@example.com", outcome: "skipped",
			reason: "no referral data in " + scriptTag + " or " + imgTag, referralID: imgTag},
	)
	for _, path := range []string{"/admin", "/admin?" + url.Values{"email": {scriptTag + imgTag + "@example.com"}}.Encode(), "/admin?retried=1"} {
		resp, page := s.get(t, path)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: status %d", path, resp.StatusCode)
		}
		if len(rowIDs(page)) != 1 {
			t.Fatalf("%s: rows %v, want the one event", path, rowIDs(page))
		}
		lacks(t, path, page, scriptTag, imgTag, "<img", "<script")
		contains(t, path, page,
			`&lt;script&gt;alert(1)&lt;/script&gt;`,
			`&#34;&gt;&lt;img src=x onerror=alert(1)&gt;`,
			// In a link, the value is percent-encoded.
			`href="/admin?email=%3Cscript%3Ealert%281%29%3C%2Fscript%3E%22%3E%3Cimg`,
		)
	}
}

// Characters that would not show (a zero-width space in an email, a bidi
// override, a terminal escape) are shown by their code point.
func TestPageShowsInvisibleCharacters(t *testing.T) {
	s := newSite(t, event{provider: "stripe", deliveryID: "evt_1", email: "ja\u200bne@example.com",
		outcome: "rejected", reason: "slug \u202egnp.exe\x1b[0m", ago: time.Minute})
	_, page := s.get(t, "/admin")
	// html/template writes + as &#43;, which reads as + in the browser.
	contains(t, "the page", page, `ja[U&#43;200B]ne@example.com`, `slug [U&#43;202E]gnp.exe[U&#43;001B][0m`)
	// The search link keeps the real value, so that it finds the event.
	contains(t, "the page", page, `href="/admin?email=ja%E2%80%8Bne%40example.com"`)
}
