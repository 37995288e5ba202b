package journal

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"time"

	_ "modernc.org/sqlite" // pure Go: the binary stays static (CGO_ENABLED=0)
)

// sqliteTimeLayout is fixed-width UTC, so that comparing two times as text,
// as SQLite does, compares the instants.
const sqliteTimeLayout = "2006-01-02T15:04:05.000000Z"

var sqliteDialect = dialect{
	kind:         "sqlite",
	placeholders: func(q string) string { return q },
	timeArg:      func(t time.Time) any { return t.UTC().Format(sqliteTimeLayout) },
	migrationsTable: `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    INTEGER PRIMARY KEY,
		name       TEXT NOT NULL,
		applied_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
	) STRICT`,
	prepare: true,
	syncOn:  "PRAGMA synchronous = FULL",
	syncOff: "PRAGMA synchronous = NORMAL",
}

// sqliteParams apply to every connection. WAL lets the reader run beside the
// writer; busy_timeout makes a second process on the same file wait rather
// than fail; BEGIN IMMEDIATE takes the write lock at the start of a
// transaction, so two writers queue instead of one failing on upgrade.
// synchronous=NORMAL, SQLite's advice for WAL, syncs at checkpoints, not at
// every commit: a commit survives a crash of the process, and may be lost
// with the last moments before a power cut. FULL journals under half the
// webhooks a second (2,200 against 6,400 in BenchmarkBeginFinish); the one
// write that must survive a power cut, a record answered 202 queued, is
// synced all the same (syncOn).
const sqliteParams = "_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)&_pragma=synchronous(NORMAL)&_txlock=immediate"

func openSQLite(ctx context.Context, o Options) (Store, error) {
	if err := os.MkdirAll(o.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("journal: data directory: %w", err)
	}
	file, err := filepath.Abs(filepath.Join(o.DataDir, "bridge.db"))
	if err != nil {
		return nil, fmt.Errorf("journal: data directory: %w", err)
	}
	// A file: URI, percent-encoded, so that no character of the path is
	// taken for the start of the parameters.
	dsn := "file:" + (&url.URL{Path: file}).EscapedPath() + "?" + sqliteParams
	// One connection writes and one reads (List, Get). SQLite has one writer
	// at a time: one connection makes writes queue in Go instead of spinning
	// on SQLITE_BUSY, and is faster than a pool of them. WAL lets the reader
	// run beside it, so a slow search never holds up a webhook, and a single
	// reader cannot take the CPU from the webhooks either: with 4 goroutines
	// searching nonstop on 2 cores, the webhooks journaled kept about 5,000/s
	// with one reader, against 1,800/s with two and 800/s with four
	// (BenchmarkBeginFinishWithReaders).
	write, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("journal: open %s: %w", file, err)
	}
	write.SetMaxOpenConns(1)
	if err := migrate(ctx, write, sqliteDialect); err != nil {
		write.Close()
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
	return &sqlStore{
		d:     sqliteDialect,
		write: newHandle(write, sqliteDialect),
		read:  newHandle(read, sqliteDialect),
		now:   o.Now,
		where: file,
	}, nil
}
