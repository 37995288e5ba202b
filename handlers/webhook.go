package handlers

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/getreditus/reditus-bridge/config"
	"github.com/getreditus/reditus-bridge/internal/redact"
	"github.com/getreditus/reditus-bridge/metrics"
	"github.com/getreditus/reditus-bridge/reditus"
	"github.com/getreditus/reditus-bridge/verify"
)

// MaxBody is the largest webhook body accepted. Provider events are a few
// KiB; the limit keeps a hostile sender from making the bridge buffer more.
const MaxBody = 1 << 20

type server struct {
	dryRun     bool
	tracker    Tracker
	log        *slog.Logger
	metrics    *metrics.Metrics
	deliveries *deliveries
	bodies     *bodies
}

// webhook is the pipeline every provider shares: limit the body, read it raw,
// verify, map, forward, answer, and log one line.
func (s *server) webhook(p provider, secrets config.Secrets) (gin.HandlerFunc, error) {
	if len(secrets) == 0 {
		off := newAnswer(codeDisabled, fmt.Sprintf("%s webhooks are off: set %s", p.name, config.SecretVar(p.name)))
		return func(c *gin.Context) { s.respond(c, p.name, off, time.Now(), false) }, nil
	}
	check, err := p.verify(secrets.Reveal())
	if err != nil {
		return nil, err
	}
	return func(c *gin.Context) {
		start := time.Now()
		done := s.metrics.WebhookStarted(p.name)
		ans, shared := s.process(c.Writer, c.Request, p, check)
		if ans.code == codeBusy {
			s.metrics.Shed(p.name)
		}
		s.respond(c, p.name, ans, start, shared)
		done(ans.Outcome)
	}, nil
}

func (s *server) process(w http.ResponseWriter, r *http.Request, p provider, check verify.Func) (answer, bool) {
	body, release, err := s.bodies.read(w, r)
	if err != nil {
		// The rest of the body stays unread. Without this, net/http would
		// drain up to 256 KiB of it before answering, and a sender holding
		// its body open would hold the answer (and the shutdown) with it.
		w.Header().Set("Connection", "close")
		return errorAnswer(err), false
	}
	// Verified or refused, the body is no longer a stranger's bytes; the
	// deferred release gives them back even if a verifier panicked, so that
	// the budget cannot leak.
	err = func() error {
		defer release()
		return check(r.Header, body)
	}()
	if err != nil {
		return errorAnswer(err), false
	}
	var deliveryID string
	if p.deliveryID != nil {
		deliveryID = p.deliveryID(r.Header)
	}
	return s.deliver(r.Context(), p, body, deliveryID)
}

// deliver is the pipeline after verification: map, look further, then
// forward once per delivery. shared reports an answer given to an earlier
// copy of the same delivery.
func (s *server) deliver(ctx context.Context, p provider, body []byte, deliveryID string) (ans answer, shared bool) {
	ev, err := p.parse(body)
	if err != nil {
		return errorAnswer(err), false
	}
	if deliveryID != "" {
		ev.ID = deliveryID
	}
	if p.enrich != nil && ev.MissingReferral() {
		if ev, err = p.enrich(ctx, ev); err != nil {
			ans = errorAnswer(err)
			ans.EventID, ans.EventType = ev.ID, ev.Type
			return ans, false
		}
	}
	if ev.Skip != "" {
		ans := newAnswer(codeSkipped, ev.Skip)
		ans.EventID, ans.EventType = ev.ID, ev.Type
		return ans, false
	}

	ans, shared = s.deliveries.do(p.name+"\x00"+ev.ID, func() answer {
		// The sender hanging up must not abandon a conversion half-sent:
		// finishing it costs at most the client's budget, and the sender's
		// re-send then finds it in Reditus (409) instead of racing it.
		return s.forward(context.WithoutCancel(ctx), ev.Conversion)
	})
	ans.EventID, ans.EventType = ev.ID, ev.Type
	return ans, shared
}

func (s *server) forward(ctx context.Context, conv reditus.Conversion) answer {
	if s.dryRun {
		ans := newAnswer(codeDryRun, "dry run: nothing was sent (REDITUS_API_KEY is not set, or DRY_RUN=true)")
		ans.Conversion, ans.sent = &conv, conv
		return ans
	}
	res, err := s.tracker.Track(ctx, conv)
	var ans answer
	if err != nil {
		ans = errorAnswer(err)
	} else {
		ans = newAnswer(codeForwarded, "")
		ans.ReferralID = res.ReferralID
	}
	ans.sent = conv
	return ans
}

// respond writes the answer and the webhook's one log line.
func (s *server) respond(c *gin.Context, provider string, ans answer, start time.Time, shared bool) {
	c.JSON(ans.status(), ans)
	s.logLine(c.Request.Context(), provider, ans, start, shared)
}

// logLine writes the one log line of a webhook or a replayed event.
func (s *server) logLine(ctx context.Context, provider string, ans answer, start time.Time, shared bool) {
	attrs := []slog.Attr{
		slog.String("provider", provider),
		slog.String("event_id", ans.EventID),
		slog.String("event_type", ans.EventType),
		slog.String("outcome", ans.Outcome),
		slog.Int("status", ans.status()),
		slog.String("reason", ans.Reason),
		slog.Float64("latency_ms", float64(time.Since(start).Microseconds())/1000),
	}
	if shared {
		attrs = append(attrs, slog.Bool("repeat_delivery", true))
	}
	if sent := ans.sent; sent != (reditus.Conversion{}) {
		attrs = append(attrs, slog.Group("conversion",
			slog.String("email", redact.Email(sent.Email)),
			slog.String("uid", maskUID(sent.UID)),
			slog.String("affiliate_slug", sent.AffiliateSlug),
			slog.String("advocate_slug", sent.AdvocateSlug),
			slog.String("gr_id", sent.GrID),
		))
	}
	s.log.LogAttrs(ctx, table[ans.code].level, "webhook", attrs...)
}

// maskUID masks a uid that is an email address (some apps use the address
// as their user id): it must not reach the log whole any more than the email.
func maskUID(uid string) string {
	if strings.Contains(uid, "@") {
		return redact.Email(uid)
	}
	return uid
}
