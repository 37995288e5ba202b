package pipeline

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/getreditus/reditus-bridge/journal"
	"github.com/getreditus/reditus-bridge/mapping"
	"github.com/getreditus/reditus-bridge/outcome"
	"github.com/getreditus/reditus-bridge/reditus"
)

// Claimer hands the pipeline the records it works on: a delivery's own,
// recorded pending under a lease (Begin), or one by id, taken again (Retake).
type Claimer interface {
	Begin(ctx context.Context, r journal.Record, lease time.Duration) (rec journal.Record, claimed bool, err error)
	Retake(ctx context.Context, id int64, lease time.Duration, was outcome.Word) (journal.Record, error)
}

// Finisher commits the outcome of the work on a claimed record.
type Finisher interface {
	Finish(ctx context.Context, id int64, f journal.Finish) error
}

// Reader reads the record of a twin delivery, for its outcome.
type Reader interface {
	Get(ctx context.Context, id int64) (journal.Record, error)
}

// Journal is what the pipeline needs of the journal (docs/design.md, "The
// journal"). The store journal.Open returns is one.
type Journal interface {
	Claimer
	Finisher
	Reader
	Orderer
}

// Journal timing. A delivery holds its record for lease: longer than the
// whole in-request work (look-ups and Reditus, under 10 s), so that another
// instance never takes over a live one. A re-sent delivery that finds its
// twin still pending waits up to waitForTwin for the twin's answer.
const (
	lease       = journal.DefaultLease
	waitForTwin = 10 * time.Second
	pollTwin    = 50 * time.Millisecond
	// storeWait bounds each journal call on a webhook's path (the claim,
	// the finish), whole: see bounded.
	storeWait = 2 * time.Second
)

// errStalled: the journal did not answer within storeWait.
var errStalled = errors.New("the journal did not answer in time")

// bounded runs call, a journal call on a webhook's path that the journal's
// writer carries (Begin, Finish), under a context that ends at storeWait:
// the writer returns by its context's end, also when SQLite is inside a
// write it cannot interrupt (an fsync on a frozen volume; the write may
// land later), while the sender gives up after a few seconds more. Past the
// bound the webhook goes on without the answer: as without a journal, or
// answered 503, never 202 on a write that is not committed. What such a
// write does when it lands later is harmless, each caller says why. The
// other calls run detached.
func bounded[T any](ctx context.Context, call func(context.Context) (T, error)) (T, error) {
	ctx, cancel := context.WithTimeout(ctx, storeWait)
	defer cancel()
	v, err := call(ctx)
	if err != nil && errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return v, fmt.Errorf("%w (within %v): %w", errStalled, storeWait, err)
	}
	return v, err
}

// detached is bounded for a journal call the writer does not carry: a
// stale record's Retake, a twin's Get, a money event's Ahead. SQLite's
// driver interrupts those at their context's end, but not inside a system
// call (a read from a frozen volume), so each runs on a goroutine of its
// own, waited for until the bound. What it does after is harmless, its
// caller says why.
func detached[T any](ctx context.Context, call func(context.Context) (T, error)) (T, error) {
	ctx, cancel := context.WithTimeout(ctx, storeWait)
	type answer struct {
		v   T
		err error
	}
	done := make(chan answer, 1)
	go func() {
		defer cancel()
		v, err := call(ctx)
		done <- answer{v, err}
	}()
	select {
	case a := <-done:
		return a.v, a.err
	case <-ctx.Done():
	}
	select { // it may have answered as the bound passed
	case a := <-done:
		return a.v, a.err
	default:
	}
	var zero T
	if !errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return zero, ctx.Err() // the caller's context ended first: the journal did not stall
	}
	return zero, fmt.Errorf("%w (within %v)", errStalled, storeWait)
}

