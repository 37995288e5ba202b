package journal

import (
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"modernc.org/sqlite" // pure Go: the binary stays static (CGO_ENABLED=0)
	sqlite3 "modernc.org/sqlite/lib"
)

// sqliteTimeLayout is fixed-width UTC, so that comparing two times as text,
// as SQLite does, compares the instants.
const sqliteTimeLayout = "2006-01-02T15:04:05.000000Z"

var sqliteDialect = dialect{
	kind:         "sqlite",
	placeholders: sqlitePlaceholders,
	timeArg:      func(t time.Time) any { return t.UTC().Format(sqliteTimeLayout) },
	migrationsTable: `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    INTEGER PRIMARY KEY,
		name       TEXT NOT NULL,
		applied_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
	) STRICT`,
	prepare:      true,
	lastInsertID: true,
	syncOn:       "PRAGMA synchronous = FULL",
	syncOff:      "PRAGMA synchronous = NORMAL",
	day:          `substr(received_at, 1, 10)`,
	// SQLite's lower() folds ASCII letters only, as Forget's needle is.
	bodyHolds:  `instr(lower(CAST(body AS TEXT)), ?) > 0`,
	bodyText:   func(needle string) any { return needle },
	scrubWAL:   "PRAGMA wal_checkpoint(TRUNCATE)",
	keepFreed:  "PRAGMA secure_delete = OFF",
	scrubFreed: "PRAGMA secure_delete = ON",
}

// sqliteParams apply to every connection. WAL lets the reader run beside the
// writer; busy_timeout makes a second process on the same file wait rather
// than fail; BEGIN IMMEDIATE takes the write lock at the start of a
// transaction, so two writers queue instead of one failing on upgrade.
//
// synchronous=NORMAL, SQLite's advice for WAL, syncs the WAL at checkpoints,
// not at every commit: a commit survives a crash of the process, and may be
// lost with the last moments before a power cut. The one write that must
// survive a power cut, a record answered 202 queued, whose sender then stops
// retrying, is synced all the same: its transaction runs with
// synchronous=FULL (batcher), which syncs every commit before it too. FULL
// for every commit would be simpler, and costs too much: bench/journal.sh
// measured the journal-on p99 at 1,000 webhooks/s at 2.69x the bridge's
// without a journal, and its throughput at 0.60x, against the targets of 2x
// and 0.6x (BENCHMARKS.md).
//
// secure_delete overwrites with zeros what a write deletes or replaces, in
// the page and in the pages it frees: the journal holds emails and raw
// bodies, and a change to a record that is larger than its page (a body of
// a few KB) rewrites it on new pages and frees the old ones, which kept the
// address where Forget could not reach it. Freed pages are then written
// once more, as zeros; retention's deletes, of many whole pages, are not
// (keepFreed), so that on a full volume they fit in the room held back for
// them.
//
// wal_autocheckpoint is the writer's own checkpoint, now a backstop: the
// checkpointer does that work beside the writer, and the writer only copies
// what it left, once the WAL holds walBound bytes of pages (see
// checkpointer). It counts pages, so it follows the file's page size.
//
// page_size applies to a file SQLite makes, before its first page is
// written: the driver runs the _pragma list in alphabetical order, so WAL is
// set by _journal_mode, which it runs after that list.
func sqliteParams(pageSize int) string {
	return fmt.Sprintf("_pragma=busy_timeout(10000)&_pragma=page_size(%d)&_journal_mode=WAL&_pragma=foreign_keys(1)&_pragma=synchronous(NORMAL)&_pragma=secure_delete(ON)&_pragma=wal_autocheckpoint(%d)&_txlock=immediate",
		newPageSize, walBound/pageSize)
}

// newPageSize is the page size of a journal the bridge makes: 1,024 bytes,
// not SQLite's 4,096. A webhook's two writes change about eleven pages (its
// record, five index entries, its attempt) by a few bytes each, and SQLite
// writes each changed page whole to the WAL: smaller pages are fewer bytes
// to write, checksum and copy back (16.6 KB a webhook against 46.4 KB), so
// the WAL reaches walBound, and some webhook's commit waits for the writer's
// checkpoint, a third as often. That pays because a record is small, its
// body apart (journal_body): a record spilling over several small pages
// was rewritten whole at each change. bench/journal.sh: the p99 at 1,000
// webhooks/s 1.77x the bridge's without a journal, against 2.13x with
// 4,096-byte pages and bodies in their records (BENCHMARKS.md). A journal
// made before keeps its pages (changing them rewrites the file).
const newPageSize = 1024

