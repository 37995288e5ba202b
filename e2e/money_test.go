package e2e

import (
	"bytes"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

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

// A customer's money events reach Reditus in the order they happened, when
// an outage queued the first of them. A full refund that arrives once
// Reditus is back, while its payment is still queued, waits behind it
// (202, not "200 skipped" on Reditus's 404 with the payment delivered a
// moment later, keeping its commission); so does a payment whose customer
// Reditus knows only by uid (Polar's external_id) while that uid's
// conversion is queued. After recovery Reditus gets each payment, then its
// refund, each once. Every event's record carries the customer's email.
func TestMoneyEventsReachReditusInTheOrderTheyHappened(t *testing.T) {
	red := newReditus(t, fakereditus.Conflicts(), fakereditus.NeedsReferral())
	secrets := map[string]string{
		"lemonsqueezy": "e2e-lemonsqueezy-signing-secret",
		"polar":        "whsec_ZTJlLXBvbGFyLWtleS1vZi0zMi1ieXRlcy0wMDA=",
		"chargebee":    "chargebee:e2e-chargebee-password",
	}
	env := []string{}
	for name, secret := range secrets {
		env = append(env, strings.ToUpper(name)+"_WEBHOOK_SECRET="+secret)
	}
	p := start(t, liveEnv(red, env...)...)
	post := func(provider, id string, body []byte, want string) {
		t.Helper()
		secret, ok := secrets[provider]
		if !ok {
			secret = liveSecrets[provider]
		}
		if got := p.post(t, provider, secret, id, body); got.String() != want {
			t.Errorf("%s %s: %s (%s), want %s", provider, id, got, got.Reason, want)
		}
	}
	fixture := func(name string, replace ...string) []byte {
		b := webhooktest.Fixture(t, name)
		for i := 0; i+1 < len(replace); i += 2 {
			if !bytes.Contains(b, []byte(replace[i])) {
				t.Fatalf("%s holds no %s", name, replace[i])
			}
			b = bytes.Replace(b, []byte(replace[i]), []byte(replace[i+1]), 1)
		}
		return b
	}
	const polarOrder = `"id": "0c2e4a6b-8d1f-4b3c-a5e7-9f1b3d5a7c28"`

	red.set(down)
	post("lemonsqueezy", "", fixture("lemonsqueezy/order_created.json"), "202 queued")
	post("chargebee", "", fixture("chargebee/customer_created.json"), "202 queued")
	post("chargebee", "", fixture("chargebee/payment_succeeded.json"), "202 queued")
	post("generic", "msg_polar_signup", []byte(`{"uid":"usr_polar","affiliate_slug":"john"}`), "202 queued")
	red.set(up)
	post("lemonsqueezy", "", fixture("lemonsqueezy/order_refunded.json"), "202 queued")
	post("chargebee", "", fixture("chargebee/payment_refunded.json"), "202 queued")
	// Polar's customer shares nothing with the others but the uid the
	// signup sent.
	const polarEmail = `"email": "polar.payer@example.com"`
	post("polar", "msg_polar_paid", fixture("polar/order_paid_no_referral.json",
		`"external_id": null`, `"external_id": "usr_polar"`, `"email": "john.doe@example.com"`, polarEmail), "202 queued")
	post("polar", "msg_polar_refunded", fixture("polar/order_refunded.json", `"id": "b3f7d1a9-5c2e-4a8b-9e6d-0f2c4a6e8b15"`, polarOrder,
		`"external_id": "usr_1337"`, `"external_id": "usr_polar"`, `"email": "john.doe@example.com"`, polarEmail), "202 queued")
	if n := len(red.Refunds()) + len(red.Payments()); n != 0 {
		t.Fatalf("Reditus got %d payments and refunds before the events ahead of them, want none", n)
	}

	waitFor(t, 30*time.Second, "every refund in Reditus", func() bool { return len(red.Refunded()) == 3 })
	waitFor(t, 10*time.Second, "every delivery recorded", func() bool {
		return len(p.events(t, "outcome=pending"))+len(p.events(t, "outcome=queued")) == 0
	})
	evs := p.events(t, "limit=1000")
	p.stop(t)
	var paid []string
	for _, pay := range red.Paid() {
		paid = append(paid, pay.IdempotencyKey)
	}
	slices.Sort(paid)
	want := []string{"chargebee:transaction:txn_AzZTZhUtcR93j9Rv", "lemonsqueezy:order:2384851", "polar:order:0c2e4a6b-8d1f-4b3c-a5e7-9f1b3d5a7c28"}
	if !slices.Equal(paid, want) || len(red.Refunds()) != 3 {
		t.Errorf("Reditus holds the payments %v and got %d refunds; want %v, and each refund once, after its payment", paid, len(red.Refunds()), want)
	}
	for _, e := range evs {
		// Lemon Squeezy's customer and Chargebee's have one email: the
		// second conversion of it is Reditus's 409.
		if (e.Outcome != "forwarded" && e.Outcome != "duplicate") || (e.Email == "" && e.Provider != "generic") {
			t.Errorf("%s %s %s: %s, email %q; want forwarded, with the customer's email", e.Provider, e.EventType, e.DeliveryID, e.Outcome, e.Email)
		}
	}
}
