package providers

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/getreditus/reditus-bridge/mapping"
	"github.com/getreditus/reditus-bridge/reditus"
)

const customerID = "cus_R2x8LmNq4TzK1a"

func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "stripe", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestStripeConverts(t *testing.T) {
	tests := []struct {
		fixture string
		opts    mapping.Options
		want    reditus.Conversion
	}{
		{
			// Percent-encoded cookie in customer metadata; uid is the customer id.
			fixture: "customer.created.json",
			want:    reditus.Conversion{AffiliateSlug: "john", GrID: clickAffiliate, Email: "jane.doe@example.com", UID: customerID},
		},
		{
			// An explicit slug under an alias, in another case, wins over the
			// cookie's; the cookie still gives the click id; user_id is the uid.
			fixture: "customer.created.explicit_slug.json",
			want:    reditus.Conversion{AffiliateSlug: "mary", GrID: clickAffiliate, Email: "jane.doe@example.com", UID: "usr_42"},
		},
		{
			// Any API version is read, since only stable fields are decoded.
			fixture: "customer.created.api_2020.json",
			want:    reditus.Conversion{AffiliateSlug: "john", GrID: clickAffiliate, Email: "jane.doe@example.com", UID: customerID},
		},
		{
			fixture: "customer.created.test_mode.json",
			opts:    mapping.Options{AcceptTestEvents: true},
			want:    reditus.Conversion{AffiliateSlug: "john", GrID: clickAffiliate, Email: "jane.doe@example.com", UID: customerID},
		},
		{
			// A referral-program cookie names an advocate, not an affiliate.
			fixture: "customer.updated.metadata.json",
			want:    reditus.Conversion{AdvocateSlug: "jwe512", GrID: clickReferral, Email: "jane.doe@example.com", UID: customerID},
		},
		{
			// The cookie travels in client_reference_id as gr_ + base64url.
			fixture: "checkout.session.completed.json",
			want:    reditus.Conversion{AffiliateSlug: "john", GrID: clickAffiliate, Email: "jane.doe@example.com", UID: customerID},
		},
		{
			// No customer (guest payment): email from customer_email, uid from metadata.
			fixture: "checkout.session.completed.guest.json",
			want:    reditus.Conversion{AdvocateSlug: "jwe512", Email: "sam@example.org", UID: "usr_77"},
		},
		{
			fixture: "checkout.session.completed.free.json",
			want:    reditus.Conversion{AffiliateSlug: "john", GrID: clickAffiliate, Email: "jane.doe@example.com", UID: customerID},
		},
		{
			fixture: "checkout.session.async_payment_succeeded.json",
			want:    reditus.Conversion{AffiliateSlug: "john", GrID: clickAffiliate, Email: "jane.doe@example.com", UID: customerID},
		},
		{
			// A subscription has no email; "RED" is the alias red in upper case.
			fixture: "customer.subscription.created.json",
			want:    reditus.Conversion{AffiliateSlug: "john", UID: "usr_42"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.fixture, func(t *testing.T) {
			got, err := mapStripe(readFixture(t, tt.fixture), tt.opts)
			if err != nil {
				t.Fatalf("mapStripe: %v", err)
			}
			if got.Skip != "" {
				t.Fatalf("skipped: %s", got.Skip)
			}
			if got.Conversion != tt.want {
				t.Errorf("conversion:\n got %+v\nwant %+v", got.Conversion, tt.want)
			}
			if !strings.HasPrefix(got.ID, "evt_") || got.Type == "" {
				t.Errorf("event id %q, type %q: want the event's", got.ID, got.Type)
			}
		})
	}
}

func TestStripeSkips(t *testing.T) {
	tests := []struct {
		fixture string
		reason  []string // every one must appear in the skip reason
	}{
		{"customer.created.no_referral.json", []string{"no Reditus referral data", "gr_id/affiliate_slug/advocate_slug", "customer metadata"}},
		{"customer.created.bad_cookie.json", []string{"no Reditus referral data", "gr_id in customer metadata", "not a Reditus _gr_id cookie"}},
		{"customer.created.test_mode.json", []string{"livemode: false", "STRIPE_ACCEPT_TEST_EVENTS=true"}},
		{"customer.updated.address.json", []string{"changed neither metadata nor email"}},
		{"checkout.session.completed.app_reference.json", []string{"no Reditus referral data", "checkout session metadata and client_reference_id"}},
		{"checkout.session.completed.unpaid.json", []string{"unpaid", "checkout.session.async_payment_succeeded"}},
		{"invoice.paid.json", []string{"invoice.paid does not convert", "customer.created"}},
	}
	for _, tt := range tests {
		t.Run(tt.fixture, func(t *testing.T) {
			got, err := mapStripe(readFixture(t, tt.fixture), mapping.Options{})
			wantSkip(t, got, err, tt.reason...)
		})
	}
}

func TestStripeNoIdentity(t *testing.T) {
	body := `{"id":"evt_1","type":"checkout.session.completed","livemode":true,"data":{"object":
		{"object":"checkout.session","customer":null,"customer_details":null,"customer_email":null,
		 "metadata":{"affiliate_slug":"john"},"payment_status":"paid"}}}`
	got, err := mapStripe([]byte(body), mapping.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(got.Skip, "no email or user id") {
		t.Errorf("skip = %q, want no email or user id", got.Skip)
	}
}

func TestStripeExpandedCustomer(t *testing.T) {
	body := `{"id":"evt_1","type":"checkout.session.completed","livemode":true,"data":{"object":
		{"customer":{"id":"cus_X","object":"customer"},"customer_details":{"email":"a@b.c"},
		 "metadata":{"gr_id":"` + clickAffiliate + `","red":"john"},"payment_status":"paid"}}}`
	got, err := mapStripe([]byte(body), mapping.Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := reditus.Conversion{AffiliateSlug: "john", GrID: clickAffiliate, Email: "a@b.c", UID: "cus_X"}
	if got.Conversion != want {
		t.Errorf("got %+v, want %+v", got.Conversion, want)
	}
}

// An event the bridge does not convert is skipped even when its object has
// fields the converting objects read differently.
func TestStripeOtherObjectsSkip(t *testing.T) {
	body := `{"id":"evt_1","type":"issuing_cardholder.created","livemode":true,"data":{"object":
		{"id":"ich_1","email":{"odd":true},"metadata":"not a map","customer":5}}}`
	ev, err := mapStripe([]byte(body), mapping.Options{})
	wantSkip(t, ev, err, "issuing_cardholder.created does not convert")
}

func TestStripeInvalid(t *testing.T) {
	for name, body := range map[string]string{
		"not json":          `{"id":`,
		"no id":             `{"type":"customer.created","livemode":true,"data":{"object":{}}}`,
		"no data.object":    `{"id":"evt_1","type":"customer.created","livemode":true,"data":{}}`,
		"object is a list":  `{"id":"evt_1","type":"customer.created","livemode":true,"data":{"object":[1]}}`,
		"customer a number": `{"id":"evt_1","type":"customer.subscription.created","livemode":true,"data":{"object":{"customer":7}}}`,
		"array":             `[]`,
	} {
		t.Run(name, func(t *testing.T) {
			_, err := mapStripe([]byte(body), mapping.Options{})
			if !errors.Is(err, mapping.ErrInvalidPayload) {
				t.Errorf("err = %v, want ErrInvalidPayload", err)
			}
		})
	}
}

// An event without referral data names the related objects to look at, and
// maps again with what they hold.
func TestStripeLookups(t *testing.T) {
	tests := []struct {
		fixture string
		lookups []mapping.StripeLookup
		related []mapping.Related
		want    reditus.Conversion
	}{
		{
			// Checkout copies no metadata: the referral sits on the customer.
			fixture: "checkout.session.completed.app_reference.json",
			lookups: []mapping.StripeLookup{{Kind: mapping.LookupCustomer, ID: customerID}, {Kind: mapping.LookupSubscription, ID: "sub_1QbC1d2E3f4G5h6I"}},
			related: []mapping.Related{{Name: "customer metadata", Metadata: mapping.Metadata{"gr_id": "rl:" + clickAffiliate + "::pk:::john:::sid:affiliate"}}},
			want:    reditus.Conversion{AffiliateSlug: "john", GrID: clickAffiliate, Email: "jane.doe@example.com", UID: customerID},
		},
		{
			// Cashier-style: on the subscription, found through the customer.
			fixture: "customer.created.no_referral.json",
			lookups: []mapping.StripeLookup{{Kind: mapping.LookupCustomerSubscriptions, ID: customerID}},
			related: []mapping.Related{{Name: "subscription sub_1 metadata", Metadata: mapping.Metadata{"refby": "jwe512"}}},
			want:    reditus.Conversion{AdvocateSlug: "jwe512", Email: "jane.doe@example.com", UID: customerID},
		},
	}
	for _, tt := range tests {
		t.Run(tt.fixture, func(t *testing.T) {
			ev, err := mapStripe(readFixture(t, tt.fixture), mapping.Options{})
			if err != nil || !ev.MissingReferral() {
				t.Fatalf("mapStripe = %+v, %v; want missing referral", ev, err)
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
	ev, err := mapStripe([]byte(body), mapping.Options{})
	if err != nil {
		t.Fatal(err)
	}
	got := ev.WithRelated(mapping.Related{Name: "customer cus_1 metadata", Metadata: mapping.Metadata{"red": "john"}, Email: "ada@example.com"})
	want := reditus.Conversion{AffiliateSlug: "john", Email: "ada@example.com", UID: "cus_1"}
	if got.Conversion != want {
		t.Errorf("got %+v, want %+v", got.Conversion, want)
	}
}

func TestStripeLookupsNameEveryObject(t *testing.T) {
	ev, err := mapStripe(readFixture(t, "checkout.session.completed.app_reference.json"), mapping.Options{})
	if err != nil {
		t.Fatal(err)
	}
	got := ev.WithRelated(mapping.Related{Name: "customer cus_R2x8LmNq4TzK1a metadata"}, mapping.Related{Name: "subscription sub_1QbC1d2E3f4G5h6I (not found)"})
	want := "no Reditus referral data: looked for gr_id/affiliate_slug/advocate_slug in checkout session metadata, client_reference_id, customer cus_R2x8LmNq4TzK1a metadata and subscription sub_1QbC1d2E3f4G5h6I (not found)"
	if got.Skip != want {
		t.Errorf("skip\n %q\nwant\n %q", got.Skip, want)
	}
}

// Only a missing referral is worth a look: other skips name nothing.
func TestStripeNoLookupsForOtherSkips(t *testing.T) {
	for _, fixture := range []string{"checkout.session.completed.unpaid.json", "customer.created.test_mode.json", "invoice.paid.json", "customer.updated.address.json", "customer.created.json"} {
		ev, err := mapStripe(readFixture(t, fixture), mapping.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if ev.MissingReferral() || len(ev.Lookups) > 0 {
			t.Errorf("%s: missing referral %v, lookups %+v", fixture, ev.MissingReferral(), ev.Lookups)
		}
	}
}

func FuzzMapStripe(f *testing.F) {
	fuzzMapping(f, "stripe", func(b []byte) (mapping.Event, error) {
		return mapStripe(b, mapping.Options{AcceptTestEvents: true})
	})
}
