package journal

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// corruptError is a SQLite journal found corrupt: its file, what was found
// wrong, and what to do. It matches ErrCorrupt.
type corruptError struct{ file, found string }

func (e *corruptError) Error() string {
	return "journal: " + e.file + " is corrupt (" + e.found + "): stop the bridge, then restore a backup or move the file aside (docs/operating.md, \"Restoring a backup\")"
}

func (e *corruptError) Is(target error) bool { return target == ErrCorrupt }

// corruption is err as a corruptError of file when it says the file is
// corrupt (SQLITE_CORRUPT, SQLITE_NOTADB), else nil.
func corruption(err error, file string) *corruptError {
	var ce *corruptError
	if errors.As(err, &ce) {
		return ce
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() & 0xff {
		case sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB:
			return &corruptError{file: file, found: se.Error()}
		}
	}
	return nil
}

// intact fails once the journal's file has been found corrupt (checked).
func (db *DB) intact() error {
	if ce := db.broken.Load(); ce != nil {
		return ce
	}
	return nil
}

// checked returns err, and takes the journal out of service when err says
// its file is corrupt: from then on every call fails with that error, as
// when the store is down. Some writes to a damaged file still succeed, and
// a record answered 202 queued there may be lost; the webhook is answered
// 503 instead, and its sender retries.
func (db *DB) checked(err error) error {
	if err == nil || db.d.kind != "sqlite" {
		return err
	}
	if diskFull(err) && db.full != nil {
		db.tellFull()
	}
	ce := corruption(err, db.where)
	if ce == nil {
		return err
	}
	db.broken.CompareAndSwap(nil, ce)
	return db.broken.Load()
}

// sqliteMagic begins every SQLite database file.
const sqliteMagic = "SQLite format 3\x00"

// overwritten reports whether the file no longer begins as a SQLite
// database does: overwritten while the bridge ran. SQLite, which holds the
// pages it needs, would notice nothing and go on writing to it.
func overwritten(f *os.File) bool {
	var head [len(sqliteMagic)]byte
	_, err := f.ReadAt(head[:], 0)
	return (err == nil || errors.Is(err, io.EOF)) && string(head[:]) != sqliteMagic
}

// integrityWait is how long Open waits for quick_check before the journal
// serves: it reads the whole file, which took 0.7 s for a journal of 200,000
// events (860 MB) in the page cache and 16.5 s from a cold disk. A check that
// takes longer goes on beside the bridge (verify).
const integrityWait = 2 * time.Second

// verify runs quick_check over the file, on a connection of its own, and
// fails if it finds it corrupt. It waits for the verdict up to wait
// (integrityWait); a larger file is checked on while the journal serves, and
// the journal is taken out of service (checked) should the check fail.
func (db *DB) verify(ctx context.Context, dsn string, wait time.Duration) error {
	check, err := sql.Open("sqlite", dsn)
	if err != nil {
		return err
	}
	check.SetMaxOpenConns(1)
	cctx, cancel := context.WithCancel(context.Background())
	verdict := make(chan error, 1)
	go func() {
		defer check.Close()
		verdict <- quickCheck(cctx, check, db.where)
	}()
	select {
	case err := <-verdict:
		cancel()
		return corruptionOnly(err, db.where)
	case <-time.After(wait):
	case <-ctx.Done():
	}
	db.stopCheck = cancel
	db.background.Go(func() { _ = db.checked(corruptionOnly(<-verdict, db.where)) })
	return nil
}

// corruptionOnly is err when it says the file is corrupt, else nil: a check
// that could not run (cut short by Close) says nothing of the file.
func corruptionOnly(err error, file string) error {
	if ce := corruption(err, file); ce != nil {
		return ce
	}
	return nil
}

// quickCheck runs SQLite's quick_check on db, the journal at file, and
// returns a corruptError for what it found wrong.
func quickCheck(ctx context.Context, db *sql.DB, file string) error {
	rows, err := db.QueryContext(ctx, `PRAGMA quick_check(5)`)
	if err != nil {
		return err
	}
	defer rows.Close()
	var found []string
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			return err
		}
		found = append(found, line)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	if len(found) == 1 && found[0] == "ok" {
		return nil
	}
	return &corruptError{file: file, found: strings.Join(found, "; ")}
}

// Check reads the whole journal for damage, as the bridge does when it
// opens it: SQLite's quick_check, which takes about a second per gigabyte
// the page cache holds and more from a cold disk. It returns an error that
// matches ErrCorrupt when it finds the file corrupt, and nil on Postgres,
// whose server keeps its own files.
func (db *DB) Check(ctx context.Context) error {
	if db.d.kind != "sqlite" {
		return nil
	}
	if err := db.intact(); err != nil {
		return err
	}
	if err := quickCheck(ctx, db.read.db, db.where); err != nil {
		return fmt.Errorf("journal: check: %w", db.checked(err))
	}
	return nil
}
