package admin

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	_ "embed"
	"encoding/base64"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/getreditus/reditus-bridge/journal"
	"github.com/getreditus/reditus-bridge/outcome"
)

var (
	//go:embed page.html
	pageHTML string
	//go:embed page.css
	pageCSS string
	//go:embed event.html
	eventHTML string

	// pageTemplate escapes every value by where it lands (text, attribute,
	// URL): an email or reason is data from the internet.
	pageTemplate = template.Must(template.New("page").Parse(pageHTML))
	// eventTemplate is parsed beside the page, whose "flash" it shows.
	eventTemplate = template.Must(template.Must(pageTemplate.Clone()).New("event").Parse(eventHTML))

	// styleHash lets the Content-Security-Policy allow the page's one style
	// element, and no other style.
	styleHash = func() string {
		sum := sha256.Sum256([]byte(pageCSS))
		return "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
	}()
)

// pageData is what page.html shows.
type pageData struct {
	CSS             template.CSS
	Query           query
	Filtered        bool
	Error           string
	Flash           *flash
	Events          []eventRow
	Truncated       bool
	CanRetry        bool
	OutcomeOptions  []option
	ProviderOptions []option
	SinceOptions    []option
	LimitOptions    []option
	Legend          []legendRow
	Overview        *overview // nil on a search: the events are what was asked for
}

type option struct {
	Value, Label string
	Selected     bool
}

// flash is the note at the top of the page after a retry.
type flash struct {
	Box     string // the note's colour: the outcome's
	Text    string
	Outcome outcome.Word
	Badge   string
	Reason  string
}

// eventRow is one event as the page shows it.
type eventRow struct {
	ID          int64
	Received    string
	ReceivedISO string
	Ago         string
	Provider    string
	EventType   string
	DeliveryID  string
	EventLink   string
	Email       string
	EmailLink   string
	Outcome     outcome.Word
	Badge       string
	Meaning     string
	Reason      string
	Attempts    int
	ReferralID  string
	Slug        string // the affiliate's, or the advocate's marked so
	DetailLink  string
	RetryAction string // empty: no Retry button
}

// pageParams are the parameters the page reads beyond a search's: which
// event a retry just ran for, and how it went when it did not run.
var pageParams = []string{"retried", "retry"}

// page is GET /admin.
func (s *server) page(w http.ResponseWriter, r *http.Request) {
	now := s.now()
	data := pageData{CSS: template.CSS(pageCSS), CanRetry: s.retry != nil, Legend: legend}
	status := http.StatusOK
	q, err := parseQuery(r.URL.Query(), pageParams)
	var recs []journal.Record
	switch {
	case err != nil:
		status, data.Error = http.StatusBadRequest, err.Error()
	case s.events == nil:
		status, data.Error = http.StatusServiceUnavailable, errNoJournal
	default:
		var f journal.Filter
		if f, err = q.filter(now); err != nil {
			status, data.Error = http.StatusBadRequest, err.Error()
			break
		}
		if recs, err = s.events.List(r.Context(), f); err != nil {
			s.log.Error("admin: list the journal", "err", err)
			status, data.Error = http.StatusInternalServerError, "could not read the journal; the bridge's log says why"
			break
		}
		data.Truncated = len(recs) == cmp.Or(f.Limit, journal.DefaultLimit)
		data.Flash = s.flash(r, r.URL.Query())
		if !q.filtered() {
			// Without it the page still answers what it is asked.
			if data.Overview, err = s.overview(r.Context(), now); err != nil {
				s.log.Error("admin: summarize the journal", "err", err)
			}
		}
	}
	data.Query, data.Filtered = q, q.filtered()
	for _, rec := range recs {
		data.Events = append(data.Events, s.row(rec, q, now))
	}
	data.OutcomeOptions = options(q.Outcome, "any", outcomeNames())
	data.ProviderOptions = options(q.Provider, "any", s.providerNames(recs))
	data.SinceOptions = choices(q.Since, []option{{"", "any time", false}, {"1h", "last hour", false}, {"24h", "last 24 hours", false}, {"7d", "last 7 days", false}, {"30d", "last 30 days", false}})
	data.LimitOptions = choices(q.Limit, []option{{"50", "50", false}, {"", strconv.Itoa(journal.DefaultLimit), false}, {"250", "250", false}, {"1000", "1000", false}})

	var buf bytes.Buffer
	if err := pageTemplate.Execute(&buf, data); err != nil {
		s.log.Error("admin: render the page", "err", err)
		writeError(w, http.StatusInternalServerError, "could not show the page; the bridge's log says why")
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes()) // the browser went away; nothing to do
}

// flash says how the retry the page was sent back from went. It is read
// from the journal, not from the link, so that a link cannot put words on
// the page.
func (s *server) flash(r *http.Request, v url.Values) *flash {
	if !v.Has("retried") && !v.Has("retry") {
		return nil
	}
	id, _ := strconv.ParseInt(v.Get("retried"), 10, 64)
	event := "The event"
	if id > 0 {
		event = "Event " + strconv.FormatInt(id, 10)
	}
	switch v.Get("retry") {
	case "gone":
		return &flash{Box: "bad", Text: "There is no such event: it may have been deleted after JOURNAL_RETENTION."}
	case "busy":
		return &flash{Box: "info", Text: event + " is being delivered right now. Look again in a moment."}
	case "nobody":
		return &flash{Box: "info", Text: event + " is of a type the bridge does not handle, and it kept no body for it: there is nothing to retry."}
	case "error":
		return &flash{Box: "bad", Text: "The retry of " + strings.ToLower(event[:1]) + event[1:] + " failed; the bridge's log says why."}
	case "refused":
		return &flash{Box: "warn", Text: event + " was not retried: its outcome is one a retry cannot change (the legend says which are retried)."}
	}
	if id <= 0 {
		return nil
	}
	rec, err := s.events.Get(r.Context(), id)
	if err != nil {
		return nil
	}
	o := outcomeOf(rec.Outcome)
	return &flash{
		Box:     o.Badge,
		Text:    fmt.Sprintf("Retried event %d (%s %s). It is now", rec.ID, rec.Provider, shown(rec.DeliveryID, showText)),
		Outcome: rec.Outcome, Badge: o.Badge, Reason: shown(rec.Reason, showReason),
	}
}

