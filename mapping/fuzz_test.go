package mapping

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

// Every mapping function, fed anything: it never panics, fails only with
// ErrInvalidPayload, and converts only with a slug and an email or uid, every
// field of which passes checkConversion. The seed corpus is the provider's
// fixtures.
func fuzzMapping(f *testing.F, dir string, parse func([]byte) (Event, error)) {
	paths, err := filepath.Glob(filepath.Join("testdata", dir, "*.json"))
	if err != nil || len(paths) == 0 {
		f.Fatalf("no seeds in testdata/%s", dir)
	}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, body []byte) {
		ev, err := parse(body)
		if err != nil {
			if !errors.Is(err, ErrInvalidPayload) {
				t.Fatalf("error %v is not ErrInvalidPayload", err)
			}
			return
		}
		if ev.Skip != "" {
			return
		}
		c := ev.Conversion
		if c.AffiliateSlug == "" && c.AdvocateSlug == "" {
			t.Fatalf("converted without a slug: %+v", c)
		}
		if c.Email == "" && c.UID == "" {
			t.Fatalf("converted without email or uid: %+v", c)
		}
		if field, why := CheckConversion(c); field != "" {
			t.Fatalf("converted with an invalid %s (%s): %+v", field, why, c)
		}
	})
}

// convert, fed any strings (also the bytes no JSON body can carry): what it
// sends passes checkConversion, and what it skips, it explains without the
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

func FuzzFromStripe(f *testing.F) {
	fuzzMapping(f, "stripe", func(b []byte) (Event, error) { return FromStripe(b, Options{AcceptTestEvents: true}) })
}
func FuzzFromClerk(f *testing.F)    { fuzzMapping(f, "clerk", FromClerk) }
func FuzzFromStytch(f *testing.F)   { fuzzMapping(f, "stytch", FromStytch) }
func FuzzFromWorkOS(f *testing.F)   { fuzzMapping(f, "workos", FromWorkOS) }
func FuzzFromSupabase(f *testing.F) { fuzzMapping(f, "supabase", FromSupabase) }
func FuzzFromGeneric(f *testing.F)  { fuzzMapping(f, "generic", FromGeneric) }