// once sends ev at most once per delivery id: the journal's record answers
// a re-sent delivery, on any instance, without calling Reditus. Without a
// journal, or when it fails, the memory of recent deliveries does, as if
// there were no journal: it never makes the bridge less available. An
// arrival already claimed (the worker's, an operator's retry) is sent.
func (p *Pipeline) once(ctx context.Context, a arrival, ev mapping.Event) Result {
	if a.rec != nil {
		return p.settle(ctx, a, *a.rec, p.send(ctx, a.rec, ev))
	}
	if p.journal == nil {
		return p.remembered(ctx, a, ev)
	}
	c, err := p.claim(ctx, a, ev, true)
	if err != nil {
		p.journalFailed(ctx, "begin", err)
		return p.remembered(ctx, a, ev)
	}
	p.journalAnswered("begin", nil)
	switch {
	case !c.mine:
		return p.recorded(ctx, c.rec)
	case p.dryRun && c.resumed:
		// A live bridge began it (and crashed), or gave up on it: a dry
		// run, which sends nothing, must not end it dry_run and so take it
		// out of the queue while its sender stops re-sending.
		return p.settle(ctx, a, c.rec, result(outcome.Held, "dry run: nothing is sent; a live bridge began this event, and it waits in the queue for a live start"))
	}
	return p.settle(ctx, a, c.rec, p.send(ctx, &c.rec, ev))
}

// unreadable is the answer to an event whose verified body did not map:
// an invalid payload is journaled too, with its reason, under the id its
// sender gave it or its body's digest, so that /admin shows why it was
// refused, and a re-send is answered from its record, the same.
func (p *Pipeline) unreadable(ctx context.Context, a arrival, ev mapping.Event, err error) Result {
	res := ErrorResult(err)
	if res.Code != outcome.InvalidPayload || p.journal == nil {
		return res
	}
	c, err := p.claim(ctx, a, ev, false)
	if err != nil {
		p.journalFailed(ctx, "begin", err)
		return res
	}
	p.journalAnswered("begin", nil)
	if !c.mine {
		return p.recorded(ctx, c.rec)
	}
	return p.settle(ctx, a, c.rec, res)
}

// remembered sends ev once per delivery id among the deliveries this
// process remembers. A skip calls no one, so it is not remembered.
func (p *Pipeline) remembered(ctx context.Context, a arrival, ev mapping.Event) Result {
	if ev.Skip != "" {
		return p.send(ctx, nil, ev)
	}
	return p.deliveries.do(a.provider+"\x00"+ev.ID, func() Result { return p.send(ctx, nil, ev) })
}

// claim is what Pipeline.claim made of a delivery's record.
type claim struct {
	rec journal.Record
	// mine: the caller may work on rec; else rec answers the delivery.
	mine bool
	// resumed: rec is work a holder began and did not finish (failed, or
	// pending past its lease), which Begin hands out again; not a new
	// record, nor one of nothing sent taken again (stale).
	resumed bool
}

