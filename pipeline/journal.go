package pipeline

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/getreditus/reditus-bridge/journal"
	"github.com/getreditus/reditus-bridge/mapping"
	"github.com/getreditus/reditus-bridge/outcome"
)

// Claimer hands the pipeline the records it works on: a delivery's own,
// recorded pending under a lease (Begin), or one by id, taken again (Retake).
type Claimer interface {
	Begin(ctx context.Context, r journal.Record, lease time.Duration) (rec journal.Record, claimed bool, err error)
	Retake(ctx context.Context, id int64, lease time.Duration) (journal.Record, error)
}

// Finisher commits the outcome of the work on a claimed record.
type Finisher interface {
	Finish(ctx context.Context, id int64, f journal.Finish) error
}

// Reader reads the records the pipeline waits on: a twin's outcome (Get), a
// customer's earlier events (List).
type Reader interface {
	Get(ctx context.Context, id int64) (journal.Record, error)
	List(ctx context.Context, f journal.Filter) ([]journal.Record, error)
}

// Journal is what the pipeline needs of the journal (docs/design.md, "The
// journal"). The store journal.Open returns is one.
type Journal interface {
	Claimer
	Finisher
	Reader
}

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
// there were no journal: it never makes the bridge less available. An
// arrival already claimed (the worker's, an operator's retry) is sent.
func (p *Pipeline) once(ctx context.Context, a arrival, ev mapping.Event) Result {
	if a.rec != nil {
		return p.settle(ctx, a, *a.rec, p.behindQueued(ctx, *a.rec, p.send(ctx, ev)))
	}
	if p.journal == nil {
		return p.remembered(ctx, a, ev)
	}
	rec, claimed, err := p.claim(ctx, a, ev)
	if err != nil {
		p.journalFailed(ctx, "begin", err)
		return p.remembered(ctx, a, ev)
	}
	p.journalAnswered("begin", nil)
	if !claimed {
		return p.recorded(ctx, rec)
	}
	return p.settle(ctx, a, rec, p.behindQueued(ctx, rec, p.send(ctx, ev)))
}

// remembered sends ev once per delivery id among the deliveries this
// process remembers. A skip calls no one, so it is not remembered.
func (p *Pipeline) remembered(ctx context.Context, a arrival, ev mapping.Event) Result {
	if ev.Skip != "" {
		return p.send(ctx, ev)
	}
	return p.deliveries.do(a.provider+"\x00"+ev.ID, func() Result { return p.send(ctx, ev) })
}

// claim records ev's delivery as pending, leased to this caller, and says
// whether the caller may work on it; else rec is the record that answers it.
func (p *Pipeline) claim(ctx context.Context, a arrival, ev mapping.Event) (rec journal.Record, claimed bool, err error) {
	// A journal that cannot keep up must not hold webhooks (and their
	// memory) without end: past storeWait the delivery goes on without it.
	bctx, cancel := context.WithTimeout(ctx, storeWait)
	defer cancel()
	rec, claimed, err = p.journal.Begin(bctx, journal.Record{
		Provider: a.provider, DeliveryID: journalID(ev.ID, a.body),
		EventType: journalText(ev.Type), Email: journalText(ev.Email()), Body: kept(ev, a.body),
	}, lease)
	if err != nil || claimed {
		return rec, claimed, err
	}
	// A record of nothing sent answers no delivery that would now send
	// something: a dry run's once live (DRY_RUN=false, or `backfill
	// --dry-run` then `backfill`), a skip's once the configuration lets the
	// event through (re-sent after STRIPE_ACCEPT_TEST_EVENTS=true, say).
	// Retake lets one instance have it.
	stale := (rec.Outcome == outcome.WordDryRun && !p.dryRun) || (rec.Outcome == outcome.WordSkipped && ev.Skip == "")
	if stale {
		if taken, err := p.journal.Retake(ctx, rec.ID, lease); err == nil {
			return taken, true, nil
		}
	}
	return rec, false, nil
}

// kept is the body the journal keeps of ev: none for an event of a type the
// provider does not handle, which nothing ever runs again, since no
// configuration makes it convert (docs/decisions.md). An endpoint sent "all
// events" would otherwise fill the volume with them: a Stripe invoice.paid
// is 5.7 KB. Every other skip keeps its body, for a retry once the
// configuration or the site is fixed.
func kept(ev mapping.Event, body []byte) []byte {
	if ev.Unhandled {
		return nil
	}
	return body
}

