package providers

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/getreditus/reditus-bridge/mapping"
	"github.com/getreditus/reditus-bridge/reditus"
)

func TestGenericConverts(t *testing.T) {
	testConverts(t, []converts{
		{"generic/conversion.json", "conversion",
			reditus.Conversion{AffiliateSlug: "john", GrID: clickAffiliate, Email: "ada@example.com", UID: "usr_1001"}},
		{"generic/advocate.json", "conversion",
			reditus.Conversion{AdvocateSlug: "jwe512", UID: "usr_1002"}},
		// The Standard Webhooks envelope: the fields under data, the type its own.
		{"generic/envelope.json", "user.created",
			reditus.Conversion{AffiliateSlug: "john", GrID: clickAffiliate, Email: "ada@example.com", UID: "usr_1004"}},
		// An alias (refby) under data.
		{"generic/envelope.advocate.json", "user.created",
			reditus.Conversion{AdvocateSlug: "jwe512", UID: "usr_1005"}},
		// The spec's "squashed" form: the fields at the top level beside type.
		{"generic/squashed.json", "user.created",
			reditus.Conversion{AffiliateSlug: "john", Email: "ada@example.com", UID: "usr_1007"}},
		// A flat body with an object of its own under data still converts
		// from its top-level fields.
		{"generic/flat_with_data.json", "conversion",
			reditus.Conversion{AffiliateSlug: "john", GrID: clickAffiliate, Email: "ada@example.com", UID: "usr_1008"}},
	})
}

func TestGenericSkips(t *testing.T) {
	testSkips(t, []skips{
		{"generic/no_referral.json", []string{"no Reditus referral data", "the body"}},
		{"generic/envelope.no_referral.json", []string{"no Reditus referral data", "in data and the top level"}},
	})
}

func TestGenericNeedsEmailOrUID(t *testing.T) {
	got, err := mapGeneric([]byte(`{"affiliate_slug":"john","email":7}`), mapping.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(got.Skip, "no email or user id: looked at email and uid") {
		t.Errorf("skip = %q", got.Skip)
	}
}

// How the generic endpoint reads a body with data: data first, field by
// field, then the top level; data that is not an object is no envelope.
func TestGenericEnvelopePrecedence(t *testing.T) {
	const cookie = "1732492800:0f8fad5b-d9cb-469f-a165-70867728950e::pk_live_3x:::john:::s_81c2:affiliate"
	tests := []struct {
		name, body string
		wantType   string
		want       reditus.Conversion
		wantSkip   string
	}{
		{"data's slug wins over the top level's",
			`{"type":"user.created","affiliate_slug":"mary","data":{"uid":"u1","affiliate_slug":"john"}}`,
			"user.created", reditus.Conversion{AffiliateSlug: "john", UID: "u1"}, ""},
		{"data's email wins, the top level's uid fills in",
			`{"email":"top@example.com","uid":"u2","data":{"email":"ada@example.com","gr_id":"` + cookie + `"}}`,
			"conversion", reditus.Conversion{AffiliateSlug: "john", GrID: clickAffiliate, Email: "ada@example.com", UID: "u2"}, ""},
		{"data's cookie, the top level's explicit slug",
			`{"advocate_slug":"jwe512","data":{"uid":"u3","gr_id":"` + cookie + `"}}`,
			"conversion", reditus.Conversion{AdvocateSlug: "jwe512", GrID: clickAffiliate, UID: "u3"}, ""},
		{"data that is not an object is ignored",
			`{"uid":"u4","red":"john","data":"affiliate_slug=mary"}`,
			"conversion", reditus.Conversion{AffiliateSlug: "john", UID: "u4"}, ""},
		{"data null is ignored",
			`{"uid":"u5","red":"john","data":null}`,
			"conversion", reditus.Conversion{AffiliateSlug: "john", UID: "u5"}, ""},
		{"a type that is not a string is ignored",
			`{"type":7,"data":{"uid":"u6","red":"john"}}`,
			"conversion", reditus.Conversion{AffiliateSlug: "john", UID: "u6"}, ""},
		{"an envelope without email or uid names both levels",
			`{"type":"user.created","data":{"affiliate_slug":"john"}}`,
			"user.created", reditus.Conversion{}, "no email or user id: looked at data.email, data.uid, email and uid"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := mapGeneric([]byte(tt.body), mapping.Options{})
			if err != nil {
				t.Fatal(err)
			}
			if got.Type != tt.wantType {
				t.Errorf("type %q, want %q", got.Type, tt.wantType)
			}
			if !strings.HasPrefix(got.Skip, tt.wantSkip) || (tt.wantSkip == "") != (got.Skip == "") {
				t.Errorf("skip %q, want %q", got.Skip, tt.wantSkip)
			}
			if got.Conversion != tt.want {
				t.Errorf("conversion:\n got %+v\nwant %+v", got.Conversion, tt.want)
			}
		})
	}
}

// No full email in a reason: an invalid email is described, never quoted.
func TestInvalidEmailReasonHasNoEmail(t *testing.T) {
	for _, email := range []string{"ada@example@com", "ada lovelace@example.com", "ada@exam\x00ple.com", strings.Repeat("a", 300) + "@example.com"} {
		quoted, _ := json.Marshal(email)
		ev, err := mapGeneric([]byte(`{"red":"john","email":`+string(quoted)+`}`), mapping.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(ev.Skip, "invalid email (looked at email and uid)") {
			t.Errorf("%q: skip %q, want an invalid email", email, ev.Skip)
		}
		if strings.Contains(ev.Skip, "example") {
			t.Errorf("%q: the reason %q quotes the email", email, ev.Skip)
		}
	}
}

func TestGenericInvalid(t *testing.T) {
	testInvalid(t, "generic", []string{`null`, `[]`, `"a string"`, `{"email":`})
}

func FuzzMapGeneric(f *testing.F) {
	fuzzMapping(f, "generic", func(b []byte) (mapping.Event, error) { return mapGeneric(b, mapping.Options{}) })
}
