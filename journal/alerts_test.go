package journal_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getreditus/reditus-bridge/internal/testenv"
	"github.com/getreditus/reditus-bridge/journal"
)

func TestSQLiteAlerts(t *testing.T) {
	testAlerts(t, backend{kind: "sqlite", fresh: func(t *testing.T) journal.Options {
		return journal.Options{DataDir: t.TempDir()}
	}})
}

func TestPostgresAlerts(t *testing.T) {
	testenv.Postgres(t)
	testAlerts(t, backend{kind: "postgres", fresh: func(t *testing.T) journal.Options {
		return journal.Options{DatabaseURL: testenv.Postgres(t)}
	}})
}

const every = time.Hour

// rejected is n occurrences of event_rejected on stripe at at, the last of
// them event id.
func rejected(n int, at time.Time, id string) journal.Tally {
	return journal.Tally{Kind: "event_rejected", Provider: "stripe", Count: n, First: at, Last: at, EventID: id, EventType: "customer.created", Reason: "Affiliate john not found"}
}

// The alerts table: one alert per interval, claimed by one caller of all
// the instances on the store.
func testAlerts(t *testing.T, b backend) {
	ctx := context.Background()

	t.Run("the first occurrence is claimed at once, the rest when the interval ends", func(t *testing.T) {
		s := open(t, b.fresh(t), newClock())
		due, send, next, err := s.AddAlert(ctx, rejected(1, t0, "evt_1"), t0, every)
		if err != nil || !send || due.Count != 1 || !due.First.Equal(t0) || due.EventID != "evt_1" || !next.Equal(t0.Add(every)) {
			t.Fatalf("the first: got %+v, %v, %v, %v; want it claimed, next at %v", due, send, next, err, t0.Add(every))
		}
		for i, at := range []time.Time{t0.Add(time.Minute), t0.Add(2 * time.Minute)} {
			if _, send, next, err := s.AddAlert(ctx, rejected(2, at, "evt_"+string(rune('2'+i))), at, every); err != nil || send || !next.Equal(t0.Add(every)) {
				t.Fatalf("a repeat: got %v, %v, %v; want it counted, next at %v", send, next, err, t0.Add(every))
			}
		}
		if got, err := s.DueAlerts(ctx, t0.Add(every-time.Second), every); err != nil || len(got) != 0 {
			t.Fatalf("before the interval ends: got %+v, %v; want none due", got, err)
		}
		got, err := s.DueAlerts(ctx, t0.Add(every), every)
		want := journal.Tally{Kind: "event_rejected", Provider: "stripe", Count: 4, First: t0.Add(time.Minute), Last: t0.Add(2 * time.Minute),
			EventID: "evt_3", EventType: "customer.created", Reason: "Affiliate john not found"}
		if err != nil || len(got) != 1 || got[0] != want {
			t.Fatalf("when it ends: got %+v, %v; want %+v", got, err, want)
		}
		if got, err := s.DueAlerts(ctx, t0.Add(3*every), every); err != nil || len(got) != 0 {
			t.Errorf("with nothing new: got %+v, %v; want none", got, err)
		}
		if _, send, _, err := s.AddAlert(ctx, rejected(1, t0.Add(3*every), "evt_9"), t0.Add(3*every), every); err != nil || !send {
			t.Errorf("an interval after the last alert: got %v, %v; want it claimed at once", send, err)
		}
	})

	t.Run("instances adding at once claim one alert, and one the rest", func(t *testing.T) {
		o := b.fresh(t)
		stores := []*journal.DB{open(t, o, newClock()), open(t, o, newClock())}
		const n = 16
		var sent, counted sync.Map
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				due, send, _, err := stores[i%2].AddAlert(ctx, rejected(1, t0, "evt"), t0, every)
				if err != nil {
					t.Errorf("AddAlert: %v", err)
				}
				if send {
					sent.Store(i, due.Count)
				}
			})
		}
		wg.Wait()
		total, claims := 0, 0
		sent.Range(func(_, c any) bool { claims++; total += c.(int); return true })
		if claims != 1 {
			t.Fatalf("%d of %d callers on two instances claimed the alert, want 1", claims, n)
		}
		for i := range stores {
			wg.Go(func() {
				due, err := stores[i].DueAlerts(ctx, t0.Add(every), every)
				if err != nil {
					t.Errorf("DueAlerts: %v", err)
				}
				for _, d := range due {
					counted.Store(i, d.Count)
				}
			})
		}
		wg.Wait()
		claims = 0
		counted.Range(func(_, c any) bool { claims++; total += c.(int); return true })
		if claims != 1 || total != n {
			t.Errorf("when the interval ended: %d claims, %d occurrences in all; want 1, and all %d counted once", claims, total, n)
		}
	})

	t.Run("an outage's end is told once, to one caller, and drops its count", func(t *testing.T) {
		o := b.fresh(t)
		s, other := open(t, o, newClock()), open(t, o, newClock())
		if ok, err := s.ResolveAlert(ctx, "reditus_unavailable"); err != nil || ok {
			t.Fatalf("no outage: got %v, %v; want false", ok, err)
		}
		outage := journal.Tally{Kind: "reditus_unavailable", Count: 12, First: t0, Last: t0}
		if _, send, _, err := s.AddAlert(ctx, outage, t0, every); err != nil || !send {
			t.Fatalf("the outage's alert: got %v, %v; want it claimed", send, err)
		}
		outage.Count = 3 // still failing: counted for later
		if _, send, _, err := other.AddAlert(ctx, outage, t0.Add(time.Minute), every); err != nil || send {
			t.Fatalf("more failures: got %v, %v; want them counted", send, err)
		}
		first, err1 := s.ResolveAlert(ctx, "reditus_unavailable")
		second, err2 := other.ResolveAlert(ctx, "reditus_unavailable")
		if err1 != nil || err2 != nil || !first || second {
			t.Fatalf("its end, on two instances: got %v, %v (%v, %v); want true once", first, second, err1, err2)
		}
		if due, err := s.DueAlerts(ctx, t0.Add(every), every); err != nil || len(due) != 0 {
			t.Errorf("after its end: got %+v, %v; want no late alert of the outage", due, err)
		}
	})

	t.Run("a stranger's text is kept as text, cut short", func(t *testing.T) {
		s := open(t, b.fresh(t), newClock())
		tally := rejected(1, t0, "evt_\x00\xff")
		tally.Reason = strings.Repeat("é", 2000)
		due, send, _, err := s.AddAlert(ctx, tally, t0, every)
		if err != nil || !send || len(due.Reason) > 1000 || strings.ContainsRune(due.EventID, 0) {
			t.Errorf("got %q, %d, %v, %v; want the reason cut to 1000 bytes, no NUL", due.EventID, len(due.Reason), send, err)
		}
	})
}