// claim records ev's delivery as pending, leased to this caller, and says
// whether the caller may work on it; else the record answers it. mapped says
// ev is the body's event, not what was known of a body that did not map.
//
// It is bounded: a claim that lands after the webhook went on without it
// leaves a pending record, which the worker takes when its lease ends, and
// Reditus answers that second delivery as one it has (409, the payment's
// idempotency key): the event is in Reditus once.
func (p *Pipeline) claim(ctx context.Context, a arrival, ev mapping.Event, mapped bool) (claim, error) {
	c, err := bounded(ctx, func(ctx context.Context) (claim, error) {
		cust := customerOf(ev)
		rec, mine, err := p.journal.Begin(ctx, journal.Record{
			Provider: a.provider, DeliveryID: journalID(ev.ID, a.body), EventType: journalText(ev.Type),
			Email: cust.email, UID: cust.uid, PaymentKey: cust.paymentKey, Body: kept(ev, a.body),
		}, lease)
		// Begin stamps a record it makes received and updated in one
		// instant, and one it hands out again updated now.
		return claim{rec: rec, mine: mine, resumed: mine && !rec.UpdatedAt.Equal(rec.ReceivedAt)}, err
	})
	if err != nil || c.mine || !mapped || !p.stale(c.rec, ev) {
		return c, err
	}
	// A stale record is taken again by one instance, and only while it is
	// still stale. Taken by another meanwhile (ErrBusy), its outcome is
	// waited for (recorded). Not taken because the journal failed, the
	// webhook goes on as without a journal: answered from the stale record,
	// its sender would take the dry run or skip as final.
	taken, err := detached(ctx, func(ctx context.Context) (journal.Record, error) {
		return p.journal.Retake(ctx, c.rec.ID, lease, c.rec.Outcome)
	})
	switch {
	case err == nil:
		return claim{rec: taken, mine: true}, nil
	case errors.Is(err, journal.ErrBusy):
		c.rec.Outcome = journal.Pending
		return c, nil
	}
	return claim{}, err
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

// stale reports whether rec, a record of nothing sent, must not answer its
// delivery now that it maps to ev, which would send something: a dry run's
// once live (DRY_RUN=false, or `backfill --dry-run` then `backfill`), a
// skip's once the configuration lets the event through (re-sent after
// STRIPE_ACCEPT_TEST_EVENTS=true, say), an invalid payload's once the
// bridge reads it.
func (p *Pipeline) stale(rec journal.Record, ev mapping.Event) bool {
	switch rec.Outcome {
	case outcome.WordDryRun:
		return !p.dryRun
	case outcome.WordSkipped:
		return ev.Skip == ""
	case outcome.WordInvalidPayload:
		return true
	}
	return false
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
	if f.Email == rec.Email {
		f.Email = "" // the claim wrote it; writing it again costs its index a page
	}
	if next := journal.NextAttempt(0, time.Now()); f.Outcome == journal.Queued && next.After(f.NextAttemptAt) {
		f.NextAttemptAt = next
	}
	_, err := bounded(context.WithoutCancel(ctx), func(ctx context.Context) (struct{}, error) {
		return struct{}{}, p.journal.Finish(ctx, rec.ID, f)
	})
	if err != nil {
		// Delivered or not, the record stays pending until its lease ends;
		// the worker then takes it again, and Reditus's 409 and idempotency
		// keys make that second delivery harmless. A queued outcome is
		// answered 503, as without a journal: the sender's retry finds the
		// record queued if the write landed after all, and is answered so.
		// A write that lands late is the outcome, under the lease it names.
		p.journalFailed(ctx, "finish", err)
		return res
	}
	if f.Outcome != journal.Queued || res.Code == outcome.Held {
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
	f := journal.Finish{
		Outcome: res.Journaled, Reason: res.Reason, ReferralID: res.ReferralID, Email: res.Sent.Email,
		UID: res.customer.uid, PaymentKey: res.customer.paymentKey,
	}
	switch {
	case res.Code == outcome.Skipped, res.Code == outcome.DryRun, res.Code == outcome.InvalidPayload, res.uncalled: // those call no one
	case res.Code == outcome.Held && res.Sent == (reditus.Conversion{}): // nor does a held event without a conversion
	default:
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
		if rec, err = detached(ctx, func(ctx context.Context) (journal.Record, error) { return p.journal.Get(ctx, rec.ID) }); err != nil {
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
// A call that ended only because its caller left (the sender hung up, the
// bridge is stopping) is no failure of the journal's: it is logged as that,
// and neither counted nor alerted, so that journal_unavailable means the
// journal.
func (p *Pipeline) journalFailed(ctx context.Context, op string, err error) {
	if ctx.Err() != nil && errors.Is(err, ctx.Err()) && !errors.Is(err, errStalled) {
		p.log.WarnContext(ctx, "journal "+op+" ended as its caller left; going on without the journal", "err", err)
		return
	}
	p.log.ErrorContext(ctx, "journal "+op+" failed; going on without the journal", "err", err)
	p.metrics.JournalError(op)
	p.journalAnswered(op, err)
}
