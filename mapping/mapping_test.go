package mapping

import "testing"

// The click ids of the cookies in the tests.
const (
	clickAffiliate = "0f8fad5b-d9cb-469f-a165-70867728950e"
	clickReferral  = "7c9e6679-7425-40de-944b-e07fc1f90ae7"
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

// Found says what the mapping found and where, for /admin's event page:
// the key and the map of each slug, the cookie's key, and where the email
// and uid are looked for. An explicit slug wins over the cookie's, as in
// the conversion.
func TestFoundSaysWhere(t *testing.T) {
	cookie := "1732492800:" + clickAffiliate + "::pk:::john:::s:affiliate"
	who := Who{Email: "ann@example.com", UID: "u_1", Looked: "data.email and data.id"}
	tests := []struct {
		name   string
		places []Place
		want   []Field
	}{
		{"the cookie alone", []Place{{"data.metadata", Metadata{"_GR_ID": cookie}}}, []Field{
			{"affiliate_slug", "john", "the gr_id cookie (_GR_ID in data.metadata)"},
			{"gr_id", clickAffiliate, "_GR_ID in data.metadata"},
			{"email", "ann@example.com", "one of data.email and data.id"},
			{"uid", "u_1", "one of data.email and data.id"},
		}},
		{"an explicit slug in a later place wins", []Place{{"customer metadata", Metadata{"gr_id": cookie}}, {"subscription metadata", Metadata{"refby": "jwe512"}}}, []Field{
			{"advocate_slug", "jwe512", "refby in subscription metadata"},
			{"gr_id", clickAffiliate, "gr_id in customer metadata"},
			{"email", "ann@example.com", "one of data.email and data.id"},
			{"uid", "u_1", "one of data.email and data.id"},
		}},
		{"nothing but who", []Place{{"data.metadata", Metadata{}}}, []Field{
			{"email", "ann@example.com", "one of data.email and data.id"},
			{"uid", "u_1", "one of data.email and data.id"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Convert(Event{}, who, tt.places...).Found()
			if len(got) != len(tt.want) {
				t.Fatalf("Found() = %+v, want %+v", got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Errorf("field %d = %+v, want %+v", i, got[i], tt.want[i])
				}
			}
		})
	}
}
