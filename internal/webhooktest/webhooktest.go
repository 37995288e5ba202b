// Package webhooktest is what the tests of the packages that run webhooks
// (pipeline, handlers) share: a live configuration with every registered
// provider on, each signing with a secret of its own scheme; Stripe's
// signature, made by stripe-go; the providers' testdata; the answer a test
// reads; and the journals the tests run against.
package webhooktest

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stripe/stripe-go/v76/webhook"

	"github.com/getreditus/reditus-bridge/config"
	"github.com/getreditus/reditus-bridge/internal/testenv"
	"github.com/getreditus/reditus-bridge/journal"
	"github.com/getreditus/reditus-bridge/metrics"
	"github.com/getreditus/reditus-bridge/outcome"
	"github.com/getreditus/reditus-bridge/providers"
	"github.com/getreditus/reditus-bridge/reditus"
)

// The Stripe secrets and the Reditus key of Config.
const (
	StripeSecret    = "whsec_test_secret_one"
	StripeSecretOld = "whsec_test_secret_old"
	APIKey          = "rk_live_handler_test_key"
)

var (
	secretsMu sync.Mutex
	// secrets are the secrets the tests sign with, by provider. Only
	// Stripe's are fixed, for StripeHeader; every other provider gets a
	// fresh secret from its scheme, so that a new provider needs no edit
	// here.
	secrets = map[string]config.Secrets{"stripe": {StripeSecret}}
)

// Secrets returns the secrets provider p's deliveries are signed with in
// the tests, the last being the current one.
func Secrets(p providers.Provider) config.Secrets {
	secretsMu.Lock()
	defer secretsMu.Unlock()
	if s, ok := secrets[p.Name]; ok {
		return s
	}
	s := config.Secrets{config.Secret(p.Scheme.NewSecret())}
	secrets[p.Name] = s
	return s
}

// Config is a real-looking configuration: an API key, so no dry run and no
// development secret, Reditus at reditusURL, and every registered provider
// on. A provider that its API key turns on (Mollie) gets a key, and an API
// base where nothing answers: these tests' deliveries carry all they are
// judged by, and one that made the bridge call the API would fail.
func Config(reditusURL string) config.Config {
	c := config.Config{ReditusAPIKey: APIKey, ReditusAPIURL: reditusURL + "/api", Webhooks: map[string]config.Webhook{}}
	for _, p := range providers.All() {
		w := config.Webhook{Secrets: Secrets(p)}
		if p.API != nil && p.API.TurnsOn {
			w.APIKey, w.APIURL = "test_webhooktest_api_key", "http://127.0.0.1:1"
		}
		c.Webhooks[p.Name] = w
	}
	return c
}

// SetWebhook changes one provider's settings in c.
func SetWebhook(c *config.Config, name string, change func(*config.Webhook)) {
	w := c.Webhooks[name]
	change(&w)
	c.Webhooks[name] = w
}

// StripeHeader signs body the way Stripe does, with stripe-go's own signer.
func StripeHeader(body []byte, secret string, at time.Time) http.Header {
	signed := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: body, Secret: secret, Timestamp: at})
	h := http.Header{}
	h.Set("Stripe-Signature", signed.Header)
	h.Set("Content-Type", "application/json; charset=utf-8")
	return h
}

// Reditus is a client of the Reditus at cfg's URL with cfg's key, with
// timings short enough for tests, whose attempts m counts.
func Reditus(cfg config.Config, m *metrics.Metrics) *reditus.Client {
	return reditus.New(reditus.Options{
		OnAttempt:      m.ReditusAttempt,
		BaseURL:        cfg.ReditusAPIURL,
		APIKey:         cfg.ReditusAPIKey.Reveal(),
		AttemptTimeout: 200 * time.Millisecond,
		Budget:         time.Second,
		Backoff:        5 * time.Millisecond,
	})
}

// Log is a log a test reads while the code under test writes it.
type Log struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *Log) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

// String is all that was written.
func (l *Log) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// Logger logs as JSON lines, at every level, to l.
func (l *Log) Logger() *slog.Logger {
	return slog.New(slog.NewJSONHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// Fixture reads a payload from providers' testdata, the payloads the
// mapping tables are written against, from a package one level down.
func Fixture(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "providers", "testdata", path))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Answer is what a webhook was answered.
type Answer struct {
	Status     int
	Outcome    string              `json:"outcome"`
	Reason     string              `json:"reason"`
	EventID    string              `json:"event_id"`
	ReferralID string              `json:"referral_id"`
	Conversion *reditus.Conversion `json:"conversion"`
}

// Is fails t unless the answer is status and outcome.
func (a Answer) Is(t testing.TB, status int, outcome string) {
	t.Helper()
	if a.Status != status || a.Outcome != outcome {
		t.Fatalf("answer %d %q (reason %q), want %d %q", a.Status, a.Outcome, a.Reason, status, outcome)
	}
}

// MustContain fails t for each of parts that s lacks.
func MustContain(t testing.TB, s string, parts ...string) {
	t.Helper()
	for _, p := range parts {
		if !strings.Contains(s, p) {
			t.Errorf("%q does not contain %q", s, p)
		}
	}
}

// Store is the journal as the tests use it.
type Store interface {
	Begin(ctx context.Context, r journal.Record, lease time.Duration) (journal.Record, bool, error)
	Finish(ctx context.Context, id int64, f journal.Finish) error
	Retake(ctx context.Context, id int64, lease time.Duration, was outcome.Word) (journal.Record, error)
	Due(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]journal.Record, error)
	Get(ctx context.Context, id int64) (journal.Record, error)
	List(ctx context.Context, f journal.Filter) ([]journal.Record, error)
	Ahead(ctx context.Context, r journal.Record) (journal.Record, bool, error)
	Close() error
}

// Backend is a store the journal tests run against.
type Backend struct {
	Name string
	// Place returns where a fresh, empty journal lives. Opening it twice
	// stands for two instances of the bridge sharing it.
	Place func(t *testing.T) journal.Options
}

// Backends are SQLite in a temp dir and Postgres in a schema of the test's
// own; Postgres is skipped without JOURNAL_TEST_POSTGRES_URL, and fails in
// CI (testenv).
var Backends = []Backend{
	{"sqlite", func(t *testing.T) journal.Options { return journal.Options{DataDir: t.TempDir()} }},
	{"postgres", func(t *testing.T) journal.Options { return journal.Options{DatabaseURL: testenv.Postgres(t)} }},
}

// EachBackend runs test once per store.
func EachBackend(t *testing.T, test func(t *testing.T, be Backend)) {
	for _, be := range Backends {
		t.Run(be.Name, func(t *testing.T) { test(t, be) })
	}
}

// OpenStore opens the journal at o, closed when t ends.
func OpenStore(t testing.TB, o journal.Options) Store {
	t.Helper()
	s, err := journal.Open(context.Background(), o)
	if err != nil {
		t.Fatalf("journal.Open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// RecordOf returns the journal's record of Stripe delivery id, body
// included.
func RecordOf(t testing.TB, s Store, id string) journal.Record {
	t.Helper()
	recs, err := s.List(context.Background(), journal.Filter{DeliveryID: id, Provider: "stripe"})
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	if len(recs) != 1 {
		t.Fatalf("the journal holds %d records of %s, want 1", len(recs), id)
	}
	rec, err := s.Get(context.Background(), recs[0].ID)
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	return rec
}
