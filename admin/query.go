package admin

import (
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/getreditus/reditus-bridge/journal"
	"github.com/getreditus/reditus-bridge/outcome"
)

// query is a search of the journal as the page, the API and the events
// command take it: text as typed, checked by filter.
type query struct {
	Email    string
	EventID  string
	Outcome  string
	Provider string
	Since    string
	Limit    string
	// Attention, "1", selects the events that need a person (the "needs
	// attention" view).
	Attention string
}

// queryKeys are the parameters of a search, in the order links spell them.
var queryKeys = []string{"email", "event_id", "outcome", "provider", "since", "limit", "attention"}

// parseQuery reads a search from URL parameters. A parameter it does not know
// is an error rather than ignored: a misspelt filter would otherwise show
// every event as if they matched. extra names parameters the caller reads
// itself.
func parseQuery(v url.Values, extra []string) (query, error) {
	for k := range v {
		if !slices.Contains(queryKeys, k) && !slices.Contains(extra, k) {
			return query{}, fmt.Errorf("unknown parameter %q; the parameters are %s", k, strings.Join(queryKeys, ", "))
		}
	}
	get := func(k string) string { return strings.TrimSpace(v.Get(k)) }
	return query{
		Email: get("email"), EventID: get("event_id"), Outcome: get("outcome"),
		Provider: get("provider"), Since: get("since"), Limit: get("limit"), Attention: get("attention"),
	}, nil
}

// onlyParam refuses parameters other than name, as parseQuery refuses
// those it does not know.
func onlyParam(v url.Values, name string) error {
	for k := range v {
		if k != name {
			return fmt.Errorf("unknown parameter %q; the one parameter is %s", k, name)
		}
	}
	return nil
}

// values is q as URL parameters, empty ones left out, so that a search is a
// short link.
func (q query) values() url.Values {
	v := url.Values{}
	for i, s := range []string{q.Email, q.EventID, q.Outcome, q.Provider, q.Since, q.Limit, q.Attention} {
		if s != "" {
			v.Set(queryKeys[i], s)
		}
	}
	return v
}

// filtered reports whether q narrows the journal at all (the limit does not).
func (q query) filtered() bool {
	return q.Email != "" || q.EventID != "" || q.Outcome != "" || q.Provider != "" || q.Since != "" || q.Attention != ""
}

// name is the shape of an outcome or a provider: a typo in one is worth an
// error, while an outcome this package does not know may still be journaled.
var name = regexp.MustCompile(`^[a-z0-9_.-]{1,64}$`)

// maxText bounds the email and event id searched for; longer ones match
// nothing anyway.
const maxText = 1000

// paramError is a search parameter that filter refuses. Its Error names the
// URL parameter; the events command names its flag instead.
type paramError struct {
	Param string // a queryKeys entry
	Err   error
}

func (e *paramError) Error() string { return e.Param + ": " + e.Err.Error() }
func (e *paramError) Unwrap() error { return e.Err }

// filter checks q and turns it into the journal's Filter; now is what a
// since duration counts back from.
func (q query) filter(now time.Time) (journal.Filter, error) {
	f := journal.Filter{Email: q.Email, DeliveryID: q.EventID, Outcome: outcome.Word(q.Outcome), Provider: q.Provider}
	bad := func(param, format string, args ...any) (journal.Filter, error) {
		return f, &paramError{param, fmt.Errorf(format, args...)}
	}
	switch {
	case len(q.Email) > maxText:
		return bad("email", "longer than %d bytes", maxText)
	case len(q.EventID) > maxText:
		return bad("event_id", "longer than %d bytes", maxText)
	// Postgres refuses such text in a query (500, and an error in the log);
	// no journaled value holds it there, so it would match nothing anyway.
	case !isText(q.Email):
		return bad("email", "%s", errNotText)
	case !isText(q.EventID):
		return bad("event_id", "%s", errNotText)
	case q.Outcome != "" && !name.MatchString(q.Outcome):
		return bad("outcome", "%q is not an outcome: want one of %s", q.Outcome, strings.Join(outcomeNames(), ", "))
	case q.Provider != "" && !name.MatchString(q.Provider):
		return bad("provider", "%q is not a provider's name, such as stripe", q.Provider)
	case q.Attention != "" && q.Attention != "1":
		return bad("attention", "%q: want 1, for the events that need attention, or leave it out", q.Attention)
	}
	f.NeedsAttention = q.Attention == "1"
	var err error
	if q.Since != "" {
		if f.Since, err = parseSince(q.Since, now); err != nil {
			return bad("since", "%w", err)
		}
	}
	if q.Limit != "" {
		if f.Limit, err = parseLimit(q.Limit); err != nil {
			return bad("limit", "%w", err)
		}
	}
	return f, nil
}

const errNotText = "not text: it holds NUL, or bytes that are not UTF-8"

// isText reports whether s is text a search can name: UTF-8 without NUL.
func isText(s string) bool { return utf8.ValidString(s) && !strings.ContainsRune(s, 0) }

// parseSince reads how far back to look: a duration back from now ("24h",
// "90m", "7d") or a moment (a date, which is midnight UTC, or RFC 3339).
func parseSince(s string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	var d time.Duration
	var err error
	if days, ok := strings.CutSuffix(s, "d"); ok {
		var n int
		n, err = strconv.Atoi(days)
		// Past 100 years, days overflow a Duration; no journal is that old.
		if err == nil && n > 0 && n <= 36500 {
			d = time.Duration(n) * 24 * time.Hour
		}
	} else {
		d, err = time.ParseDuration(s)
	}
	if err != nil || d <= 0 {
		return time.Time{}, fmt.Errorf("%q is neither a duration (24h, 7d) nor a date (2025-03-01)", s)
	}
	return now.Add(-d), nil
}

var errLimit = fmt.Errorf("want a number from 1 to %d", journal.MaxLimit)

// parseLimit reads how many events to show. Out of bounds is an error, not
// clamped: asking for 5000 and silently getting 1000 would hide events.
func parseLimit(s string) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > journal.MaxLimit {
		return 0, fmt.Errorf("%q: %w", s, errLimit)
	}
	return n, nil
}

// eventJSON is one event as the API and `events --json` show it.
type eventJSON struct {
	ID         int64        `json:"id"`
	Provider   string       `json:"provider"`
	DeliveryID string       `json:"delivery_id"`
	EventType  string       `json:"event_type"`
	Outcome    outcome.Word `json:"outcome"`
	Reason     string       `json:"reason"`
	Attempts   int          `json:"attempts"`
	ReceivedAt time.Time    `json:"received_at"`
	ReferralID string       `json:"referral_id"`
	Email      string       `json:"email"`
}

type listJSON struct {
	Events []eventJSON `json:"events"`
}

// eventsJSON is recs as the API answers them. A value longer than any that
// can be searched for (maxText) is cut, as on the page: whole, a thousand
// events of a megabyte each would be gigabytes of JSON.
func eventsJSON(recs []journal.Record) listJSON {
	out := listJSON{Events: make([]eventJSON, 0, len(recs))} // [], not null, when empty
	for _, r := range recs {
		out.Events = append(out.Events, eventJSON{
			ID: r.ID, Provider: r.Provider, DeliveryID: clip(r.DeliveryID, maxText), EventType: clip(r.EventType, maxText),
			Outcome: r.Outcome, Reason: clip(r.Reason, showReason), Attempts: r.Attempts,
			ReceivedAt: r.ReceivedAt.UTC(), ReferralID: clip(r.ReferralID, maxText), Email: clip(r.Email, maxText),
		})
	}
	return out
}