// behindQueued keeps a payment, refund or churn in order behind its
// customer's conversion: when Reditus does not know the customer yet and an
// earlier event of the same email is still queued (its conversion, say, held
// by an outage), the answer is no final "not referred" but an outage of its
// own, so that the event is queued after it and delivered once it is in.
func (p *Pipeline) behindQueued(ctx context.Context, rec journal.Record, res Result) Result {
	if res.Code != outcome.NotReferred || rec.Email == "" {
		return res
	}
	for _, state := range []outcome.Word{journal.Queued, journal.Pending} {
		earlier, err := p.journal.List(ctx, journal.Filter{Email: rec.Email, Outcome: state, Limit: 10})
		if err != nil {
			p.journalFailed(ctx, "list", err)
			return res
		}
		for _, e := range earlier {
			if e.ID < rec.ID {
				held := result(outcome.Unavailable, fmt.Sprintf("Reditus does not know the customer yet, and their earlier event %s (%s) is still %s: this one follows it", e.DeliveryID, e.EventType, state))
				held.ReferralID, held.Sent, held.Found, held.Attempts = res.ReferralID, res.Sent, res.Found, res.Attempts
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
	text, _ := storableText(s, maxJournalText)
	return text
}

// storableText is s as either store keeps text (Postgres refuses NUL and
// invalid UTF-8), cut to at most n bytes on a character boundary; cut says
// whether it was.
func storableText(s string, n int) (text string, cut bool) {
	s = strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "")
	if len(s) <= n {
		return s, false
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n], true
}

// settle gives res its journal state (stateOf) and commits it on record rec
// before anything is answered, except for the worker, which commits what
// Redeliver returns itself. An outage of Reditus that the journal now holds
// is answered 202 queued.
func (p *Pipeline) settle(ctx context.Context, a arrival, rec journal.Record, res Result) Result {
	res.Journaled = stateOf(res.Code, a.via)
	if a.via == fromWorker {
		return res
	}
	f := finishOf(res)
	f.Lease = rec.NextAttemptAt // the work's lease: a newer holder's outcome stands
	if next := journal.NextAttempt(0, time.Now()); f.Outcome == journal.Queued && next.After(f.NextAttemptAt) {
		f.NextAttemptAt = next
	}
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), storeWait)
	defer cancel()
	if err := p.journal.Finish(fctx, rec.ID, f); err != nil {
		// Delivered or not, the record stays pending until its lease ends;
		// the worker then takes it again, and Reditus's 409 and idempotency
		// keys make that second delivery harmless.
		p.journalFailed(ctx, "finish", err)
		return res
	}
	if f.Outcome != journal.Queued {
		return res
	}
	queued := result(outcome.Queued, "Reditus could not take it now ("+res.Reason+"); the bridge retries it until RETRY_FOR")
	queued.Sent, queued.Journaled = res.Sent, f.Outcome
	return queued
}

// finishOf is the journal's record of a settled Result. Attempts counts
// deliveries made, one per pass through the pipeline; the Reditus client's
// own in-request retries are in the metrics, and each HTTP attempt is in
// the AttemptLog, for /admin's event page (detail.go). A queued event is due
// no sooner than Reditus (or the breaker) said.
func finishOf(res Result) journal.Finish {
	f := journal.Finish{Outcome: res.Journaled, Reason: res.Reason, ReferralID: res.ReferralID, Email: res.Sent.Email}
	if res.Code != outcome.Skipped && res.Code != outcome.DryRun && !res.uncalled { // those call no one
		f.Attempts = 1
	}
	if f.Outcome == journal.Queued {
		f.NextAttemptAt = res.RetryAt
	}
	return withDetail(f, res)
}

// recorded answers a delivery from its journal record: the answer its first
// copy got. A copy still being delivered (by this instance or another) is
// waited for, briefly.
func (p *Pipeline) recorded(ctx context.Context, rec journal.Record) Result {
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
		if rec, err = p.journal.Get(ctx, rec.ID); err != nil {
			p.journalFailed(ctx, "get", err)
			return result(outcome.Unavailable, "the journal could not be read; retry later")
		}
	}
	code, ok := codeOfState[rec.Outcome]
	if !ok {
		code = outcome.Unavailable
	}
	res := result(code, rec.Reason)
	res.ReferralID, res.Repeat = rec.ReferralID, true
	return res
}

// journalFailed logs and counts a journal error; the event goes on without.
func (p *Pipeline) journalFailed(ctx context.Context, op string, err error) {
	p.log.ErrorContext(ctx, "journal "+op+" failed; going on without the journal", "err", err)
	p.metrics.JournalError(op)
	p.journalAnswered(op, err)
}
