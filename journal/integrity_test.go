package journal

import (
	"bytes"
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"
)

// damage overwrites the first page of index in s's file, its WAL copied
// into it first, with bytes that are no index, as a failing disk or a copy
// over a running journal can leave it. The file still opens.
func damage(t *testing.T, s *DB, index string) {
	t.Helper()
	if !s.readOnly {
		if _, err := s.write.db.Exec(`PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
			t.Fatal(err)
		}
	}
	var page, size int64
	if err := s.read.db.QueryRow(`SELECT rootpage, (SELECT page_size FROM pragma_page_size) FROM sqlite_master WHERE name = ?`, index).Scan(&page, &size); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(s.where, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(bytes.Repeat([]byte{0x0d, 0x00, 0xff, 0x7f}, int(size)/4), (page-1)*size); err != nil {
		t.Fatal(err)
	}
}

// journalOf writes n records to a new SQLite journal in dir and closes it,
// its WAL copied into the file.
func journalOf(t *testing.T, dir string, n int) (file string) {
	t.Helper()
	ctx := context.Background()
	s, err := Open(ctx, Options{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if _, _, err := s.Begin(ctx, Record{Provider: "stripe", DeliveryID: "evt_" + strings.Repeat("x", i%7) + string(rune('a'+i%26)) + string(rune('a'+i/26)), Email: "a@example.com"}, time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return s.where
}

// A journal whose file is damaged is refused at Open, with an error that
// names the file and says what to do, and Check finds the damage in a
// journal opened read-only.
func TestOpenRefusesACorruptJournal(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	file := journalOf(t, dir, 200)
	check := func() error {
		ro, err := Open(ctx, Options{DataDir: dir, ReadOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		defer ro.Close()
		return ro.Check(ctx)
	}
	if err := check(); err != nil {
		t.Fatalf("Check of an intact journal: %v", err)
	}
	ro, err := Open(ctx, Options{DataDir: dir, ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	damage(t, ro, "journal_email")
	ro.Close()

	_, err = Open(ctx, Options{DataDir: dir})
	if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), file+" is corrupt") || !strings.Contains(err.Error(), "restore a backup") {
		t.Errorf("Open of a damaged journal: %v, want ErrCorrupt naming the file and what to do", err)
	}
	if err := check(); !errors.Is(err, ErrCorrupt) {
		t.Errorf("Check of a damaged journal: %v, want ErrCorrupt", err)
	}
}

// A journal found corrupt while it serves is taken out of service: every
// call fails from then on, also those that would have found nothing wrong,
// so that no webhook is answered 202 on a file that may not keep it.
func TestACorruptJournalFailsEveryCallOnceFound(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name string
		harm func(t *testing.T, s *DB)
	}{
		{"overwritten while open", func(t *testing.T, s *DB) {
			if err := os.WriteFile(s.where, bytes.Repeat([]byte{0xde, 0xad}, 4096), 0o600); err != nil {
				t.Fatal(err)
			}
		}},
		{"found by a check that outlived Open", func(t *testing.T, s *DB) {
			damage(t, s, "journal_email")
			if err := s.verify(ctx, sqliteDSN(s.where, sqliteReadOnlyParams), 0); err != nil {
				t.Fatalf("verify waiting for nothing: %v", err)
			}
			s.background.Wait()
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := openSQLiteForTest(t, t.TempDir())
			rec, _, err := s.Begin(ctx, Record{Provider: "stripe", DeliveryID: "evt_1"}, time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			tt.harm(t, s)
			// The first write may be the one that finds it.
			_ = s.Finish(ctx, rec.ID, Finish{Outcome: Queued})
			calls := map[string]error{
				"Finish": s.Finish(ctx, rec.ID, Finish{Outcome: Queued}),
				"Get":    func() error { _, err := s.Get(ctx, rec.ID); return err }(),
				"List":   func() error { _, err := s.List(ctx, Filter{}); return err }(),
				"Due":    func() error { _, err := s.Due(ctx, time.Now(), time.Minute, 1); return err }(),
				"Begin": func() error {
					_, _, err := s.Begin(ctx, Record{Provider: "stripe", DeliveryID: "evt_2"}, time.Minute)
					return err
				}(),
			}
			for name, err := range calls {
				if !errors.Is(err, ErrCorrupt) {
					t.Errorf("%s: %v, want ErrCorrupt", name, err)
				}
			}
		})
	}
}
