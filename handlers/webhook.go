package handlers

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/getreditus/reditus-bridge/internal/redact"
	"github.com/getreditus/reditus-bridge/mapping"
	"github.com/getreditus/reditus-bridge/outcome"
	"github.com/getreditus/reditus-bridge/reditus"
)

// MaxBody is the largest webhook body accepted. Provider events are a few
// KiB; the limit keeps a hostile sender from making the bridge buffer more.
const MaxBody = 1 << 20

// serveWebhook is the pipeline every provider shares: limit the body, read
// it raw, verify, then deliver; answer and log one line.
func (b *Bridge) serveWebhook(w route) gin.HandlerFunc {
	if w.check == nil {
		off := result(outcome.Disabled, fmt.Sprintf("%s webhooks are off: set %s", w.Name, w.SecretVar()))
		return func(c *gin.Context) { b.respond(c, w.Name, off, time.Now()) }
	}
	return func(c *gin.Context) {
		start := time.Now()
		done := b.metrics.WebhookStarted(w.Name)
		res := b.receive(c.Writer, c.Request, w)
		if res.Code == outcome.Busy {
			b.metrics.Shed(w.Name)
		}
		b.respond(c, w.Name, res, start)
		done(string(res.Outcome))
	}
}

// receive reads and verifies one delivery, then delivers it.
func (b *Bridge) receive(rw http.ResponseWriter, r *http.Request, w route) Result {
	body, release, err := b.bodies.read(rw, r)
	if err != nil {
		// The rest of the body stays unread. Without this, net/http would
		// drain up to 256 KiB of it before answering, and a sender holding
		// its body open would hold the answer (and the shutdown) with it.
		rw.Header().Set("Connection", "close")
		return errorResult(err)
	}
	// Verified or refused, the body is no longer a stranger's bytes; the
	// deferred release gives them back even if a verifier panicked, so that
	// the budget cannot leak.
	err = func() error {
		defer release()
		return w.check(r.Header, body)
	}()
	if err != nil {
		return errorResult(err)
	}
	var deliveryID string
	if w.DeliveryID != nil {
		deliveryID = w.DeliveryID(r.Header)
	}
	return b.deliver(r.Context(), w, body, deliveryID)
}

// deliver is the pipeline after verification: the event, then what became
// of it. It is the one place a Result is made from an event or an error.
func (b *Bridge) deliver(ctx context.Context, w route, body []byte, deliveryID string) Result {
	ev, err := b.event(ctx, w, body, deliveryID)
	var res Result
	if err != nil {
		res = errorResult(err)
	} else {
		res = b.once(ctx, w, ev, body)
	}
	res.EventID, res.EventType = ev.ID, ev.Type
	return res
}

// event maps a verified body, and looks further for referral data it lacks
// where the provider names related objects (Stripe, with STRIPE_API_KEY).
// On an error it still returns what it knew of the event, for the log line.
func (b *Bridge) event(ctx context.Context, w route, body []byte, deliveryID string) (mapping.Event, error) {
	ev, err := w.Map(body, w.options)
	if err != nil {
		return ev, err
	}
	if deliveryID != "" {
		ev.ID = deliveryID
	}
	if b.stripe == nil || !ev.NeedsLookups() {
		return ev, nil
	}
	ctx, cancel := context.WithTimeout(ctx, lookupBudget)
	defer cancel()
	related, err := b.stripe.Fetch(ctx, ev.Lookups)
	if err != nil {
		return ev, fmt.Errorf("look up related stripe objects: %w", err)
	}
	return ev.WithRelated(related...), nil
}

// forward sends what the event reports: its conversion, then its payment,
// refund or churn. The money call is made only once the conversion is in
// Reditus (or there is none), so that Reditus knows the customer when the
// payment arrives. In dry run it says what would have been sent.
func (b *Bridge) forward(ctx context.Context, ev mapping.Event) Result {
	conv := ev.Conversion
	if b.dryRun {
		res := result(outcome.DryRun, "dry run: nothing was sent (REDITUS_API_KEY is not set, or DRY_RUN=true)")
		if conv != (reditus.Conversion{}) {
			res.Conversion = &conv
		}
		res.Payment, res.Refund, res.Churn, res.Sent = ev.Payment, ev.Refund, ev.Churn, conv
		return res
	}
	res := result(outcome.Forwarded, ev.Note)
	if conv != (reditus.Conversion{}) {
		created, err := b.reditus.Track(ctx, conv)
		if err != nil {
			res = errorResult(err)
		}
		res.ReferralID, res.Sent = created.ReferralID, conv
		if code := res.Code; code != outcome.Forwarded && code != outcome.Duplicate {
			return res
		}
	}
	var err error
	switch {
	case ev.Payment != nil:
		err = b.reditus.Pay(ctx, *ev.Payment)
	case ev.Refund != nil:
		err = b.reditus.Refund(ctx, *ev.Refund)
	case ev.Churn != nil:
		err = b.reditus.Churn(ctx, *ev.Churn)
	default:
		return res
	}
	// The conversion, if any, is in Reditus: the money call's outcome is
	// the event's. A payment already recorded (409) was forwarded before.
	money := result(outcome.Forwarded, ev.Note)
	if err != nil && outcome.Of(err) != outcome.Duplicate {
		money = errorResult(err)
	}
	money.ReferralID, money.Sent = res.ReferralID, res.Sent
	return money
}

// respond writes the answer and the webhook's one log line.
func (b *Bridge) respond(c *gin.Context, provider string, res Result, start time.Time) {
	c.JSON(res.Status(), res)
	b.logLine(c.Request.Context(), provider, res, start)
}

// logLine writes the one log line of a webhook or a replayed event.
func (b *Bridge) logLine(ctx context.Context, provider string, res Result, start time.Time) {
	attrs := []slog.Attr{
		slog.String("provider", provider),
		slog.String("event_id", res.EventID),
		slog.String("event_type", res.EventType),
		slog.String("outcome", string(res.Outcome)),
		slog.Int("status", res.Status()),
		slog.String("reason", res.Reason),
		slog.Float64("latency_ms", float64(time.Since(start).Microseconds())/1000),
	}
	if res.Repeat {
		attrs = append(attrs, slog.Bool("repeat_delivery", true))
	}
	if sent := res.Sent; sent != (reditus.Conversion{}) {
		attrs = append(attrs, slog.Group("conversion",
			slog.String("email", redact.Email(sent.Email)),
			slog.String("uid", maskUID(sent.UID)),
			slog.String("affiliate_slug", sent.AffiliateSlug),
			slog.String("advocate_slug", sent.AdvocateSlug),
			slog.String("gr_id", sent.GrID),
		))
	}
	b.log.LogAttrs(ctx, table[res.Code].level, "webhook", attrs...)
}

// maskUID masks a uid that is an email address (some apps use the address
// as their user id): it must not reach the log whole any more than the email.
func maskUID(uid string) string {
	if strings.Contains(uid, "@") {
		return redact.Email(uid)
	}
	return uid
}
