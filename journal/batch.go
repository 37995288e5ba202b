package journal

import (
	"context"
	"database/sql"
	"errors"
	"sync"
)

// maxBatch bounds the writes one transaction carries, so that a burst is
// committed in several steps and the first of them answered early.
const maxBatch = 64

// errClosed is what a write gets once the store is closed.
var errClosed = errors.New("journal: the store is closed")

// batcher commits the per-webhook writes to SQLite (Begin, Finish) in shared
// transactions: a group commit. SQLite has one writer, and a commit costs
// far more than the small write inside it: it appends every page it changed
// to the WAL (the table's, each of four indexes', the file header: about 7
// for a Begin alone), and takes and drops the file's locks. Writes that
// arrive while one transaction commits go together into the next, and share
// those pages and that cost. BenchmarkBeginFinish journals 22,000 to 26,000
// webhooks/s so, against 7,400 to 7,800 with a transaction each; a lone write
// is committed at once, as before.
//
// The guarantees are a commit's: a write returns once its transaction has
// committed. A transaction that carries a durable write (a record answered
// 202 queued) is synced to disk before it returns, which also syncs every
// commit before it.
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
	// counts them).
	committed func()
}

// batchOp is one caller's write.
type batchOp struct {
	ctx     context.Context
	durable bool
	// run does the write with q; it may run twice (see commit), so it sets
	// its results afresh each time. Its error is a failed statement, which
	// undoes the transaction; a write that finds nothing to change reports
	// that through its results, not as an error.
	run  func(ctx context.Context, q querier) error
	done chan error // buffered: the batcher never waits for its caller
}

func newBatcher(h *handle, d dialect, committed func()) *batcher {
	b := &batcher{
		db: h.db, h: h, syncOn: d.syncOn, syncOff: d.syncOff, committed: committed,
		ops: make(chan *batchOp), quit: make(chan struct{}), stopped: make(chan struct{}),
	}
	go b.loop()
	return b
}

// do runs one write in the next transaction and returns once it has
// committed. A caller whose ctx ends before its write is taken gets ctx's
// error and its write is not made; once taken, the write is waited for: a
// transaction takes milliseconds, and its outcome must be known.
func (b *batcher) do(ctx context.Context, durable bool, run func(context.Context, querier) error) error {
	op := &batchOp{ctx: ctx, durable: durable, run: run, done: make(chan error, 1)}
	select {
	case b.ops <- op:
	case <-b.quit:
		return errClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	return <-op.done
}

func (b *batcher) loop() {
	defer close(b.stopped)
	for {
		var batch []*batchOp
		select {
		case op := <-b.ops:
			batch = append(batch, op)
		case <-b.quit:
			return
		}
		// Every write that waited while the last transaction committed
		// goes into this one; none is waited for.
	more:
		for len(batch) < maxBatch {
			select {
			case op := <-b.ops:
				batch = append(batch, op)
			default:
				break more
			}
		}
		b.commit(batch)
	}
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
			op.done <- err
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
// transaction's. It runs under no caller's context: it serves several
// callers, and interrupting SQLite in the middle of a transaction rolls all of
// it back.
func (b *batcher) transaction(ops []*batchOp) (failed int, err error) {
	ctx := context.Background()
	conn, err := b.db.Conn(ctx)
	if err != nil {
		return -1, err
	}
	defer conn.Close()
	durable := false
	for _, op := range ops {
		durable = durable || op.durable
	}
	if durable && b.syncOn != "" {
		if _, err := conn.ExecContext(ctx, b.syncOn); err != nil {
			return -1, err
		}
		// Should this fail, the connection stays in the safer, slower
		// mode: the writes themselves are done, so that is no error of
		// the callers'.
		defer conn.ExecContext(ctx, b.syncOff) //nolint:errcheck
	}
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return -1, err
	}
	q := txQuerier{h: b.h, tx: tx}
	for i, op := range ops {
		if err := op.run(ctx, q); err != nil {
			return i, errors.Join(err, tx.Rollback())
		}
	}
	if err := tx.Commit(); err != nil {
		return -1, err
	}
	b.committed()
	return -1, nil
}

// close stops taking writes, lets the transaction in progress end, and
// returns once the batcher has stopped.
func (b *batcher) close() {
	b.once.Do(func() { close(b.quit) })
	<-b.stopped
}
