package mapping

import (
	"testing"

	"github.com/getreditus/reditus-bridge/reditus"
)

// An event without referral data names the related objects to look at, and
// maps again with what they hold.
func TestStripeLookups(t *testing.T) {
	tests := []struct {
		fixture string
		lookups []StripeLookup
		related []Related
		want    reditus.Conversion
	}{
		{
			// Checkout copies no metadata: the referral sits on the customer.
			fixture: "checkout.session.completed.app_reference.json",
			lookups: []StripeLookup{{"customer", customerID}, {"subscription", "sub_1QbC1d2E3f4G5h6I"}},
			related: []Related{{Name: "customer metadata", Metadata: Metadata{"gr_id": "rl:" + clickAffiliate + "::pk:::john:::sid:affiliate"}}},
			want:    reditus.Conversion{AffiliateSlug: "john", GrID: clickAffiliate, Email: "jane.doe@example.com", UID: customerID},
		},
		{
			// Cashier-style: on the subscription, found through the customer.
			fixture: "customer.created.no_referral.json",
			lookups: []StripeLookup{{"subscriptions", customerID}},
			related: []Related{{Name: "subscription sub_1 metadata", Metadata: Metadata{"refby": "jwe512"}}},
			want:    reditus.Conversion{AdvocateSlug: "jwe512", Email: "jane.doe@example.com", UID: customerID},
		},
	}
	for _, tt := range tests {
		t.Run(tt.fixture, func(t *testing.T) {
			ev, err := FromStripe(readFixture(t, tt.fixture), Options{})
			if err != nil || !ev.MissingReferral() {
				t.Fatalf("FromStripe = %+v, %v; want missing referral", ev, err)
			}
			if len(ev.Lookups) != len(tt.lookups) {
				t.Fatalf("lookups %+v, want %+v", ev.Lookups, tt.lookups)
			}
			for i := range tt.lookups {
				if ev.Lookups[i] != tt.lookups[i] {
					t.Errorf("lookup %d = %+v, want %+v", i, ev.Lookups[i], tt.lookups[i])
				}
			}
			got := ev.WithRelated(tt.related...)
			if got.Skip != "" || got.Conversion != tt.want {
				t.Errorf("WithRelated = %+v (skip %q), want %+v", got.Conversion, got.Skip, tt.want)
			}
		})
	}
}

func TestStripeLookupsFillTheEmail(t *testing.T) {
	body := `{"id":"evt_1","type":"customer.subscription.created","livemode":true,"data":{"object":
		{"id":"sub_1","customer":"cus_1","metadata":{}}}}`
	ev, err := FromStripe([]byte(body), Options{})
	if err != nil {
		t.Fatal(err)
	}
	got := ev.WithRelated(Related{Name: "customer cus_1 metadata", Metadata: Metadata{"red": "john"}, Email: "ada@example.com"})
	want := reditus.Conversion{AffiliateSlug: "john", Email: "ada@example.com", UID: "cus_1"}
	if got.Conversion != want {
		t.Errorf("got %+v, want %+v", got.Conversion, want)
	}
}

func TestStripeLookupsNameEveryObject(t *testing.T) {
	ev, err := FromStripe(readFixture(t, "checkout.session.completed.app_reference.json"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	got := ev.WithRelated(Related{Name: "customer cus_R2x8LmNq4TzK1a metadata"}, Related{Name: "subscription sub_1QbC1d2E3f4G5h6I (not found)"})
	want := "no Reditus referral data: looked for gr_id/affiliate_slug/advocate_slug in checkout session metadata, client_reference_id, customer cus_R2x8LmNq4TzK1a metadata and subscription sub_1QbC1d2E3f4G5h6I (not found)"
	if got.Skip != want {
		t.Errorf("skip\n %q\nwant\n %q", got.Skip, want)
	}
}

// Only a missing referral is worth a look: other skips name nothing.
func TestStripeNoLookupsForOtherSkips(t *testing.T) {
	for _, fixture := range []string{"checkout.session.completed.unpaid.json", "customer.created.test_mode.json", "invoice.paid.json", "customer.updated.address.json", "customer.created.json"} {
		ev, err := FromStripe(readFixture(t, fixture), Options{})
		if err != nil {
			t.Fatal(err)
		}
		if ev.MissingReferral() || len(ev.Lookups) > 0 {
			t.Errorf("%s: missing referral %v, lookups %+v", fixture, ev.MissingReferral(), ev.Lookups)
		}
	}
}
