package handlers

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/getreditus/reditus-bridge/metrics"
	"github.com/getreditus/reditus-bridge/outcome"
	"github.com/getreditus/reditus-bridge/pipeline"
)

// MaxBody is the largest webhook body accepted. Provider events are a few
// KiB; the limit keeps a hostile sender from making the bridge buffer more.
const MaxBody = 1 << 20

// serveWebhook is provider's webhook route: its body read within the budget
// for unverified bodies, then the pipeline, then the answer.
func serveWebhook(p Pipeline, b *bodies, m *metrics.Metrics, provider string) gin.HandlerFunc {
	return func(c *gin.Context) {
		done := m.WebhookStarted(provider)
		res := p.Webhook(c.Request.Context(), pipeline.Delivery{
			Provider: provider,
			Header:   c.Request.Header,
			Read:     func() ([]byte, func(), error) { return readBody(b, c.Writer, c.Request) },
		})
		if res.Code == outcome.Busy {
			m.Shed(provider)
		}
		c.JSON(res.Status(), res)
		done(string(res.Outcome))
	}
}

// readBody reads r's body within b's budget.
func readBody(b *bodies, w http.ResponseWriter, r *http.Request) ([]byte, func(), error) {
	body, release, err := b.read(w, r)
	if err != nil {
		// The rest of the body stays unread. Without this, net/http would
		// drain up to 256 KiB of it before answering, and a sender holding
		// its body open would hold the answer (and the shutdown) with it.
		w.Header().Set("Connection", "close")
	}
	return body, release, err
}
