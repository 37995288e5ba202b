package handlers

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/getreditus/reditus-bridge/admin"
	"github.com/getreditus/reditus-bridge/config"
	"github.com/getreditus/reditus-bridge/internal/fakereditus"
	"github.com/getreditus/reditus-bridge/internal/webhooktest"
	"github.com/getreditus/reditus-bridge/metrics"
	"github.com/getreditus/reditus-bridge/pipeline"
)

const (
	stripeSecret = webhooktest.StripeSecret
	apiKey       = webhooktest.APIKey
)

// bridge is the handler under test, its fake Reditus and its log.
type bridge struct {
	handler *Server
	metrics *metrics.Metrics
	reditus *fakereditus.Server
	log     webhooktest.Log
}

func (b *bridge) logText() string { return b.log.String() }

// newBridge is the bridge's handler under the live configuration as
// configure changes it, with a fake Reditus of its own.
func newBridge(t *testing.T, configure func(*config.Config)) *bridge {
	t.Helper()
	return journaledBridge(t, fakereditus.New(t, fakereditus.WithKey(apiKey)), nil, configure)
}

// journaledBridge is newBridge with store as its journal (none when nil)
// and red as its Reditus.
func journaledBridge(t *testing.T, red *fakereditus.Server, store webhooktest.Store, configure func(*config.Config)) *bridge {
	t.Helper()
	b := &bridge{reditus: red, metrics: metrics.New()}
	cfg := webhooktest.Config(red.URL)
	if configure != nil {
		configure(&cfg)
	}
	logger := b.log.Logger()
	deps := pipeline.Deps{Reditus: webhooktest.Reditus(cfg, b.metrics), Log: logger, Metrics: b.metrics}
	if store != nil {
		deps.Journal = store
	}
	p, err := pipeline.New(cfg, deps)
	if err != nil {
		t.Fatalf("pipeline.New: %v", err)
	}
	hdeps := Deps{Pipeline: p, Log: logger, Metrics: b.metrics}
	if events, ok := store.(admin.Journal); ok { // the journal itself, not a fake
		hdeps.Events = events
	}
	b.handler = New(cfg, hdeps)
	return b
}

func (b *bridge) do(t *testing.T, req *http.Request) webhooktest.Answer {
	t.Helper()
	rec := httptest.NewRecorder()
	b.handler.ServeHTTP(rec, req)
	var r webhooktest.Answer
	if err := json.Unmarshal(rec.Body.Bytes(), &r); err != nil {
		t.Fatalf("answer %d is not JSON: %q", rec.Code, rec.Body.String())
	}
	r.Status = rec.Code
	return r
}

// stripeRequest signs body the way Stripe does, with stripe-go's own signer.
func stripeRequest(body []byte, secret string, at time.Time) *http.Request {
	req := httptest.NewRequest(http.MethodPost, "/webhooks/stripe", bytes.NewReader(body))
	req.Header = webhooktest.StripeHeader(body, secret, at)
	return req
}

// stripeFixture reads a Stripe event from providers' testdata.
func stripeFixture(t *testing.T, name string) []byte {
	t.Helper()
	return webhooktest.Fixture(t, "stripe/"+name)
}
