package handlers

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stripe/stripe-go/v76/webhook"

	"github.com/getreditus/reditus-bridge/config"
	"github.com/getreditus/reditus-bridge/internal/fakereditus"
	"github.com/getreditus/reditus-bridge/metrics"
	"github.com/getreditus/reditus-bridge/providers"
	"github.com/getreditus/reditus-bridge/reditus"
)

const (
	stripeSecret    = "whsec_test_secret_one"
	stripeSecretOld = "whsec_test_secret_old"
	apiKey          = "rk_live_handler_test_key"
)

// bridge is the handler under test, its fake Reditus and its log.
type bridge struct {
	handler *Bridge
	metrics *metrics.Metrics
	stripe  StripeFetcher // nil: no Stripe API look-ups
	reditus *fakereditus.Server
	logMu   sync.Mutex
	log     bytes.Buffer
}

func (b *bridge) Write(p []byte) (int, error) {
	b.logMu.Lock()
	defer b.logMu.Unlock()
	return b.log.Write(p)
}

func (b *bridge) logText() string {
	b.logMu.Lock()
	defer b.logMu.Unlock()
	return b.log.String()
}

// testSecrets are the secrets the tests sign with, by provider. Only
// Stripe's are fixed, for the Stripe tests' stripeRequest; every other
// provider gets a fresh secret from its scheme (secretsOf), so that a new
// provider needs no edit here.
var testSecrets = map[string]config.Secrets{"stripe": {stripeSecret}}

// secretsOf returns the secrets provider p's deliveries are signed with in
// the tests, the last being the current one.
func secretsOf(p providers.Provider) config.Secrets {
	if s, ok := testSecrets[p.Name]; ok {
		return s
	}
	s := config.Secrets{config.Secret(p.Scheme.NewSecret())}
	testSecrets[p.Name] = s
	return s
}

// liveConfig is a real-looking configuration: an API key, so no dry run and
// no development secret, and every registered provider on.
func liveConfig(reditusURL string) config.Config {
	c := config.Config{ReditusAPIKey: apiKey, ReditusAPIURL: reditusURL + "/api", Webhooks: map[string]config.Webhook{}}
	for _, p := range providers.All() {
		c.Webhooks[p.Name] = config.Webhook{Secrets: secretsOf(p)}
	}
	return c
}

// setWebhook changes one provider's settings in c.
func setWebhook(c *config.Config, name string, change func(*config.Webhook)) {
	w := c.Webhooks[name]
	change(&w)
	c.Webhooks[name] = w
}

func newBridge(t *testing.T, configure func(*config.Config)) *bridge {
	t.Helper()
	return newBridgeWithStripe(t, configure, nil)
}

// newBridgeWithStripe is newBridge with Stripe API look-ups through stripe.
func newBridgeWithStripe(t *testing.T, configure func(*config.Config), stripe StripeFetcher) *bridge {
	t.Helper()
	b := &bridge{reditus: fakereditus.New(t, fakereditus.WithKey(apiKey)), metrics: metrics.New(), stripe: stripe}
	cfg := liveConfig(b.reditus.URL)
	if configure != nil {
		configure(&cfg)
	}
	client := reditus.New(reditus.Options{
		OnAttempt:      b.metrics.ReditusAttempt,
		BaseURL:        cfg.ReditusAPIURL,
		APIKey:         cfg.ReditusAPIKey.Reveal(),
		AttemptTimeout: 200 * time.Millisecond,
		Budget:         time.Second,
		Backoff:        5 * time.Millisecond,
	})
	logger := slog.New(slog.NewJSONHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug}))
	h, err := New(cfg, Deps{Reditus: client, Stripe: b.stripe, Log: logger, Metrics: b.metrics})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	b.handler = h
	return b
}

// response is a decoded webhook answer.
type response struct {
	Status     int
	Outcome    string              `json:"outcome"`
	Reason     string              `json:"reason"`
	EventID    string              `json:"event_id"`
	ReferralID string              `json:"referral_id"`
	Conversion *reditus.Conversion `json:"conversion"`
}

func (b *bridge) do(t *testing.T, req *http.Request) response {
	t.Helper()
	rec := httptest.NewRecorder()
	b.handler.ServeHTTP(rec, req)
	var r response
	if err := json.Unmarshal(rec.Body.Bytes(), &r); err != nil {
		t.Fatalf("answer %d is not JSON: %q", rec.Code, rec.Body.String())
	}
	r.Status = rec.Code
	return r
}

// stripeRequest signs body the way Stripe does, with stripe-go's own signer.
func stripeRequest(body []byte, secret string, at time.Time) *http.Request {
	signed := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: body, Secret: secret, Timestamp: at})
	req := httptest.NewRequest(http.MethodPost, "/webhooks/stripe", bytes.NewReader(body))
	req.Header.Set("Stripe-Signature", signed.Header)
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	return req
}

// stripeFixture reads a Stripe event from mapping's testdata.
func stripeFixture(t *testing.T, name string) []byte {
	t.Helper()
	return fixture(t, "stripe/"+name)
}

// fixture reads a payload from providers' testdata, the payloads the mapping
// tables are written against.
func fixture(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "providers", "testdata", path))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func (r response) is(t *testing.T, status int, outcome string) {
	t.Helper()
	if r.Status != status || r.Outcome != outcome {
		t.Fatalf("answer %d %q (reason %q), want %d %q", r.Status, r.Outcome, r.Reason, status, outcome)
	}
}

func mustContain(t *testing.T, s string, parts ...string) {
	t.Helper()
	for _, p := range parts {
		if !strings.Contains(s, p) {
			t.Errorf("%q does not contain %q", s, p)
		}
	}
}
