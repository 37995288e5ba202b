package journal

import (
	"bytes"
	"context"
	"database/sql"
	"testing"
	"time"

	"github.com/getreditus/reditus-bridge/internal/testenv"
	"github.com/getreditus/reditus-bridge/outcome"
)

// A record's outcome changes at least once a webhook; its body never does.
// Finishing a record with a large body writes the record's few pages, not
// the body again: with the body in the record's row, one Finish of a record
// with 64 KB of body wrote 37 pages of 4 KB to the WAL; now 4 of 1 KB.
func TestAFinishDoesNotRewriteTheBody(t *testing.T) {
	ctx := context.Background()
	s := openSQLiteForTest(t, t.TempDir())
	rec, _, err := s.Begin(ctx, Record{Provider: "stripe", DeliveryID: "evt_large", Email: "ann@example.com",
		Body: bytes.Repeat([]byte("x"), 64<<10)}, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	s.ckpt.stop() // nothing but this test's Finish touches the WAL now
	if _, err := s.write.db.Exec(`PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
		t.Fatal(err)
	}
	if err := s.Finish(ctx, rec.ID, Finish{Outcome: outcome.WordForwarded, AttemptLog: []Attempt{{At: time.Now(), Call: "track", Status: 201, Outcome: outcome.WordForwarded}}}); err != nil {
		t.Fatal(err)
	}
	if frames := walFrames(t, s); frames > 12 {
		t.Errorf("a Finish wrote %d pages to the WAL; the record and its attempt take under 12", frames)
	}
	got, err := s.Get(ctx, rec.ID)
	if err != nil || len(got.Body) != 64<<10 || got.Outcome != outcome.WordForwarded {
		t.Errorf("after Finish: %d bytes of body, outcome %q (%v); want the 64 KB body and forwarded", len(got.Body), got.Outcome, err)
	}
}

// A journal made before bodies had a table of their own (migration 0006)
// keeps each body it held where it was, on both stores: a record kept
// without one still has none, and erasure finds the address in an old body
// as in a new one.
func TestAnEarlierJournalKeepsItsBodies(t *testing.T) {
	for _, kind := range []string{"sqlite", "postgres"} {
		t.Run(kind, func(t *testing.T) {
			o, raw, d := emptyStore(t, kind)
			const earlier = 5 // the migrations before journal_body
			exec := func(query string, args ...any) {
				t.Helper()
				if _, err := raw.Exec(d.placeholders(query), args...); err != nil {
					t.Fatalf("%s: %v", query, err)
				}
			}
			exec(d.migrationsTable)
			for _, m := range migrations[kind][:earlier] {
				exec(m.sql)
				exec(`INSERT INTO schema_migrations (version, name) VALUES (?, ?)`, m.version, m.name)
			}
			body := []byte(`{"id":"evt_kept","email":"ann@example.com"}`)
			for _, r := range []struct {
				id   string
				body []byte
			}{{"evt_kept", body}, {"evt_bodiless", []byte{}}} {
				exec(`INSERT INTO journal (provider, delivery_id, received_at, updated_at, outcome, body)
					VALUES ('stripe', ?, '2026-12-01T00:00:00.000000Z', '2026-12-01T00:00:00.000000Z', 'forwarded', ?)`, r.id, r.body)
			}
			raw.Close()

			s, err := Open(context.Background(), o)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			recs, err := s.List(context.Background(), Filter{Limit: 10})
			if err != nil || len(recs) != 2 {
				t.Fatalf("List: %d records (%v), want 2", len(recs), err)
			}
			for _, r := range recs {
				got, err := s.Get(context.Background(), r.ID)
				if err != nil {
					t.Fatal(err)
				}
				want := map[string][]byte{"evt_kept": body, "evt_bodiless": {}}[r.DeliveryID]
				if !bytes.Equal(got.Body, want) || got.HasBody != (len(want) > 0) || r.HasBody != (len(want) > 0) {
					t.Errorf("%s: body %q, HasBody %v (listed %v); want %q", r.DeliveryID, got.Body, got.HasBody, r.HasBody, want)
				}
			}
			if _, _, err := s.Begin(context.Background(), Record{Provider: "stripe", DeliveryID: "evt_new", Body: body}, time.Minute); err != nil {
				t.Fatal(err)
			}
			if n, err := s.Forget(context.Background(), "Ann@Example.com"); n != 2 || err != nil {
				t.Errorf("Forget: %d records (%v), want the old one and the new one whose bodies name the address", n, err)
			}
		})
	}
}

// emptyStore returns a store of kind with no tables, the options that open
// it and a connection to it.
func emptyStore(t *testing.T, kind string) (Options, *sql.DB, dialect) {
	t.Helper()
	if kind == "postgres" {
		u := testenv.Postgres(t)
		raw, err := sql.Open("pgx", u)
		if err != nil {
			t.Fatal(err)
		}
		return Options{DatabaseURL: u}, raw, postgresDialect
	}
	dir := t.TempDir()
	file, err := makeSQLiteFile(dir)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := sql.Open("sqlite", sqliteDSN(file, "_journal_mode=WAL"))
	if err != nil {
		t.Fatal(err)
	}
	return Options{DataDir: dir}, raw, sqliteDialect
}
