package mapping

import (
	"testing"

	"github.com/getreditus/reditus-bridge/reditus"
)

// The value read for a key never depends on Go's map order: the exact key,
// then its other spellings in byte order, then the next alias.
func TestMetadataPrecedence(t *testing.T) {
	tests := []struct {
		name    string
		meta    Metadata
		wantVal string
		wantKey string
	}{
		{"exact key wins over its case variants", Metadata{"red": "exact", "RED": "upper", "Red": "title"}, "exact", "red"},
		{"without the exact key, variants in byte order", Metadata{"Red": "title", "RED": "upper", "rEd": "odd"}, "upper", "RED"},
		{"two variants", Metadata{"rED": "b", "Red": "a"}, "a", "Red"},
		{"an empty variant does not count", Metadata{"RED": " ", "Red": "title"}, "title", "Red"},
		{"a non-string variant does not count", Metadata{"RED": 7, "Red": "title"}, "title", "Red"},
		{"an earlier alias in any case wins over a later exact one", Metadata{"red": "alias", "AFFILIATE_SLUG": "canonical", "Affiliate_Slug": "other"}, "canonical", "AFFILIATE_SLUG"},
		{"the canonical name wins over the other aliases", Metadata{"reditus_affiliate_slug": "prefixed", "affiliate_slug": "canonical", "red": "short"}, "canonical", "affiliate_slug"},
		{"values are trimmed", Metadata{"RED": "  john\t"}, "john", "RED"},
		// strings.EqualFold would match U+017F (long s) and U+212A (Kelvin)
		// to s and k: a key that only looks like ours is not ours.
		{"only ASCII case folds", Metadata{"affiliate_ſlug": "long-s", "reditus_affiliate_\u212Aey": "kelvin"}, "", ""},
		{"nothing under any alias", Metadata{"redd": "x", "re": "y"}, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Go randomises map order on every range: one answer in 100
			// runs is what a redelivered event needs.
			for range 100 {
				val, key := tt.meta.lookup(KeysAffiliateSlug)
				if val != tt.wantVal || key != tt.wantKey {
					t.Fatalf("lookup = %q under %q, want %q under %q", val, key, tt.wantVal, tt.wantKey)
				}
			}
		})
	}
}

// The same signed event maps to one conversion every time, whatever the
// provider, when its metadata holds case variants of a key.
func TestCaseVariantsMapTheSameEveryTime(t *testing.T) {
	tests := []struct {
		name  string
		parse func([]byte) (Event, error)
		body  string
		want  reditus.Conversion
	}{
		{"stripe customer metadata", func(b []byte) (Event, error) { return FromStripe(b, Options{}) },
			`{"id":"evt_1","type":"customer.created","livemode":true,"data":{"object":{"id":"cus_1","email":"ada@example.com",
			"metadata":{"Red":"title","RED":"upper","rEd":"odd","reD":"odd2"}}}}`,
			reditus.Conversion{AffiliateSlug: "upper", Email: "ada@example.com", UID: "cus_1"}},
		{"clerk unsafe_metadata", FromClerk,
			`{"type":"user.created","data":{"id":"user_1","email_addresses":[{"id":"e1","email_address":"ada@example.com"}],
			"unsafe_metadata":{"Refby":"title","REFBY":"upper","refBy":"odd"}}}`,
			reditus.Conversion{AdvocateSlug: "upper", Email: "ada@example.com", UID: "user_1"}},
		{"generic body, email too", FromGeneric,
			`{"Affiliate_Slug":"title","AFFILIATE_SLUG":"upper","affiliate_SLUG":"odd","EMAIL":"a@example.com","Email":"b@example.com","Uid":"u1","UID":"u2"}`,
			reditus.Conversion{AffiliateSlug: "upper", Email: "a@example.com", UID: "u2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			first, err := tt.parse([]byte(tt.body))
			if err != nil || first.Skip != "" {
				t.Fatalf("parse: %+v, %v", first, err)
			}
			if first.Conversion != tt.want {
				t.Errorf("conversion %+v, want %+v", first.Conversion, tt.want)
			}
			for range 50 {
				ev, err := tt.parse([]byte(tt.body))
				if err != nil || ev.Conversion != first.Conversion {
					t.Fatalf("mapped %+v (%v), and before %+v", ev.Conversion, err, first.Conversion)
				}
			}
		})
	}
}
