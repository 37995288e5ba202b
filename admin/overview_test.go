package admin_test

import (
	"encoding/json"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestSummaryAPI(t *testing.T) {
	s := newSite(t, fixture...)
	for _, tc := range []struct {
		query     string
		since     string
		counts    map[string]int
		providers map[string]map[string]int
		days      int
		attention int
	}{
		{"?since=24h", "2025-03-03T12:00:00Z",
			map[string]int{"queued": 1, "rejected": 1, "failed": 1, "duplicate": 1},
			map[string]map[string]int{"stripe": {"rejected": 1, "duplicate": 1}, "supabase": {"queued": 1}, "generic": {"failed": 1}}, 2, 3},
		{"", "2025-02-02T12:00:00Z", // 30 days
			map[string]int{"forwarded": 1, "skipped": 1, "queued": 1, "rejected": 1, "failed": 1, "duplicate": 1},
			map[string]map[string]int{"stripe": {"forwarded": 1, "rejected": 1, "duplicate": 1}, "clerk": {"skipped": 1}, "supabase": {"queued": 1}, "generic": {"failed": 1}}, 31, 3},
	} {
		t.Run(tc.query, func(t *testing.T) {
			resp, body := s.get(t, "/admin/api/summary"+tc.query)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
			var got struct {
				Since     string                    `json:"since"`
				Counts    map[string]int            `json:"counts"`
				Providers map[string]map[string]int `json:"providers"`
				Days      []struct {
					Date   string         `json:"date"`
					Counts map[string]int `json:"counts"`
				} `json:"days"`
				NeedsAttention int `json:"needs_attention"`
			}
			if err := json.Unmarshal([]byte(body), &got); err != nil {
				t.Fatalf("%v: %s", err, body)
			}
			if got.Since != tc.since || !mapsEqual(got.Counts, tc.counts) || got.NeedsAttention != tc.attention {
				t.Errorf("since %s, counts %v, needs attention %d; want %s, %v, %d", got.Since, got.Counts, got.NeedsAttention, tc.since, tc.counts, tc.attention)
			}
			for p, want := range tc.providers {
				if !mapsEqual(got.Providers[p], want) {
					t.Errorf("providers[%s] = %v, want %v", p, got.Providers[p], want)
				}
			}
			if len(got.Providers) != len(tc.providers) {
				t.Errorf("providers %v, want %v", got.Providers, tc.providers)
			}
			if len(got.Days) != tc.days || got.Days[len(got.Days)-1].Date != "2025-03-04" {
				t.Fatalf("%d days, want %d ending today: %s", len(got.Days), tc.days, body)
			}
			sum := 0
			for _, d := range got.Days {
				if d.Counts == nil {
					t.Errorf("day %s: counts null, want {}", d.Date)
				}
				for _, n := range d.Counts {
					sum += n
				}
			}
			if want := total(tc.counts); sum != want {
				t.Errorf("the days count %d events, want %d", sum, want)
			}
		})
	}
	for _, q := range []string{"?since=soon", "?since=-1h", "?provider=stripe"} {
		if resp, body := s.get(t, "/admin/api/summary"+q); resp.StatusCode != http.StatusBadRequest {
			t.Errorf("%s: status %d, want 400: %s", q, resp.StatusCode, body)
		}
	}
}

func mapsEqual(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func total(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// The overview is above the events of /admin: three windows, the outcomes and
// providers, and a per-day chart drawn on the server, with no script.
func TestOverview(t *testing.T) {
	s := newSite(t, fixture...)
	_, page := s.get(t, "/admin")
	contains(t, "the page", page,
		`id="overview"`,
		`<a class="total" href="/admin?since=24h"><span class="n">4</span> events</a> in the last 24 hours`,
		`<a class="total" href="/admin?since=30d"><span class="n">6</span> events</a> in the last 30 days`,
		`<a class="attention" href="/admin?attention=1&amp;since=24h">3 need attention</a>`,
		`<span class="ok-text">2 in Reditus</span>`,
		`<td><span class="badge bad">rejected</span></td><td class="num"><a href="/admin?outcome=rejected&amp;since=24h">1</a></td>`,
		`<td class="provider">stripe</td><td class="num"><a href="/admin?provider=stripe&amp;since=24h">2</a></td>`,
		`<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 960 170" role="img" aria-label="Events per day, 31 days: 6 in all" id="chart">`,
		`<title>2025-03-04: 4 events: 1 in Reditus, 1 queued or being delivered, 2 rejected, failed or unreadable</title>`,
	)
	if n := len(regexp.MustCompile(`<g class="day">`).FindAllString(page, -1)); n != 31 {
		t.Errorf("%d days in the chart, want 31", n)
	}
	lacks(t, "the page", page, "<script", ` style="`, "onload")
	// A search shows what was asked for, without the overview.
	_, page = s.get(t, "/admin?email=jane@example.com")
	lacks(t, "a search", page, `id="overview"`)
}

// Needs attention: failed, rejected, queued for over an hour, skipped for an
// invalid field; not what is fine or merely waiting.
func TestNeedsAttention(t *testing.T) {
	evs := append(slices.Clone(fixture),
		event{provider: "generic", deliveryID: "msg_q_new", email: "q@example.com", ago: 20 * time.Minute, outcome: "queued", reason: "Reditus answered 503"},
		event{provider: "generic", deliveryID: "msg_invalid", email: "i@example.com", ago: time.Minute, outcome: "skipped",
			reason: "invalid affiliate_slug (affiliate_slug in the body): it contains a control character; nothing was sent in its place"},
	)
	s := newSite(t, evs...)
	_, body := s.get(t, "/admin/api/events?attention=1")
	var list struct{ Events []struct{ ID int64 } }
	_ = json.Unmarshal([]byte(body), &list)
	var got []int64
	for _, e := range list.Events {
		got = append(got, e.ID)
	}
	if want := ids(8, 5, 4, 3); !slices.Equal(got, want) {
		t.Errorf("needs attention: %v, want %v (the skipped invalid field, failed, rejected, queued 5 h)", got, want)
	}
	resp, page := s.get(t, "/admin?attention=1")
	if resp.StatusCode != http.StatusOK || !slices.Equal(rowIDs(page), ids(8, 5, 4, 3)) {
		t.Errorf("page: %d, rows %v", resp.StatusCode, rowIDs(page))
	}
	contains(t, "the page", page, `id="attention">Needs attention:`, `name="attention" value="1" checked`)
	if resp, _ := s.get(t, "/admin/api/events?attention=yes"); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("attention=yes: %d, want 400", resp.StatusCode)
	}
}

// Provider names, emails and reasons a journal holds cannot add markup to the
// overview or its chart: the SVG holds its own elements only.
func TestOverviewWithHostileValuesStaysInert(t *testing.T) {
	hostile := []string{`<script>alert(1)</script>`, `"><svg onload=alert(1)>`, `</title><a href=javascript:alert(1)>x</a>`, `<foreignObject><img src=x onerror=alert(1)>`}
	var evs []event
	for i, h := range hostile {
		evs = append(evs, event{provider: h, deliveryID: "msg_" + h, eventType: h, email: h + "@example.com", ago: time.Duration(i+1) * time.Hour,
			outcome: "rejected", reason: h})
		evs = append(evs, event{provider: "stripe", deliveryID: "evt_" + h, email: "e@example.com", ago: time.Duration(i+1) * time.Hour,
			outcome: "forwarded"})
	}
	evs = append(evs, event{provider: "generic", deliveryID: "msg_odd", email: "o@example.com", ago: time.Hour, outcome: `<b>odd</b>`})
	s := newSite(t, evs...)
	resp, page := s.get(t, "/admin")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	lacks(t, "the page", page, "<script", "<svg onload", "<img", "<foreignObject", "<a href=javascript", "<b>odd")
	contains(t, "the page", page, `<td class="provider">&lt;script&gt;alert(1)&lt;/script&gt;</td>`, `&lt;b&gt;odd&lt;/b&gt;`)
	svg := page[strings.Index(page, "<svg"):strings.Index(page, "</svg>")]
	for _, tag := range regexp.MustCompile(`<([a-zA-Z]+)`).FindAllStringSubmatch(svg, -1) {
		if !slices.Contains([]string{"svg", "line", "g", "title", "rect", "text"}, tag[1]) {
			t.Errorf("the chart holds a <%s> element", tag[1])
		}
	}
	_, body := s.get(t, "/admin/api/summary")
	var sum struct{ Providers map[string]map[string]int }
	if err := json.Unmarshal([]byte(body), &sum); err != nil || sum.Providers[hostile[0]]["rejected"] != 1 {
		t.Errorf("summary %v: %s", err, body)
	}
}
