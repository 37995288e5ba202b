package alert

import (
	"fmt"
	"time"
)

// title says in a line what happened.
func (m Message) title() string {
	switch m.Kind {
	case EventFailed:
		return "queued events given up on" + m.on()
	case KeyRefused:
		return "Reditus refused the API key" + m.on()
	case EventRejected:
		return "Reditus rejected events" + m.on()
	case SignatureFailures:
		return "webhooks with a wrong signature" + m.on()
	case ReditusUnavailable:
		return "Reditus is unavailable"
	case JournalUnavailable:
		return "the journal cannot be written"
	case Resolved:
		if m.Resolves == JournalUnavailable {
			return "resolved: the journal can be written again"
		}
		return "resolved: Reditus answers again"
	case Test:
		return "a test alert"
	}
	return string(m.Kind)
}

// what says what it means.
func (m Message) what() string {
	switch m.Kind {
	case EventFailed:
		return "Reditus could not take them before RETRY_FOR ran out: they are failed in the journal, and nothing sends them unless someone retries them."
	case KeyRefused:
		return "Reditus answered 401 or 403 to REDITUS_API_KEY: nothing is being tracked until the key is fixed."
	case EventRejected:
		return "Reditus refused to create them (HTTP 400 or 422), and would refuse them again as they are."
	case SignatureFailures:
		return fmt.Sprintf("%d or more webhooks within %d minutes were refused (400) because their signature does not match %s: the secret is wrong, or was rotated on one side only.", SignatureThreshold, int(SignatureWindow.Minutes()), m.secretVar())
	case ReditusUnavailable:
		return "Reditus has not answered, or answered 429 or 5xx, to every call for a while: new events are queued in the journal, and delivered when it is back."
	case JournalUnavailable:
		return "Webhooks are still forwarded, but nothing can be queued: while Reditus fails too, senders are asked to retry (503), and re-sent deliveries are recognised only in memory."
	case Resolved:
		if m.Resolves == JournalUnavailable {
			return fmt.Sprintf("It had failed since %s (%s).", m.First.UTC().Format(timeFormat), lasted(m.First, m.Last))
		}
		return fmt.Sprintf("It had been unavailable since %s (%s): the queued events are being delivered.", m.First.UTC().Format(timeFormat), lasted(m.First, m.Last))
	case Test:
		return "Sent by `reditus-bridge alert test`: this destination will be told when the bridge needs a person."
	}
	return ""
}

// howMany says how many, since when.
func (m Message) howMany() string {
	noun := map[Kind][2]string{
		EventFailed:        {"event", "events"},
		KeyRefused:         {"event refused", "events refused"},
		EventRejected:      {"event rejected", "events rejected"},
		SignatureFailures:  {"wrong signature", "wrong signatures"},
		ReditusUnavailable: {"failed call to Reditus", "failed calls to Reditus"},
		JournalUnavailable: {"failed journal operation", "failed journal operations"},
		Resolved:           {"failure during the outage", "failures during the outage"},
		Test:               {"test", "tests"},
	}[m.Kind]
	word := noun[1]
	if m.Count == 1 {
		word = noun[0]
	}
	first := m.First.UTC().Format(timeFormat)
	if m.Count <= 1 || !m.Last.After(m.First) {
		return fmt.Sprintf("%d %s, at %s.", m.Count, word, first)
	}
	return fmt.Sprintf("%d %s since %s, the last at %s.", m.Count, word, first, m.Last.UTC().Format(timeFormat))
}

// todo says what a person should do.
func (m Message) todo() string {
	switch m.Kind {
	case EventFailed:
		return "open them in /admin, read why each failed, and press retry once the cause is fixed."
	case KeyRefused:
		return "check REDITUS_API_KEY against Reditus's settings and set it again (fly secrets set REDITUS_API_KEY=...). The refused events are journaled failed: their senders retry them, and /admin's retry sends the rest."
	case EventRejected:
		return "read Reditus's reason: usually an affiliate slug it does not know (a mistyped link, a deleted affiliate). Fix it in Reditus, then press retry in /admin."
	case SignatureFailures:
		return fmt.Sprintf("compare %s with the signing secret in %s's dashboard; during a rotation set both, comma-separated. The provider re-sends refused webhooks (most for days) once the secret matches.", m.secretVar(), m.Provider)
	case ReditusUnavailable:
		return "nothing is lost: the bridge retries every queued event until RETRY_FOR. If it lasts, check Reditus's status and REDITUS_API_URL."
	case JournalUnavailable:
		return "check the journal's store: the volume at DATA_DIR (is it full?), or the Postgres of DATABASE_URL; `reditus-bridge check` tests it."
	case Resolved:
		return "nothing: the bridge catches up by itself."
	case Test:
		return "nothing."
	}
	return ""
}

// lasted says how long an outage lasted, to the second.
func lasted(first, last time.Time) string {
	d := last.Sub(first).Round(time.Second)
	if d < time.Second {
		return "for less than a second"
	}
	return "for " + d.String()
}
