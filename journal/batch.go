package journal

import (
	"context"
	"database/sql"
	"errors"
	"runtime"
	"sync"
	"sync/atomic"
)

// maxBatch bounds the writes one transaction carries, so that a burst is
// committed in several steps and the first of them answered early.
const maxBatch = 64

// errClosed is what a write gets once the journal is closed.
var errClosed = errors.New("journal: the journal is closed")

// batcher commits the per-webhook writes to SQLite (Begin, Finish) in shared
// transactions: a group commit. SQLite has one writer, and a commit costs
// far more than the small write inside it: it appends every page it changed
// to the WAL (the table's, each of four indexes', the file header: about 7
// for a Begin alone), and takes and drops the file's locks. Writes that
// arrive while one transaction commits go together into the next, and share
// those pages and that cost; a lone write is committed at once. With a
// transaction per write instead, bench/journal.sh measured the journal at
// 0.36x to 0.46x the bridge's throughput without it, against the 0.6x it
// must keep (BENCHMARKS.md).
//
// A write returns once its transaction has committed, or failed: what it
// returns is what became of it. A transaction that carries a durable write
// (a record answered 202 queued) is synced to disk before it returns, which
// also syncs every commit before it.
type batcher struct {
	db *sql.DB // SQLite's one write connection
	h  *handle
	// syncOn and syncOff surround a transaction that carries a durable write.
	syncOn, syncOff string

	ops     chan *batchOp // unbuffered: a write is either taken or refused
	quit    chan struct{}
	stopped chan struct{}
	once    sync.Once
	// committed is told of each transaction committed (the checkpointer
	// counts them), and its error is every write's in it: the file it
	// committed to is no longer the journal's (DB.inPlace). It is asked
	// once a transaction, not once a write.
	committed func() error
}

// batchOp is one caller's write.
type batchOp struct {
	ctx     context.Context
	durable bool
	// run does the write with q, under no context (see transaction); it
	// may run twice (see commit), so it sets its results afresh each time.
	// Its error is a failed statement, which undoes the transaction; a
	// write that finds nothing to change reports that through its results,
	// not as an error.
	run  func(ctx context.Context, q querier) error
	done chan error // buffered: the batcher never waits for its caller
}

func newBatcher(h *handle, d dialect, committed func() error) *batcher {
	b := &batcher{
		db: h.db, h: h, syncOn: d.syncOn, syncOff: d.syncOff, committed: committed,
		ops: make(chan *batchOp), quit: make(chan struct{}), stopped: make(chan struct{}),
	}
	go b.loop()
	return b
}

// do runs one write in the next transaction and returns once that has
// committed or failed, or ctx has ended: every call returns by its
// context's end, whatever SQLite is inside of (an fsync on a frozen volume
// is not interrupted). A caller whose ctx ends before its write is taken gets
// ctx's error, and its write is not made. One whose ctx ends after gets it
// too, and its write may still be made: Begin's and Finish's callers say why
// that is harmless. The transaction ends early only when every caller in it
// has gone (batchContext): a write that waits for another process's write
// lock waits no longer than the callers who want it.
func (b *batcher) do(ctx context.Context, durable bool, run func(context.Context, querier) error) error {
	op := &batchOp{ctx: ctx, durable: durable, run: run, done: make(chan error, 1)}
	select {
	case b.ops <- op:
	case <-b.quit:
		return errClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-op.done:
		return err
	case <-ctx.Done():
	}
	select { // it may have committed as ctx ended
	case err := <-op.done:
		return err
	default:
		return ctx.Err()
	}
}

func (b *batcher) loop() {
	defer close(b.stopped)
	busy := false // the last transaction carried more than one write
	for {
		select {
		case op := <-b.ops:
			// Every write that waited while the last transaction
			// committed goes into this one; none is waited for.
			batch := b.gather([]*batchOp{op}, busy)
			busy = len(batch) > 1
			b.commit(batch)
		case <-b.quit:
			return
		}
	}
}

