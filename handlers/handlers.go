// Package handlers is the bridge's HTTP surface: every route (routes), the
// budget for unverified webhook bodies, and the answer. A webhook is one
// pipeline call: the request goes in as a pipeline.Delivery, and its
// pipeline.Result comes back as the JSON answer and its status.
package handlers

import (
	"context"
	_ "embed"
	"io"
	"log/slog"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/getreditus/reditus-bridge/admin"
	"github.com/getreditus/reditus-bridge/config"
	"github.com/getreditus/reditus-bridge/metrics"
	"github.com/getreditus/reditus-bridge/outcome"
	"github.com/getreditus/reditus-bridge/pipeline"
	"github.com/getreditus/reditus-bridge/providers"
)

// Pipeline runs what the routes receive. *pipeline.Pipeline is one.
type Pipeline interface {
	// Webhook runs one delivery and says what to answer.
	Webhook(ctx context.Context, d pipeline.Delivery) pipeline.Result
	// Retry runs a journaled event again for /admin.
	Retry(ctx context.Context, id int64, was outcome.Word) (pipeline.Result, error)
}

var _ Pipeline = (*pipeline.Pipeline)(nil)

// Deps are what New serves. A nil field turns its part off.
type Deps struct {
	Pipeline Pipeline
	// Events is the journal /admin shows; nil answers 503 there (the
	// journal could not be opened).
	Events  admin.Journal
	Log     *slog.Logger
	Metrics *metrics.Metrics
}

// Server is the bridge's HTTP handler.
type Server struct {
	http.Handler
	bodies *bodies
}

// New returns the handler of every route under cfg, one webhook route for
// each registered provider.
func New(cfg config.Config, deps Deps) *Server {
	if deps.Log == nil {
		deps.Log = slog.New(slog.DiscardHandler)
	}
	s := &Server{bodies: newBodies(unverifiedBudget, largeShare, deps.Metrics)}
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.HandleMethodNotAllowed = true
	r.Use(gin.CustomRecoveryWithWriter(io.Discard, recovered(deps.Log)))
	routes(r, cfg, deps, s.bodies)
	s.Handler = r
	return s
}

// routes registers every route the bridge serves.
func routes(r *gin.Engine, cfg config.Config, deps Deps, b *bodies) {
	r.NoRoute(func(c *gin.Context) { c.JSON(http.StatusNotFound, gin.H{"error": "no such route"}) })
	r.NoMethod(func(c *gin.Context) { c.JSON(http.StatusMethodNotAllowed, gin.H{"error": "method not allowed"}) })
	r.GET("/healthz", func(c *gin.Context) { c.JSON(http.StatusOK, gin.H{"status": "ok"}) })
	if deps.Metrics != nil && cfg.MetricsPort == 0 {
		// With METRICS_PORT, main serves them on that port only: the public
		// port does not show who sends what, and how often.
		r.GET("/metrics", gin.WrapH(deps.Metrics.Handler()))
	}
	r.GET("/reditus-bridge.js", serveBrowserHelper())
	for _, p := range providers.All() {
		r.POST(p.Route(), serveWebhook(deps.Pipeline, b, deps.Metrics, p.Name))
	}
	if cfg.AdminToken != "" {
		// Without ADMIN_TOKEN, no route at all: any method on /admin then
		// answers exactly like an unknown route, so a scan cannot tell that
		// it exists.
		h := gin.WrapH(newAdmin(cfg, deps))
		r.Any("/admin", h)
		r.Any("/admin/*path", h)
	}
}

// browserHelper is GET /reditus-bridge.js (README.md, "The browser helper").
//
//go:embed static/reditus-bridge.js
var browserHelper []byte

func serveBrowserHelper() gin.HandlerFunc {
	return func(c *gin.Context) {
		// An hour of caching: the script changes only with a new bridge.
		c.Header("Cache-Control", "public, max-age=3600")
		c.Data(http.StatusOK, "text/javascript; charset=utf-8", browserHelper)
	}
}

// newAdmin serves /admin (README.md, "The journal and /admin"): the
// journal in a browser, its JSON API and the retry button, which runs the
// event through the pipeline again.
func newAdmin(cfg config.Config, deps Deps) http.Handler {
	retry := func(ctx context.Context, id int64, was outcome.Word) (admin.Outcome, error) {
		res, err := deps.Pipeline.Retry(ctx, id, was)
		return admin.Outcome{Outcome: res.Journaled, Reason: res.Reason, ReferralID: res.ReferralID}, err
	}
	return admin.New(admin.Options{
		Token: cfg.AdminToken.Reveal(), Events: deps.Events, Retry: retry,
		Providers: providers.Names(), Log: deps.Log,
	})
}

// StopReading interrupts every webhook body still being read, unverified,
// and answers later ones 503 retry. Call it when shutdown begins: a client
// trickling a body must not hold the process until its read times out,
// while webhooks already verified finish with their real answer.
func (s *Server) StopReading() { s.bodies.stop() }

// recovered answers a panic, which no input should cause, with a retry, so
// that the sender keeps the event.
func recovered(log *slog.Logger) gin.RecoveryFunc {
	return func(c *gin.Context, err any) {
		log.Error("panic serving request", "path", c.Request.URL.Path, "panic", err)
		res := pipeline.ErrorResult(outcome.New(outcome.Misconfigured, "internal error"))
		c.AbortWithStatusJSON(res.Status(), res)
	}
}
