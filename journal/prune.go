package journal

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// pruneBatch bounds one delete, so that pruning a large backlog never holds
// SQLite's one writer for long while webhooks wait.
const pruneBatch = 5000

// TombstoneKeep is how long a delivery's id outlives its record, which
// retention deleted: a re-send within it is answered as handled (Begin).
const TombstoneKeep = 365 * 24 * time.Hour

// The statements of one batch of Prune, in one transaction: the deliveries
// that called Reditus leave a tombstone, then the records go. pruned is the
// batch: the oldest records received before a time, but none pending under
// a live lease; both statements read the same rows under the transaction's
// write lock.
const (
	pruned = `
		SELECT id FROM journal
		WHERE received_at < {?} AND NOT (outcome = 'pending' AND next_attempt_at > {?})
		ORDER BY received_at, id LIMIT ?`
	pruneTombstones = `
		INSERT INTO journal_tombstone (provider, delivery_id, received_at)
		SELECT provider, delivery_id, received_at FROM journal
		WHERE id IN (` + pruned + `) AND attempts > 0
		ON CONFLICT (delivery_id, provider) DO NOTHING`
	pruneRecords = `DELETE FROM journal WHERE id IN (` + pruned + `)`
	// pruneOldTombstones deletes a batch of tombstones received before a
	// time.
	pruneOldTombstones = `
		DELETE FROM journal_tombstone WHERE (delivery_id, provider) IN (
			SELECT delivery_id, provider FROM journal_tombstone WHERE received_at < {?} LIMIT ?)`
)

// Prune deletes the records received before before, except those pending
// under a live lease, and says how many it deleted. The delivery id of each
// that called Reditus outlives it, for TombstoneKeep, without its body or
// email (Begin). On a full volume, SQLite's deletes need room too: Prune then
// frees the room held back for it (reserve), and holds it back again once
// the volume has room.
func (db *DB) Prune(ctx context.Context, before time.Time) (int64, error) {
	if err := db.writable(); err != nil {
		return 0, fmt.Errorf("journal: prune: %w", err)
	}
	records := pruneStep{[]string{pruneTombstones, pruneRecords}, db.args(at(before), at(db.clock()), pruneBatch)}
	n, err := db.pruneAll(ctx, records)
	if err == nil {
		_, err = db.pruneAll(ctx, pruneStep{[]string{pruneOldTombstones}, db.args(at(before.Add(-TombstoneKeep)), pruneBatch)})
	}
	if err != nil {
		return n, fmt.Errorf("journal: prune: %w", db.checked(err))
	}
	if n > 0 && db.room != nil && db.sawFull.Swap(false) {
		// A write found the volume full, and the deletes free pages only
		// inside bridge.db: a delete that fitted without the reserve would
		// leave the writes after it no room to grow the WAL into, and they
		// would find the volume full until a prune that deletes nothing.
		// The reserve has done its work; it is made again once there is
		// room (below, or at a later prune).
		db.room.release()
	}
	if db.ckpt != nil {
		// The deletes are in the WAL, and free the file's pages only once
		// they are copied into it; until then the WAL cannot start over,
		// and every write after them needs room the volume may not have:
		// on a full one, the writer would never commit again, so the
		// checkpointer, which counts the writer's commits, would never
		// copy them. They are copied now, before the reserve takes its
		// room back, and at every prune, which a full volume asks for
		// every 10 s (fullGap): a checkpoint that could not copy them all
		// (a reader held the WAL, the volume had no room) is tried again
		// then, though that prune deletes nothing.
		_ = db.ckpt.checkpoint()
	}
	if db.room != nil {
		_ = db.room.make() // no room yet: the next prune tries again
	}
	return n, nil
}

// pruneStep is statements that delete a batch, run together, with their
// arguments, the same for each.
type pruneStep struct {
	statements []string
	args       []any
}

// pruneAll runs step batch after batch until a batch deletes fewer than
// pruneBatch rows, and says how many rows step's last statement deleted.
func (db *DB) pruneAll(ctx context.Context, step pruneStep) (int64, error) {
	var total int64
	for {
		n, err := db.pruneOnce(ctx, step, false)
		if diskFull(err) && db.room != nil {
			n, err = db.pruneOnce(ctx, step, true)
		}
		total += n
		if err != nil || n < pruneBatch {
			return total, err
		}
	}
}

// pruneOnce runs one batch of step in a transaction. With release, it frees
// the room held back for it once it holds the write connection, so that no
// webhook takes that room before the delete does.
func (db *DB) pruneOnce(ctx context.Context, step pruneStep, release bool) (int64, error) {
	conn, err := db.write.db.Conn(ctx)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	if release && !db.room.release() {
		return 0, errors.New("the disk is full, and the room held back for deletes is gone: free some room on the volume")
	}
	if db.d.keepFreed != "" {
		// Records past retention are deleted, not erased: overwriting
		// every page they free would write them all to the WAL once more,
		// which a full volume has no room for (see sqliteParams).
		if _, err := conn.ExecContext(ctx, db.d.keepFreed); err != nil {
			return 0, err
		}
		defer conn.ExecContext(context.WithoutCancel(ctx), db.d.scrubFreed) //nolint:errcheck // it fails only on a broken connection, whose successor opens with it
	}
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	var res sql.Result
	for _, st := range step.statements {
		if res, err = tx.ExecContext(ctx, db.d.placeholders(st), step.args...); err != nil {
			return 0, err
		}
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, err
	}
	return n, tx.Commit()
}
