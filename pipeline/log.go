package pipeline

import (
	"context"
	"log/slog"
	"strings"
	"time"

	"github.com/getreditus/reditus-bridge/internal/redact"
	"github.com/getreditus/reditus-bridge/reditus"
)

// logLine writes the one log line of an event, at its outcome's level.
func (p *Pipeline) logLine(ctx context.Context, provider string, res Result, start time.Time) {
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
	p.log.LogAttrs(ctx, table[res.Code].level, "webhook", attrs...)
}

// maskUID masks a uid that is an email address (some apps use the address
// as their user id): it must not reach the log whole any more than the email.
func maskUID(uid string) string {
	if strings.Contains(uid, "@") {
		return redact.Email(uid)
	}
	return uid
}
