package handlers

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/getreditus/reditus-bridge/admin"
	"github.com/getreditus/reditus-bridge/journal"
	"github.com/getreditus/reditus-bridge/mapping"
	"github.com/getreditus/reditus-bridge/outcome"
)

// Journal timing. A delivery holds its record for lease: longer than the
// whole in-request work (look-ups and Reditus, under 10 s), so that another
// instance never takes over a live one. A re-sent delivery that finds its
// twin still pending waits up to waitForTwin for the twin's answer.
const (
	lease       = journal.DefaultLease
	waitForTwin = 10 * time.Second
	pollTwin    = 50 * time.Millisecond
	// storeWait bounds one journal write on a webhook's path.
	storeWait = 2 * time.Second
)

// once sends ev at most once per delivery id: the journal's record answers
// a re-sent delivery, on any instance, without calling Reditus. Without a
// journal, or when it fails, the memory of recent deliveries does, as if
// there were no journal: it never makes the bridge less available.
func (b *Bridge) once(ctx context.Context, w route, ev mapping.Event, body []byte) Result {
	send := func() Result {
		if ev.Skip != "" {
			return result(outcome.Skipped, ev.Skip)
		}
		// The sender hanging up must not abandon a conversion half-sent:
		// finishing it costs at most the client's budget, and the sender's
		// re-send then finds it done instead of racing it.
		return b.forward(context.WithoutCancel(ctx), ev)
	}
	remembered := func() Result {
		if ev.Skip != "" {
			return send()
		}
		return b.deliveries.do(w.Name+"\x00"+ev.ID, send)
	}
	if b.journal == nil {
		return remembered()
	}
	// A journal that cannot keep up must not hold webhooks (and their
	// memory) without end: past storeWait the delivery goes on without it.
	bctx, cancel := context.WithTimeout(ctx, storeWait)
	defer cancel()
	rec, claimed, err := b.journal.Begin(bctx, journal.Record{
		Provider: w.Name, DeliveryID: journalID(ev.ID, body),
		EventType: journalText(ev.Type), Email: journalText(ev.Email()), Body: body,
	}, lease)
	if err != nil {
		b.journalFailed(ctx, "begin", err)
		return remembered()
	}
	// A record of nothing sent answers no delivery that would now send
	// something: a dry run's once live (DRY_RUN=false, or `backfill
	// --dry-run` then `backfill`), a skip's once the configuration lets the
	// event through (re-sent after STRIPE_ACCEPT_TEST_EVENTS=true, say).
	// Retake lets one instance have it.
	stale := (rec.Outcome == "dry_run" && !b.dryRun) || (rec.Outcome == "skipped" && ev.Skip == "")
	if !claimed && stale {
		if taken, err := b.journal.Retake(ctx, rec.ID, lease); err == nil {
			rec, claimed = taken, true
		}
	}
	if !claimed {
		return b.recorded(ctx, rec)
	}
	return b.finish(ctx, rec, b.behindQueued(ctx, rec, send()))
}

// behindQueued keeps a payment, refund or churn in order behind its
// customer's conversion: when Reditus does not know the customer yet and an
// earlier event of the same email is still queued (its conversion, say, held
// by an outage), the answer is no final "not referred" but an outage of its
// own, so that the event is queued after it and delivered once it is in.
func (b *Bridge) behindQueued(ctx context.Context, rec journal.Record, res Result) Result {
	if res.Code != outcome.NotReferred || rec.Email == "" {
		return res
	}
	for _, state := range []outcome.Word{journal.Queued, journal.Pending} {
		earlier, err := b.journal.List(ctx, journal.Filter{Email: rec.Email, Outcome: state, Limit: 10})
		if err != nil {
			b.journalFailed(ctx, "list", err)
			return res
		}
		for _, e := range earlier {
			if e.ID < rec.ID {
				held := result(outcome.Unavailable, fmt.Sprintf("Reditus does not know the customer yet, and their earlier event %s (%s) is still %s: this one follows it", e.DeliveryID, e.EventType, state))
				held.ReferralID, held.Sent = res.ReferralID, res.Sent
				return held
			}
		}
	}
	return res
}

// Bounds on what a signed sender may make the journal keep in its searchable
// columns: real ids, types and emails are far shorter. Longer values would
// cost memory on every /admin page and `events` listing.
const (
	maxJournalID   = 200
	maxJournalText = 254
)

// journalID is the key a delivery is journaled under: its own id, or its
// body's digest for an event with none (a Supabase UPDATE, only skipped: the
// same bytes re-sent are the same delivery), or the id's digest for an id no
// store can keep as it is (too long, or not text: Postgres refuses NUL and
// invalid UTF-8), which keeps distinct ids distinct.
func journalID(id string, body []byte) string {
	switch {
	case id == "":
		return digest(body)
	case len(id) > maxJournalID || !utf8.ValidString(id) || strings.ContainsRune(id, 0):
		return digest([]byte(id))
	}
	return id
}

func digest(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:16])
}

// journalText makes a searchable value storable: valid UTF-8 without NUL, cut
// to maxJournalText bytes on a character boundary.
func journalText(s string) string {
	s = strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "")
	if len(s) <= maxJournalText {
		return s
	}
	cut := maxJournalText
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut]
}

