package journal

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func openSQLiteForTest(t *testing.T, dir string) *DB {
	t.Helper()
	s, err := Open(context.Background(), Options{DataDir: dir})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// A record answered 202 queued must survive a power cut: the transaction
// that carries it is synced (synchronous=FULL), whatever else it carries, and
// the writer goes back to NORMAL after.
func TestATransactionWithAQueuedRecordIsSynced(t *testing.T) {
	s := openSQLiteForTest(t, t.TempDir())
	synchronous := func(got *int) func(context.Context, querier) error {
		return func(ctx context.Context, q querier) error {
			return q.QueryRow(ctx, `PRAGMA synchronous`).Scan(got)
		}
	}
	tests := []struct {
		name    string
		durable []bool
		want    int // 1 NORMAL, 2 FULL
	}{
		{"no durable write", []bool{false, false}, 1},
		{"one durable write among others", []bool{false, true, false}, 2},
		{"a durable write alone", []bool{true}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := make([]int, len(tt.durable))
			var runs []func(context.Context, querier) error
			for i := range tt.durable {
				runs = append(runs, synchronous(&got[i]))
			}
			ops := batchOf(runs...)
			for i, d := range tt.durable {
				ops[i].durable = d
			}
			s.batch.commit(ops)
			for i, op := range ops {
				if err := <-op.done; err != nil {
					t.Fatalf("write %d: %v", i, err)
				}
				if got[i] != tt.want {
					t.Errorf("write %d ran with synchronous = %d, want %d", i, got[i], tt.want)
				}
			}
			var after int
			if err := s.write.db.QueryRow(`PRAGMA synchronous`).Scan(&after); err != nil || after != 1 {
				t.Errorf("after the batch: synchronous = %d, %v; want 1 (NORMAL)", after, err)
			}
		})
	}
}

