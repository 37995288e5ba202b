package admin_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/getreditus/reditus-bridge/journal"
)

// Values a signed sender or Reditus chose, as long as the 1 MiB body allows:
// the page, the API and the events command show a bounded part of each, say
// that it was cut, and stay usable. Shown whole, a hundred such events made
// one look at /admin a gigabyte of HTML in the bridge's memory
// (TestAdminCutsLongValues, against the binary, in e2e/).
func TestHostileLongValuesAreCut(t *testing.T) {
	huge := strings.Repeat("<", 1<<20)
	s := newSite(t,
		event{provider: "generic", deliveryID: "msg_" + huge, eventType: huge, email: huge + "@example.com",
			outcome: "rejected", reason: huge, referralID: huge, ago: time.Minute},
		// Long, but searchable: shown cut, linked whole.
		event{provider: "generic", deliveryID: strings.Repeat("d", 1000), email: strings.Repeat("e", 988) + "@example.com",
			outcome: "skipped", ago: 2 * time.Minute},
		// Over what a search takes: no link.
		event{provider: "generic", deliveryID: strings.Repeat("d", 1001), email: strings.Repeat("f", 989) + "@example.com",
			outcome: "skipped", ago: 3 * time.Minute},
	)
	cut := "… (1048576 characters in all)"

	resp, page := s.get(t, "/admin")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /admin: %d", resp.StatusCode)
	}
	if len(page) > 96<<10 {
		t.Fatalf("the page is %d KiB, want under 96 KiB", len(page)>>10)
	}
	if got := len(rowIDs(page)); got != 3 {
		t.Errorf("%d rows, want 3", got)
	}
	contains(t, "the page", page, cut, "… (1048580 characters in all)", // the 1 MiB values, and the id with its msg_
		`href="/admin?event_id=`+strings.Repeat("d", 1000)+`"`,
		`href="/admin?email=`+strings.Repeat("e", 988)+`%40example.com"`)
	lacks(t, "the page", page, `href="/admin?event_id=`+strings.Repeat("d", 1001),
		`href="/admin?email=`+strings.Repeat("f", 989), `href="/admin?email=%3C`, `href="/admin?event_id=msg_%3C`)

	resp, body := s.get(t, "/admin/api/events")
	if resp.StatusCode != http.StatusOK || len(body) > 96<<10 {
		t.Fatalf("GET /admin/api/events: %d, %d KiB, want 200 under 96 KiB", resp.StatusCode, len(body)>>10)
	}
	var list struct {
		Events []map[string]any `json:"events"`
	}
	if err := json.Unmarshal([]byte(body), &list); err != nil || len(list.Events) != 3 {
		t.Fatalf("GET /admin/api/events: %v, %d events", err, len(list.Events))
	}
	for _, field := range []string{"delivery_id", "event_type", "email", "referral_id", "reason"} {
		v, _ := list.Events[0][field].(string)
		if !strings.HasSuffix(v, "characters in all)") || utf8.RuneCountInString(v) > 2100 {
			t.Errorf("api %s: %d characters ending %q, want it cut", field, utf8.RuneCountInString(v), v[max(0, len(v)-30):])
		}
	}
	// Values a search can name come back whole, so that a script can search
	// for them.
	if got := list.Events[1]["delivery_id"]; got != strings.Repeat("d", 1000) {
		t.Errorf("api: a 1000-byte delivery id came back as %d bytes", len(got.(string)))
	}

	table, err := runEvents(t, s.store)
	if err != nil {
		t.Fatal(err)
	}
	// Each cell is padded to the widest of its column: one megabyte-wide
	// cell made every line a megabyte.
	if len(table) > 16<<10 {
		t.Errorf("the events table is %d KiB, want under 16 KiB", len(table)>>10)
	}
	contains(t, "the events table", table, cut)
	asJSON, err := runEvents(t, s.store, "--json")
	if err != nil || len(asJSON) > 96<<10 {
		t.Errorf("events --json: %d KiB (%v), want under 96 KiB", len(asJSON)>>10, err)
	}
}

