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

// What every provider's mapping tables share: the click ids in the fixtures'
// cookies, reading a fixture through the registry, and the table runners.

const (
	clickAffiliate = "0f8fad5b-d9cb-469f-a165-70867728950e"
	clickReferral  = "7c9e6679-7425-40de-944b-e07fc1f90ae7"
)

// parseFixture maps testdata/{provider}/{file} with the registered
// provider's Map, as the webhook path does.
func parseFixture(t *testing.T, path string) (mapping.Event, error) {
	t.Helper()
	name, _, _ := strings.Cut(path, "/")
	p, err := Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join("testdata", path))
	if err != nil {
		t.Fatal(err)
	}
	return p.Map(b, mapping.Options{})
}

// converts is a fixture that converts, with the event type it reports.
type converts struct {
	fixture  string
	wantType string
	want     reditus.Conversion
}

func testConverts(t *testing.T, tests []converts) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.fixture, func(t *testing.T) {
			got, err := parseFixture(t, tt.fixture)
			if err != nil {
				t.Fatal(err)
			}
			if got.Skip != "" {
				t.Fatalf("skipped: %s", got.Skip)
			}
			if got.Type != tt.wantType {
				t.Errorf("type %q, want %q", got.Type, tt.wantType)
			}
			if got.Conversion != tt.want {
				t.Errorf("conversion:\n got %+v\nwant %+v", got.Conversion, tt.want)
			}
		})
	}
}

// skips is a fixture that is skipped, with what its reason must say.
type skips struct {
	fixture string
	reason  []string
}

func testSkips(t *testing.T, tests []skips) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.fixture, func(t *testing.T) {
			got, err := parseFixture(t, tt.fixture)
			wantSkip(t, got, err, tt.reason...)
		})
	}
}

// testEventIDs checks the ids that make re-sent deliveries recognisable,
// where the body has one.
func testEventIDs(t *testing.T, ids map[string]string) {
	t.Helper()
	for fixture, want := range ids {
		if got, err := parseFixture(t, fixture); err != nil || got.ID != want {
			t.Errorf("%s: id %q, %v; want %q", fixture, got.ID, err, want)
		}
	}
}

// testInvalid checks that each body is refused with ErrInvalidPayload.
func testInvalid(t *testing.T, provider string, bodies []string) {
	t.Helper()
	p, err := Lookup(provider)
	if err != nil {
		t.Fatal(err)
	}
	for _, body := range bodies {
		if _, err := p.Map([]byte(body), mapping.Options{}); !errors.Is(err, mapping.ErrInvalidPayload) {
			t.Errorf("%s %s: err = %v, want ErrInvalidPayload", provider, body, err)
		}
	}
}

// wantSkip checks that a mapping skipped, with a reason that says each of
// reason.
func wantSkip(t *testing.T, got mapping.Event, err error, reason ...string) {
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

// fuzzMapping feeds a mapping function anything: it never panics, fails only
// with ErrInvalidPayload, and converts only with a slug and an email or uid,
// every field of which passes CheckConversion. The seed corpus is the
// provider's fixtures.
func fuzzMapping(f *testing.F, dir string, parse func([]byte) (mapping.Event, error)) {
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
			if !errors.Is(err, mapping.ErrInvalidPayload) {
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
		if field, why := mapping.CheckConversion(c); field != "" {
			t.Fatalf("converted with an invalid %s (%s): %+v", field, why, c)
		}
	})
}

// The same signed event maps to one conversion every time, whatever the
// provider, when its metadata holds case variants of a key.
func TestCaseVariantsMapTheSameEveryTime(t *testing.T) {
	tests := []struct {
		name  string
		parse func([]byte, mapping.Options) (mapping.Event, error)
		body  string
		want  reditus.Conversion
	}{
		{"stripe customer metadata", mapStripe,
			`{"id":"evt_1","type":"customer.created","livemode":true,"data":{"object":{"id":"cus_1","email":"ada@example.com",
			"metadata":{"Red":"title","RED":"upper","rEd":"odd","reD":"odd2"}}}}`,
			reditus.Conversion{AffiliateSlug: "upper", Email: "ada@example.com", UID: "cus_1"}},
		{"clerk unsafe_metadata", mapClerk,
			`{"type":"user.created","data":{"id":"user_1","email_addresses":[{"id":"e1","email_address":"ada@example.com"}],
			"unsafe_metadata":{"Refby":"title","REFBY":"upper","refBy":"odd"}}}`,
			reditus.Conversion{AdvocateSlug: "upper", Email: "ada@example.com", UID: "user_1"}},
		{"generic body, email too", mapGeneric,
			`{"Affiliate_Slug":"title","AFFILIATE_SLUG":"upper","affiliate_SLUG":"odd","EMAIL":"a@example.com","Email":"b@example.com","Uid":"u1","UID":"u2"}`,
			reditus.Conversion{AffiliateSlug: "upper", Email: "a@example.com", UID: "u2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			first, err := tt.parse([]byte(tt.body), mapping.Options{})
			if err != nil || first.Skip != "" {
				t.Fatalf("parse: %+v, %v", first, err)
			}
			if first.Conversion != tt.want {
				t.Errorf("conversion %+v, want %+v", first.Conversion, tt.want)
			}
			for range 50 {
				ev, err := tt.parse([]byte(tt.body), mapping.Options{})
				if err != nil || ev.Conversion != first.Conversion {
					t.Fatalf("mapped %+v (%v), and before %+v", ev.Conversion, err, first.Conversion)
				}
			}
		})
	}
}
