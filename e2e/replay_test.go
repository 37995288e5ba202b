package e2e

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/getreditus/reditus-bridge/internal/fakestripe"
	"github.com/getreditus/reditus-bridge/internal/testenv"
	"github.com/getreditus/reditus-bridge/reditus"
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

// A second backfill over the same window, on the journal of the first,
// sends nothing and says so: already delivered, not forwarded.
func TestBackfillRerunSaysAlreadyDelivered(t *testing.T) {
	red := newReditus(t)
	stripe := fakestripe.New(t)
	created := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC).Unix()
	stripe.Customers["cus_a"] = fakestripe.Customer("cus_a", "a@example.com", created, map[string]string{"red": "john"})
	stripe.Customers["cus_b"] = fakestripe.Customer("cus_b", "b@example.com", created+1, map[string]string{"refby": "jwe512"})
	stripe.Customers["cus_c"] = fakestripe.Customer("cus_c", "c@example.com", created+2, nil)
	// Requests takes the fake's lock, which its handler takes too: the race
	// detector then knows the customers were written before another
	// process's request read them.
	_ = stripe.Requests()
	env := []string{
		"REDITUS_API_KEY=" + apiKey, "REDITUS_API_URL=" + red.BaseURL,
		"STRIPE_API_KEY=" + fakestripe.Key, "STRIPE_API_URL=" + stripe.URL, "DATA_DIR=" + t.TempDir(),
	}
	args := []string{"backfill", "stripe", "--since", "2026-01-01", "--until", "2027-01-01"}
	first, stderr, code := runCommand(t, env, args...)
	if code != 0 || !strings.Contains(first, "forwarded: 2\n") || !strings.Contains(first, "skipped:   1\n") {
		t.Fatalf("first run: exit %d\n%s%s", code, first, stderr)
	}
	second, stderr, code := runCommand(t, env, args...)
	if code != 0 {
		t.Fatalf("second run: exit %d\n%s%s", code, second, stderr)
	}
	for _, want := range []string{"forwarded: 0\n", "already delivered: 2\n", "skipped:   1\n", "not delivered: 0\n"} {
		if !strings.Contains(second, want) {
			t.Errorf("second run lacks %q:\n%s", want, second)
		}
	}
	if strings.Contains(second, "duplicate") {
		t.Errorf("second run counts duplicates, but it sent nothing:\n%s", second)
	}
	if n := red.Calls(reditus.CallTrack); n != 2 {
		t.Errorf("Reditus got %d conversions over both runs, want 2", n)
	}
}