// A search for text no journal holds (NUL, bytes that are not UTF-8), from a
// link or the command line, is a 400 that names the parameter. Postgres
// refused it in the query: a 500, and an error in the log, for a typo.
func TestHostileSearchNotText(t *testing.T) {
	s := newSite(t, fixture...)
	for _, q := range []string{"email=%00", "email=jane%00@example.com", "email=%ff%fe", "event_id=evt%00", "event_id=%c3"} {
		for _, path := range []string{"/admin/api/events?", "/admin?"} {
			resp, body := s.get(t, path+q)
			if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "not text") {
				t.Errorf("GET %s%s: %d, want 400 saying it is not text:\n%.300s", path, q, resp.StatusCode, body)
			}
		}
	}
	if _, err := runEvents(t, s.store, "--email", "jane\x00@example.com"); err == nil || !strings.Contains(err.Error(), "--email: not text") {
		t.Errorf("events --email with NUL: %v, want an error naming --email", err)
	}
}

// An event's page shows what a sender chose (its body, the slugs and keys
// the bridge found in it, the event type) and what Reditus answered as
// text: indented, its invisible characters shown, never markup. A body of a
// megabyte is shown in part, and the JSON has it whole.
func TestHostileEventPageShowsEverythingAsText(t *testing.T) {
	const script = `<script>document.title='pwned'</script>`
	body := `{"email":"` + script + `@example.com","note":"</pre><img src=x onerror=alert(1)>` + "\u202e" + `gnp.exe","red":"` + script + `"}`
	notJSON := "id=tr_1&x=</pre><script>alert(1)</script>\x00\xff\x1b[31m"
	huge := `{"pad":"` + strings.Repeat("<", 1<<20) + `"}`
	detail := &journal.Finish{
		AffiliateSlug: script,
		Found:         []journal.Field{{Name: "affiliate_slug", Value: script, From: "red in <b>the body</b>"}},
		Sent:          []journal.Sent{{Call: "track", Body: []byte(`{"affiliate_slug":"` + strings.ReplaceAll(script, "'", `\u0027`) + `"}`)}},
		AttemptLog:    []journal.Attempt{{At: now, Call: "track", Status: 400, Outcome: "rejected", Reason: "Affiliate <b>" + script + "</b> not found", Latency: time.Millisecond}},
	}
	s := newSite(t,
		event{provider: "generic", deliveryID: "msg_1", eventType: script, email: script + "@example.com", ago: time.Minute,
			outcome: "rejected", reason: script, body: body, detail: detail},
		event{provider: "mollie", deliveryID: "tr_1", email: "m@example.com", ago: time.Minute, outcome: "skipped", body: notJSON},
		event{provider: "generic", deliveryID: "msg_huge", email: "h@example.com", ago: time.Minute, outcome: "skipped", body: huge},
	)
	for _, id := range []string{"1", "2", "3"} {
		resp, page := s.get(t, "/admin/events/"+id)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("event %s: %d", id, resp.StatusCode)
		}
		lacks(t, "event "+id, page, "<script", "<img", "<b>", "</pre><")
		if len(page) > 512<<10 {
			t.Errorf("event %s: the page is %d KiB", id, len(page)>>10)
		}
	}
	_, page := s.get(t, "/admin/events/1")
	contains(t, "event 1", page, `&lt;script&gt;document.title=&#39;pwned&#39;&lt;/script&gt;`, `red in &lt;b&gt;the body&lt;/b&gt;`,
		`[U&#43;202E]gnp.exe`, `Affiliate &lt;b&gt;`)
	_, page = s.get(t, "/admin/events/2")
	contains(t, "event 2", page, `id=tr_1&amp;x=&lt;/pre&gt;&lt;script&gt;`, `[U&#43;0000]`, `[U&#43;001B][31m`)
	_, page = s.get(t, "/admin/events/3")
	contains(t, "event 3", page, fmt.Sprintf("The first 64 KiB of %d bytes; GET /admin/api/events/3 answers it whole.", len(huge)))
	_, raw := s.get(t, "/admin/api/events/3")
	var got struct{ Event struct{ Body string } }
	if err := json.Unmarshal([]byte(raw), &got); err != nil || got.Event.Body != huge {
		t.Errorf("the JSON's body: %d bytes, %v; want the whole %d", len(got.Event.Body), err, len(huge))
	}
}
