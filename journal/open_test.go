package journal

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

func TestPostgresWhereHasNoPassword(t *testing.T) {
	tests := []struct {
		url  string
		want string
	}{
		{"postgres://bridge:s3cret-pw@db.internal:6543/journal?sslmode=require", "postgres://bridge@db.internal:6543/journal"},
		{"postgresql://bridge@db.internal/journal?password=s3cret-pw", "postgres://bridge@db.internal:5432/journal"},
		{"host=db.internal user=bridge password=s3cret-pw dbname=journal", "postgres://bridge@db.internal:5432/journal"},
		{"postgres://bridge:s3cret-pw@[::1]:5432/journal", "postgres://bridge@[::1]:5432/journal"},
		{"postgres:///journal?host=/run/postgresql&user=bridge&password=s3cret-pw", "postgres://bridge@/journal?host=%2Frun%2Fpostgresql"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			cfg, err := pgx.ParseConfig(tt.url)
			if err != nil {
				t.Fatalf("ParseConfig: %v", err)
			}
			if got := postgresWhere(cfg); got != tt.want {
				t.Errorf("postgresWhere = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestOpenPostgresErrorHasNoPassword(t *testing.T) {
	_, err := Open(context.Background(), Options{DatabaseURL: "postgres://bridge:s3cret-pw@127.0.0.1:1/journal?connect_timeout=2"})
	if err == nil {
		t.Fatal("Open of a closed port succeeded")
	}
	if strings.Contains(err.Error(), "s3cret-pw") {
		t.Errorf("the error shows the password: %v", err)
	}
}

func TestOpenSQLiteCreatesAPrivateDataDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data", "journal")
	s, err := Open(context.Background(), Options{DataDir: dir})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer s.Close()
	fi, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != 0o700 {
		t.Errorf("DATA_DIR mode = %v, want 0700", got)
	}
	if _, err := os.Stat(filepath.Join(dir, "bridge.db")); err != nil {
		t.Errorf("bridge.db: %v", err)
	}
	var mode string
	if err := s.write.db.QueryRow(`PRAGMA journal_mode`).Scan(&mode); err != nil || mode != "wal" {
		t.Errorf("journal_mode = %q, %v; want wal", mode, err)
	}
}

func TestSQLiteQueuedFinishLeavesTheWriterAsItWas(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, Options{DataDir: t.TempDir()})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer s.Close()
	rec, _, err := s.Begin(ctx, Record{Provider: "supabase", DeliveryID: "sb_1"}, time.Minute)
	if err != nil {
		t.Fatalf("Begin: %v", err)
	}
	// synchronous: 1 is NORMAL, 2 FULL.
	for _, f := range []Finish{{Outcome: Queued}, {Outcome: "forwarded"}} {
		if err := s.Finish(ctx, rec.ID, f); err != nil {
			t.Fatalf("Finish(%s): %v", f.Outcome, err)
		}
		var sync int
		if err := s.write.db.QueryRow(`PRAGMA synchronous`).Scan(&sync); err != nil || sync != 1 {
			t.Errorf("after Finish(%s): synchronous = %d, %v; want 1 (NORMAL)", f.Outcome, sync, err)
		}
	}
}

func TestOpenNeedsAPlace(t *testing.T) {
	if _, err := Open(context.Background(), Options{}); err == nil {
		t.Error("Open(Options{}) succeeded, want an error")
	}
}

func TestMigrationsAreNumberedTheSameInBothStores(t *testing.T) {
	sq, pg := migrations["sqlite"], migrations["postgres"]
	if len(sq) == 0 || len(sq) != len(pg) {
		t.Fatalf("sqlite has %d migrations, postgres %d: want the same, at least 1", len(sq), len(pg))
	}
	for i := range sq {
		if sq[i].name != pg[i].name {
			t.Errorf("migration %d is %s on sqlite, %s on postgres", i+1, sq[i].name, pg[i].name)
		}
	}
}

func TestDollarPlaceholders(t *testing.T) {
	got := dollarPlaceholders(`UPDATE journal SET a = ? WHERE b = ? AND c IN (?)`)
	if want := `UPDATE journal SET a = $1 WHERE b = $2 AND c IN ($3)`; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}
