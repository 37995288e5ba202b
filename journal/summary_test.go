package journal_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/getreditus/reditus-bridge/internal/testenv"
	"github.com/getreditus/reditus-bridge/journal"
	"github.com/getreditus/reditus-bridge/outcome"
)

// testSummary is what doctor reads of a journal, on either store.
func testSummary(t *testing.T, b backend) {
	t.Run("Summary counts the window by provider and outcome, what waits, and what was given up", func(t *testing.T) {
		clk := newClock()
		s := open(t, b.fresh(t), clk)
		ended := func(id string, received time.Time, o outcome.Word) {
			r := delivery(id)
			r.ReceivedAt = received
			rec, _ := begin(t, s, r)
			finish(t, s, rec.ID, journal.Finish{Outcome: o, Reason: "why"})
		}
		ended("failed_long_ago", t0.Add(-72*time.Hour), journal.Failed) // given up two days before now
		clk.Advance(48 * time.Hour)
		now := clk.Now()
		ended("failed_now", now.Add(-72*time.Hour), journal.Failed)
		ended("forwarded_yesterday", now.Add(-30*time.Hour), "forwarded")
		ended("forwarded", now.Add(-time.Hour), "forwarded")
		ended("skipped", now.Add(-time.Minute), "skipped")
		for _, q := range []struct {
			id       string
			received time.Time
		}{{"queued_old", now.Add(-2 * time.Hour)}, {"queued_new", now.Add(-10 * time.Minute)}} {
			r := delivery(q.id)
			r.Provider, r.ReceivedAt = "polar", q.received
			rec, _ := begin(t, s, r)
			finish(t, s, rec.ID, journal.Finish{Outcome: journal.Queued, NextAttemptAt: now.Add(time.Minute)})
		}

		got, err := s.Summary(context.Background(), now.Add(-24*time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		want := journal.Summary{
			Outcomes:     map[string]map[outcome.Word]int{"stripe": {"forwarded": 1, "skipped": 1}, "polar": {journal.Queued: 2}},
			Queued:       2,
			OldestQueued: now.Add(-2 * time.Hour),
			Failed:       1,
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("got %+v, want %+v", got, want)
		}
		empty, err := open(t, b.fresh(t), clk).Summary(context.Background(), now.Add(-24*time.Hour))
		if err != nil || empty.Queued != 0 || !empty.OldestQueued.IsZero() || empty.Failed != 0 || len(empty.Outcomes) != 0 {
			t.Errorf("an empty journal: got %+v, %v; want nothing counted", empty, err)
		}
	})

	t.Run("Writable takes a write that changes nothing", func(t *testing.T) {
		s := open(t, b.fresh(t), newClock())
		before, _ := s.Status(context.Background())
		if err := s.Writable(context.Background()); err != nil {
			t.Fatalf("Writable: %v", err)
		}
		if after, _ := s.Status(context.Background()); after != before {
			t.Errorf("status %+v after Writable, want %+v", after, before)
		}
	})
}

// A SQLite journal whose write lock another process holds cannot take the
// write within the caller's time, and says so.
func TestWritableFailsOnALockedSQLite(t *testing.T) {
	dir := t.TempDir()
	s := open(t, journal.Options{DataDir: dir}, newClock())
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "bridge.db")+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	conn, err := db.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(context.Background(), `BEGIN IMMEDIATE`); err != nil {
		t.Fatal(err)
	}
	defer conn.ExecContext(context.Background(), `ROLLBACK`)
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	start := time.Now()
	if err := s.Writable(ctx); err == nil {
		t.Error("Writable behind a lock: no error")
	}
	if waited := time.Since(start); waited > 5*time.Second {
		t.Errorf("Writable waited %v past its caller's 1 s", waited)
	}
}

// A Postgres journal whose table another session locks cannot take the
// write within the caller's time, and says so.
func TestWritableFailsOnALockedPostgres(t *testing.T) {
	url := testenv.Postgres(t)
	s := open(t, journal.Options{DatabaseURL: url}, newClock())
	db, err := sql.Open("pgx", url)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	tx, err := db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if _, err := tx.Exec(`LOCK TABLE schema_migrations IN ACCESS EXCLUSIVE MODE`); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := s.Writable(ctx); err == nil {
		t.Error("Writable behind a lock: no error")
	}
}
