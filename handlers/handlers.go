// Package handlers is the bridge's HTTP surface: every route, and the one
// webhook pipeline that all providers share (DESIGN.md section 6).
package handlers

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/getreditus/reditus-bridge/config"
	"github.com/getreditus/reditus-bridge/mapping"
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
	name    string
	secrets config.Secrets // none turns the provider off
	envVar  string         // where its secret is configured, for the 404 message
	verify  func(secrets []string) verify.Func
	parse   func(body []byte) (mapping.Event, error)
}

// Memory for re-sent deliveries: a sender re-sends within seconds or minutes,
// and 4096 answers are a few hundred KiB.
const (
	rememberDeliveries = 4096
	rememberFor        = 10 * time.Minute
)

// New returns the bridge's routes. In dry run (cfg.DryRun) tracker is never
// called; it may be nil.
func New(cfg config.Config, tracker Tracker, logger *slog.Logger) http.Handler {
	s := &server{
		dryRun:     cfg.DryRun(),
		tracker:    tracker,
		log:        logger,
		deliveries: newDeliveries(rememberDeliveries, rememberFor),
	}

	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.HandleMethodNotAllowed = true
	r.Use(gin.CustomRecoveryWithWriter(io.Discard, s.recovered))
	r.NoRoute(func(c *gin.Context) { c.JSON(http.StatusNotFound, gin.H{"error": "no such route"}) })
	r.NoMethod(func(c *gin.Context) { c.JSON(http.StatusMethodNotAllowed, gin.H{"error": "method not allowed"}) })

	r.GET("/healthz", func(c *gin.Context) { c.JSON(http.StatusOK, gin.H{"status": "ok"}) })

	stripe := mapping.StripeOptions{AcceptTestEvents: cfg.StripeAcceptTestEvents}
	for _, p := range []provider{
		{
			name: "stripe", secrets: cfg.WebhookSecrets(cfg.StripeWebhookSecret), envVar: "STRIPE_WEBHOOK_SECRET",
			verify: verify.Stripe,
			parse:  func(body []byte) (mapping.Event, error) { return mapping.FromStripe(body, stripe) },
		},
	} {
		r.POST("/webhooks/"+p.name, s.webhook(p))
	}
	return r
}

// recovered answers a panic, which no input should cause, with a retry, so
// that the sender keeps the event.
func (s *server) recovered(c *gin.Context, err any) {
	s.log.Error("panic serving request", "path", c.Request.URL.Path, "panic", err)
	c.AbortWithStatusJSON(http.StatusInternalServerError, newAnswer(codeMisconfigured, "internal error"))
}
