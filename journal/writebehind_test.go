package journal

import (
	"context"
	"database/sql"
	"errors"
	"testing"
	"time"
)

// Was a finding (low), fixed: Finish was not fenced by the lease it was begun under
// (finishQuery: WHERE id = ?). A FinishLater still queued when its lease
// ends lands after whoever took the record next (the worker's Due, an
// operator's Retake) and overwrites their newer outcome. With the webhook
// lease of a minute this needs the batcher to stall that long (a second
// process holding bridge.db's write lock), so it is unlikely; the same holds
// for a synchronous Finish. The fix: Finish carries the lease end it was
// given (Finish.Lease) and updates only WHERE id = ? AND outcome =
// 'pending' AND next_attempt_at = ?, reporting ErrLeaseLost otherwise.
func TestWriteBehindLateFinishOverwritesNewerOutcome(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	st, err := Open(ctx, Options{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	s := st.(*sqlStore)
	defer s.Close()
	// other is a second process on the same bridge.db (a worker started
	// beside it, or the next start after a stall): it shares the file, not
	// the queue.
	other, err := Open(ctx, Options{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	first, claimed, err := s.Begin(ctx, Record{Provider: "generic", DeliveryID: "msg_late", Body: []byte{}}, 50*time.Millisecond)
	if err != nil || !claimed {
		t.Fatalf("Begin: claimed %v, %v", claimed, err)
	}
	// This process's writer is stalled: the first holder's outcome waits in
	// the queue while its lease runs out.
	conn, err := s.write.db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	late := make(chan error, 1)
	if err := s.FinishLater(ctx, first.ID, Finish{Outcome: "rejected", Reason: "the first holder's, stale", Lease: first.NextAttemptAt}, func(err error) { late <- err }); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond) // past the lease
	recs, err := other.Due(ctx, time.Now(), time.Minute, 10)
	if err != nil || len(recs) != 1 {
		t.Fatalf("Due after the lease: %d records, %v; want the abandoned one", len(recs), err)
	}
	if err := other.Finish(ctx, recs[0].ID, Finish{Outcome: "forwarded", Reason: "the worker's", Attempts: 1, Lease: recs[0].NextAttemptAt}); err != nil {
		t.Fatal(err)
	}
	conn.Close() // the stall ends: the stale write lands
	if err := <-late; !errors.Is(err, ErrLeaseLost) {
		t.Errorf("the stale write: %v, want ErrLeaseLost", err)
	}
	got, err := other.Get(ctx, first.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Outcome != "forwarded" {
		t.Errorf("got %s (%q), want the worker's forwarded: the stale holder's queued write overwrote it", got.Outcome, got.Reason)
	}
}

// Was a finding (low), fixed: the batcher took its two queues at random, so
// a write queued with FinishLater was not always committed before a Begin
// made after FinishLater returned:
// a sender that re-sends a delivery once it has its answer can find the
// record still pending. The handler then waits (recorded polls every 50 ms)
// and answers the old outcome as a repeat; for a stale one (a skip whose
// event now goes through, a dry run now live) it answers that stale outcome
// instead of retaking the record, which it would do had the write landed in
// order. Fix: loop and gather take every write waiting in later before one
// from ops (a non-blocking receive from later first), so that a write queued
// before a Begin was sent is committed before or with it, ahead of it.
func TestWriteBehindBeginAfterFinishLaterSeesIt(t *testing.T) {
	ctx := context.Background()
	s := openSQLiteForTest(t)
	const trials = 20
	pending := 0
	for i := range trials {
		id := "msg_" + string(rune('a'+i))
		rec, _, err := s.Begin(ctx, Record{Provider: "generic", DeliveryID: id, Body: []byte{}}, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		// A busy writer: the answered outcome waits in the queue.
		conn, err := s.write.db.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		// The batcher takes one write and waits for the connection with
		// it; the outcome then waits in later.
		taken := make(chan error, 1)
		go func() {
			_, _, err := s.Begin(ctx, Record{Provider: "generic", DeliveryID: id + "_other", Body: []byte{}}, time.Minute)
			taken <- err
		}()
		time.Sleep(20 * time.Millisecond)
		done := make(chan error, 1)
		if err := s.FinishLater(ctx, rec.ID, Finish{Outcome: "skipped", Reason: "answered"}, func(err error) { done <- err }); err != nil {
			t.Fatal(err)
		}
		// The sender has its answer, and re-sends.
		again := make(chan Record, 1)
		go func() {
			r, _, err := s.Begin(ctx, Record{Provider: "generic", DeliveryID: id, Body: []byte{}}, time.Minute)
			if err != nil {
				t.Error(err)
			}
			again <- r
		}()
		time.Sleep(20 * time.Millisecond)
		conn.Close()
		if err := <-taken; err != nil {
			t.Fatal(err)
		}
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if r := <-again; r.Outcome != "skipped" {
			pending++
		}
	}
	if pending > 0 {
		t.Errorf("got %d of %d re-sends after the answer finding the record %s, want each to find it skipped", pending, trials, Pending)
	}
}

// Was a finding (low), fixed: while outcomes are queued, a read waits for them (settle),
// so when SQLite's write lock is held elsewhere (a second process on
// bridge.db, a backup) Get and List (the /admin page, a re-send's twin wait,
// behindQueued on the webhook path) wait up to busy_timeout (10 s), and then
// fail with the write's error (SQLITE_BUSY), although WAL would let them read
// what is committed at once. Fix: settle is an order, not a success: it
// returns nil once the writes before it are done, however they ended
// (batcher.settle: `<-settled; return nil`), and the read shows what is in
// the file.
func TestWriteBehindReadFailsWithAQueuedWritesError(t *testing.T) {
	ctx := context.Background()
	s := openSQLiteForTest(t)
	rec, _, err := s.Begin(ctx, Record{Provider: "generic", DeliveryID: "msg_read", Body: []byte{}}, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.FinishLater(ctx, rec.ID, Finish{Outcome: "forwarded"}, func(error) {}); err != nil {
		t.Fatal(err)
	}
	second, _, err := s.Begin(ctx, Record{Provider: "generic", DeliveryID: "msg_read2", Body: []byte{}}, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	// Another process on bridge.db takes the write lock; a second
	// webhook's outcome waits for it, and a read must not.
	other, err := sql.Open("sqlite", "file:"+s.where+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	lock, err := other.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	if _, err := lock.ExecContext(ctx, `BEGIN IMMEDIATE`); err != nil {
		t.Fatal(err)
	}
	defer lock.ExecContext(ctx, `ROLLBACK`) //nolint:errcheck
	if err := s.FinishLater(ctx, second.ID, Finish{Outcome: "forwarded"}, func(error) {}); err != nil {
		t.Fatal(err)
	}
	// The queued write gives up after busy_timeout; the read must not.
	rctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if got, err := s.Get(rctx, rec.ID); err != nil || got.Outcome != "forwarded" {
		t.Errorf("Get of a committed record while another process holds the write lock: %q, %v; want forwarded", got.Outcome, err)
	}
}
