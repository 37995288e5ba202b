package journal

import (
	"context"
	"database/sql"
	"errors"
	"sync"
)

// handle runs the journal's queries on one *sql.DB, written with ? and put
// into the store's placeholders. On SQLite it prepares each query once and
// keeps it: parsing is a large share of the cost of a small statement there.
// On Postgres, pgx caches prepared statements by itself, and
// preparing through database/sql would defeat DATABASE_URL's
// default_query_exec_mode, which a transaction pooler (PgBouncer) needs.
type handle struct {
	db *sql.DB
	d  dialect

	mu    sync.Mutex
	stmts map[string]*sql.Stmt
}

func newHandle(db *sql.DB, d dialect) *handle {
	return &handle{db: db, d: d, stmts: map[string]*sql.Stmt{}}
}

// stmt returns query prepared, or nil when it is not to be or cannot be; the
// caller then runs the query as text, which reports any error.
func (h *handle) stmt(ctx context.Context, query string) *sql.Stmt {
	if !h.d.prepare {
		return nil
	}
	st, _ := h.prepare(ctx, query)
	return st
}

// prepareAll prepares each of queries now and keeps it.
func (h *handle) prepareAll(ctx context.Context, queries []string) error {
	for _, q := range queries {
		if _, err := h.prepare(ctx, q); err != nil {
			return err
		}
	}
	return nil
}

// prepare returns query prepared, preparing and keeping it the first time.
// It prepares without holding mu: preparing waits for a connection, and on
// SQLite the batcher's transaction holds the one write connection while it
// looks its statements up under mu (prepared).
func (h *handle) prepare(ctx context.Context, query string) (*sql.Stmt, error) {
	if st := h.prepared(query); st != nil {
		return st, nil
	}
	st, err := h.db.PrepareContext(ctx, h.d.placeholders(query))
	if err != nil {
		return nil, err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if first, ok := h.stmts[query]; ok { // prepared meanwhile by another caller
		st.Close()
		return first, nil
	}
	h.stmts[query] = st
	return st, nil
}

// prepared returns query prepared if it already is, and never prepares it:
// inside a transaction, preparing on the database would wait for the one
// connection that the transaction holds. It never waits for a prepare in
// progress (prepare).
func (h *handle) prepared(query string) *sql.Stmt {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.stmts[query]
}

// querier runs the journal's queries, written with ?: a handle, where each
// statement is a transaction of its own, or a txQuerier.
type querier interface {
	QueryRow(ctx context.Context, query string, args ...any) *sql.Row
	Exec(ctx context.Context, query string, args ...any) (sql.Result, error)
}

var (
	_ querier = (*handle)(nil)
	_ querier = txQuerier{}
)

// txQuerier runs queries inside tx, with h's prepared statements when they
// are (openSQLite prepares the batched ones).
type txQuerier struct {
	h  *handle
	tx *sql.Tx
}

func (q txQuerier) QueryRow(ctx context.Context, query string, args ...any) *sql.Row {
	if st := q.h.prepared(query); st != nil {
		return q.tx.StmtContext(ctx, st).QueryRowContext(ctx, args...)
	}
	return q.tx.QueryRowContext(ctx, q.h.d.placeholders(query), args...)
}

func (q txQuerier) Exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if st := q.h.prepared(query); st != nil {
		return q.tx.StmtContext(ctx, st).ExecContext(ctx, args...)
	}
	return q.tx.ExecContext(ctx, q.h.d.placeholders(query), args...)
}

func (h *handle) QueryRow(ctx context.Context, query string, args ...any) *sql.Row {
	if st := h.stmt(ctx, query); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return h.db.QueryRowContext(ctx, h.d.placeholders(query), args...)
}

func (h *handle) Query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if st := h.stmt(ctx, query); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return h.db.QueryContext(ctx, h.d.placeholders(query), args...)
}

func (h *handle) Exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if st := h.stmt(ctx, query); st != nil {
		return st.ExecContext(ctx, args...)
	}
	return h.db.ExecContext(ctx, h.d.placeholders(query), args...)
}

// Close closes the statements and the database.
func (h *handle) Close() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	var errs []error
	for _, st := range h.stmts {
		errs = append(errs, st.Close())
	}
	clear(h.stmts)
	return errors.Join(append(errs, h.db.Close())...)
}
