package e2e

import (
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/getreditus/reditus-bridge/internal/fakereditus"
	"github.com/getreditus/reditus-bridge/reditus"
)

// The money providers end to end: `simulate` sends every sample of each,
// signed the provider's way with the configured secret, to the running
// binary, and a fake Reditus that holds referrals as Reditus does (409 for
// one it has; 404 for a payment or churn of a customer it does not know)
// records the tracking, payments, refunds and churn. A payment recorded
// therefore proves its conversion reached Reditus first.
func TestMoneyEventsReachReditusAfterTheirConversion(t *testing.T) {
	red := newReditus(t, fakereditus.Conflicts(), fakereditus.NeedsReferral())
	env := []string{
		"REDITUS_API_KEY=" + apiKey, "REDITUS_API_URL=" + red.BaseURL,
		"LEMONSQUEEZY_WEBHOOK_SECRET=e2e-lemonsqueezy-signing-secret",
		"POLAR_WEBHOOK_SECRET=whsec_ZTJlLXBvbGFyLWtleS1vZi0zMi1ieXRlcy0wMDA=",
		"PADDLE_WEBHOOK_SECRET=pdl_ntfset_01e2e0000000000000000000000_e2epaddlesecretkey0000000000000",
		"CHARGEBEE_WEBHOOK_SECRET=chargebee:e2e-chargebee-password",
	}
	p := start(t, env...)
	events := []struct{ provider, event, email string }{
		{"lemonsqueezy", "order_created", "ls@example.com"},
		{"lemonsqueezy", "subscription_payment_success", "ls@example.com"},
		{"lemonsqueezy", "order_refunded", "ls@example.com"},
		{"lemonsqueezy", "subscription_expired", "ls@example.com"},
		{"polar", "order.paid", "polar@example.com"},
		{"polar", "order.refunded", "polar@example.com"},
		{"polar", "subscription.revoked", "polar@example.com"},
		{"paddle", "customer.created", "paddle@example.com"},
		{"paddle", "transaction.completed", "paddle@example.com"},
		{"chargebee", "customer_created", "chargebee@example.com"},
		{"chargebee", "payment_succeeded", "chargebee@example.com"},
		{"chargebee", "payment_refunded", "chargebee@example.com"},
		{"chargebee", "subscription_cancelled", "chargebee@example.com"},
	}
	for _, e := range events {
		stdout, stderr, code := runCommand(t, env, "simulate", e.provider, "--event", e.event, "--email", e.email, "--url", p.base+"/webhooks/"+e.provider)
		// A simulated refund names a payment of its own, which Reditus does
		// not hold: it is skipped as not referred, and still answered 200.
		if out := stdout + stderr; code != 0 || !strings.Contains(out, "HTTP 200") || strings.Contains(out, `"outcome": "rejected"`) {
			t.Errorf("simulate %s --event %s: exit %d\n%s", e.provider, e.event, code, out)
		}
	}
	p.stop(t)

	var created []string
	for _, c := range red.Created() {
		created = append(created, c.Email)
	}
	if want := []string{"ls@example.com", "polar@example.com", "paddle@example.com", "chargebee@example.com"}; !slices.Equal(created, want) {
		t.Errorf("Reditus holds referrals for %v, want %v (each once)", created, want)
	}
	paid := map[string]int{}
	for _, pay := range red.Paid() {
		paid[pay.ReferralEmail]++
	}
	// Lemon Squeezy's order and renewal, Polar's order, Chargebee's
	// payment; Paddle's payments are Reditus's own connector's.
	if want := map[string]int{"ls@example.com": 2, "polar@example.com": 1, "chargebee@example.com": 1}; !maps.Equal(paid, want) {
		t.Errorf("Reditus holds payments by %v, want %v", paid, want)
	}
	if n := len(red.Refunds()); n != 3 {
		t.Errorf("Reditus received %d refunds, want 3: %+v", n, red.Refunds())
	}
	var churned []string
	for _, c := range red.Churned() {
		churned = append(churned, c.ReferralEmail)
	}
	if want := []string{"ls@example.com", "polar@example.com", "chargebee@example.com"}; !slices.Equal(churned, want) {
		t.Errorf("Reditus churned %v, want %v", churned, want)
	}
	if n := red.Calls(reditus.CallTrack); n != 7 {
		t.Errorf("%d tracking calls, want 7 (one with each event that converts: 2 Lemon Squeezy, 1 Polar, 2 Paddle, 2 Chargebee)", n)
	}
}
