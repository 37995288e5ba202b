package mapping

import (
	"errors"
	"net/url"
	"strings"
	"testing"
)

func TestParseCookie(t *testing.T) {
	const click = "0f8fad5b-d9cb-469f-a165-70867728950e"
	tests := []struct {
		name, value string
		want        Referral
	}{
		{"affiliate", "1732492800:" + click + "::pk:uid1::john:::sid:affiliate", Referral{GrID: click, AffiliateSlug: "john"}},
		{"referral program", "rl:" + click + "::pk:::jwe512:::sid:referral", Referral{GrID: click, AdvocateSlug: "jwe512"}},
		{"competitor slug", "rl:" + click + "::pk::::acme:fpr:sid:affiliate", Referral{GrID: click, AffiliateSlug: "acme"}},
		{"competitor slug in a referral program", "rl:" + click + "::pk::::acme:via:sid:referral", Referral{GrID: click, AffiliateSlug: "acme"}},
		{"slug wins over competitor slug", "rl:" + click + "::pk:::john:acme:fpr:sid:affiliate", Referral{GrID: click, AffiliateSlug: "john"}},
		{"percent-encoded", strings.ReplaceAll("rl:"+click+"::pk:::john:::sid:affiliate", ":", "%3A"), Referral{GrID: click, AffiliateSlug: "john"}},
		{"lower-case percent-encoding", strings.ReplaceAll("rl:"+click+"::pk:::john:::sid:affiliate", ":", "%3a"), Referral{GrID: click, AffiliateSlug: "john"}},
		{"unknown program type is affiliate", "rl:" + click + "::pk:::john:::sid:", Referral{GrID: click, AffiliateSlug: "john"}},
		{"no click id", "rl:::pk:::john:::sid:affiliate", Referral{AffiliateSlug: "john"}},
		{"bare click id", click, Referral{GrID: click}},
		{"bare click id upper case, spaces", "  " + strings.ToUpper(click) + " ", Referral{GrID: strings.ToUpper(click)}},
		{"client_reference_id form", ClientReferenceID("rl:" + click + "::pk:::john:::sid:affiliate"), Referral{GrID: click, AffiliateSlug: "john"}},
		// Browser helpers before issue 9 encoded the cookie as stored.
		{"client_reference_id of the percent-encoded cookie", ClientReferenceID(strings.ReplaceAll("rl:"+click+"::pk:::john:::sid:affiliate", ":", "%3A")), Referral{GrID: click, AffiliateSlug: "john"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseCookie(tt.value)
			if err != nil {
				t.Fatalf("ParseCookie(%q): %v", tt.value, err)
			}
			if got != tt.want {
				t.Errorf("ParseCookie(%q)\n got %+v\nwant %+v", tt.value, got, tt.want)
			}
		})
	}
}

func TestParseCookieRejects(t *testing.T) {
	const click = "0f8fad5b-d9cb-469f-a165-70867728950e"
	for _, value := range []string{
		"",
		"not-a-cookie",
		"a:b:c",
		"rl:x::pk:::john:::sid:affiliate:extra",
		"rl:::pk:::::sid:affiliate", // neither click id nor slug
		"rl%ZZ",
		"gr_!!!",
		"rl:" + click + "::pk:::jo\x00hn:::sid:affiliate",                  // a control character
		ClientReferenceID("rl:" + click + "::pk:::t\xf0M:::sid:affiliate"), // not UTF-8
		"0f8fad5b-d9cb-469f-a165-70867728950",                              // one digit short of a UUID
		"rl:x::pk:::john:::sid:affiliate",                                  // a click id that is not a UUID
		"rl:" + click + "0::pk:::john:::sid:affiliate",                     // one digit too many
		"rl:" + strings.Repeat("a", 100) + "::pk:::john:::sid:affiliate",   // not a click id at all
	} {
		if got, err := ParseCookie(value); !errors.Is(err, ErrNotCookie) {
			t.Errorf("ParseCookie(%q) = %+v, %v; want ErrNotCookie", value, got, err)
		}
	}
}

