package mapping

import (
	"slices"
	"testing"
)

// Where the bridge looked is said in mapping, the same way for every look-up,
// so that a skip reason names each object the way a person finds it in
// Stripe's dashboard.
func TestStripeLookupNames(t *testing.T) {
	tests := []struct {
		lookup               StripeLookup
		what, found, missing string
	}{
		{StripeLookup{LookupCustomer, "cus_1"}, "customer cus_1", "customer cus_1 metadata", "customer cus_1 (not found)"},
		{StripeLookup{LookupSubscription, "sub_1"}, "subscription sub_1", "subscription sub_1 metadata", "subscription sub_1 (not found)"},
		{StripeLookup{LookupCustomerSubscriptions, "cus_1"}, "subscriptions of customer cus_1", "subscriptions of customer cus_1 metadata", "subscriptions of customer cus_1 (none)"},
		// The zero kind is no look-up: it must not read as a customer.
		{StripeLookup{ID: "cus_1"}, "look-up kind 0 of cus_1", "look-up kind 0 of cus_1 metadata", "look-up kind 0 of cus_1 (not found)"},
	}
	for _, tt := range tests {
		t.Run(tt.what, func(t *testing.T) {
			if got := tt.lookup.String(); got != tt.what {
				t.Errorf("String() = %q, want %q", got, tt.what)
			}
			md := Metadata{"red": "john"}
			found := tt.lookup.Found(md, "ada@example.com")
			if found.Name != tt.found || found.Metadata.Get(KeysAffiliateSlug) != "john" || found.Email != "ada@example.com" {
				t.Errorf("Found = %+v, want %q with the metadata and email", found, tt.found)
			}
			if got := tt.lookup.Missing(); got.Name != tt.missing || got.Metadata != nil || got.Email != "" {
				t.Errorf("Missing = %+v, want %q and empty", got, tt.missing)
			}
		})
	}
}

// Only an event that lacks its referral data names objects to look at, and
// only objects that exist: NeedsLookups decides, WithLookups follows it.
func TestWithLookups(t *testing.T) {
	who := Who{Email: "ada@example.com", Looked: "email"}
	missing := Convert(Event{ID: "evt_1"}, who, Place{"customer metadata", Metadata{}})
	referred := Convert(Event{ID: "evt_1"}, who, Place{"customer metadata", Metadata{"red": "john"}})
	invalid := Convert(Event{ID: "evt_1"}, who, Place{"customer metadata", Metadata{"red": "jo\x00hn"}})
	noWho := Convert(Event{ID: "evt_1"}, Who{Looked: "nothing"}, Place{"customer metadata", Metadata{"red": "john"}})
	customer := StripeLookup{LookupCustomer, "cus_1"}
	subscription := StripeLookup{LookupSubscription, "sub_1"}
	guest := StripeLookup{LookupCustomer, ""} // a guest checkout has no customer

	tests := []struct {
		name       string
		ev         Event
		candidates []StripeLookup
		want       []StripeLookup
	}{
		{"missing referral: every object that exists, in order", missing, []StripeLookup{customer, guest, subscription}, []StripeLookup{customer, subscription}},
		{"missing referral, no object exists", missing, []StripeLookup{guest}, nil},
		{"converts", referred, []StripeLookup{customer, subscription}, nil},
		{"an invalid slug is no missing referral", invalid, []StripeLookup{customer}, nil},
		{"no email or uid is no missing referral", noWho, []StripeLookup{customer}, nil},
		{"skipped before mapping", Event{ID: "evt_1", Skip: "test-mode event"}, []StripeLookup{customer}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev := tt.ev.WithLookups(tt.candidates...)
			if !slices.Equal(ev.Lookups, tt.want) {
				t.Errorf("Lookups = %+v, want %+v", ev.Lookups, tt.want)
			}
			if got, want := ev.NeedsLookups(), len(tt.want) > 0; got != want {
				t.Errorf("NeedsLookups() = %v, want %v", got, want)
			}
		})
	}
}
