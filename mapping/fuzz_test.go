package mapping

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// Every mapping function, fed anything: it never panics, fails only with
// ErrInvalidPayload, and converts only with a slug and an email or uid. The
// seed corpus is the provider's fixtures.
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
	})
}

func FuzzFromStripe(f *testing.F) {
	fuzzMapping(f, "stripe", func(b []byte) (Event, error) { return FromStripe(b, StripeOptions{AcceptTestEvents: true}) })
}
func FuzzFromClerk(f *testing.F)    { fuzzMapping(f, "clerk", FromClerk) }
func FuzzFromStytch(f *testing.F)   { fuzzMapping(f, "stytch", FromStytch) }
func FuzzFromWorkOS(f *testing.F)   { fuzzMapping(f, "workos", FromWorkOS) }
func FuzzFromSupabase(f *testing.F) { fuzzMapping(f, "supabase", FromSupabase) }
func FuzzFromGeneric(f *testing.F)  { fuzzMapping(f, "generic", FromGeneric) }
