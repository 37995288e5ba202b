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

	"github.com/getreditus/reditus-bridge/admin"
	"github.com/getreditus/reditus-bridge/config"
	"github.com/getreditus/reditus-bridge/journal"
	"github.com/getreditus/reditus-bridge/mapping"
	"github.com/getreditus/reditus-bridge/metrics"
	"github.com/getreditus/reditus-bridge/outcome"
	"github.com/getreditus/reditus-bridge/providers"
	"github.com/getreditus/reditus-bridge/reditus"
	"github.com/getreditus/reditus-bridge/verify"
)

// Reditus is where the pipeline sends conversions, payments, refunds and
// churn. *reditus.Client is one.
type Reditus interface {
	Track(ctx context.Context, c reditus.Conversion) (reditus.Result, error)
	Pay(ctx context.Context, p reditus.Payment) error
	Refund(ctx context.Context, r reditus.Refund) error
	Churn(ctx context.Context, c reditus.Churn) error
}

// StripeFetcher fetches the Stripe objects an event names when it lacks
// referral data. *stripeapi.Client is one.
type StripeFetcher interface {
	Fetch(ctx context.Context, lookups []mapping.StripeLookup) ([]mapping.Related, error)
}

// Journal is the journal as the pipeline and /admin use it. *journal.DB is
// one.
type Journal interface {
	Begin(ctx context.Context, r journal.Record, lease time.Duration) (journal.Record, bool, error)
	Finish(ctx context.Context, id int64, f journal.Finish) error
	Retake(ctx context.Context, id int64, lease time.Duration) (journal.Record, error)
	admin.Journal // List and Get
}

// Deps are what New wires together. A nil field turns its part off.
type Deps struct {
	Reditus Reditus       // never called in dry run
	Stripe  StripeFetcher // Stripe API look-ups; nil without STRIPE_API_KEY
	Journal Journal       // the journal; nil: in-memory dedupe only, no /admin data
	// NoQueue records what Reditus could not take as failed, not queued:
	// for backfill and recover, which run no worker (on a laptop, no worker
	// may ever read their journal). Their next run takes it again.
	NoQueue bool
	Log     *slog.Logger
	Metrics *metrics.Metrics
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

// Bridge is the bridge: its HTTP handler, and the webhook pipeline behind it,
// which events that arrive another way (backfill, recover) run through too.
type Bridge struct {
	http.Handler

	dryRun     bool
	reditus    Reditus
	stripe     StripeFetcher
	journal    Journal
	noQueue    bool
	log        *slog.Logger
	metrics    *metrics.Metrics
	deliveries *deliveries
	bodies     *bodies
	webhooks   map[string]route // by provider name
}

// route is one provider as the pipeline runs it.
type route struct {
	providers.Provider
	check   verify.Func // nil: the provider is off (no secret)
	options mapping.Options
}

// New returns the bridge with all of its routes, one webhook route for each
// registered provider. It fails when a provider's secret cannot verify
// anything, naming the variable.
func New(cfg config.Config, deps Deps) (*Bridge, error) {
	if deps.Log == nil {
		deps.Log = slog.New(slog.DiscardHandler)
	}
	b := &Bridge{
		dryRun:     cfg.DryRun(),
		reditus:    deps.Reditus,
		stripe:     deps.Stripe,
		journal:    deps.Journal,
		noQueue:    deps.NoQueue,
		log:        deps.Log,
		metrics:    deps.Metrics,
		deliveries: newDeliveries(rememberDeliveries, rememberFor),
		bodies:     newBodies(unverifiedBudget, largeShare, deps.Metrics),
		webhooks:   map[string]route{},
	}
	for _, p := range providers.All() {
		w, err := b.route(cfg, p)
		if err != nil {
			return nil, err
		}
		b.webhooks[p.Name] = w
	}

	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.HandleMethodNotAllowed = true
	r.Use(gin.CustomRecoveryWithWriter(io.Discard, b.recovered))
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
	for _, p := range providers.All() {
		r.POST(p.Route(), b.serveWebhook(b.webhooks[p.Name]))
	}
	b.mountAdmin(r, cfg)
	b.Handler = r
	return b, nil
}

// mountAdmin serves /admin (README.md, "The journal and /admin"): the
// journal in a browser, its JSON API and the retry button. Without
// ADMIN_TOKEN every admin route answers 404, like no route at all.
func (b *Bridge) mountAdmin(r *gin.Engine, cfg config.Config) {
	if cfg.AdminToken == "" {
		// No route at all: any method on /admin then answers exactly like an
		// unknown route, so a scan cannot tell that it exists.
		return
	}
	o := admin.Options{Token: cfg.AdminToken.Reveal(), Retry: b.Retry, Providers: providers.Names(), Log: b.log}
	if b.journal != nil {
		o.Events = b.journal
	}
	h := gin.WrapH(admin.New(o))
	r.Any("/admin", h)
	r.Any("/admin/*path", h)
}

// route prepares provider p under cfg: its verifier, or off without a
// secret.
func (b *Bridge) route(cfg config.Config, p providers.Provider) (route, error) {
	settings, err := cfg.Webhook(p.Name)
	if err != nil {
		return route{}, err
	}
	w := route{Provider: p, options: mapping.Options{AcceptTestEvents: settings.AcceptTestEvents}}
	if secrets := cfg.WebhookSecrets(p); len(secrets) > 0 {
		if w.check, err = p.Scheme.Verifier(secrets.Reveal()); err != nil {
			return route{}, fmt.Errorf("%s: %w", p.SecretVar(), err)
		}
	}
	return w, nil
}

// StopReading interrupts every webhook body still being read, unverified,
// and answers later ones 503 retry. Call it when shutdown begins: a client
// trickling a body must not hold the process until its read times out,
// while webhooks already verified finish with their real answer.
func (b *Bridge) StopReading() { b.bodies.stop() }

// Process runs an event that the bridge fetched from the provider's own API
// (so it carries no signature to check) through the webhook pipeline: map,
// look up, forward and log, exactly as if it had arrived signed. The backfill
// and recover commands replay history through it.
func (b *Bridge) Process(ctx context.Context, provider string, body []byte) Result {
	w, ok := b.webhooks[provider]
	if !ok {
		return result(outcome.Disabled, fmt.Sprintf("no provider %q", provider))
	}
	start := time.Now()
	res := b.deliver(ctx, w, body, "")
	b.logLine(ctx, w.Name, res, start)
	return res
}

// recovered answers a panic, which no input should cause, with a retry, so
// that the sender keeps the event.
func (b *Bridge) recovered(c *gin.Context, err any) {
	b.log.Error("panic serving request", "path", c.Request.URL.Path, "panic", err)
	c.AbortWithStatusJSON(http.StatusInternalServerError, result(outcome.Misconfigured, "internal error"))
}