// walBound is the WAL's size, in the bytes of its pages, at which the
// writer checkpoints it itself: 3,000 pages of 4,096 bytes, as before pages
// were smaller. The WAL file keeps its largest size on disk.
const walBound = 3000 * 4096

// sqlitePageSize is the page size of the journal in file: what its header
// says, or newPageSize for a file SQLite has yet to write.
func sqlitePageSize(file string) (int, error) {
	f, err := os.Open(file)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	var header [18]byte
	if _, err := io.ReadFull(f, header[:]); err != nil {
		return newPageSize, nil // empty: new, or too short to be a journal, which opening says
	}
	size := int(binary.BigEndian.Uint16(header[16:]))
	switch {
	case size == 1:
		return 65536, nil
	case size < 512 || size&(size-1) != 0:
		return newPageSize, nil // not SQLite's: opening says so
	}
	return size, nil
}

func openSQLite(ctx context.Context, o Options) (*DB, error) {
	if o.ReadOnly {
		return openSQLiteReadOnly(ctx, o)
	}
	file, err := makeSQLiteFile(o.DataDir)
	if err != nil {
		return nil, err
	}
	pageSize, err := sqlitePageSize(file)
	if err != nil {
		return nil, fmt.Errorf("journal: open %s: %w", file, err)
	}
	dsn := sqliteDSN(file, sqliteParams(pageSize))
	// One connection writes and one reads (List, Get); a third checkpoints
	// (checkpointer). SQLite has one writer at a time: one connection makes
	// writes queue in Go instead of spinning on SQLITE_BUSY, and is faster
	// than a pool of them. WAL lets the reader run beside it, so a slow
	// search never holds up a webhook, and a single reader cannot take the
	// CPU from the webhooks either: with 4 goroutines searching nonstop on 2
	// cores, the webhooks journaled kept about 5,000/s with one reader,
	// against 1,800/s with two and 800/s with four
	// (BenchmarkBeginFinishWithReaders, before writes were batched).
	write, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("journal: open %s: %w", file, err)
	}
	write.SetMaxOpenConns(1)
	if err := migrateSQLite(ctx, write); err != nil {
		write.Close()
		if ce := corruption(err, file); ce != nil {
			return nil, ce
		}
		return nil, fmt.Errorf("journal: open %s: %w", file, err)
	}
	read, err := sql.Open("sqlite", dsn+"&_pragma=query_only(1)")
	if err != nil {
		write.Close()
		return nil, fmt.Errorf("journal: open %s: %w", file, err)
	}
	read.SetMaxOpenConns(1)
	if err := read.PingContext(ctx); err != nil {
		return nil, errors.Join(fmt.Errorf("journal: open %s: %w", file, err), write.Close(), read.Close())
	}
	db := &DB{
		d:     sqliteDialect,
		write: newHandle(write, sqliteDialect),
		read:  newHandle(read, sqliteDialect),
		now:   o.Now,
		where: file,
	}
	if err := db.startWriting(ctx, dsn); err != nil {
		return nil, errors.Join(fmt.Errorf("journal: open %s: %w", file, err), db.Close())
	}
	if err := db.verify(ctx, sqliteDSN(file, sqliteReadOnlyParams), integrityWait); err != nil {
		return nil, errors.Join(err, db.Close())
	}
	db.room, db.full = &reserve{path: file + "-reserve"}, make(chan struct{}, 1)
	_ = db.room.make() // a full volume: Prune makes it once there is room
	return db, nil
}

// sqliteReadOnlyParams read the journal without writing it, nor its -wal and
// -shm files when they are there.
const sqliteReadOnlyParams = "mode=ro&_pragma=busy_timeout(10000)&_pragma=query_only(1)"

