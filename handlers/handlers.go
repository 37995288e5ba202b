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

// provider is one webhook sender: everything that differs between providers.
// The pipeline in webhook.go is everything that does not.
type provider struct {
	name   string // also its route, /webhooks/{name}
	verify func(secrets []string) (verify.Func, error)
	parse  func(body []byte) (mapping.Event, error)
	// deliveryID reads the sender's delivery id from the headers, for the
	// providers that put it there; the others' events carry their own id.
	deliveryID func(http.Header) string
}

// Memory for re-sent deliveries: a sender re-sends within seconds or minutes,
// and 4096 answers are a few hundred KiB.
const (
	rememberDeliveries = 4096
	rememberFor        = 10 * time.Minute
)

// browserHelper is GET /reditus-bridge.js (README.md, "The browser helper").
//
//go:embed static/reditus-bridge.js
var browserHelper []byte

// New returns the bridge's routes, all of them. In dry run (cfg.DryRun)
// tracker is never called; it may be nil. m may be nil, which records
// nothing. New fails when a provider's secret cannot verify anything, naming
// the variable.
func New(cfg config.Config, tracker Tracker, logger *slog.Logger, m *metrics.Metrics) (http.Handler, error) {
	s := &server{
		dryRun:     cfg.DryRun(),
		tracker:    tracker,
		log:        logger,
		metrics:    m,
		deliveries: newDeliveries(rememberDeliveries, rememberFor),
	}

	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.HandleMethodNotAllowed = true
	r.Use(gin.CustomRecoveryWithWriter(io.Discard, s.recovered))
	r.NoRoute(func(c *gin.Context) { c.JSON(http.StatusNotFound, gin.H{"error": "no such route"}) })
	r.NoMethod(func(c *gin.Context) { c.JSON(http.StatusMethodNotAllowed, gin.H{"error": "method not allowed"}) })

	r.GET("/healthz", func(c *gin.Context) { c.JSON(http.StatusOK, gin.H{"status": "ok"}) })
	if m != nil {
		r.GET("/metrics", gin.WrapH(m.Handler()))
	}
	r.GET("/reditus-bridge.js", func(c *gin.Context) {
		// An hour of caching: the script changes only with a new bridge.
		c.Header("Cache-Control", "public, max-age=3600")
		c.Data(http.StatusOK, "text/javascript; charset=utf-8", browserHelper)
	})

	stripe := mapping.StripeOptions{AcceptTestEvents: cfg.StripeAcceptTestEvents}
	for _, p := range []provider{
		{name: "stripe", verify: verify.Stripe, parse: func(body []byte) (mapping.Event, error) { return mapping.FromStripe(body, stripe) }},
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
	}
	return r, nil
}

// recovered answers a panic, which no input should cause, with a retry, so
// that the sender keeps the event.
func (s *server) recovered(c *gin.Context, err any) {
	s.log.Error("panic serving request", "path", c.Request.URL.Path, "panic", err)
	c.AbortWithStatusJSON(http.StatusInternalServerError, newAnswer(codeMisconfigured, "internal error"))
}
