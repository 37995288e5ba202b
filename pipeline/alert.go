package pipeline

import (
	"net/http"

	"github.com/getreditus/reditus-bridge/alert"
	"github.com/getreditus/reditus-bridge/outcome"
)

// Alerter hears of what a person must know. *alert.Alerter is one; its
// Alert never blocks.
type Alerter interface {
	Alert(r alert.Report)
}

// notify tells the alerter of an event's result that needs a person: a
// wrong signature (a burst of them is a secret out of step), a key Reditus
// refused, an event Reditus rejected.
func (p *Pipeline) notify(provider string, res Result) {
	if p.alerter == nil {
		return
	}
	r := alert.Report{Provider: provider, EventID: res.EventID, EventType: res.EventType, Reason: res.Reason}
	switch status := res.ReditusStatus; {
	case res.Code == outcome.InvalidSignature:
		r.Kind = alert.SignatureFailures
	case res.Code == outcome.Misconfigured && (status == http.StatusUnauthorized || status == http.StatusForbidden):
		r.Kind = alert.KeyRefused
	case res.Code == outcome.Rejected && status != 0: // Reditus's 400 or 422, not the bridge's own
		r.Kind = alert.EventRejected
	default:
		return
	}
	p.alerter.Alert(r)
}

// journalAnswered tells the alerter whether a journal write worked: a
// failure is journal_unavailable, a success ends one.
func (p *Pipeline) journalAnswered(op string, err error) {
	if p.alerter == nil {
		return
	}
	if err != nil {
		p.alerter.Alert(alert.Report{Kind: alert.JournalUnavailable, Reason: op + ": " + err.Error()})
		return
	}
	p.alerter.Alert(alert.Report{Kind: alert.Resolved, Resolves: alert.JournalUnavailable})
}