// gather adds to batch the writes waiting now, up to maxBatch. When the
// last transaction carried more than one write (busy), it first yields the
// processor once: under load, the webhooks that commit answered are
// runnable but not yet running, and yielding lets them reach their next
// write, which then joins this transaction instead of waiting for one of
// its own. Without it, bench/load's transactions carried 1.8 writes each,
// and the journal kept 0.55x the bridge's throughput without it
// (BENCHMARKS.md). A yield puts the writer behind every runnable
// goroutine, so it is made once, and only when busy: a lone write at rest
// is not held, and neither is a trickle of writes among goroutines that
// keep the processors busy (with a yield before every look, such a
// trickle waited over a second for its commit).
func (b *batcher) gather(batch []*batchOp, busy bool) []*batchOp {
	if busy {
		runtime.Gosched()
	}
	return b.waiting(batch)
}

// waiting adds to batch the writes waiting now, up to maxBatch.
func (b *batcher) waiting(batch []*batchOp) []*batchOp {
	for len(batch) < maxBatch {
		select {
		case op := <-b.ops:
			batch = append(batch, op)
		default:
			return batch
		}
	}
	return batch
}

// commit runs batch in one transaction and answers each caller. A write that
// fails undoes the transaction: it gets its error, and the others are run
// again without it, so that one write's failure never costs another its
// write. A failure of the transaction itself (its lock, its commit) is every
// write's: running them one by one would only repeat it.
func (b *batcher) commit(batch []*batchOp) {
	var live []*batchOp
	for _, op := range batch {
		if err := op.ctx.Err(); err != nil {
			op.done <- err // its caller has gone: the write is not made
			continue
		}
		live = append(live, op)
	}
	for len(live) > 0 {
		failed, err := b.transaction(live)
		if failed < 0 {
			for _, op := range live {
				op.done <- err
			}
			return
		}
		live[failed].done <- err
		live = append(live[:failed:failed], live[failed+1:]...)
	}
}

// transaction runs ops in one transaction on the write connection. When the
// write of ops[i] fails it returns i and that error; otherwise -1 and the
// transaction's. It runs under no single caller's context: interrupting
// SQLite in the middle of a transaction rolls all of it back.
func (b *batcher) transaction(ops []*batchOp) (failed int, err error) {
	ctx, stop := batchContext(ops)
	defer stop()
	conn, err := b.db.Conn(ctx)
	if err != nil {
		return -1, err
	}
	defer conn.Close()
	if b.durable(ops) {
		if _, err := conn.ExecContext(ctx, b.syncOn); err != nil {
			return -1, err
		}
		// Should this fail, the connection stays in the safer, slower
		// mode: the writes themselves are done, so that is no error of
		// the callers'.
		defer conn.ExecContext(context.Background(), b.syncOff) //nolint:errcheck
	}
	// Only BEGIN waits, for a write lock another process holds, and ctx
	// ends that wait. The statements after it run under no context: none
	// of them waits for anything, and a cancellable one costs each
	// statement a goroutine in database/sql and one in the driver, among
	// the writer's largest costs in profiles of the bridge under load.
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return -1, err
	}
	q := txQuerier{h: b.h, tx: tx}
	for i, op := range ops {
		if err := op.run(context.Background(), q); err != nil {
			return i, errors.Join(err, tx.Rollback())
		}
	}
	if err := tx.Commit(); err != nil {
		return -1, err
	}
	return -1, b.committed()
}

// durable says whether ops carry a write that must be on disk when it
// returns.
func (b *batcher) durable(ops []*batchOp) bool {
	for _, op := range ops {
		if op.durable {
			return b.syncOn != ""
		}
	}
	return false
}

// batchContext is the context of a transaction that carries ops: it ends
// once the context of every one of them has ended, since then no caller is
// left who wants the writes. Until then it outlives the callers who left.
func batchContext(ops []*batchOp) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(context.Background())
	var left atomic.Int64
	left.Store(int64(len(ops)))
	stops := make([]func() bool, 0, len(ops))
	for _, op := range ops {
		stops = append(stops, context.AfterFunc(op.ctx, func() {
			if left.Add(-1) == 0 {
				cancel()
			}
		}))
	}
	return ctx, func() {
		for _, stop := range stops {
			stop()
		}
		cancel()
	}
}

// close stops taking writes and returns once the batcher has stopped. The
// writes it took are committed by then, or given up with their
// transaction once every caller in it had gone.
func (b *batcher) close() {
	b.once.Do(func() { close(b.quit) })
	<-b.stopped
}