// finish records what became of a claimed delivery, and turns an outage of
// Reditus into 202 queued once the journal holds the event durably.
func (b *Bridge) finish(ctx context.Context, rec journal.Record, res Result) Result {
	f := finishOf(res)
	f.Lease = rec.NextAttemptAt // the work's lease: a newer holder's outcome stands
	if res.Code == outcome.Unavailable && !b.noQueue {
		f.Outcome, f.NextAttemptAt = journal.Queued, journal.NextAttempt(0, time.Now())
	}
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), storeWait)
	defer cancel()
	if err := b.record(fctx, rec.ID, f); err != nil {
		// Delivered or not, the record stays pending until its lease ends;
		// the worker then takes it again, and Reditus's 409 and idempotency
		// keys make that second delivery harmless.
		b.journalFailed(ctx, "finish", err)
		return res
	}
	if f.Outcome == journal.Queued {
		queued := result(outcome.Queued, "Reditus could not take it now ("+res.Reason+"); the bridge retries it until RETRY_FOR")
		queued.Sent = res.Sent
		return queued
	}
	return res
}

// record writes f on record id; the webhook is answered once it is
// committed.
func (b *Bridge) record(ctx context.Context, id int64, f journal.Finish) error {
	return b.journal.Finish(ctx, id, f)
}

// finishOf is the journal's record of a Result. Attempts counts deliveries
// made, one per pass through the pipeline; the Reditus client's own
// in-request retries are in the metrics.
func finishOf(res Result) journal.Finish {
	f := journal.Finish{Outcome: res.Outcome, Reason: res.Reason, ReferralID: res.ReferralID, Email: res.Sent.Email}
	switch res.Code {
	case outcome.Misconfigured, outcome.Unavailable:
		// "retry" is an answer, not a state: a misconfiguration waits for a
		// person (and the sender's retries); an outage for the worker.
		f.Outcome = journal.Failed
	}
	if res.Code != outcome.Skipped && res.Code != outcome.DryRun { // those call no one
		f.Attempts = 1
	}
	return f
}

// recorded answers a delivery from its journal record: the answer its first
// copy got. A copy still being delivered (by this instance or another) is
// waited for, briefly.
func (b *Bridge) recorded(ctx context.Context, rec journal.Record) Result {
	for deadline := time.Now().Add(waitForTwin); rec.Outcome == journal.Pending; {
		if time.Now().After(deadline) {
			return result(outcome.Unavailable, "the same delivery is being delivered right now; retry later")
		}
		select {
		case <-ctx.Done():
			return result(outcome.Unavailable, "the same delivery is being delivered right now; retry later")
		case <-time.After(pollTwin):
		}
		var err error
		if rec, err = b.journal.Get(ctx, rec.ID); err != nil {
			b.journalFailed(ctx, "get", err)
			return result(outcome.Unavailable, "the journal could not be read; retry later")
		}
	}
	res := result(codeOfRecord(rec.Outcome), rec.Reason)
	res.ReferralID, res.Repeat = rec.ReferralID, true
	return res
}

// codeOfRecord reads back a journaled outcome word.
func codeOfRecord(word outcome.Word) outcome.Code {
	switch word {
	case journal.Queued:
		return outcome.Queued
	case journal.Failed:
		return outcome.Misconfigured
	}
	for code, r := range table {
		if r.outcome == word && code != outcome.NotReferred {
			return code
		}
	}
	return outcome.Unavailable
}

// Redeliver runs a journaled event through the pipeline again, for the
// worker and for an operator's retry: map its raw body, look further, send,
// log. A failure that a later attempt may cure is queued.
func (b *Bridge) Redeliver(ctx context.Context, rec journal.Record) journal.Finish {
	start := time.Now()
	res := b.behindQueued(ctx, rec, b.redeliver(ctx, rec))
	b.logLine(ctx, rec.Provider, res, start)
	f := finishOf(res)
	if res.Code == outcome.Unavailable || res.Code == outcome.Misconfigured {
		f.Outcome = journal.Queued
	}
	return f
}

func (b *Bridge) redeliver(ctx context.Context, rec journal.Record) Result {
	w, ok := b.webhooks[rec.Provider]
	if !ok {
		return result(outcome.Rejected, fmt.Sprintf("no provider %q in this bridge", rec.Provider))
	}
	ev, err := b.event(ctx, w, rec.Body, rec.DeliveryID)
	res := result(outcome.Skipped, ev.Skip)
	switch {
	case err != nil:
		res = errorResult(err)
	case ev.Skip == "":
		res = b.forward(ctx, ev)
	}
	res.EventID, res.EventType = ev.ID, ev.Type
	return res
}

// Retry runs journaled event id through the pipeline again at an operator's
// request (/admin), after a configuration fix: it takes the record, delivers
// it and records the new outcome, which it returns as journaled. Its error
// matches journal.ErrNotFound or journal.ErrBusy.
func (b *Bridge) Retry(ctx context.Context, id int64) (admin.Outcome, error) {
	if b.journal == nil {
		return admin.Outcome{}, errors.New("no journal")
	}
	rec, err := b.journal.Retake(ctx, id, lease)
	if err != nil {
		return admin.Outcome{}, err
	}
	start := time.Now()
	res := b.redeliver(ctx, rec)
	b.logLine(ctx, rec.Provider, res, start)
	res = b.finish(ctx, rec, res)
	f := finishOf(res)
	if res.Code == outcome.Queued {
		f.Outcome = journal.Queued
	}
	return admin.Outcome{Outcome: f.Outcome, Reason: res.Reason, ReferralID: res.ReferralID}, nil
}

// journalFailed logs and counts a journal error; the webhook goes on without.
func (b *Bridge) journalFailed(ctx context.Context, op string, err error) {
	b.log.ErrorContext(ctx, "journal "+op+" failed; going on without the journal", "err", err)
	b.metrics.JournalError(op)
}
