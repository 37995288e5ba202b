package e2e

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/getreditus/reditus-bridge/internal/testenv"
	"github.com/getreditus/reditus-bridge/internal/webhooktest"
	"github.com/getreditus/reditus-bridge/providers"
	"github.com/getreditus/reditus-bridge/reditus"
)

// Stripe's own events, signed with the bridge's secret, are answered with
// their outcome and reach Reditus; a forged signature is refused. Each
// webhook is one log line.
func TestStripeEventsBecomeConversions(t *testing.T) {
	red := newReditus(t)
	p := start(t, "REDITUS_API_KEY="+apiKey, "REDITUS_API_URL="+red.BaseURL, "STRIPE_WEBHOOK_SECRET="+stripeSecret)

	want := map[string]string{ // fixture -> outcome
		"customer.created.json":                         "forwarded",
		"checkout.session.completed.json":               "forwarded",
		"checkout.session.async_payment_succeeded.json": "forwarded",
		"customer.subscription.created.json":            "forwarded",
		"checkout.session.completed.guest.json":         "forwarded",
		"customer.created.no_referral.json":             "skipped",
	}
	for fixture, outcome := range want {
		if a := p.post(t, "stripe", stripeSecret, "", webhooktest.Fixture(t, "stripe/"+fixture)); a.Status != http.StatusOK || a.Outcome != outcome {
			t.Errorf("%s: %s (%s), want 200 %s", fixture, a, a.Reason, outcome)
		}
	}
	if a := p.post(t, "stripe", "whsec_forged", "", webhooktest.Fixture(t, "stripe/customer.created.json")); a.Status != http.StatusBadRequest {
		t.Errorf("forged signature: %s, want 400", a)
	}
	if got := red.Conversions(); len(got) != 5 {
		t.Errorf("Reditus received %d conversions, want 5: %+v", len(got), got)
	}
	p.stop(t)

	var webhooks int
	for _, line := range p.lines() {
		if line["msg"] == "webhook" {
			webhooks++
		}
	}
	if webhooks != len(want)+1 {
		t.Errorf("%d webhook log lines for %d webhooks", webhooks, len(want)+1)
	}
}

// Every provider, end to end: `simulate` signs each registered provider's
// sample the provider's way with a fresh secret of its scheme, the running
// binary verifies it and the fake Reditus receives the conversion. A provider
// added to the registry is in this test with no edit here.
func TestEveryProviderReachesReditus(t *testing.T) {
	red := newReditus(t)
	env := []string{"REDITUS_API_KEY=" + apiKey, "REDITUS_API_URL=" + red.BaseURL}
	all := providers.All()
	for _, provider := range all {
		env = append(env, provider.SecretVar()+"="+provider.Scheme.NewSecret())
		// A provider that its API key turns on (Mollie) gets one: its first
		// sample carries all it is judged by, so the API is not called.
		if v := provider.OnVar(); v != provider.SecretVar() {
			env = append(env, v+"=live_e2e_"+provider.Name+"_key")
		}
	}
	p := start(t, env...)
	for i, provider := range all {
		email := fmt.Sprintf("user%d@example.com", i)
		stdout, stderr, code := runCommand(t, env, "simulate", provider.Name, "--email", email, "--url", p.base+provider.Route())
		if code != 0 || !strings.Contains(stdout+stderr, `"outcome": "forwarded"`) {
			t.Errorf("simulate %s: exit %d\n%s%s", provider.Name, code, stdout, stderr)
		}
	}
	p.stop(t)

	received := red.Conversions()
	if len(received) != len(all) {
		t.Fatalf("Reditus received %d conversions, want %d: %+v", len(received), len(all), received)
	}
	for i, c := range received {
		if c.Email != fmt.Sprintf("user%d@example.com", i) || c.AffiliateSlug != "john" || c.GrID == "" || c.UID == "" {
			t.Errorf("%s: Reditus received %+v", all[i].Name, c)
		}
	}
}

// The generic endpoint's copy-paste sender (examples/generic/send.mjs), run
// by Node with the standardwebhooks package, reaches Reditus through the
// binary: the documented sender (docs/providers/generic.md) and the bridge
// agree on Standard Webhooks.
func TestTheGenericNodeSenderReachesReditus(t *testing.T) {
	const dir = "../examples/generic"
	node, err := exec.LookPath("node")
	_, statErr := os.Stat(dir + "/node_modules/standardwebhooks")
	testenv.Require(t, err == nil && statErr == nil, "node, and `npm ci --prefix examples/generic`")
	red := newReditus(t)
	p := start(t, "REDITUS_API_KEY="+apiKey, "REDITUS_API_URL="+red.BaseURL, "GENERIC_WEBHOOK_SECRET="+genericSecret)
	send := func(grID string) []byte {
		t.Helper()
		cmd := exec.Command(node, "send.mjs", "--email", "node@example.com", "--uid", "usr_node", "--gr-id", grID)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "REDITUS_BRIDGE_URL="+p.base, "REDITUS_BRIDGE_SECRET="+genericSecret)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("node send.mjs: %v\n%s", err, out)
		}
		return out
	}

	// A bare click id carries no slug, so this one is skipped, and says so;
	// the second send names the affiliate and is forwarded.
	if out := send("0f8fad5b-d9cb-469f-a165-70867728950e"); !strings.Contains(string(out), `"outcome":"skipped"`) {
		t.Errorf("bare click id: %s", out)
	}
	if out := send("rl:0f8fad5b-d9cb-469f-a165-70867728950e::pk:::john:::sid:affiliate"); !strings.Contains(string(out), `"outcome":"forwarded"`) {
		t.Fatalf("node send.mjs: %s", out)
	}
	p.stop(t)
	want := reditus.Conversion{AffiliateSlug: "john", Email: "node@example.com", UID: "usr_node", GrID: "0f8fad5b-d9cb-469f-a165-70867728950e"}
	if got := red.Conversions(); len(got) != 1 || got[0] != want {
		t.Errorf("Reditus received %+v, want [%+v]", got, want)
	}
}

// The README's first minutes: a bridge with no configuration, and
// `simulate stripe` against it, which prints the dry-run conversion.
func TestSimulateShowsTheDryRunOfAnUnconfiguredBridge(t *testing.T) {
	p := start(t)
	for _, event := range []string{"customer.created", "checkout.session.completed", "customer.subscription.created"} {
		stdout, stderr, code := runCommand(t, nil, "simulate", "stripe", "--event", event, "--url", p.base+"/webhooks/stripe")
		if code != 0 {
			t.Fatalf("simulate %s: exit %d\n%s%s", event, code, stdout, stderr)
		}
		for _, want := range []string{"HTTP 200", `"outcome": "dry_run"`, `"affiliate_slug": "john"`, `"gr_id": "9b2f6c1e-7d4a-4e8b-a3c5-0f1e2d3c4b5a"`} {
			if !strings.Contains(stdout+stderr, want) {
				t.Errorf("simulate %s printed no %s:\n%s%s", event, want, stdout, stderr)
			}
		}
	}
	p.stop(t)
}
