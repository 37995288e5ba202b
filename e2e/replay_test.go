package e2e

import (
	"os"
	"strings"
	"testing"

	"github.com/getreditus/reditus-bridge/internal/testenv"
)

// backfill and recover, as the README runs them, against stripe-mock (which
// validates every request against Stripe's API spec) and a fake Reditus:
// every request they make is a valid Stripe API call, and they report what
// they read and skipped.
func TestBackfillAndRecoverMakeValidStripeAPICalls(t *testing.T) {
	url := os.Getenv("STRIPE_MOCK_URL")
	testenv.Require(t, url != "", "stripe-mock running, and STRIPE_MOCK_URL set to it")
	red := newReditus(t)
	env := []string{
		"REDITUS_API_KEY=" + apiKey, "REDITUS_API_URL=" + red.BaseURL,
		"STRIPE_API_KEY=sk_test_123", "STRIPE_API_URL=" + url,
		"STRIPE_ACCEPT_TEST_EVENTS=true", // stripe-mock's objects are test-mode
	}
	for _, args := range [][]string{
		{"backfill", "stripe", "--since", "2009-01-01"},
		{"backfill", "stripe", "--since", "2009-01-01", "--until", "2030-01-01", "--dry-run"},
		{"recover", "stripe", "--since", "30d"},
	} {
		stdout, stderr, code := runCommand(t, env, args...)
		out := stdout + stderr
		if code != 0 {
			t.Errorf("%v: exit %d\n%s", args, code, out)
			continue
		}
		for _, want := range []string{"read:      ", "skipped:"} {
			if !strings.Contains(out, want) {
				t.Errorf("%v printed no %q:\n%s", args, want, out)
			}
		}
		// stripe-mock's customer and session carry no referral data, so the
		// bridge looked further, at objects stripe-mock also served.
		if args[0] == "backfill" && !strings.Contains(out, "no Reditus referral data") {
			t.Errorf("%v:\n%s", args, out)
		}
	}
}
