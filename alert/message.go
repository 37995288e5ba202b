package alert

import (
	"encoding/json"
	"net/url"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/getreditus/reditus-bridge/config"
	"github.com/getreditus/reditus-bridge/internal/redact"
	"github.com/getreditus/reditus-bridge/providers"
)

// Message is one alert, as every destination gets it.
type Message struct {
	Kind     Kind
	Provider string
	Count    int
	First    time.Time
	Last     time.Time
	Resolves Kind // for Resolved: the outage that ended
	// The last occurrence's event, from strangers: shown neutralised.
	EventID, EventType, Reason string
	// AdminURL is /admin filtered to what the alert is about; "" without
	// PUBLIC_URL.
	AdminURL string
}

// message is the alert of tally t.
func (a *Alerter) message(t Tally) Message {
	return Message{
		Kind: Kind(t.Kind), Provider: t.Provider, Count: t.Count, First: t.First, Last: t.Last,
		EventID: t.EventID, EventType: t.EventType, Reason: t.Reason,
		AdminURL: a.adminURL(Kind(t.Kind), "", t.Provider),
	}
}

// adminURL is PUBLIC_URL's /admin, filtered to what an alert of kind is
// about: the events it counts, where the journal has them.
func (a *Alerter) adminURL(kind, resolves Kind, provider string) string {
	if a.publicURL == "" {
		return ""
	}
	q := url.Values{}
	switch kind {
	case EventFailed, KeyRefused:
		q.Set("outcome", "failed")
	case EventRejected:
		q.Set("outcome", "rejected")
	case ReditusUnavailable:
		q.Set("outcome", "queued")
	case Resolved:
		if resolves == ReditusUnavailable {
			q.Set("outcome", "queued")
		}
	}
	if provider != "" {
		q.Set("provider", provider)
	}
	if len(q) == 0 {
		return a.publicURL + "/admin"
	}
	return a.publicURL + "/admin?" + q.Encode()
}

// A style is how a format marks text up, and so how text from strangers is
// neutralised in it.
type style int

const (
	plain   style = iota // json's text, and email: no markup at all
	slack                // Slack mrkdwn: & < > are entities; code spans
	discord              // Discord markdown: code spans; no mentions parsed
)

// maxField bounds one stranger's field in a message: enough for Reditus's
// longest error, too little to flood a channel.
const maxField = 300

// untrusted neutralises s for style: addresses masked, control and
// formatting characters (newlines, bidi overrides) turned to spaces, cut to
// maxField, and in chat formats shown as inline code (no bold, no links,
// no mentions), with no backtick of its own to end the code early, an
// '@' that cannot start a mention, and Slack's entities escaped.
func untrusted(s string, st style) string {
	s = strings.Join(strings.FieldsFunc(strings.Map(visible, redact.Emails(s)), unicode.IsSpace), " ")
	if utf8.RuneCountInString(s) > maxField {
		s = string([]rune(s)[:maxField]) + "…"
	}
	if s == "" {
		s = "(none)"
	}
	if st == plain {
		return s
	}
	s = strings.ReplaceAll(s, "`", "'")
	// A word joiner after '@' keeps it from starting @everyone or @here,
	// and looks the same.
	s = strings.ReplaceAll(s, "@", "@\u2060")
	if st == slack {
		s = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
	}
	return "`" + s + "`"
}

// visible maps control and formatting characters to a space.
func visible(r rune) rune {
	if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || r == utf8.RuneError {
		return ' '
	}
	return r
}

// timeFormat is how an alert writes a time: in UTC, to the second.
const timeFormat = "2006-01-02 15:04:05 UTC"

// text is the alert in style: what happened, how many since when, the last
// event, what to do, and where to look.
func (m Message) text(st style) string {
	var b strings.Builder
	title := "reditus-bridge: " + m.title()
	if st != plain {
		title = "*" + title + "*"
	}
	b.WriteString(title + "\n")
	b.WriteString(m.what() + "\n")
	b.WriteString(m.howMany() + "\n")
	if last := m.last(st); last != "" {
		b.WriteString("Last: " + last + "\n")
	}
	b.WriteString("What to do: " + m.todo() + "\n")
	if m.AdminURL != "" {
		link := m.AdminURL
		if st == slack {
			link = "<" + strings.ReplaceAll(link, "&", "&amp;") + "|" + "open in /admin>"
		}
		b.WriteString("See: " + link + "\n")
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// last is the last occurrence's event type, id and reason, those it has.
func (m Message) last(st style) string {
	var parts []string
	for _, field := range []string{m.EventType, m.EventID} {
		if strings.TrimSpace(field) != "" {
			parts = append(parts, untrusted(field, st))
		}
	}
	line := strings.Join(parts, " ")
	if strings.TrimSpace(m.Reason) != "" {
		if line != "" {
			line += ": "
		}
		line += untrusted(m.Reason, st)
	}
	return line
}

// Subject is the email's subject line: the kind and the title, nothing
// from a stranger.
func (m Message) Subject() string {
	return "[reditus-bridge] " + string(m.Kind) + ": " + m.title()
}

// body is the request body a webhook destination of format gets.
func (m Message) body(format string) ([]byte, error) {
	switch format {
	case config.AlertSlack:
		return json.Marshal(map[string]any{"text": m.text(slack)})
	case config.AlertDiscord:
		// allowed_mentions: Discord pings no one, whatever the text holds.
		return json.Marshal(map[string]any{"content": m.text(discord), "allowed_mentions": map[string]any{"parse": []string{}}})
	}
	return json.Marshal(jsonAlert{
		Kind: m.Kind, Provider: m.Provider, Count: m.Count, FirstAt: m.First.UTC(), LastAt: m.Last.UTC(),
		Text: m.text(plain), AdminURL: m.AdminURL, Resolves: m.Resolves,
	})
}

// jsonAlert is the json format's body.
type jsonAlert struct {
	Kind     Kind      `json:"kind"`
	Provider string    `json:"provider"`
	Count    int       `json:"count"`
	FirstAt  time.Time `json:"first_at"`
	LastAt   time.Time `json:"last_at"`
	Text     string    `json:"text"`
	AdminURL string    `json:"admin_url"`
	Resolves Kind      `json:"resolves,omitempty"`
}

// secretVar names the provider's secret variable in the alert's advice.
func (m Message) secretVar() string {
	if p, err := providers.Lookup(m.Provider); err == nil {
		return p.SecretVar()
	}
	return "its *_WEBHOOK_SECRET"
}

// on is " on PROVIDER", or nothing for the kinds without one.
func (m Message) on() string {
	if m.Provider == "" {
		return ""
	}
	return " (" + m.Provider + ")"
}
