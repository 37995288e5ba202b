package admin

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/getreditus/reditus-bridge/journal"
	"github.com/getreditus/reditus-bridge/outcome"
	"github.com/getreditus/reditus-bridge/reditus"
)

// One event, whole: GET /admin/events/{id} shows it, GET
// /admin/api/events/{id} answers it as JSON. What was received (the raw
// body, formatted), what the bridge found in it and where, what it sent to
// Reditus, and every attempt with Reditus's answer. Only here does the raw
// body leave the journal: the list and the events command never show it.

// detailJSON is GET /admin/api/events/{id}'s answer.
type detailJSON struct {
	Event eventDetailJSON `json:"event"`
}

type eventDetailJSON struct {
	ID            int64         `json:"id"`
	Provider      string        `json:"provider"`
	DeliveryID    string        `json:"delivery_id"`
	EventType     string        `json:"event_type"`
	Outcome       outcome.Word  `json:"outcome"`
	Reason        string        `json:"reason"`
	ReceivedAt    time.Time     `json:"received_at"`
	UpdatedAt     time.Time     `json:"updated_at"`
	NextAttemptAt *time.Time    `json:"next_attempt_at"` // null unless queued or pending
	ReferralID    string        `json:"referral_id"`
	Email         string        `json:"email"`
	AffiliateSlug string        `json:"affiliate_slug"`
	AdvocateSlug  string        `json:"advocate_slug"`
	Found         []foundJSON   `json:"found"`
	Sent          []sentJSON    `json:"sent"`
	Attempts      []attemptJSON `json:"attempts"`
	Body          string        `json:"body"` // the raw body as received
}

type foundJSON struct {
	Field string `json:"field"`
	Value string `json:"value"`
	From  string `json:"from"`
}

type sentJSON struct {
	Call string          `json:"call"` // track, payment, refund, churn
	Path string          `json:"path"` // the endpoint under REDITUS_API_URL
	Body json.RawMessage `json:"body"`
}

type attemptJSON struct {
	At        time.Time    `json:"at"`
	Call      string       `json:"call"`
	Status    int          `json:"status"` // 0: no answer came
	Outcome   outcome.Word `json:"outcome"`
	Reason    string       `json:"reason"`
	LatencyMS int64        `json:"latency_ms"`
}

// eventAPI is GET /admin/api/events/{id}.
func (s *server) eventAPI(w http.ResponseWriter, r *http.Request) {
	rec, status, msg := s.record(r)
	if status != http.StatusOK {
		writeError(w, status, msg)
		return
	}
	writeJSON(w, http.StatusOK, detailJSON{Event: toDetailJSON(rec)})
}

// record reads the event the path names, or says what to answer instead.
func (s *server) record(r *http.Request) (journal.Record, int, string) {
	if s.events == nil {
		return journal.Record{}, http.StatusServiceUnavailable, errNoJournal
	}
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		return journal.Record{}, http.StatusNotFound, "no such event"
	}
	rec, err := s.events.Get(r.Context(), id)
	switch {
	case errors.Is(err, journal.ErrNotFound):
		return rec, http.StatusNotFound, "no such event: it may have been deleted after JOURNAL_RETENTION, or erased"
	case err != nil:
		s.log.Error("admin: read an event", "id", id, "err", err)
		return rec, http.StatusInternalServerError, "could not read the journal; the bridge's log says why"
	}
	return rec, http.StatusOK, ""
}

func toDetailJSON(rec journal.Record) eventDetailJSON {
	e := eventDetailJSON{
		ID: rec.ID, Provider: rec.Provider, DeliveryID: rec.DeliveryID, EventType: rec.EventType,
		Outcome: rec.Outcome, Reason: rec.Reason, ReceivedAt: rec.ReceivedAt.UTC(), UpdatedAt: rec.UpdatedAt.UTC(),
		ReferralID: rec.ReferralID, Email: rec.Email, AffiliateSlug: rec.AffiliateSlug, AdvocateSlug: rec.AdvocateSlug,
		Found: []foundJSON{}, Sent: []sentJSON{}, Attempts: []attemptJSON{}, Body: string(rec.Body),
	}
	if !rec.NextAttemptAt.IsZero() {
		next := rec.NextAttemptAt.UTC()
		e.NextAttemptAt = &next
	}
	for _, f := range rec.Found {
		e.Found = append(e.Found, foundJSON{Field: f.Name, Value: f.Value, From: f.From})
	}
	for _, sent := range rec.Sent {
		e.Sent = append(e.Sent, sentJSON{Call: sent.Call, Path: callPath(sent.Call), Body: sent.Body})
	}
	for _, a := range rec.AttemptLog {
		e.Attempts = append(e.Attempts, attemptJSON{
			At: a.At.UTC(), Call: a.Call, Status: a.Status, Outcome: a.Outcome, Reason: a.Reason,
			LatencyMS: a.Latency.Milliseconds(),
		})
	}
	return e
}

// callPath is the endpoint of the call named name ("track"), or "".
func callPath(name string) string {
	for _, c := range reditus.Calls() {
		if c.String() == name {
			return c.Path()
		}
	}
	return ""
}

