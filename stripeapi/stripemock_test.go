package stripeapi

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/getreditus/reditus-bridge/internal/testenv"
	"github.com/getreditus/reditus-bridge/mapping"
)

// stripeMock returns a client of stripe-mock, Stripe's own mock of its API,
// which validates every request against Stripe's OpenAPI spec: a call it
// accepts is a valid Stripe API call. .ci/run installs and starts it.
func stripeMock(t *testing.T) *Client {
	t.Helper()
	url := os.Getenv("STRIPE_MOCK_URL")
	testenv.Require(t, url != "", "stripe-mock (go install github.com/stripe/stripe-mock@v0.203.0), running, and STRIPE_MOCK_URL set to it")
	return New(Options{Key: "sk_test_123", BaseURL: url, Timeout: 10 * time.Second})
}

func TestStripeMockLookups(t *testing.T) {
	c := stripeMock(t)
	related, err := c.Fetch(context.Background(), []mapping.StripeLookup{
		{Kind: mapping.LookupCustomer, ID: "cus_123"},
		{Kind: mapping.LookupSubscription, ID: "sub_123"},
		{Kind: mapping.LookupCustomerSubscriptions, ID: "cus_123"},
	})
	if err != nil {
		t.Fatalf("stripe-mock refused a look-up: %v", err)
	}
	if len(related) < 3 {
		t.Errorf("related %+v: want the customer, the subscription and the customer's subscriptions", related)
	}
}

func TestStripeMockListings(t *testing.T) {
	c := stripeMock(t)
	ctx := context.Background()
	w := Window{Since: time.Date(2009, 1, 1, 0, 0, 0, 0, time.UTC), Until: time.Now()}
	for name, list := range map[string]func(Visit) error{
		"customers":          func(v Visit) error { return c.EachCustomer(ctx, w, v) },
		"checkout sessions":  func(v Visit) error { return c.EachCheckoutSession(ctx, w, v) },
		"undelivered events": func(v Visit) error { return c.EachUndeliveredEvent(ctx, w.Since, v) },
	} {
		var n int
		err := list(func(kind string, body []byte) error {
			if _, err := mapStripe(t, body, mapping.Options{AcceptTestEvents: true}); err != nil {
				t.Errorf("%s: the pipeline cannot read %s", name, body)
			}
			n++
			return nil
		})
		if err != nil {
			t.Errorf("%s: stripe-mock refused the listing: %v", name, err)
		}
		if n == 0 {
			t.Errorf("%s: nothing listed", name)
		}
	}
}