// openSQLiteReadOnly opens the journal in o.DataDir to read it, on one
// connection, and makes nothing: a journal that is not there is
// ErrNoJournal.
func openSQLiteReadOnly(ctx context.Context, o Options) (*DB, error) {
	file, err := sqlitePath(o.DataDir)
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(file); errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w at %s", ErrNoJournal, file)
	}
	db, err := openReadable(ctx, sqliteDSN(file, sqliteReadOnlyParams))
	var cantOpen *sqlite.Error
	if errors.As(err, &cantOpen) && cantOpen.Code()&0xff == sqlite3.SQLITE_CANTOPEN && !exists(file+"-wal") {
		// A journal in WAL mode is read through its -shm file, which a
		// read-only volume cannot hold once the bridge has stopped and
		// removed it. Without a -wal file every record is in the file
		// itself, and SQLite may read it as a file that does not change.
		db, err = openReadable(ctx, sqliteDSN(file, sqliteReadOnlyParams+"&immutable=1"))
	}
	if err != nil {
		return nil, fmt.Errorf("journal: open %s: %w", file, err)
	}
	var tables int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master WHERE name = 'schema_migrations'`).Scan(&tables); err != nil || tables == 0 {
		db.Close()
		if err != nil {
			return nil, fmt.Errorf("journal: open %s: %w", file, err)
		}
		return nil, fmt.Errorf("%w at %s (the file holds none)", ErrNoJournal, file)
	}
	h := newHandle(db, sqliteDialect)
	return &DB{d: sqliteDialect, write: h, read: h, now: o.Now, where: file, readOnly: true}, nil
}

// openReadable opens dsn on one connection and reads from it, which opens
// the file.
func openReadable(ctx context.Context, dsn string) (*sql.DB, error) {
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	var n int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master`).Scan(&n); err != nil {
		return nil, errors.Join(err, db.Close())
	}
	return db, nil
}

func exists(file string) bool {
	_, err := os.Stat(file)
	return err == nil
}