// A write that returned is committed: the next read sees it, another
// process on the file sees it, a re-send finds it, and so does the next
// start.
func TestAWriteThatReturnedIsDurableAndVisibleToTheNextRead(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := Open(ctx, Options{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	other := openSQLiteForTest(t, dir) // a second process on bridge.db
	r := Record{Provider: "generic", DeliveryID: "msg_1", Body: []byte{}}
	rec, _, err := s.Begin(ctx, r, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Finish(ctx, rec.ID, Finish{Outcome: "skipped", Reason: "answered", Lease: rec.NextAttemptAt}); err != nil {
		t.Fatal(err)
	}
	for name, db := range map[string]*DB{"the same process": s, "another process": other} {
		if got, err := db.Get(ctx, rec.ID); err != nil || got.Outcome != "skipped" {
			t.Errorf("Get in %s: %q, %v; want skipped", name, got.Outcome, err)
		}
		if recs, err := db.List(ctx, Filter{Outcome: "skipped"}); err != nil || len(recs) != 1 {
			t.Errorf("List in %s: %d records, %v; want 1", name, len(recs), err)
		}
	}
	if again, claimed, err := other.Begin(ctx, r, time.Minute); err != nil || claimed || again.Outcome != "skipped" {
		t.Errorf("the re-send's Begin: %q claimed %v, %v; want the skipped record, not claimed", again.Outcome, claimed, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	next := openSQLiteForTest(t, dir)
	if got, err := next.Get(ctx, rec.ID); err != nil || got.Outcome != "skipped" {
		t.Errorf("Get after a restart: %q, %v; want skipped", got.Outcome, err)
	}
}

// A Finish that comes after its lease ended, and after another process took
// the record and recorded its own outcome, changes nothing: the newer
// holder's outcome stands.
func TestFinishAfterALostLeaseChangesNothing(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := openSQLiteForTest(t, dir)
	other := openSQLiteForTest(t, dir) // a worker beside it, or the next start
	first, claimed, err := s.Begin(ctx, Record{Provider: "generic", DeliveryID: "msg_late", Body: []byte{}}, 50*time.Millisecond)
	if err != nil || !claimed {
		t.Fatalf("Begin: claimed %v, %v", claimed, err)
	}
	time.Sleep(100 * time.Millisecond) // the first holder stalls past its lease
	recs, err := other.Due(ctx, time.Now(), time.Minute, 10)
	if err != nil || len(recs) != 1 {
		t.Fatalf("Due after the lease: %d records, %v; want the abandoned one", len(recs), err)
	}
	if err := other.Finish(ctx, recs[0].ID, Finish{Outcome: "forwarded", Reason: "the worker's", Attempts: 1, Lease: recs[0].NextAttemptAt}); err != nil {
		t.Fatal(err)
	}
	err = s.Finish(ctx, first.ID, Finish{Outcome: "rejected", Reason: "the first holder's, stale", Lease: first.NextAttemptAt})
	if !errors.Is(err, ErrLeaseLost) {
		t.Errorf("the stale Finish: %v, want ErrLeaseLost", err)
	}
	if got, err := s.Get(ctx, first.ID); err != nil || got.Outcome != "forwarded" {
		t.Errorf("got %s (%q), %v; want the worker's forwarded", got.Outcome, got.Reason, err)
	}
}

// holdWriteLock takes bridge.db's write lock from another connection, as a
// second process on the file would, until t ends or release is called.
func holdWriteLock(t *testing.T, s *DB) (release func()) {
	t.Helper()
	ctx := context.Background()
	other, err := sql.Open("sqlite", "file:"+s.where+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	lock, err := other.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lock.ExecContext(ctx, `BEGIN IMMEDIATE`); err != nil {
		t.Fatal(err)
	}
	released := false
	release = func() {
		if !released {
			released = true
			_, _ = lock.ExecContext(ctx, `ROLLBACK`)
			lock.Close()
			other.Close()
		}
	}
	t.Cleanup(release)
	return release
}

// While another process holds the write lock, reads go on: WAL lets them
// read what is committed at once.
func TestReadsGoOnWhileAnotherProcessHoldsTheWriteLock(t *testing.T) {
	ctx := context.Background()
	s := openSQLiteForTest(t, t.TempDir())
	rec, _, err := s.Begin(ctx, Record{Provider: "generic", DeliveryID: "msg_read", Body: []byte{}}, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Finish(ctx, rec.ID, Finish{Outcome: "forwarded"}); err != nil {
		t.Fatal(err)
	}
	holdWriteLock(t, s)
	rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if got, err := s.Get(rctx, rec.ID); err != nil || got.Outcome != "forwarded" {
		t.Errorf("Get while another process holds the write lock: %q, %v; want forwarded", got.Outcome, err)
	}
	if recs, err := s.List(rctx, Filter{Outcome: "forwarded"}); err != nil || len(recs) != 1 {
		t.Errorf("List while another process holds the write lock: %d records, %v; want 1", len(recs), err)
	}
}

// While another process holds the write lock, a write waits no longer than
// its context lets it (a webhook's journal write is bounded so), makes
// nothing, and the writes after the lock is released are made.
func TestAWriteLockHeldElsewhereBoundsAWriteByItsContext(t *testing.T) {
	ctx := context.Background()
	s := openSQLiteForTest(t, t.TempDir())
	rec, _, err := s.Begin(ctx, Record{Provider: "generic", DeliveryID: "msg_1", Body: []byte{}}, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	release := holdWriteLock(t, s)
	writes := map[string]func(context.Context) error{
		"Begin": func(ctx context.Context) error {
			_, _, err := s.Begin(ctx, Record{Provider: "generic", DeliveryID: "msg_2", Body: []byte{}}, time.Minute)
			return err
		},
		"Finish": func(ctx context.Context) error {
			return s.Finish(ctx, rec.ID, Finish{Outcome: Queued})
		},
	}
	for name, write := range writes {
		wctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
		start := time.Now()
		err := write(wctx)
		cancel()
		// busy_timeout is 10 s: a write that waited for it would take that.
		if took := time.Since(start); err == nil || took > 3*time.Second {
			t.Errorf("%s behind another process's write lock: %v after %v, want an error within its context's 300ms", name, err, took.Round(time.Millisecond))
		}
	}
	release()
	if got, err := s.Get(ctx, rec.ID); err != nil || got.Outcome != Pending {
		t.Errorf("the record after the failed Finish: %q, %v; want still pending", got.Outcome, err)
	}
	if recs, err := s.List(ctx, Filter{DeliveryID: "msg_2"}); err != nil || len(recs) != 0 {
		t.Errorf("the failed Begin's record: %d, %v; want none", len(recs), err)
	}
	if err := s.Finish(ctx, rec.ID, Finish{Outcome: "forwarded"}); err != nil {
		t.Errorf("Finish once the lock is released: %v", err)
	}
}

// A write SQLite is inside of and cannot be interrupted in (an fsync on a
// frozen volume) holds its caller, and the callers behind it, no longer than
// their contexts; a write whose caller left before it was taken is not
// made, and the writer goes on once SQLite returns. (The stuck write itself
// may still be made, or be given up with its transaction once every caller
// in it has gone: either way whole or not at all.)
func TestAWriteStuckInSQLiteHoldsNoCallerPastItsContext(t *testing.T) {
	ctx := context.Background()
	s := openSQLiteForTest(t, t.TempDir())
	stuck := make(chan struct{})
	taken := make(chan struct{})
	first := make(chan error, 1)
	go func() {
		wctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
		defer cancel()
		first <- s.batch.do(wctx, false, func(ctx context.Context, q querier) error {
			close(taken)
			<-stuck // inside the transaction, deaf to every context
			_, _, err := s.begin(ctx, q, Record{Provider: "stripe", DeliveryID: "evt_stuck", Body: []byte{}}, time.Minute)
			return err
		})
	}()
	<-taken
	start := time.Now()
	wctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	_, _, err := s.Begin(wctx, Record{Provider: "stripe", DeliveryID: "evt_behind", Body: []byte{}}, time.Minute)
	cancel()
	if took := time.Since(start); !errors.Is(err, context.DeadlineExceeded) || took > 2*time.Second {
		t.Errorf("a Begin behind the stuck write: %v after %v, want its context's deadline within 300ms", err, took.Round(time.Millisecond))
	}
	select {
	case err := <-first:
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("the stuck write returned %v, want its context's deadline", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("the stuck write held its caller past its context")
	}
	close(stuck)
	if _, _, err := s.Begin(ctx, Record{Provider: "stripe", DeliveryID: "evt_after", Body: []byte{}}, time.Minute); err != nil {
		t.Errorf("a Begin once SQLite returned: %v", err)
	}
	if recs, err := s.List(ctx, Filter{DeliveryID: "evt_behind"}); err != nil || len(recs) != 0 {
		t.Errorf("the write whose caller left before it was taken: %d records, %v; want none", len(recs), err)
	}
}

func TestAWriteWhoseCallerHasGoneIsNotMade(t *testing.T) {
	s := openSQLiteForTest(t, t.TempDir())
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, _, err := s.Begin(ctx, Record{Provider: "stripe", DeliveryID: "evt_gone"}, time.Minute)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Begin with an ended context: %v, want context.Canceled", err)
	}
	if recs, err := s.List(context.Background(), Filter{DeliveryID: "evt_gone"}); err != nil || len(recs) != 0 {
		t.Errorf("List: %d records, %v; want none", len(recs), err)
	}
}

func TestSQLiteWritesAfterCloseFail(t *testing.T) {
	s, err := Open(context.Background(), Options{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if _, _, err := s.Begin(context.Background(), Record{Provider: "stripe", DeliveryID: "evt_late"}, time.Minute); err == nil {
		t.Error("Begin after Close succeeded, want an error")
	}
	if err := s.Finish(context.Background(), 1, Finish{Outcome: "forwarded"}); err == nil {
		t.Error("Finish after Close succeeded, want an error")
	}
}

// Once bridge.db is deleted or replaced while the store is open, its writes
// fail as a store that is down does: SQLite would write on into the deleted
// file, which a restart never sees, and a record there keeps nothing.
func TestSQLiteFailsOnceItsFileIsGone(t *testing.T) {
	for _, tt := range []struct {
		name string
		do   func(file string) error
	}{
		{"deleted", func(file string) error {
			return errors.Join(os.Remove(file), os.Remove(file+"-wal"), os.Remove(file+"-shm"))
		}},
		{"replaced", func(file string) error {
			return errors.Join(os.Remove(file), os.WriteFile(file, nil, 0o600))
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			s := openSQLiteForTest(t, t.TempDir())
			rec, _, err := s.Begin(ctx, Record{Provider: "stripe", DeliveryID: "evt_1", Body: []byte{}}, time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			if err := tt.do(s.where); err != nil {
				t.Fatal(err)
			}
			if err := s.Finish(ctx, rec.ID, Finish{Outcome: Queued}); err == nil || !strings.Contains(err.Error(), "deleted or replaced") {
				t.Errorf("Finish queued after the file was %s: %v, want an error saying so", tt.name, err)
			}
			if _, _, err := s.Begin(ctx, Record{Provider: "stripe", DeliveryID: "evt_2", Body: []byte{}}, time.Minute); err == nil {
				t.Errorf("Begin after the file was %s succeeded", tt.name)
			}
		})
	}
}

// walFrames is how many pages the WAL file holds, from its size: asking
// SQLite (PRAGMA wal_checkpoint) would checkpoint them.
func walFrames(t *testing.T, s *DB) int64 {
	t.Helper()
	fi, err := os.Stat(s.where + "-wal")
	if err != nil {
		t.Fatal(err)
	}
	page, err := sqlitePageSize(s.where)
	if err != nil {
		t.Fatal(err)
	}
	const header, frameHeader = 32, 24
	return max(0, (fi.Size()-header)/int64(frameHeader+page))
}

// The checkpointer copies the WAL into the database file beside the writer,
// long before the writer's own checkpoint (at walBound) would, so that no
// webhook waits for it.
func TestSQLiteCheckpointsInTheBackground(t *testing.T) {
	ctx := context.Background()
	s := openSQLiteForTest(t, t.TempDir())
	file := s.where
	size := func() int64 {
		fi, err := os.Stat(file)
		if err != nil {
			t.Fatal(err)
		}
		return fi.Size()
	}
	before := size()
	// 160 KB of bodies, far from either threshold.
	body := make([]byte, 2000)
	for i := range 80 {
		rec, _, err := s.Begin(ctx, Record{Provider: "stripe", DeliveryID: fmt.Sprintf("evt_%d", i), Body: body}, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Finish(ctx, rec.ID, Finish{Outcome: "forwarded"}); err != nil {
			t.Fatal(err)
		}
	}
	if frames := walFrames(t, s); frames >= walBound/newPageSize/4 {
		t.Fatalf("the test wrote %d pages, near the writer's own checkpoint (%d)", frames, walBound/newPageSize)
	}
	for deadline := time.Now().Add(10 * time.Second); size() < before+80*2000; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("bridge.db is %d bytes 10 s after the writes (%d before): nothing checkpointed them", size(), before)
		}
	}
}

// Under load the checkpointer copies after every checkpointCommits commits,
// not on its slow tick, and never twice within its gap.
func TestCheckpointerCountsCommits(t *testing.T) {
	ran := make(chan time.Time, 10)
	c := startCheckpointer(&checkpointer{every: time.Hour, gap: 300 * time.Millisecond,
		checkpoint: func() error { ran <- time.Now(); return nil }})
	defer c.stop()
	commit := func(n int) {
		for range n {
			c.committed()
		}
	}
	commit(checkpointCommits - 1)
	select {
	case <-ran:
		t.Fatalf("a checkpoint after %d commits, want none before %d", checkpointCommits-1, checkpointCommits)
	case <-time.After(200 * time.Millisecond):
	}
	start := time.Now()
	commit(1)
	var first time.Time
	select {
	case first = <-ran:
	case <-time.After(5 * time.Second):
		t.Fatalf("no checkpoint 5 s after %d commits (the tick is an hour)", checkpointCommits)
	}
	commit(checkpointCommits)
	select {
	case second := <-ran:
		if gap := second.Sub(first); gap < 300*time.Millisecond {
			t.Errorf("checkpoints %v apart, want at least the gap (300ms)", gap)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("no second checkpoint 5 s after %d more commits", checkpointCommits)
	}
	t.Logf("first checkpoint %v after the commit that made %d", first.Sub(start), checkpointCommits)
}

// The group commit: webhooks journaled at the same moment share a
// transaction, and so the pages of the table and indexes that they change
// together are written to the WAL once. One commit each writes about 7 pages
// a delivery (the table and its four indexes, and the file's header).
func TestSQLiteCommitsConcurrentWritesTogether(t *testing.T) {
	ctx := context.Background()
	s := openSQLiteForTest(t, t.TempDir())
	// Holding the one write connection makes the webhooks wait together,
	// as they do under load while a commit is under way.
	conn, err := s.write.db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// An empty WAL. Should a checkpoint restart it below (the checkpointer
	// copies after checkpointCommits commits, or checkpointEvery after the
	// last), the file keeps its largest size, which is what walFrames reads.
	if _, err := conn.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
		t.Fatal(err)
	}
	const n = 40
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			r := Record{Provider: "stripe", DeliveryID: fmt.Sprintf("evt_%d", i), Email: fmt.Sprintf("u%d@example.com", i), Body: []byte(`{"id":"x"}`)}
			if _, _, err := s.Begin(ctx, r, time.Minute); err != nil {
				errs <- err
			}
		})
	}
	// Let them queue; those that are late only make fewer pages shared.
	time.Sleep(200 * time.Millisecond)
	conn.Close()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("Begin: %v", err)
	}
	if got := walFrames(t, s); got > 2*n {
		t.Errorf("%d deliveries begun at once wrote %d pages to the WAL, want at most %d: they were not committed together", n, got, 2*n)
	}
	recs, err := s.List(ctx, Filter{Limit: 2 * n})
	if err != nil || len(recs) != n {
		t.Errorf("List: %d records, %v; want %d", len(recs), err, n)
	}
}

// batchOf makes batcher ops of runs, as Begin and Finish do.
func batchOf(runs ...func(context.Context, querier) error) []*batchOp {
	var ops []*batchOp
	for _, run := range runs {
		ops = append(ops, &batchOp{ctx: context.Background(), run: run, done: make(chan error, 1)})
	}
	return ops
}

// A write that fails costs no other write in its transaction: it gets its
// own error, and the others are made.
func TestAFailedWriteCostsNoOtherWriteInItsTransaction(t *testing.T) {
	ctx := context.Background()
	s := openSQLiteForTest(t, t.TempDir())
	tests := []struct {
		name  string
		fails []bool // which writes of the batch fail
	}{
		{"one failing between two", []bool{false, true, false}},
		{"the first failing", []bool{true, false}},
		{"two failing", []bool{false, true, true, false}},
		{"all failing", []bool{true, true}},
	}
	for n, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var runs []func(context.Context, querier) error
			for i, fails := range tt.fails {
				id := fmt.Sprintf("evt_%d_%d", n, i)
				runs = append(runs, func(ctx context.Context, q querier) error {
					if fails {
						_, err := q.Exec(ctx, `INSERT INTO no_such_table VALUES (1)`)
						return err
					}
					_, _, err := s.begin(ctx, q, Record{Provider: "stripe", DeliveryID: id, Body: []byte{}}, time.Minute)
					return err
				})
			}
			ops := batchOf(runs...)
			s.batch.commit(ops)
			for i, op := range ops {
				err := <-op.done
				if got, want := err != nil, tt.fails[i]; got != want {
					t.Errorf("write %d: error %v; want an error: %v", i, err, want)
				}
				if err != nil && !strings.Contains(err.Error(), "no_such_table") {
					t.Errorf("write %d got %v, want its own error (no such table)", i, err)
				}
				id := fmt.Sprintf("evt_%d_%d", n, i)
				recs, err := s.List(ctx, Filter{DeliveryID: id})
				if want := map[bool]int{false: 1, true: 0}[tt.fails[i]]; err != nil || len(recs) != want {
					t.Errorf("%s: %d records, %v; want %d", id, len(recs), err, want)
				}
			}
		})
	}
}

// A statement prepared for the first time waits for the one write connection.
// While it waits, the batcher's transaction, which holds that connection,
// must still find its own statements: a worker's first Due beside the first
// webhooks hung every Begin after them for good.
func TestAFirstPrepareBesideAWriteHangsNoWrite(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, Options{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	inTx := make(chan struct{})
	prepared := make(chan struct{})
	wrote := make(chan error, 1)
	go func() {
		wrote <- s.batch.do(ctx, false, func(ctx context.Context, q querier) error {
			close(inTx)
			// Long enough for the statement below to start preparing and
			// wait for the connection this transaction holds.
			time.Sleep(200 * time.Millisecond)
			_, _, err := s.begin(ctx, q, Record{Provider: "stripe", DeliveryID: "evt_1", Body: []byte{}}, time.Minute)
			return err
		})
	}()
	<-inTx
	go func() {
		var one int
		_ = s.write.QueryRow(ctx, `SELECT 1 -- never prepared before`).Scan(&one)
		close(prepared)
	}()
	select {
	case err := <-wrote:
		if err != nil {
			t.Fatalf("the batched write: %v", err)
		}
	case <-time.After(10 * time.Second):
		// Closing the store would wait for the stuck writer too.
		t.Fatal("the batched write did not return in 10 s: it waits for a statement being prepared, which waits for its connection")
	}
	<-prepared
	if err := s.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
}

// A trickle of writes among goroutines that keep every processor busy
// (bodies being hashed and parsed) is committed promptly: the writer's
// yield (gather) must not put each write behind all of them. With a yield
// before every look for writes, a quarter of these missed the pipeline's
// 2 s bound on a journal call.
func TestATrickleOfWritesIsNotHeldBehindBusyProcessors(t *testing.T) {
	s := openSQLiteForTest(t, t.TempDir())
	stop := make(chan struct{})
	var spinning sync.WaitGroup
	for range 8 * runtime.GOMAXPROCS(0) {
		spinning.Go(func() { // never blocks
			buf := make([]byte, 1<<20)
			for {
				select {
				case <-stop:
					return
				default:
					sha256.Sum256(buf)
				}
			}
		})
	}
	defer spinning.Wait()
	defer close(stop)
	var writes sync.WaitGroup
	var late atomic.Int64
	for i := range 100 {
		writes.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			if _, _, err := s.Begin(ctx, Record{Provider: "stripe", DeliveryID: fmt.Sprintf("evt_%d", i), Body: []byte("{}")}, time.Minute); err != nil {
				late.Add(1)
			}
		})
		time.Sleep(25 * time.Millisecond)
	}
	writes.Wait()
	if n := late.Load(); n > 0 {
		t.Errorf("%d of 100 writes were not committed within 2 s", n)
	}
}

// A journal the bridge makes has newPageSize pages; one SQLite made with
// its default 4,096 keeps them, and either one's writer checkpoints at
// walBound, counted in its own pages.
func TestANewJournalHasSmallPagesAndAnOldOneKeepsItsOwn(t *testing.T) {
	for _, tt := range []struct {
		name   string
		before int // the page size of a journal there before; 0: none
		want   int
	}{{"new", 0, newPageSize}, {"made with 4,096-byte pages", 4096, 4096}} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if tt.before != 0 {
				file, err := makeSQLiteFile(dir)
				if err != nil {
					t.Fatal(err)
				}
				old, err := sql.Open("sqlite", sqliteDSN(file, fmt.Sprintf("_pragma=page_size(%d)&_journal_mode=WAL", tt.before)))
				if err != nil {
					t.Fatal(err)
				}
				if _, err := old.Exec(`CREATE TABLE earlier (x INTEGER)`); err != nil {
					t.Fatal(err)
				}
				old.Close()
			}
			s := openSQLiteForTest(t, dir)
			var page, pages int
			if err := s.write.db.QueryRow(`PRAGMA page_size`).Scan(&page); err != nil {
				t.Fatal(err)
			}
			if err := s.write.db.QueryRow(`PRAGMA wal_autocheckpoint`).Scan(&pages); err != nil {
				t.Fatal(err)
			}
			if page != tt.want || pages != walBound/tt.want {
				t.Errorf("pages of %d bytes, the writer's checkpoint at %d; want %d and %d", page, pages, tt.want, walBound/tt.want)
			}
		})
	}
}
