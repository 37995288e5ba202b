// Package handlers is the bridge's HTTP surface: every route, and the one
// webhook pipeline that all providers share (DESIGN.md section 6).
package handlers

import (
	"context"
	_ "embed"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/getreditus/reditus-bridge/config"
	"github.com/getreditus/reditus-bridge/mapping"
	"github.com/getreditus/reditus-bridge/metrics"
	"github.com/getreditus/reditus-bridge/reditus"
	"github.com/getreditus/reditus-bridge/verify"
)

// Tracker sends a conversion to Reditus. *reditus.Client is one.
type Tracker interface {
	Track(ctx context.Context, c reditus.Conversion) (reditus.Result, error)
}

// StripeFetcher fetches the Stripe objects an event names when it lacks
// referral data. *stripeapi.Client is one.
type StripeFetcher interface {
	Fetch(ctx context.Context, lookups []mapping.StripeLookup) ([]mapping.Related, error)
}

// Deps are what New wires together. A nil field turns its part off.
type Deps struct {
	Tracker Tracker       // Reditus; never called in dry run
	Stripe  StripeFetcher // Stripe API look-ups; nil without STRIPE_API_KEY
	Log     *slog.Logger
	Metrics *metrics.Metrics
}

// provider is one webhook sender: everything that differs between providers.
// The pipeline in webhook.go is everything that does not.
type provider struct {
	name   string // also its route, /webhooks/{name}
	verify func(secrets []string) (verify.Func, error)
	parse  func(body []byte) (mapping.Event, error)
	// deliveryID reads the sender's delivery id from the headers, for the
	// providers that put it there; the others' events carry their own id.
	deliveryID func(http.Header) string
	// enrich looks further for referral data an event lacks; nil: nowhere.
	enrich func(context.Context, mapping.Event) (mapping.Event, error)
}

// Memory for re-sent deliveries: a sender re-sends within seconds or minutes,
// and 4096 answers are a few hundred KiB.
const (
	rememberDeliveries = 4096
	rememberFor        = 10 * time.Minute
)

// lookupBudget bounds the Stripe look-ups for one event. With Reditus's 7 s
// budget it keeps the answer under 10 s.
const lookupBudget = 2 * time.Second

// browserHelper is GET /reditus-bridge.js (README.md, "The browser helper").
//
//go:embed static/reditus-bridge.js
var browserHelper []byte

// Bridge is the bridge's HTTP handler, and its webhook pipeline for events
// that arrive another way (Process).
type Bridge struct {
	http.Handler
	server    *server
	providers map[string]provider
}

// New returns the bridge with all of its routes. It fails when a provider's
// secret cannot verify anything, naming the variable.
func New(cfg config.Config, deps Deps) (*Bridge, error) {
	if deps.Log == nil {
		deps.Log = slog.New(slog.DiscardHandler)
	}
	s := &server{
		dryRun:     cfg.DryRun(),
		tracker:    deps.Tracker,
		log:        deps.Log,
		metrics:    deps.Metrics,
		deliveries: newDeliveries(rememberDeliveries, rememberFor),
		bodies:     newBodies(unverifiedBudget, largeShare, deps.Metrics),
	}

	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.HandleMethodNotAllowed = true
	r.Use(gin.CustomRecoveryWithWriter(io.Discard, s.recovered))
	r.NoRoute(func(c *gin.Context) { c.JSON(http.StatusNotFound, gin.H{"error": "no such route"}) })
	r.NoMethod(func(c *gin.Context) { c.JSON(http.StatusMethodNotAllowed, gin.H{"error": "method not allowed"}) })

	r.GET("/healthz", func(c *gin.Context) { c.JSON(http.StatusOK, gin.H{"status": "ok"}) })
	if deps.Metrics != nil && cfg.MetricsPort == 0 {
		// With METRICS_PORT, main serves them on that port only: the public
		// port does not show who sends what, and how often.
		r.GET("/metrics", gin.WrapH(deps.Metrics.Handler()))
	}
	r.GET("/reditus-bridge.js", func(c *gin.Context) {
		// An hour of caching: the script changes only with a new bridge.
		c.Header("Cache-Control", "public, max-age=3600")
		c.Data(http.StatusOK, "text/javascript; charset=utf-8", browserHelper)
	})

	stripe := mapping.StripeOptions{AcceptTestEvents: cfg.StripeAcceptTestEvents}
	b := &Bridge{Handler: r, server: s, providers: map[string]provider{}}
	for _, p := range []provider{
		{name: "stripe", verify: verify.Stripe, parse: func(body []byte) (mapping.Event, error) { return mapping.FromStripe(body, stripe) }, enrich: stripeLookups(deps.Stripe)},
		{name: "clerk", verify: verify.Svix, parse: mapping.FromClerk, deliveryID: verify.SvixID},
		{name: "stytch", verify: verify.Svix, parse: mapping.FromStytch, deliveryID: verify.SvixID},
		{name: "workos", verify: verify.WorkOS, parse: mapping.FromWorkOS},
		{name: "supabase", verify: verify.Bearer, parse: mapping.FromSupabase},
		{name: "generic", verify: verify.Svix, parse: mapping.FromGeneric, deliveryID: verify.SvixID},
	} {
		h, err := s.webhook(p, cfg.WebhookSecrets(p.name))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", config.SecretVar(p.name), err)
		}
		r.POST("/webhooks/"+p.name, h)
		b.providers[p.name] = p
	}
	return b, nil
}