// detailData is what event.html shows.
type detailData struct {
	CSS        template.CSS
	Error      string
	Flash      *flash
	Event      eventRow
	Updated    string
	NextTry    string // when a queued event is tried next
	Slug       string
	Found      []foundJSON
	Sent       []sentView
	DryRun     bool
	Attempts   []attemptRow
	AttemptCap int // the journal keeps this many attempts, the latest
	Body       string
	BodyNote   string
	APILink    string
}

type sentView struct {
	Call, Path, Body string
}

type attemptRow struct {
	At, AtISO, Call, Status string
	Outcome                 outcome.Word
	Badge                   string
	Answer                  string
	Latency                 string
}

// showBody bounds the raw body shown on the page; the JSON answer has it
// whole.
const showBody = 64 << 10

// eventPage is GET /admin/events/{id}.
func (s *server) eventPage(w http.ResponseWriter, r *http.Request) {
	data := detailData{CSS: template.CSS(pageCSS), AttemptCap: journal.MaxAttemptLog}
	rec, status, msg := s.record(r)
	if status == http.StatusOK {
		data = s.detail(r, rec, data)
	} else {
		data.Error = msg
	}
	var buf bytes.Buffer
	if err := eventTemplate.Execute(&buf, data); err != nil {
		s.log.Error("admin: render an event", "err", err)
		writeError(w, http.StatusInternalServerError, "could not show the page; the bridge's log says why")
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes()) // the browser went away; nothing to do
}

// detail fills data with rec, as the page shows it.
func (s *server) detail(r *http.Request, rec journal.Record, data detailData) detailData {
	row := s.row(rec, query{}, s.now())
	if row.RetryAction != "" {
		row.RetryAction += "?back=event"
	}
	data.Event, data.Flash = row, s.flash(r, r.URL.Query())
	data.Updated = rec.UpdatedAt.UTC().Format(time.DateTime)
	if !rec.NextAttemptAt.IsZero() && rec.Outcome == journal.Queued {
		data.NextTry = rec.NextAttemptAt.UTC().Format(time.DateTime)
	}
	data.Slug = slugOf(rec)
	for _, f := range rec.Found {
		data.Found = append(data.Found, foundJSON{Field: f.Name, Value: shown(f.Value, showText), From: shown(f.From, showText)})
	}
	data.DryRun = rec.Outcome == outcome.WordDryRun
	for _, sent := range rec.Sent {
		data.Sent = append(data.Sent, sentView{Call: sent.Call, Path: callPath(sent.Call), Body: formatted(sent.Body, showBody)})
	}
	for _, a := range rec.AttemptLog {
		data.Attempts = append(data.Attempts, attemptRow{
			At: a.At.UTC().Format("2006-01-02 15:04:05.000"), AtISO: a.At.UTC().Format(time.RFC3339Nano),
			Call: a.Call, Status: statusText(a.Status), Outcome: a.Outcome, Badge: attemptBadge(a),
			Answer: shown(a.Reason, showReason), Latency: fmt.Sprintf("%d ms", a.Latency.Milliseconds()),
		})
	}
	data.Body = formatted(rec.Body, showBody)
	if len(rec.Body) > showBody {
		data.BodyNote = fmt.Sprintf("The first %d KiB of %d bytes; GET /admin/api/events/%d answers it whole.", showBody>>10, len(rec.Body), rec.ID)
	}
	data.APILink = fmt.Sprintf("/admin/api/events/%d", rec.ID)
	return data
}

// slugOf is the referral a record names, as the list shows it.
func slugOf(rec journal.Record) string {
	switch {
	case rec.AffiliateSlug != "":
		return shown(rec.AffiliateSlug, showText)
	case rec.AdvocateSlug != "":
		return shown(rec.AdvocateSlug, showText) + " (advocate)"
	}
	return ""
}

// attemptBadge colours an attempt by what its answer asks of a person: a
// refused key or a redirect (retry, but a configuration to fix) as a
// rejection, an outage as a warning.
func attemptBadge(a journal.Attempt) string {
	if a.Outcome != outcome.WordRetry {
		return outcomeOf(a.Outcome).Badge
	}
	if a.Status == 0 || a.Status == http.StatusTooManyRequests || a.Status >= 500 {
		return "warn"
	}
	return "bad"
}

// statusText is an attempt's HTTP status as the page shows it.
func statusText(status int) string {
	if status == 0 {
		return "no answer"
	}
	return strconv.Itoa(status) + " " + http.StatusText(status)
}

// formatted is b as the page shows it: indented when it is JSON, cut after n
// bytes, every line's hidden characters shown (visible) but its line breaks
// kept.
func formatted(b []byte, n int) string {
	var out bytes.Buffer
	if json.Valid(b) && json.Indent(&out, b, "", "  ") == nil {
		b = out.Bytes()
	}
	if len(b) > n {
		cut := n
		for cut > 0 && !utf8.RuneStart(b[cut]) {
			cut--
		}
		b = append(b[:cut:cut], "\n…"...)
	}
	lines := strings.Split(string(b), "\n")
	for i, l := range lines {
		lines[i] = visible(strings.TrimSuffix(l, "\r"))
	}
	return strings.Join(lines, "\n")
}
