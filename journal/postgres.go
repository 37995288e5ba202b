package journal

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
)

// migrationLockKey is the advisory lock that serializes migrators: any fixed
// number that nothing else on the database uses ("rdtsjrnl").
const migrationLockKey = 0x7264_7473_6a72_6e6c

var postgresDialect = dialect{
	kind:           "postgres",
	placeholders:   dollarPlaceholders,
	timeArg:        func(t time.Time) any { return t },
	skipLocked:     ` FOR UPDATE SKIP LOCKED`,
	lockMigrations: `SELECT pg_advisory_xact_lock(` + strconv.FormatInt(migrationLockKey, 10) + `)`,
	migrationsTable: `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    integer PRIMARY KEY,
		name       text NOT NULL,
		applied_at timestamptz NOT NULL DEFAULT now()
	)`,
	day: `to_char(received_at AT TIME ZONE 'UTC', 'YYYY-MM-DD')`,
	// bytea has no lower(): its escape text does, where every byte but NUL,
	// the backslash and those of non-ASCII characters stands for itself.
	bodyHolds: `strpos(lower(encode(body, 'escape')), ?) > 0`,
	bodyText:  func(needle string) any { return byteaEscape(needle) },
}

// byteaEscape is s as encode(bytes, 'escape') writes its bytes.
func byteaEscape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\':
			b.WriteString(`\\`)
		case c == 0 || c >= 0x80:
			fmt.Fprintf(&b, `\%03o`, c)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// postgresConnectTimeout is the default for DATABASE_URL's connect_timeout.
const postgresConnectTimeout = 5 * time.Second

// postgresConns bounds each instance's connections: a webhook holds one for a
// few milliseconds, and managed Postgres plans allow few.
const postgresConns = 10

// openPostgres goes through database/sql (pgx's stdlib adapter) rather than
// pgxpool so that both stores share every query and the code around it.
func openPostgres(ctx context.Context, o Options) (*DB, error) {
	cfg, err := pgx.ParseConfig(o.DatabaseURL)
	if err != nil {
		// pgx's message repeats the URL with its password masked.
		return nil, fmt.Errorf("journal: DATABASE_URL: %w", err)
	}
	where := postgresWhere(cfg)
	if cfg.ConnectTimeout == 0 {
		// An unreachable database fails a connection in seconds, not after
		// the system's TCP timeout; connect_timeout in the URL overrides.
		cfg.ConnectTimeout = postgresConnectTimeout
	}
	if !strings.Contains(o.DatabaseURL, "default_query_exec_mode") {
		// Fly's managed Postgres (fly mpg attach) and many others sit
		// behind PgBouncer in transaction mode, where a prepared statement
		// made on one server connection is missing on the next: the
		// journal would fail to open. The simple protocol works everywhere;
		// pgx still quotes every argument. The URL may choose another mode.
		cfg.DefaultQueryExecMode = pgx.QueryExecModeSimpleProtocol
	}
	db := stdlib.OpenDB(*cfg)
	db.SetMaxOpenConns(postgresConns)
	db.SetMaxIdleConns(postgresConns)
	db.SetConnMaxIdleTime(5 * time.Minute)
	if err := migrate(ctx, db, postgresDialect); err != nil {
		return nil, errors.Join(fmt.Errorf("journal: open %s: %w", where, err), db.Close())
	}
	h := newHandle(db, postgresDialect)
	return &DB{d: postgresDialect, write: h, read: h, now: o.Now, where: where}, nil
}

// postgresWhere names the database without its password, for Status and
// errors, whichever form DATABASE_URL took (a URL or key=value pairs).
func postgresWhere(cfg *pgx.ConnConfig) string {
	u := url.URL{Scheme: "postgres", Path: "/" + cfg.Database}
	if strings.HasPrefix(cfg.Host, "/") { // a unix socket's directory
		u.RawQuery = url.Values{"host": {cfg.Host}}.Encode()
	} else {
		u.Host = net.JoinHostPort(cfg.Host, strconv.Itoa(int(cfg.Port)))
	}
	if cfg.User != "" {
		u.User = url.User(cfg.User)
	}
	return u.String()
}
