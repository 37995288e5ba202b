package admin

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/getreditus/reditus-bridge/journal"
	"github.com/getreditus/reditus-bridge/outcome"
)

// The overview: how many events went through, per outcome and per provider,
// in the last 24 hours, 7 days and 30 days, and per day. GET
// /admin/api/summary answers one window as JSON; /admin shows the three above
// the events, with the per-day chart (chart.go).

// summaryJSON is GET /admin/api/summary's answer.
type summaryJSON struct {
	Since          time.Time                       `json:"since"`
	Counts         map[outcome.Word]int            `json:"counts"`
	Providers      map[string]map[outcome.Word]int `json:"providers"`
	Days           []dayJSON                       `json:"days"`
	NeedsAttention int                             `json:"needs_attention"`
}

type dayJSON struct {
	Date   string               `json:"date"` // 2006-01-02, UTC
	Counts map[outcome.Word]int `json:"counts"`
}

// defaultSummarySince is the window the summary covers when not told: what
// the journal keeps by default (JOURNAL_RETENTION).
const defaultSummarySince = "30d"

// summaryAPI is GET /admin/api/summary?since=.
func (s *server) summaryAPI(w http.ResponseWriter, r *http.Request) {
	if s.events == nil {
		writeError(w, http.StatusServiceUnavailable, errNoJournal)
		return
	}
	v := r.URL.Query()
	if err := onlyParam(v, "since"); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	since, err := parseSince(cmpOr(v.Get("since"), defaultSummarySince), s.now())
	if err != nil {
		writeError(w, http.StatusBadRequest, "since: "+err.Error())
		return
	}
	sums, err := s.events.Overviews(r.Context(), since)
	if err != nil || len(sums) != 1 {
		s.log.Error("admin: summarize the journal", "err", err)
		writeError(w, http.StatusInternalServerError, "could not read the journal; the bridge's log says why")
		return
	}
	writeJSON(w, http.StatusOK, toSummaryJSON(sums[0]))
}

func toSummaryJSON(sum journal.Overview) summaryJSON {
	out := summaryJSON{
		Since: sum.Since.UTC(), Counts: orEmpty(sum.Counts), Providers: map[string]map[outcome.Word]int{},
		Days: make([]dayJSON, 0, len(sum.Days)), NeedsAttention: sum.NeedsAttention,
	}
	for p, counts := range sum.Providers {
		out.Providers[p] = orEmpty(counts)
	}
	for _, d := range sum.Days {
		out.Days = append(out.Days, dayJSON{Date: d.Date.UTC().Format(time.DateOnly), Counts: orEmpty(d.Counts)})
	}
	return out
}

// orEmpty is counts, or an empty map: JSON {} rather than null.
func orEmpty(counts map[outcome.Word]int) map[outcome.Word]int {
	if counts == nil {
		return map[outcome.Word]int{}
	}
	return counts
}

func cmpOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// overview is what the page shows above the events.
type overview struct {
	Windows   []window
	Outcomes  []outcomeLine
	Providers []providerLine
	Chart     chartData
}

// window is one of the periods the overview counts.
type window struct {
	Label     string // "24 hours"
	Total     int
	Link      string // the events of the window
	InReditus int    // forwarded and duplicate
	Attention int
	// AttentionLink lists the window's events that need attention.
	AttentionLink string
}

// outcomeLine is an outcome's counts in each window.
type outcomeLine struct {
	Name  outcome.Word
	Badge string
	Cells []cell
}

// providerLine is a provider's totals in each window, and its outcomes in
// the widest.
type providerLine struct {
	Name  string
	Cells []cell
	Parts []part
}

type cell struct {
	N    int
	Link string // the events counted; empty for 0
}

type part struct {
	N     int
	Name  outcome.Word
	Badge string
}

// windows are the overview's periods, as a search's since spells them.
var windows = []struct{ since, label string }{
	{"24h", "24 hours"},
	{"7d", "7 days"},
	{"30d", "30 days"},
}

// overview summarizes the journal for the page, every window at once.
func (s *server) overview(ctx context.Context, now time.Time) (*overview, error) {
	sinces := make([]time.Time, len(windows))
	for i, w := range windows {
		sinces[i], _ = parseSince(w.since, now)
	}
	sums, err := s.events.Overviews(ctx, sinces...)
	if err != nil {
		return nil, err
	}
	if len(sums) != len(windows) {
		return nil, fmt.Errorf("the journal summed up %d windows of %d", len(sums), len(windows))
	}
	if total(sums[len(sums)-1].Counts) == 0 {
		return nil, nil // nothing to sum up: the page says the journal is empty
	}
	o := &overview{}
	for i, w := range windows {
		sum := sums[i]
		o.Windows = append(o.Windows, window{
			Label: w.label, Total: total(sum.Counts), Link: link(url.Values{"since": {w.since}}),
			InReditus: sum.Counts[outcome.WordForwarded] + sum.Counts[outcome.WordDuplicate],
			Attention: sum.NeedsAttention, AttentionLink: link(url.Values{"since": {w.since}, "attention": {"1"}}),
		})
	}
	o.Outcomes = outcomeLines(sums)
	o.Providers = providerLines(sums)
	var days []dayCounts
	for _, d := range sums[len(sums)-1].Days {
		days = append(days, dayCounts{Date: d.Date.UTC().Format(time.DateOnly), Counts: d.Counts})
	}
	o.Chart = chart(days)
	return o, nil
}

// outcomeLines are the outcomes that happened in the widest window, in the
// legend's order, then any the legend lacks.
func outcomeLines(sums []journal.Overview) []outcomeLine {
	var lines []outcomeLine
	for _, n := range happened(sums[len(sums)-1].Counts) {
		line := outcomeLine{Name: n, Badge: outcomeOf(n).Badge}
		for i, w := range windows {
			line.Cells = append(line.Cells, countCell(sums[i].Counts[n], url.Values{"outcome": {string(n)}, "since": {w.since}}))
		}
		lines = append(lines, line)
	}
	return lines
}

// providerLines are the providers with events in the widest window, by name.
func providerLines(sums []journal.Overview) []providerLine {
	widest := sums[len(sums)-1].Providers
	var lines []providerLine
	for _, p := range slices.Sorted(maps.Keys(widest)) {
		line := providerLine{Name: p}
		for i, w := range windows {
			line.Cells = append(line.Cells, countCell(total(sums[i].Providers[p]), url.Values{"provider": {p}, "since": {w.since}}))
		}
		for _, n := range happened(widest[p]) {
			line.Parts = append(line.Parts, part{N: widest[p][n], Name: n, Badge: outcomeOf(n).Badge})
		}
		lines = append(lines, line)
	}
	return lines
}

// happened are the outcomes counted in counts, in the legend's order, then
// any the legend lacks, by name.
func happened(counts map[outcome.Word]int) []outcome.Word {
	var names []outcome.Word
	for _, o := range legend {
		if counts[o.Name] > 0 {
			names = append(names, o.Name)
		}
	}
	for _, n := range slices.Sorted(maps.Keys(counts)) {
		if !slices.Contains(names, n) && counts[n] > 0 {
			names = append(names, n)
		}
	}
	return names
}

func countCell(n int, search url.Values) cell {
	c := cell{N: n}
	if n > 0 {
		c.Link = link(search)
	}
	return c
}

// link is the page's search for v.
func link(v url.Values) string { return "/admin?" + v.Encode() }
