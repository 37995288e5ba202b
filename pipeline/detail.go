package pipeline

import (
	"encoding/json"

	"github.com/getreditus/reditus-bridge/journal"
	"github.com/getreditus/reditus-bridge/outcome"
	"github.com/getreditus/reditus-bridge/reditus"
)

// What /admin's event page shows of an event besides its record: what the
// mapping found and where, what was sent to Reditus, and every attempt.
// The journal keeps it with the event's outcome (finishOf).

// Bounds on what one event's detail keeps: a found value is a signed
// sender's text (an invalid slug may be as long as the body), and an answer
// is Reditus's.
const (
	maxFoundText  = 500
	maxAnswerText = 1000
)

// withDetail adds res's detail to f.
func withDetail(f journal.Finish, res Result) journal.Finish {
	for _, fl := range res.Found {
		v := storable(fl.Value, maxFoundText)
		f.Found = append(f.Found, journal.Field{Name: fl.Name, Value: v, From: storable(fl.From, maxFoundText)})
		switch fl.Name {
		case "affiliate_slug":
			f.AffiliateSlug = journalText(fl.Value)
		case "advocate_slug":
			f.AdvocateSlug = journalText(fl.Value)
		}
	}
	f.Sent = sentOf(res)
	for _, a := range res.Attempts {
		f.AttemptLog = append(f.AttemptLog, journal.Attempt{
			At: a.At, Call: a.Call.String(), Status: a.Status, Outcome: answerWord(a.Kind),
			Reason: storable(a.Answer, maxAnswerText), Latency: a.Latency,
		})
	}
	return f
}

// answerWord is what one attempt's answer meant, in the words of the status
// table: forwarded for a 2xx, else the word its failure answers a sender.
func answerWord(kind reditus.Kind) outcome.Word {
	if kind == 0 {
		return outcome.WordForwarded
	}
	return table[kind].word
}

// sentOf is what res sent to Reditus: each call's request once, in the order
// they were made; in dry run, what would have been sent.
func sentOf(res Result) []journal.Sent {
	var sent []journal.Sent
	seen := map[reditus.Call]bool{}
	for _, a := range res.Attempts {
		if !seen[a.Call] && json.Valid(a.Request) {
			seen[a.Call] = true
			sent = append(sent, journal.Sent{Call: a.Call.String(), Body: a.Request})
		}
	}
	if res.Code != outcome.DryRun {
		return sent
	}
	for _, w := range []struct {
		call reditus.Call
		v    any
		set  bool
	}{
		{reditus.CallTrack, res.Conversion, res.Conversion != nil},
		{reditus.CallPay, res.Payment, res.Payment != nil},
		{reditus.CallRefund, res.Refund, res.Refund != nil},
		{reditus.CallChurn, res.Churn, res.Churn != nil},
	} {
		if b, err := json.Marshal(w.v); w.set && err == nil {
			sent = append(sent, journal.Sent{Call: w.call.String(), Body: b})
		}
	}
	return sent
}

// storable is s as either store keeps text, cut after n bytes with an
// ellipsis, so that a cut value is not taken for the whole.
func storable(s string, n int) string {
	text, cut := storableText(s, n)
	if cut {
		text += "…"
	}
	return text
}
