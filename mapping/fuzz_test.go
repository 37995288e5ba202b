package mapping

import (
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

// Convert, fed any strings (also the bytes no JSON body can carry): what it
// sends passes CheckConversion, and what it skips, it explains without the
// bytes it was given.
func FuzzConvert(f *testing.F) {
	f.Add("john", "", "rl:"+clickAffiliate+"::pk:::john:::sid:affiliate", "ada@example.com", "usr_1")
	f.Add("jo\x00hn", "jwe512", clickReferral, "ada@example.com", "")
	f.Add("", "", "rl:x::pk:::jo\xffhn:::sid:affiliate", "a@b@c", "u\n1")
	f.Add(" RED ", "\u202e", "", " ada@example.com ", "\t")
	f.Fuzz(func(t *testing.T, slug, advocate, grID, email, uid string) {
		ev := Convert(Event{},
			Who{Email: email, UID: uid, Looked: "email and uid"},
			Place{"the body", Metadata{"Red": slug, "refby": advocate, "gr_id": grID}})
		if ev.Skip != "" {
			if !utf8.ValidString(ev.Skip) || strings.ContainsFunc(ev.Skip, unicode.IsControl) {
				t.Fatalf("the reason %q is not printable text", ev.Skip)
			}
			return
		}
		if field, why := CheckConversion(ev.Conversion); field != "" {
			t.Fatalf("converted with an invalid %s (%s): %+v", field, why, ev.Conversion)
		}
	})
}