// StopReading interrupts every webhook body still being read, unverified,
// and answers later ones 503 retry. Call it when shutdown begins: a client
// trickling a body must not hold the process until its read times out,
// while webhooks already verified finish with their real answer.
func (b *Bridge) StopReading() { b.server.bodies.stop() }

// stripeLookups fetches the related objects a Stripe event names when it
// lacks referral data; without a fetcher (no STRIPE_API_KEY) it is off.
func stripeLookups(fetcher StripeFetcher) func(context.Context, mapping.Event) (mapping.Event, error) {
	if fetcher == nil {
		return nil
	}
	return func(ctx context.Context, ev mapping.Event) (mapping.Event, error) {
		if len(ev.Lookups) == 0 {
			return ev, nil
		}
		ctx, cancel := context.WithTimeout(ctx, lookupBudget)
		defer cancel()
		related, err := fetcher.Fetch(ctx, ev.Lookups)
		if err != nil {
			return ev, fmt.Errorf("look up related stripe objects: %w", err)
		}
		return ev.WithRelated(related...), nil
	}
}

// Result is what the pipeline made of one event.
type Result struct {
	Status     int
	Outcome    string
	Reason     string
	EventID    string
	EventType  string
	ReferralID string
	// Conversion is what was sent to Reditus or, in dry run, what would have
	// been; zero when nothing was.
	Conversion reditus.Conversion
}

// Acknowledged reports whether the event is done: in Reditus, or never to be.
func (r Result) Acknowledged() bool { return r.Status >= 200 && r.Status < 300 }

// Process runs an event that the bridge fetched from the provider's own API
// (so it carries no signature to check) through the webhook pipeline: map,
// look up, forward, answer and log, exactly as if it had arrived signed. The
// backfill and recover commands replay history through it.
func (b *Bridge) Process(ctx context.Context, providerName string, body []byte) Result {
	p, ok := b.providers[providerName]
	if !ok {
		return Result{Status: http.StatusNotFound, Outcome: "disabled", Reason: "no provider " + providerName}
	}
	start := time.Now()
	ans, shared := b.server.deliver(ctx, p, body, "")
	b.server.logLine(ctx, p.name, ans, start, shared)
	return Result{Status: ans.status(), Outcome: ans.Outcome, Reason: ans.Reason, EventID: ans.EventID, EventType: ans.EventType, ReferralID: ans.ReferralID, Conversion: ans.sent}
}

// recovered answers a panic, which no input should cause, with a retry, so
// that the sender keeps the event.
func (s *server) recovered(c *gin.Context, err any) {
	s.log.Error("panic serving request", "path", c.Request.URL.Path, "panic", err)
	c.AbortWithStatusJSON(http.StatusInternalServerError, newAnswer(codeMisconfigured, "internal error"))
}
