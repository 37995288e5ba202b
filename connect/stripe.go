package connect

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync/atomic"

	stripe "github.com/stripe/stripe-go/v76"
	"github.com/stripe/stripe-go/v76/webhookendpoint"

	"github.com/getreditus/reditus-bridge/config"
)

// Stripe, through stripe-go's webhookendpoint package: list
// (GET /v1/webhook_endpoints), create (POST /v1/webhook_endpoints) with the
// endpoint's API version pinned to stripe-go's, and update
// (POST /v1/webhook_endpoints/{id}). Stripe shows a signing secret only in
// the answer that creates the endpoint (https://docs.stripe.com/api/webhook_endpoints).
func init() {
	register("stripe", Client{New: newStripe, Rotation: stripeRotation})
}

const stripeRotation = `To get a new one without losing deliveries: in the Stripe Dashboard, Developers,
Webhooks, open this endpoint and choose "Roll secret", keeping the old secret
valid for a while (Stripe signs every delivery with both meanwhile). Set both
on the bridge, comma-separated, which it accepts during a rotation:
    fly secrets set STRIPE_WEBHOOK_SECRET=whsec_OLD,whsec_NEW
and once the old one has expired, the new one alone.`

type stripeAPI struct {
	endpoints webhookendpoint.Client
	key       string
	status    *lastStatus
}

var _ API = (*stripeAPI)(nil)

func newStripe(cfg config.Config, hc *http.Client) (API, error) {
	if cfg.StripeAPIKey == "" {
		return nil, errors.New("set STRIPE_API_KEY: a Stripe secret key, or a restricted key with the Webhook Endpoints write permission")
	}
	status := &lastStatus{next: hc.Transport}
	withStatus := *hc
	withStatus.Transport = status
	backend := stripe.GetBackendWithConfig(stripe.APIBackend, &stripe.BackendConfig{
		URL:               stripe.String(cfg.StripeAPIURL),
		HTTPClient:        &withStatus,
		MaxNetworkRetries: stripe.Int64(0),
		LeveledLogger:     &stripe.LeveledLogger{Level: stripe.LevelNull},
	})
	key := cfg.StripeAPIKey.Reveal()
	return &stripeAPI{endpoints: webhookendpoint.Client{B: backend, Key: key}, key: key, status: status}, nil
}

// Find walks every endpoint (Stripe filters no list by URL), 100 a page.
func (s *stripeAPI) Find(ctx context.Context, url string) (Endpoint, bool, error) {
	params := &stripe.WebhookEndpointListParams{}
	params.Context = ctx
	params.Limit = stripe.Int64(100)
	it := s.endpoints.List(params)
	for it.Next() {
		if we := it.WebhookEndpoint(); we.URL == url {
			return stripeEndpoint(we), true, nil
		}
	}
	if err := it.Err(); err != nil {
		return Endpoint{}, false, s.fail("list the webhook endpoints", false, err)
	}
	return Endpoint{}, false, nil
}

func (s *stripeAPI) Create(ctx context.Context, spec Spec) (Endpoint, error) {
	params := &stripe.WebhookEndpointParams{
		URL:           stripe.String(spec.URL),
		EnabledEvents: stripe.StringSlice(spec.Events),
		// Only settable at creation; stripe-go recommends its own, which
		// the bridge's mapping reads (it accepts any version).
		APIVersion:  stripe.String(stripe.APIVersion),
		Description: stripe.String("reditus-bridge: conversions to Reditus"),
	}
	params.Context = ctx
	we, err := s.endpoints.New(params)
	if err != nil {
		return Endpoint{}, s.fail("create the webhook endpoint", true, err)
	}
	return stripeEndpoint(we), nil
}

func (s *stripeAPI) Update(ctx context.Context, id string, spec Spec) (Endpoint, error) {
	params := &stripe.WebhookEndpointParams{
		EnabledEvents: stripe.StringSlice(spec.Events),
		Disabled:      stripe.Bool(false),
	}
	params.Context = ctx
	we, err := s.endpoints.Update(id, params)
	if err != nil {
		return Endpoint{}, s.fail("update webhook endpoint "+id, true, err)
	}
	return stripeEndpoint(we), nil
}

func stripeEndpoint(we *stripe.WebhookEndpoint) Endpoint {
	ep := Endpoint{ID: we.ID, URL: we.URL, Events: we.EnabledEvents, Enabled: we.Status == "enabled", Secret: we.Secret}
	if we.APIVersion != "" && we.APIVersion != stripe.APIVersion {
		ep.Note = fmt.Sprintf("the endpoint sends events in Stripe API version %s, not %s (stripe-go's); the bridge reads both, and Stripe sets the version only when an endpoint is created", we.APIVersion, stripe.APIVersion)
	}
	return ep
}

// fail turns a stripe-go error into an *Error: Stripe's own message when it
// sent one, else what the transport saw.
func (s *stripeAPI) fail(op string, write bool, err error) error {
	e := &Error{Provider: "Stripe", Op: op, KeyVar: "STRIPE_API_KEY", BaseVar: "STRIPE_API_URL", Write: write}
	var se *stripe.Error
	switch {
	case errors.As(err, &se):
		e.Status, e.Message = se.HTTPStatusCode, scrub(se.Msg, []string{s.key})
	case s.status.Load() != 0:
		// An answer, but not Stripe's JSON (stripe-go could not decode it).
		e.Status = int(s.status.Load())
		e.Garbage = e.Status < 300
	default:
		e.Err = errors.New(scrub(err.Error(), []string{s.key}))
	}
	return e
}

// lastStatus is a transport that remembers the status of the last answer,
// which stripe-go's errors do not carry when the answer was not its JSON.
type lastStatus struct {
	next http.RoundTripper
	atomic.Int32
}

// RoundTrip implements http.RoundTripper.
func (l *lastStatus) RoundTrip(req *http.Request) (*http.Response, error) {
	l.Store(0)
	next := l.next
	if next == nil {
		next = http.DefaultTransport
	}
	resp, err := next.RoundTrip(req)
	if err == nil {
		l.Store(int32(resp.StatusCode))
	}
	return resp, err
}
