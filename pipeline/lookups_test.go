package pipeline

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/getreditus/reditus-bridge/internal/fakestripe"
	"github.com/getreditus/reditus-bridge/internal/webhooktest"
	"github.com/getreditus/reditus-bridge/reditus"
	"github.com/getreditus/reditus-bridge/stripeapi"
)

// The fixture's session (checkout.session.completed.app_reference.json) has
// no referral data; its customer and subscription are these.
const (
	sessionCustomer     = "cus_R2x8LmNq4TzK1a"
	sessionSubscription = "sub_1QbC1d2E3f4G5h6I"
	affiliateCookie     = "1732492800:0f8fad5b-d9cb-469f-a165-70867728950e::pk_live_3x:::john:::s_81c2:affiliate"
)

func stripeWithObjects(t *testing.T, customerMeta, subscriptionMeta map[string]string) (*fakestripe.Server, StripeFetcher) {
	fake := fakestripe.New(t)
	fake.Customers[sessionCustomer] = fakestripe.Customer(sessionCustomer, "jane.doe@example.com", 1, customerMeta)
	fake.Subscriptions[sessionSubscription] = fakestripe.Subscription(sessionSubscription, sessionCustomer, subscriptionMeta)
	return fake, stripeapi.New(stripeapi.Options{Key: fakestripe.Key, BaseURL: fake.URL, Timeout: time.Second})
}

func TestLookupsFindTheReferral(t *testing.T) {
	want := reditus.Conversion{AffiliateSlug: "john", GrID: "0f8fad5b-d9cb-469f-a165-70867728950e", Email: "jane.doe@example.com", UID: sessionCustomer}
	for name, meta := range map[string][2]map[string]string{
		"only on the customer":     {{"gr_id": affiliateCookie}, nil},
		"only on the subscription": {nil, {"gr_id": affiliateCookie}},
	} {
		t.Run(name, func(t *testing.T) {
			_, fetcher := stripeWithObjects(t, meta[0], meta[1])
			b := newBridgeWithStripe(t, nil, fetcher)
			b.do(t, stripeWebhook(stripeFixture(t, "checkout.session.completed.app_reference.json"), stripeSecret, time.Now())).Is(t, http.StatusOK, "forwarded")
			if got := b.reditus.Conversions(); len(got) != 1 || got[0] != want {
				t.Errorf("Reditus received %+v, want [%+v]", got, want)
			}
		})
		t.Run(name+", without STRIPE_API_KEY", func(t *testing.T) {
			b := newBridge(t, nil)
			r := b.do(t, stripeWebhook(stripeFixture(t, "checkout.session.completed.app_reference.json"), stripeSecret, time.Now()))
			r.Is(t, http.StatusOK, "skipped")
			webhooktest.MustContain(t, r.Reason, "checkout session metadata and client_reference_id")
		})
	}
}

func TestLookupsNameEveryObjectLookedAt(t *testing.T) {
	fake, fetcher := stripeWithObjects(t, nil, nil)
	b := newBridgeWithStripe(t, nil, fetcher)
	r := b.do(t, stripeWebhook(stripeFixture(t, "checkout.session.completed.app_reference.json"), stripeSecret, time.Now()))
	r.Is(t, http.StatusOK, "skipped")
	webhooktest.MustContain(t, r.Reason, "checkout session metadata, client_reference_id, customer "+sessionCustomer+" metadata and subscription "+sessionSubscription+" metadata")
	if n := len(fake.Requests()); n != 2 {
		t.Errorf("%d Stripe API calls, want 2 (customer, subscription)", n)
	}
	if n := len(b.reditus.Conversions()); n != 0 {
		t.Errorf("Reditus called %d times", n)
	}
}

// Events with referral data, or skipped for another reason, cost no call.
func TestLookupsOnlyWhenNeeded(t *testing.T) {
	fake, fetcher := stripeWithObjects(t, nil, nil)
	b := newBridgeWithStripe(t, nil, fetcher)
	for _, f := range []string{"checkout.session.completed.json", "checkout.session.completed.unpaid.json", "invoice.paid.json"} {
		b.do(t, stripeWebhook(stripeFixture(t, f), stripeSecret, time.Now()))
	}
	if reqs := fake.Requests(); len(reqs) != 0 {
		t.Errorf("Stripe API called: %q", reqs)
	}
}

// Stripe API failures follow the status table: the sender retries.
func TestLookupFailures(t *testing.T) {
	for _, tt := range []struct {
		stripe  int
		status  int
		outcome string
	}{
		{http.StatusInternalServerError, http.StatusServiceUnavailable, "retry"},
		{http.StatusTooManyRequests, http.StatusServiceUnavailable, "retry"},
		{http.StatusUnauthorized, http.StatusInternalServerError, "retry"},
	} {
		fake, fetcher := stripeWithObjects(t, nil, nil)
		fake.Fail = func(*http.Request) int { return tt.stripe }
		b := newBridgeWithStripe(t, nil, fetcher)
		r := b.do(t, stripeWebhook(stripeFixture(t, "checkout.session.completed.app_reference.json"), stripeSecret, time.Now()))
		r.Is(t, tt.status, tt.outcome)
		if !strings.Contains(r.Reason, "look up related stripe objects") || r.EventID == "" {
			t.Errorf("Stripe %d: reason %q, event id %q", tt.stripe, r.Reason, r.EventID)
		}
	}
}
