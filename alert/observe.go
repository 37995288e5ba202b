package alert

import (
	"time"

	"github.com/getreditus/reditus-bridge/internal/redact"
)

// observe is what report r, at now, adds to the counts: a tally of its
// kind, or nothing yet. Most kinds count every report; a wrong signature
// counts once a burst of them is seen, an outage once it has lasted; a
// Resolved report ends an outage, and queues its resolved alert if the
// outage was alerted. The caller holds a.mu.
func (a *Alerter) observe(r Report, now time.Time) (Tally, bool) {
	switch r.Kind {
	case SignatureFailures:
		b := a.signatures[r.Provider]
		if b == nil {
			if len(a.signatures) >= maxKeys {
				return Tally{}, false
			}
			b = &burst{}
			a.signatures[r.Provider] = b
		}
		return b.failure(r, now)
	case ReditusUnavailable:
		return a.reditus.failure(r, now, a.unavailableAfter)
	case JournalUnavailable:
		// Without its journal the bridge queues nothing: at once.
		return a.journal.failure(r, now, 0)
	case Resolved:
		o := &a.reditus
		if r.Resolves == JournalUnavailable {
			o = &a.journal
		}
		if m, alerted := o.end(now); alerted {
			m.AdminURL = a.adminURL(m.Kind, m.Resolves, "")
			a.ended = append(a.ended, m)
		}
		return Tally{}, false
	}
	return tallyOf(r, now, 1), true
}

// tallyOf is n occurrences of r's kind, the last of them r, at now. Its
// text is masked already, since the ledger keeps it.
func tallyOf(r Report, now time.Time, n int) Tally {
	return Tally{
		Kind: string(r.Kind), Provider: r.Provider, Count: n, First: now, Last: now,
		EventID: redact.Emails(r.EventID), EventType: redact.Emails(r.EventType), Reason: redact.Emails(r.Reason),
	}
}

// burst tracks one provider's wrong signatures.
type burst struct {
	times   []time.Time // the latest SignatureThreshold, oldest first
	counted time.Time   // when the last one was counted into an alert
}

// failure takes a wrong signature at now: once SignatureThreshold arrived
// within SignatureWindow it counts them all, and after that each one more,
// until SignatureWindow passes without one.
func (b *burst) failure(r Report, now time.Time) (Tally, bool) {
	b.times = append(b.times, now)
	if len(b.times) > SignatureThreshold {
		b.times = b.times[1:]
	}
	if !b.counted.IsZero() && now.Sub(b.counted) < SignatureWindow {
		b.counted = now
		return tallyOf(r, now, 1), true
	}
	if len(b.times) < SignatureThreshold || now.Sub(b.times[0]) > SignatureWindow {
		return Tally{}, false
	}
	b.counted = now
	t := tallyOf(r, now, SignatureThreshold)
	t.First = b.times[0]
	return t, true
}

// outage tracks Reditus or the journal failing: from the first failure
// after an answer, to the next answer.
type outage struct {
	kind     Kind
	since    time.Time // zero: no outage
	failures int
	alerted  bool // its alert was counted: its end is worth a resolved alert
}

// failure takes one failure at now. An outage that has lasted after counts
// every failure since it began, then each one more.
func (o *outage) failure(r Report, now time.Time, after time.Duration) (Tally, bool) {
	if o.since.IsZero() {
		o.since, o.failures = now, 0
	}
	o.failures++
	switch {
	case o.alerted:
		return tallyOf(r, now, 1), true
	case now.Sub(o.since) < after:
		return Tally{}, false
	}
	o.alerted = true
	t := tallyOf(r, now, o.failures)
	t.First = o.since
	return t, true
}

// end takes an answer at now: it ends the outage, if one was going on, and
// returns its resolved alert; alerted says whether it is worth sending.
func (o *outage) end(now time.Time) (Message, bool) {
	if o.since.IsZero() {
		return Message{}, false
	}
	m := Message{Kind: Resolved, Resolves: o.kind, Count: o.failures, First: o.since, Last: now}
	alerted := o.alerted
	*o = outage{kind: o.kind}
	return m, alerted
}