func (s *server) row(rec journal.Record, q query, now time.Time) eventRow {
	o := outcomeOf(rec.Outcome)
	row := eventRow{
		ID:          rec.ID,
		Received:    rec.ReceivedAt.UTC().Format(time.DateTime),
		ReceivedISO: rec.ReceivedAt.UTC().Format(time.RFC3339),
		Ago:         ago(now.Sub(rec.ReceivedAt)),
		Provider:    rec.Provider,
		EventType:   shown(rec.EventType, showText),
		DeliveryID:  shown(rec.DeliveryID, showText),
		Email:       shown(rec.Email, showText),
		Outcome:     rec.Outcome,
		Badge:       o.Badge,
		Meaning:     o.Meaning,
		Reason:      shown(rec.Reason, showReason),
		Attempts:    rec.Attempts,
		ReferralID:  shown(rec.ReferralID, showText),
		Slug:        slugOf(rec),
		DetailLink:  fmt.Sprintf("/admin/events/%d", rec.ID),
	}
	// A value too long to search for gets no search link: the link would
	// repeat all of it, only to be refused.
	if len(rec.DeliveryID) <= maxText {
		row.EventLink = "/admin?" + url.Values{"event_id": {rec.DeliveryID}}.Encode()
	}
	if len(rec.Email) <= maxText {
		row.EmailLink = "/admin?" + url.Values{"email": {rec.Email}}.Encode()
	}
	if s.retry != nil && o.Retry && rec.HasBody {
		// Back to the same search after the retry.
		row.RetryAction = fmt.Sprintf("/admin/events/%d/retry", rec.ID)
		if v := q.values(); len(v) > 0 {
			row.RetryAction += "?" + v.Encode()
		}
	}
	return row
}

// providerNames are the providers the filter offers: the configured ones, or
// else those of the events shown.
func (s *server) providerNames(recs []journal.Record) []string {
	if len(s.providers) > 0 {
		return s.providers
	}
	var names []string
	for _, r := range recs {
		if !slices.Contains(names, r.Provider) {
			names = append(names, r.Provider)
		}
	}
	slices.Sort(names)
	return names
}

// options are a select's: "any", then names, with current selected; a
// current value that is not among names (typed into the address) is added,
// so that the form shows the search it made.
func options(current, anyLabel string, names []string) []option {
	opts := []option{{"", anyLabel, current == ""}}
	for _, n := range names {
		opts = append(opts, option{n, n, n == current})
	}
	if current != "" && !slices.Contains(names, current) {
		opts = append(opts, option{current, current, true})
	}
	return opts
}

// choices marks current among opts, adding it when it is not one of them.
func choices(current string, opts []option) []option {
	found := false
	for i := range opts {
		if opts[i].Value == current {
			opts[i].Selected, found = true, true
		}
	}
	if !found {
		opts = append(opts, option{current, current, true})
	}
	return opts
}

// ago is how long ago d was, in the largest unit that fits.
func ago(d time.Duration) string {
	switch {
	case d < time.Minute:
		return "just now"
	case d < time.Hour:
		return fmt.Sprintf("%d min ago", int(d/time.Minute))
	case d < 48*time.Hour:
		return fmt.Sprintf("%d h ago", int(d/time.Hour))
	default:
		return fmt.Sprintf("%d days ago", int(d/(24*time.Hour)))
	}
}

// How much of one journaled value is shown. The journal keeps what a signed
// sender sent, up to the 1 MiB body, and a page shows up to 1000 events:
// shown whole, a hundred events holding a megabyte each made one look at the
// page a gigabyte of HTML (escaping makes a "<" four bytes, and a link
// repeats the value), and the events table as wide as its widest value.
const (
	showText   = 200  // runes of an email, event id, event type or referral id
	showReason = 2000 // runes of a reason
)

// shown is s as the page and the events table show it: visible, and cut
// after n runes.
func shown(s string, n int) string { return visible(clip(s, n)) }

// clip cuts s after n runes, and says how long it was, so that nobody takes
// the cut value for the whole.
func clip(s string, n int) string {
	if len(s) <= n { // at least as many bytes as runes
		return s
	}
	runes := 0
	for i := range s {
		if runes == n {
			return s[:i] + fmt.Sprintf("… (%d characters in all)", utf8.RuneCountInString(s))
		}
		runes++
	}
	return s
}

// visible shows the characters of s that would not show, or would change how
// the rest reads, as [U+XXXX]: control and format characters (a zero-width
// space in an email, a bidi override in a reason, a terminal's escape
// sequence). The operator then sees the value as it is.
func visible(s string) string {
	if !strings.ContainsFunc(s, hidden) {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if hidden(r) {
			fmt.Fprintf(&b, "[%U]", r)
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// hidden reports whether r does not show as itself: it is not graphic
// (controls, format characters, line and paragraph separators), or it is a
// space other than ' ', which looks like one.
func hidden(r rune) bool {
	return r != ' ' && (!unicode.IsGraphic(r) || unicode.IsSpace(r) || unicode.Is(unicode.Zs, r))
}
