package e2e

import (
	"bytes"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/getreditus/reditus-bridge/internal/fakereditus"
	"github.com/getreditus/reditus-bridge/internal/webhooktest"
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

// Money events the bridge refuses as invalid_payload (an amount as a float,
// as a string, negative, over int64) are journaled with the reason, so that
// /admin shows them, not only the log; a re-send gets the same answer, and
// Reditus hears nothing of them.
func TestRefusedMoneyEventsAreJournaledWithTheirReason(t *testing.T) {
	red := newReditus(t)
	const secret = "e2e-lemonsqueezy-signing-secret"
	p := start(t, liveEnv(red, "LEMONSQUEEZY_WEBHOOK_SECRET="+secret)...)
	order := webhooktest.Fixture(t, "lemonsqueezy/order_created.json")
	for i, total := range []string{`11.99`, `"1199"`, `-1199`, `9223372036854775808`} {
		body := bytes.Replace(order, []byte(`"total": 1199`), []byte(`"total": `+total), 1)
		body = bytes.Replace(body, []byte(`"webhook_id": "7f4c2a9e-3b1d-4e8f-9a6c-5d2e1f0b8c47"`), []byte(fmt.Sprintf(`"webhook_id": "bad-total-%d"`, i)), 1)
		first := p.post(t, "lemonsqueezy", secret, "", body)
		again := p.post(t, "lemonsqueezy", secret, "", body)
		if first.String() != "400 invalid_payload" || again != first {
			t.Errorf("total %s: answered %s (%q), then %s (%q); want 400 invalid_payload twice, alike", total, first, first.Reason, again, again.Reason)
		}
	}
	evs := p.events(t, "outcome=invalid_payload")
	if len(evs) != 4 {
		t.Fatalf("/admin lists %d invalid_payload events, want 4: %+v", len(evs), evs)
	}
	for _, e := range evs {
		if e.Provider != "lemonsqueezy" || !strings.Contains(e.Reason, "invalid payload: ") || e.Attempts != 0 {
			t.Errorf("%+v: want a lemonsqueezy event with the refusal's reason, and no attempt", e)
		}
	}
	p.stop(t)
	if n := red.Requests(); n != 0 {
		t.Errorf("Reditus got %d requests, want none", n)
	}
}
