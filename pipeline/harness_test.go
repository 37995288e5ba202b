package pipeline

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/getreditus/reditus-bridge/config"
	"github.com/getreditus/reditus-bridge/internal/fakereditus"
	"github.com/getreditus/reditus-bridge/internal/webhooktest"
	"github.com/getreditus/reditus-bridge/metrics"
	"github.com/getreditus/reditus-bridge/providers"
)

const (
	stripeSecret    = webhooktest.StripeSecret
	stripeSecretOld = webhooktest.StripeSecretOld
	apiKey          = webhooktest.APIKey
)

// bridge is the pipeline under test, its fake Reditus and its log.
type bridge struct {
	pipeline *Pipeline
	metrics  *metrics.Metrics
	stripe   StripeFetcher // nil: no Stripe API look-ups
	reditus  *fakereditus.Server
	log      webhooktest.Log
}

func (b *bridge) logText() string { return b.log.String() }

func newBridge(t *testing.T, configure func(*config.Config)) *bridge {
	t.Helper()
	return newBridgeWithStripe(t, configure, nil)
}

// newBridgeWithStripe is newBridge with Stripe API look-ups through stripe.
func newBridgeWithStripe(t *testing.T, configure func(*config.Config), stripe StripeFetcher) *bridge {
	t.Helper()
	b := &bridge{reditus: fakereditus.New(t, fakereditus.WithKey(apiKey)), metrics: metrics.New(), stripe: stripe}
	b.start(t, configure, Deps{Stripe: stripe})
	return b
}

// journaledBridge is newBridge with store as its journal and red as its
// Reditus, so that several bridges (instances) can share both.
func journaledBridge(t *testing.T, red *fakereditus.Server, store webhooktest.Store, configure func(*config.Config)) *bridge {
	t.Helper()
	b := &bridge{reditus: red, metrics: metrics.New()}
	var deps Deps
	if store != nil {
		deps.Journal = store
	}
	b.start(t, configure, deps)
	return b
}

// start makes b's pipeline with deps, b's Reditus (through deps's client
// when it has one), log and metrics, and the live configuration as
// configure changes it.
func (b *bridge) start(t *testing.T, configure func(*config.Config), deps Deps) {
	t.Helper()
	cfg := webhooktest.Config(b.reditus.URL)
	if configure != nil {
		configure(&cfg)
	}
	if deps.Reditus == nil {
		deps.Reditus = webhooktest.Reditus(cfg, b.metrics)
	}
	deps.Log, deps.Metrics = b.log.Logger(), b.metrics
	p, err := New(cfg, deps)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	b.pipeline = p
}

// webhook is one delivery as a test sends it: signed for provider.
type webhook struct {
	provider string
	header   http.Header
	body     []byte
}

// stripeWebhook signs body the way Stripe does, with stripe-go's own signer.
func stripeWebhook(body []byte, secret string, at time.Time) webhook {
	return webhook{"stripe", webhooktest.StripeHeader(body, secret, at), body}
}

func providerWebhook(name string, header http.Header, body []byte) webhook {
	return webhook{name, header, body}
}

// signedAs signs body as provider name does, with its test secret, as
// delivery id.
func signedAs(t *testing.T, name, id string, body []byte) webhook {
	t.Helper()
	p, err := providers.Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	secrets := webhooktest.Secrets(p)
	header, err := p.Scheme.Sign(secrets[len(secrets)-1].Reveal(), id, body, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return providerWebhook(name, header, body)
}

// do runs w through b's pipeline as handlers do, and returns the answer.
func (b *bridge) do(t *testing.T, w webhook) webhooktest.Answer {
	t.Helper()
	return b.doWithin(context.Background(), w)
}

// doWithin is do under ctx, the request's context: the sender hangs up when
// it ends.
func (b *bridge) doWithin(ctx context.Context, w webhook) webhooktest.Answer {
	return answerOf(b.pipeline.Webhook(ctx, Delivery{
		Provider: w.provider,
		Header:   w.header,
		Read:     func() ([]byte, func(), error) { return w.body, func() {}, nil },
	}))
}

// answerOf is what handlers answer for res, as a test reads it.
func answerOf(res Result) webhooktest.Answer {
	return webhooktest.Answer{
		Status: res.Status(), Outcome: string(res.Outcome), Reason: res.Reason,
		EventID: res.EventID, ReferralID: res.ReferralID, Conversion: res.Conversion,
	}
}

// scrape reads b's metrics as /metrics serves them.
func scrape(t *testing.T, b *bridge) string {
	t.Helper()
	rec := httptest.NewRecorder()
	b.metrics.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	body, _ := io.ReadAll(rec.Body)
	return string(body)
}

// stripeFixture reads a Stripe event from providers' testdata.
func stripeFixture(t *testing.T, name string) []byte {
	t.Helper()
	return webhooktest.Fixture(t, "stripe/"+name)
}