// migrateSQLite migrates, and tries again while another connection holds the
// file, for up to 10 s as busy_timeout would: processes that open a new file
// at the same moment (the bridge and `reditus-bridge events`, say) can meet
// SQLITE_BUSY at once, without SQLite waiting, while the first of them
// turns the file to WAL (about 1 in 100 of four at once in
// TestSQLite/instances_starting_at_once_migrate_once).
func migrateSQLite(ctx context.Context, db *sql.DB) error {
	for deadline := time.Now().Add(10 * time.Second); ; {
		err := migrate(ctx, db, sqliteDialect)
		var busy *sqlite.Error
		if err == nil || !errors.As(err, &busy) || busy.Code()&0xff != sqlite3.SQLITE_BUSY || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// sqlitePath is the journal's file in dataDir.
func sqlitePath(dataDir string) (string, error) {
	file, err := filepath.Abs(filepath.Join(dataDir, "bridge.db"))
	if err != nil {
		return "", fmt.Errorf("journal: data directory: %w", err)
	}
	return file, nil
}

// sqliteDSN opens file with params: a file: URI, percent-encoded, so that no
// character of the path is taken for the start of the parameters.
func sqliteDSN(file, params string) string {
	return "file:" + (&url.URL{Path: file}).EscapedPath() + "?" + params
}

// makeSQLiteFile is the journal's file in dataDir, made if need be.
func makeSQLiteFile(dataDir string) (string, error) {
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return "", fmt.Errorf("journal: data directory: %w", err)
	}
	file, err := sqlitePath(dataDir)
	if err != nil {
		return "", err
	}
	// SQLite would create the file 0644, less the umask, and its -wal and
	// -shm files as the file is: the journal holds emails and raw bodies,
	// and DATA_DIR is often a directory that was there before (a volume's
	// mount point), whose mode protects nothing. An empty file is an empty
	// database.
	f, err := os.OpenFile(file, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	switch {
	case err == nil:
		if err := f.Close(); err != nil {
			return "", fmt.Errorf("journal: %w", err)
		}
	case !errors.Is(err, fs.ErrExist):
		return "", fmt.Errorf("journal: %w", err)
	}
	return file, nil
}

// startWriting keeps the file open (inPlace), and starts the batcher and
// the checkpointer.
func (db *DB) startWriting(ctx context.Context, dsn string) error {
	var err error
	if db.file, err = os.Open(db.where); err != nil {
		return err
	}
	if db.opened, err = db.file.Stat(); err != nil {
		return err
	}
	// The batcher runs its statements inside transactions, where they
	// cannot be prepared without a deadlock on the one connection: they
	// are prepared now, before it starts.
	if err := db.write.prepareAll(ctx, batchedQueries); err != nil {
		return err
	}
	// The checkpointer's connection, the third, neither writes nor reads a
	// record.
	ckpt, err := sql.Open("sqlite", dsn)
	if err != nil {
		return err
	}
	ckpt.SetMaxOpenConns(1)
	db.ckpt = newCheckpointer(ckpt)
	db.batch = newBatcher(db.write, sqliteDialect, func() error {
		db.ckpt.committed()
		return db.inPlace()
	})
	return nil
}

// The checkpointer copies the WAL into the database file after every
// checkpointCommits commits, at most every checkpointGap, and checkpointEvery
// after the last commit.
const (
	checkpointCommits = 32
	checkpointGap     = 20 * time.Millisecond
	checkpointEvery   = 100 * time.Millisecond
)

// checkpointer copies the commits in the WAL into the database file, in the
// background, on a connection of its own. SQLite's writer otherwise does it
// itself, inside the commit that fills the WAL to 1,000 pages: about every
// hundred webhooks one waited for 4 MB to be copied and two fsyncs. A
// PASSIVE checkpoint runs beside the writer without blocking it, but not
// beside the webhooks: on 2 cores its copying takes the CPU they need, so the
// more it copies at once, the longer the webhooks that arrive meanwhile wait.
// At 1,000 webhooks/s (2,000 commits) the p99 of a Begin and its Finish
// (BenchmarkBeginFinishPaced) was 4.2 to 4.9 ms with no checkpointer, 5.0 to
// 5.4 checkpointing every 400 ms, 1.3 to 1.6 every 100 ms, 0.5 to 0.75 every
// 25 or 10 ms, and is 0.45 to 0.52 after every 32 commits. Copying too often
// costs throughput instead, since a page that many commits wrote is copied
// once per checkpoint: every 10 ms, bench/journal.sh measured 0.61x the
// journal-off throughput, against 0.72x every 100 ms; hence the gap, which
// only a burst reaches. Counting commits costs nothing at rest. Without a
// checkpointer, SQLite's own at 1,000 pages, bench/journal.sh measured the
// journal-on p99 at 1,000/s at 3.02x the bridge's without a journal (the
// target is 2x).
//
// The WAL restarts from its start only when a write finds it all copied; the
// writer's own checkpoint, at walBound (wal_autocheckpoint), is the
// backstop, and the WAL file keeps its largest size on disk: about 12 MiB,
// and the journal of 2,000 small events under 16 MiB (e2e's
// TestAFloodIsForwardedOnceEachInBoundedDiskAndMemory). Under a steady load
// the checkpointer never finds the WAL all copied (writes land while it
// copies), so the backstop is what restarts it: one commit copies what the
// checkpointer left and syncs twice, and the next syncs the WAL's header.
// Those are the slowest commits at 1,000/s (docs/decisions.md), and the
// smaller pages (newPageSize) make them rarer.
type checkpointer struct {
	db         *sql.DB
	checkpoint func() error
	every, gap time.Duration // checkpointEvery, checkpointGap
	commits    atomic.Uint64
	nudge      chan struct{} // one waiting nudge is enough
	quit       chan struct{}
	stopped    chan struct{}
	once       sync.Once
}

func newCheckpointer(db *sql.DB) *checkpointer {
	return startCheckpointer(&checkpointer{db: db, every: checkpointEvery, gap: checkpointGap,
		checkpoint: func() error {
			_, err := db.Exec(`PRAGMA wal_checkpoint(PASSIVE)`)
			return err
		}})
}

func startCheckpointer(c *checkpointer) *checkpointer {
	c.nudge, c.quit, c.stopped = make(chan struct{}, 1), make(chan struct{}), make(chan struct{})
	go c.loop()
	return c
}

// committed counts one commit of the writer's.
func (c *checkpointer) committed() {
	if c.commits.Add(1)%checkpointCommits == 0 {
		select {
		case c.nudge <- struct{}{}:
		default:
		}
	}
}

func (c *checkpointer) loop() {
	defer close(c.stopped)
	tick := time.NewTicker(c.every)
	defer tick.Stop()
	var done uint64
	var last time.Time
	for {
		select {
		case <-c.quit:
			return
		case <-c.nudge:
			// Not more often than checkpointGap: under a burst every
			// commit is large, and copying more often only copies the
			// pages they share more often.
			select {
			case <-c.quit:
				return
			case <-time.After(time.Until(last.Add(c.gap))):
			}
		case <-tick.C:
		}
		n := c.commits.Load()
		if n == done {
			continue // an idle bridge costs nothing
		}
		// A checkpoint that fails (another process's checkpoint holds the
		// lock, a full disk) is tried again at the next nudge or tick, and
		// the writer's own checkpoint stays behind it: nothing to report.
		if err := c.checkpoint(); err == nil {
			done = n
		}
		last = time.Now()
	}
}

// close stops the checkpointer and closes its connection; the last
// connection to close checkpoints whatever is left.
func (c *checkpointer) close() error {
	c.stop()
	return c.db.Close()
}

func (c *checkpointer) stop() {
	c.once.Do(func() { close(c.quit) })
	<-c.stopped
}