func TestClientReferenceIDFitsStripe(t *testing.T) {
	// Stripe allows letters, digits, '-' and '_' in a client_reference_id.
	id := ClientReferenceID("1732492800:0f8fad5b-d9cb-469f-a165-70867728950e::pk_live_3x:::john:::s_81c2:affiliate")
	for _, r := range id {
		if !(r == '-' || r == '_' || 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9') {
			t.Fatalf("%q has %q, which Stripe does not allow", id, r)
		}
	}
	if len(id) > 200 {
		t.Errorf("len %d is over Stripe's 200", len(id))
	}
}

// The browser helper percent-decodes the cookie before it encodes it, so
// that a long cookie like this one still fits in Stripe's 200 characters.
// References the older helper made from the stored form are still in Stripe,
// so both must decode to the same referral.
func TestClientReferenceIDOfLongCookie(t *testing.T) {
	const (
		stored      = "1732492800%3A0f8fad5b-d9cb-469f-a165-70867728950e%3A%3Apk_live_51PqR7sKx2mNv8Lc%3Auser_2pKx9fQ3mZ7wL1nB%3A%3Ajane-doe-growth%3A%3A%3As_7c9e6679742540de%3Aaffiliate"
		stripeLimit = 200
	)
	decoded, err := url.PathUnescape(stored)
	if err != nil {
		t.Fatal(err)
	}
	want := Referral{GrID: "0f8fad5b-d9cb-469f-a165-70867728950e", AffiliateSlug: "jane-doe-growth"}
	tests := []struct {
		name, ref string
		fits      bool
	}{
		{"stored form (older helper)", ClientReferenceID(stored), false},
		{"decoded form (helper now)", ClientReferenceID(decoded), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if fits := len(tt.ref) <= stripeLimit; fits != tt.fits {
				t.Errorf("len %d fits in Stripe's %d: %v, want %v", len(tt.ref), stripeLimit, fits, tt.fits)
			}
			got, err := ParseCookie(tt.ref)
			if err != nil || got != want {
				t.Errorf("ParseCookie(%q) = %+v, %v; want %+v", tt.ref, got, err, want)
			}
		})
	}
}

func FuzzParseCookie(f *testing.F) {
	for _, seed := range []string{
		"1732492800:0f8fad5b-d9cb-469f-a165-70867728950e::pk:uid::john:::sid:affiliate",
		"rl:7c9e6679-7425-40de-944b-e07fc1f90ae7::pk:::jwe512:::sid:referral",
		"rl%3A7c9e6679-7425-40de-944b-e07fc1f90ae7%3A%3Apk%3A%3A%3A%3Aacme%3Afpr%3Asid%3Aaffiliate",
		"0f8fad5b-d9cb-469f-a165-70867728950e",
		"gr_cmw6OjpwazovOi86OjpzaWQ6YWZmaWxpYXRl",
		"", ":::::::::", "%", "gr_",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, value string) {
		ref, err := ParseCookie(value)
		if err != nil {
			if !errors.Is(err, ErrNotCookie) {
				t.Fatalf("error %v does not wrap ErrNotCookie", err)
			}
			return
		}
		if ref.GrID == "" && !ref.hasSlug() {
			t.Fatalf("ParseCookie(%q) = %+v: accepted with nothing in it", value, ref)
		}
		if ref.GrID != "" && !isUUID(ref.GrID) {
			t.Fatalf("ParseCookie(%q) = %+v: the click id is not a UUID", value, ref)
		}
		if ref.AffiliateSlug != "" && ref.AdvocateSlug != "" {
			t.Fatalf("ParseCookie(%q) = %+v: a cookie names one program", value, ref)
		}
		// A raw cookie that was accepted survives the client_reference_id
		// round trip.
		if raw := strings.TrimSpace(value); !strings.HasPrefix(raw, ClientReferencePrefix) {
			again, err := ParseCookie(ClientReferenceID(raw))
			if err != nil || again != ref {
				t.Fatalf("round trip of %q: %+v, %v; want %+v", value, again, err, ref)
			}
		}
	})
}
