package mapping

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/getreditus/reditus-bridge/reditus"
)

const (
	clickAffiliate = "0f8fad5b-d9cb-469f-a165-70867728950e"
	clickReferral  = "7c9e6679-7425-40de-944b-e07fc1f90ae7"
	customerID     = "cus_R2x8LmNq4TzK1a"
)

func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "stripe", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestFromStripeConverts(t *testing.T) {
	tests := []struct {
		fixture string
		opts    Options
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
			opts:    Options{AcceptTestEvents: true},
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
			got, err := FromStripe(readFixture(t, tt.fixture), tt.opts)
			if err != nil {
				t.Fatalf("FromStripe: %v", err)
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

func TestFromStripeSkips(t *testing.T) {
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
			got, err := FromStripe(readFixture(t, tt.fixture), Options{})
			wantSkip(t, got, err, tt.reason...)
		})
	}
}

func TestFromStripeNoIdentity(t *testing.T) {
	body := `{"id":"evt_1","type":"checkout.session.completed","livemode":true,"data":{"object":
		{"object":"checkout.session","customer":null,"customer_details":null,"customer_email":null,
		 "metadata":{"affiliate_slug":"john"},"payment_status":"paid"}}}`
	got, err := FromStripe([]byte(body), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(got.Skip, "no email or user id") {
		t.Errorf("skip = %q, want no email or user id", got.Skip)
	}
}

func TestFromStripeExpandedCustomer(t *testing.T) {
	body := `{"id":"evt_1","type":"checkout.session.completed","livemode":true,"data":{"object":
		{"customer":{"id":"cus_X","object":"customer"},"customer_details":{"email":"a@b.c"},
		 "metadata":{"gr_id":"` + clickAffiliate + `","red":"john"},"payment_status":"paid"}}}`
	got, err := FromStripe([]byte(body), Options{})
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
func TestFromStripeOtherObjectsSkip(t *testing.T) {
	body := `{"id":"evt_1","type":"issuing_cardholder.created","livemode":true,"data":{"object":
		{"id":"ich_1","email":{"odd":true},"metadata":"not a map","customer":5}}}`
	ev, err := FromStripe([]byte(body), Options{})
	wantSkip(t, ev, err, "issuing_cardholder.created does not convert")
}

func TestFromStripeInvalid(t *testing.T) {
	for name, body := range map[string]string{
		"not json":          `{"id":`,
		"no id":             `{"type":"customer.created","livemode":true,"data":{"object":{}}}`,
		"no data.object":    `{"id":"evt_1","type":"customer.created","livemode":true,"data":{}}`,
		"object is a list":  `{"id":"evt_1","type":"customer.created","livemode":true,"data":{"object":[1]}}`,
		"customer a number": `{"id":"evt_1","type":"customer.subscription.created","livemode":true,"data":{"object":{"customer":7}}}`,
		"array":             `[]`,
	} {
		t.Run(name, func(t *testing.T) {
			_, err := FromStripe([]byte(body), Options{})
			if !errors.Is(err, ErrInvalidPayload) {
				t.Errorf("err = %v, want ErrInvalidPayload", err)
			}
		})
	}
}

// wantSkip checks that a mapping skipped, with a reason that says each of
// reason.
func wantSkip(t *testing.T, got Event, err error, reason ...string) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	if got.Skip == "" {
		t.Fatalf("converted to %+v, want a skip", got.Conversion)
	}
	for _, want := range reason {
		if !strings.Contains(got.Skip, want) {
			t.Errorf("skip reason %q does not say %q", got.Skip, want)
		}
	}
}
