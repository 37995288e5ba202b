package alert

import (
	"cmp"
	"context"
	"slices"
	"sync"
	"time"

	"github.com/getreditus/reditus-bridge/journal"
)

// Tally is what is counted of one kind of alert, for one provider: how
// many occurrences, from when to when, and the last one's event. The
// journal's alerts table holds it.
type Tally = journal.Tally

// merge adds u, which happened after t, to t.
func merge(t, u Tally) Tally {
	t.Count += u.Count
	if u.First.Before(t.First) {
		t.First = u.First
	}
	if !u.Last.Before(t.Last) {
		t.Last, t.EventID, t.EventType, t.Reason = u.Last, u.EventID, u.EventType, u.Reason
	}
	return t
}

// Ledger keeps the tallies where every instance sees them, and lets one
// instance claim each alert: the journal's store is one. Each method is
// atomic against every other caller, on any instance.
type Ledger interface {
	// AddAlert adds t to its kind and provider's tally. When no alert of
	// them was sent within every before now, the caller claims the tally:
	// send is true and due is everything counted (t included), now
	// counted as sent. next is when the next alert of them may be sent.
	AddAlert(ctx context.Context, t Tally, now time.Time, every time.Duration) (due Tally, send bool, next time.Time, err error)
	// DueAlerts claims, for the caller to send, every tally that holds
	// occurrences and whose last alert is at least every old.
	DueAlerts(ctx context.Context, now time.Time, every time.Duration) ([]Tally, error)
	// ResolveAlert ends an outage of kind (reditus_unavailable,
	// journal_unavailable): it reports whether an alert or a count of it
	// was held since it last ended, and drops the count, which the
	// resolved alert replaces.
	ResolveAlert(ctx context.Context, kind string) (bool, error)
}

var (
	_ Ledger = (*journal.DB)(nil)
	_ Ledger = (*memoryLedger)(nil)
)

// memoryLedger is a Ledger of one process: without a journal, or while it
// fails.
type memoryLedger struct {
	mu   sync.Mutex
	rows map[key]*row
}

// row is one kind and provider's state, as the journal's table holds it.
type row struct {
	pending Tally     // counted and not sent; Count 0 when none
	sentAt  time.Time // the last alert's time; zero: never
	open    bool      // an alert was sent and its outage has not ended
}

func newMemoryLedger() *memoryLedger { return &memoryLedger{rows: map[key]*row{}} }

// AddAlert implements Ledger.
func (l *memoryLedger) AddAlert(_ context.Context, t Tally, now time.Time, every time.Duration) (Tally, bool, time.Time, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	k := key{Kind(t.Kind), t.Provider}
	r := l.rows[k]
	if r == nil {
		if len(l.rows) >= maxKeys {
			return Tally{}, false, now.Add(every), nil
		}
		r = &row{}
		l.rows[k] = r
	}
	if r.pending.Count == 0 {
		r.pending = t
	} else {
		r.pending = merge(r.pending, t)
	}
	if !r.sentAt.IsZero() && now.Before(r.sentAt.Add(every)) {
		return Tally{}, false, r.sentAt.Add(every), nil
	}
	return r.claim(now), true, now.Add(every), nil
}

// claim takes r's pending tally for an alert sent at now.
func (r *row) claim(now time.Time) Tally {
	due := r.pending
	r.pending, r.sentAt, r.open = Tally{}, now, true
	return due
}

// DueAlerts implements Ledger.
func (l *memoryLedger) DueAlerts(_ context.Context, now time.Time, every time.Duration) ([]Tally, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var due []Tally
	for _, r := range l.rows {
		if r.pending.Count > 0 && !now.Before(r.sentAt.Add(every)) {
			due = append(due, r.claim(now))
		}
	}
	slices.SortFunc(due, func(x, y Tally) int { return cmp.Or(cmp.Compare(x.Kind, y.Kind), cmp.Compare(x.Provider, y.Provider)) })
	return due, nil
}

// ResolveAlert implements Ledger.
func (l *memoryLedger) ResolveAlert(_ context.Context, kind string) (bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	r := l.rows[key{Kind(kind), ""}]
	if r == nil || (!r.open && r.pending.Count == 0) {
		return false, nil
	}
	r.open, r.pending = false, Tally{}
	return true, nil
}
