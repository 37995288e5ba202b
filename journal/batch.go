package journal

import (
	"context"
	"database/sql"
	"errors"
	"sync"
	"sync/atomic"
)

// maxBatch bounds the writes one transaction carries, so that a burst is
// committed in several steps and the first of them answered early. maxLater
// bounds the writes queued that no caller waits for (later): past it, a
// caller waits for room, so that a journal that cannot keep up holds the
// webhooks back rather than their writes piling up in memory.
const (
	maxBatch = 64
	maxLater = 1024
)

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

	ops chan *batchOp // unbuffered: a write is either taken or refused
	// later queues the writes whose callers do not wait (doLater), in
	// order. closing keeps a write from being queued once close has begun,
	// so that close commits every write it accepted.
	later   chan *batchOp
	queued  atomic.Int64 // writes in later, not yet committed
	closing sync.RWMutex
	closed  bool
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
	// that through its results, not as an error. nil is a mark (settle's),
	// which writes nothing.
	run  func(ctx context.Context, q querier) error
	done chan error // buffered: the batcher never waits for its caller; nil with then
	// then, for a write queued with doLater, is told its outcome; it runs on
	// the batcher's goroutine, so it must be quick, and must not read the
	// store: a read would wait for the batcher (settle), which waits for it.
	then func(error)
}

// answer tells op's caller how its write ended.
func (b *batcher) answer(op *batchOp, err error) {
	if op.then == nil {
		op.done <- err
		return
	}
	op.then(err)
	b.queued.Add(-1)
}

func newBatcher(h *handle, d dialect, committed func()) *batcher {
	b := &batcher{
		db: h.db, h: h, syncOn: d.syncOn, syncOff: d.syncOff, committed: committed,
		ops: make(chan *batchOp), later: make(chan *batchOp, maxLater),
		quit: make(chan struct{}), stopped: make(chan struct{}),
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

// doLater queues a write that its caller does not wait for: it is committed
// in a coming transaction, after every write queued before it, and then is
// told how it ended. It waits only for room in the queue, as long as ctx
// lets it; an error means the write was not queued.
func (b *batcher) doLater(ctx context.Context, run func(context.Context, querier) error, then func(error)) error {
	b.closing.RLock()
	defer b.closing.RUnlock()
	if b.closed {
		return errClosed
	}
	op := &batchOp{ctx: context.Background(), run: run, then: then} // no one waits on done
	b.queued.Add(1)
	select {
	case b.later <- op:
		return nil
	case <-ctx.Done():
		b.queued.Add(-1)
		return ctx.Err()
	}
}

// settle returns once every write queued with doLater before it is done, so
// that a read after it sees them: what a webhook was answered is what the
// journal shows. It fails only when the queue cannot take it or ctx ends.
func (b *batcher) settle(ctx context.Context) error {
	if b.queued.Load() == 0 {
		return nil
	}
	settled := make(chan struct{})
	if err := b.doLater(ctx, nil, func(error) { close(settled) }); err != nil { // a mark: no write
		return err
	}
	// An order, not a success: once the writes before it are done, however
	// they ended, the read shows what the file holds (WAL lets it read while
	// the write lock is held elsewhere).
	select {
	case <-settled:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (b *batcher) loop() {
	defer close(b.stopped)
	for {
		var batch []*batchOp
		select {
		case op := <-b.later:
			batch = append(batch, op)
		case op := <-b.ops:
			// A write queued with doLater before this one was sent goes
			// first: a re-send's Begin must find the outcome it was told.
			batch = append(b.takeLater(nil), op)
		case <-b.quit:
			b.drain()
			return
		}
		// Every write that waited while the last transaction committed
		// goes into this one; none is waited for.
		b.commit(b.gather(batch))
	}
}

// takeLater adds to batch every write waiting in later: all were queued
// before the write now taken from ops was sent.
func (b *batcher) takeLater(batch []*batchOp) []*batchOp {
	for range maxLater {
		select {
		case op := <-b.later:
			batch = append(batch, op)
		default:
			return batch
		}
	}
	return batch
}

// gather adds to batch the writes waiting now, up to maxBatch, those in
// later first, for the same reason.
func (b *batcher) gather(batch []*batchOp) []*batchOp {
	for len(batch) < maxBatch {
		select {
		case op := <-b.later:
			batch = append(batch, op)
			continue
		default:
		}
		select {
		case op := <-b.later:
			batch = append(batch, op)
		case op := <-b.ops:
			batch = append(batch, op)
		default:
			return batch
		}
	}
	return batch
}

// drain commits the writes still queued when the batcher closes: each was
// accepted, and its caller has moved on.
func (b *batcher) drain() {
	for {
		select {
		case op := <-b.later:
			b.commit(b.gather([]*batchOp{op}))
		default:
			return
		}
	}
}

// commit runs batch in one transaction and answers each caller. A write that
// fails undoes the transaction: it gets its error, and the others are run
// again without it, so that one write's failure never costs another its
// write. A failure of the transaction itself (its lock, its commit) is every
// write's: running them one by one would only repeat it. A mark needs no
// transaction: it is answered once the writes before it are.
func (b *batcher) commit(batch []*batchOp) {
	var live, marks []*batchOp
	for _, op := range batch {
		switch {
		case op.ctx.Err() != nil:
			b.answer(op, op.ctx.Err())
		case op.run == nil && len(live) == 0: // the writes before it are done
			b.answer(op, nil)
		case op.run == nil:
			marks = append(marks, op)
		default:
			live = append(live, op)
		}
	}
	defer func() {
		for _, op := range marks {
			b.answer(op, nil)
		}
	}()
	for len(live) > 0 {
		failed, err := b.transaction(live)
		if failed < 0 {
			for _, op := range live {
				b.answer(op, err)
			}
			return
		}
		b.answer(live[failed], err)
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

// close stops taking writes, commits those it accepted, and returns once the
// batcher has stopped.
func (b *batcher) close() {
	b.once.Do(func() {
		b.closing.Lock() // once no doLater is under way
		b.closed = true
		b.closing.Unlock()
		close(b.quit)
	})
	<-b.stopped
}
