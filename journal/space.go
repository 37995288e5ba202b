package journal

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"sync"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// reserveSize is the room the journal holds back on its volume for its own
// deletes. A full volume never frees itself otherwise: SQLite writes what a
// delete changes to the WAL before the file, so retention needs room to
// delete anything, and on a full disk its deletes failed like every other
// write. Deleting a batch of 5,000 records (pruneBatch) wrote 2 to 3.3 MB
// to the WAL; 8 MiB is room for that and what webhooks write meanwhile.
const reserveSize = 8 << 20

// reserve is a file of reserveSize bytes beside the journal's
// (bridge.db-reserve), written in full so that the volume holds its blocks.
// Prune removes it when a delete finds the disk full, then deletes, or
// after deleting something once a write found the disk full (sawFull): the
// records it deletes leave free pages inside bridge.db, which the next
// records take, so the file stops growing. It is made again when the
// volume has room (make, after each prune), and until then the WAL keeps
// the room the deletes used.
type reserve struct {
	path string
	mu   sync.Mutex
}

// make writes the reserve unless it is there whole, and only where the
// volume has room for it twice: the reserve must not take the room that the
// WAL needs to grow into, which the last prune left. On a volume without the
// room it writes nothing: a part of it would only take what SQLite needs.
func (r *reserve) make() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if fi, err := os.Stat(r.path); err == nil && fi.Size() == reserveSize {
		return nil
	}
	if free, ok := freeSpace(filepath.Dir(r.path)); ok && free < 2*reserveSize {
		return errors.New("journal: no room on the volume for the reserve")
	}
	f, err := os.OpenFile(r.path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	// Zeros written, not a hole: the file must hold its blocks.
	_, err = io.CopyN(f, zeros{}, reserveSize)
	if err == nil {
		err = f.Sync()
	}
	if err = errors.Join(err, f.Close()); err != nil {
		return errors.Join(err, os.Remove(r.path))
	}
	return nil
}

// release removes the reserve, and reports whether there was one to free.
func (r *reserve) release() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return os.Remove(r.path) == nil
}

// zeros reads as endless zero bytes.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// diskFull reports whether err is SQLite's: the disk (or the file size limit)
// is full.
func diskFull(err error) bool {
	var se *sqlite.Error
	return errors.As(err, &se) && se.Code()&0xff == sqlite3.SQLITE_FULL
}

// DiskFull is told when a write finds the disk full, so that retention
// prunes at once (Retention.Full) rather than at its next round: the
// deletes it can make are what frees room. It is nil on Postgres, whose
// server keeps its own disk.
func (db *DB) DiskFull() <-chan struct{} { return db.full }

// tellFull tells DiskFull, once until it is read, and the next prune
// (sawFull).
func (db *DB) tellFull() {
	db.sawFull.Store(true)
	select {
	case db.full <- struct{}{}:
	default:
	}
}
