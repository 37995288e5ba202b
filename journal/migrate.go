package journal

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"
)

// migrationFiles holds each store's schema changes, NNNN_name.sql, applied in
// the order of NNNN; a file, once released, is never edited.
//
//go:embed migrations
var migrationFiles embed.FS

type migration struct {
	version int
	name    string
	sql     string
}

// migrations are each store's, in order.
var migrations = map[string][]migration{
	"sqlite":   mustLoadMigrations("sqlite"),
	"postgres": mustLoadMigrations("postgres"),
}

// mustLoadMigrations returns kind's migrations in order. The files are part
// of the binary, so a bad one is a build mistake, caught by every test.
func mustLoadMigrations(kind string) []migration {
	dir := path.Join("migrations", kind)
	entries, err := fs.ReadDir(migrationFiles, dir)
	if err != nil {
		panic(fmt.Sprintf("journal: embedded migrations: %v", err))
	}
	var ms []migration
	for _, e := range entries {
		num, _, ok := strings.Cut(e.Name(), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || !strings.HasSuffix(e.Name(), ".sql") {
			panic(fmt.Sprintf("journal: embedded migration %s/%s is not NNNN_name.sql", dir, e.Name()))
		}
		b, err := migrationFiles.ReadFile(path.Join(dir, e.Name()))
		if err != nil {
			panic(fmt.Sprintf("journal: embedded migrations: %v", err))
		}
		ms = append(ms, migration{version: v, name: e.Name(), sql: string(b)})
	}
	slices.SortFunc(ms, func(a, b migration) int { return a.version - b.version })
	for i, m := range ms {
		if m.version != i+1 {
			panic(fmt.Sprintf("journal: embedded migrations of %s: %s should be number %d", kind, m.name, i+1))
		}
	}
	return ms
}

// migrate applies the migrations db lacks, all in one transaction: a failed
// one leaves the schema as it was, and a concurrent migrator waits for this
// one and then finds nothing left to do.
func migrate(ctx context.Context, db *sql.DB, d dialect) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("journal: migrate: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	if d.lockMigrations != "" {
		if _, err := tx.ExecContext(ctx, d.lockMigrations); err != nil {
			return fmt.Errorf("journal: migrate: lock: %w", err)
		}
	}
	if _, err := tx.ExecContext(ctx, d.migrationsTable); err != nil {
		return fmt.Errorf("journal: migrate: %w", err)
	}
	applied := map[int]bool{}
	rows, err := tx.QueryContext(ctx, `SELECT version FROM schema_migrations`)
	if err != nil {
		return fmt.Errorf("journal: migrate: %w", err)
	}
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			rows.Close()
			return fmt.Errorf("journal: migrate: %w", err)
		}
		applied[v] = true
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("journal: migrate: %w", err)
	}
	ms := migrations[d.kind]
	for v := range applied {
		if v > len(ms) {
			return fmt.Errorf("journal: the database has migration %d, this binary knows %d: run the newer binary", v, len(ms))
		}
	}
	for _, m := range ms {
		if applied[m.version] {
			continue
		}
		if _, err := tx.ExecContext(ctx, m.sql); err != nil {
			return fmt.Errorf("journal: migration %s: %w", m.name, err)
		}
		if _, err := tx.ExecContext(ctx, d.placeholders(`INSERT INTO schema_migrations (version, name) VALUES (?, ?)`), m.version, m.name); err != nil {
			return fmt.Errorf("journal: migration %s: %w", m.name, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("journal: migrate: %w", err)
	}
	return nil
}
