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
	stytchMemberID = "member-live-4d5e6f7a-8b9c-4d0e-9f1a-2b3c4d5e6f7a"
	// The Stytch event types that convert, as a skip reason lists them.
	stytchConvertList = "direct.user.create, dashboard.user.create, *.member.create"
)

var parsers = map[string]func([]byte) (Event, error){
	"clerk":    FromClerk,
	"stytch":   FromStytch,
	"workos":   FromWorkOS,
	"supabase": FromSupabase,
	"generic":  FromGeneric,
}

func parseFixture(t *testing.T, path string) (Event, error) {
	t.Helper()
	provider, _, _ := strings.Cut(path, "/")
	b, err := os.ReadFile(filepath.Join("testdata", path))
	if err != nil {
		t.Fatal(err)
	}
	return parsers[provider](b)
}

func TestAuthProvidersConvert(t *testing.T) {
	tests := []struct {
		fixture  string
		wantType string
		want     reditus.Conversion
	}{
		// Clerk: the cookie in unsafe_metadata, as signUp.create({ unsafeMetadata }) puts it.
		{"clerk/user.created.json", "user.created",
			reditus.Conversion{AffiliateSlug: "john", GrID: clickAffiliate, Email: "ada@example.com", UID: "user_2pQx7Lm9Kz3Vb8Nc1Rt5Yw0Ae"}},
		// A slug in public_metadata (backend-set) wins over one in unsafe_metadata.
		{"clerk/user.created.public_slug.json", "user.created",
			reditus.Conversion{AffiliateSlug: "mary", GrID: clickAffiliate, Email: "ada@example.com", UID: "user_2pQx7Lm9Kz3Vb8Nc1Rt5Yw0Ae"}},
		// The primary email, not the first; an advocate slug in private_metadata.
		{"clerk/user.created.second_email_primary.json", "user.created",
			reditus.Conversion{AdvocateSlug: "jwe512", Email: "ada@example.com", UID: "user_2pQx7Lm9Kz3Vb8Nc1Rt5Yw0Ae"}},
		{"stytch/direct.user.create.json", "direct.user.create",
			reditus.Conversion{AffiliateSlug: "john", GrID: clickAffiliate, Email: "ada@example.com", UID: "user-live-8c2e4f6a-1b3d-4e5f-8a7b-9c0d1e2f3a4b"}},
		{"stytch/dashboard.user.create.json", "dashboard.user.create",
			reditus.Conversion{AdvocateSlug: "jwe512", GrID: clickReferral, Email: "ada@example.com", UID: "user-live-8c2e4f6a-1b3d-4e5f-8a7b-9c0d1e2f3a4b"}},
		// Stytch B2B: a member created from any source converts.
		{"stytch/direct.member.create.json", "direct.member.create",
			reditus.Conversion{AffiliateSlug: "john", GrID: clickAffiliate, Email: "ada@example.com", UID: stytchMemberID}},
		// A slug in member.trusted_metadata wins over untrusted_metadata's.
		{"stytch/dashboard.member.create.json", "dashboard.member.create",
			reditus.Conversion{AffiliateSlug: "mary", GrID: clickAffiliate, Email: "ada@example.com", UID: stytchMemberID}},
		{"stytch/scim.member.create.json", "scim.member.create",
			reditus.Conversion{AdvocateSlug: "jwe512", GrID: clickReferral, Email: "ada@example.com", UID: stytchMemberID}},
		{"workos/user.created.json", "user.created",
			reditus.Conversion{AffiliateSlug: "john", GrID: clickAffiliate, Email: "ada@example.com", UID: "user_01JDQ8YH3G2F1E0D9C8B7A6Z5Y"}},
		{"supabase/insert.json", "INSERT auth.users",
			reditus.Conversion{AffiliateSlug: "john", GrID: clickAffiliate, Email: "ada@example.com", UID: "5d0c8f3e-2a1b-4c9d-8e7f-6a5b4c3d2e1f"}},
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
	}
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

func TestAuthProvidersSkip(t *testing.T) {
	tests := []struct {
		fixture string
		reason  []string
	}{
		{"clerk/user.created.no_referral.json", []string{"no Reditus referral data", "public_metadata, private_metadata and unsafe_metadata"}},
		{"clerk/user.updated.json", []string{"user.updated does not convert", "user.created"}},
		{"stytch/direct.user.create.no_referral.json", []string{"no Reditus referral data", "trusted_metadata and untrusted_metadata"}},
		{"stytch/direct.user.update.json", []string{"direct.user.update does not convert", stytchConvertList}},
		{"stytch/direct.member.create.no_referral.json", []string{"no Reditus referral data", "member.trusted_metadata and member.untrusted_metadata"}},
		{"stytch/direct.member.update.json", []string{"direct.member.update does not convert", stytchConvertList}},
		{"stytch/dashboard.member.delete.json", []string{"dashboard.member.delete does not convert", stytchConvertList}},
		{"workos/user.created.no_referral.json", []string{"no Reditus referral data", "data.metadata"}},
		{"workos/user.updated.json", []string{"user.updated does not convert"}},
		{"supabase/insert.no_referral.json", []string{"no Reditus referral data", "raw_app_meta_data and raw_user_meta_data"}},
		{"supabase/update.json", []string{"UPDATE auth.users does not convert", "INSERT auth.users"}},
		{"generic/no_referral.json", []string{"no Reditus referral data", "the body"}},
		{"generic/envelope.no_referral.json", []string{"no Reditus referral data", "in data and the top level"}},
	}
	for _, tt := range tests {
		t.Run(tt.fixture, func(t *testing.T) {
			got, err := parseFixture(t, tt.fixture)
			wantSkip(t, got, err, tt.reason...)
		})
	}
}

func TestGenericNeedsEmailOrUID(t *testing.T) {
	got, err := FromGeneric([]byte(`{"affiliate_slug":"john","email":7}`))
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
			got, err := FromGeneric([]byte(tt.body))
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

// An event the bridge skips is skipped whatever the shape of its object: a
// 400 would have Stytch retry it for a day, to no end.
func TestStytchSkipsWithoutReadingTheObject(t *testing.T) {
	for _, body := range []string{
		`{"source":"DIRECT","object_type":"user","action":"UPDATE","user":"not an object"}`,
		`{"source":"DASHBOARD","object_type":"member","action":"UPDATE","member":[1]}`,
		`{"source":"DIRECT","object_type":"organization","action":"CREATE","organization":{"trusted_metadata":"x"}}`,
	} {
		t.Run(body, func(t *testing.T) {
			got, err := FromStytch([]byte(body))
			wantSkip(t, got, err, "does not convert", stytchConvertList)
		})
	}
}

// The ids that make re-sent deliveries recognisable, where the body has one.
func TestAuthProviderEventIDs(t *testing.T) {
	for fixture, want := range map[string]string{
		"workos/user.created.json":       "event_01JDQ8ZK4V3M2N1P0R9S8T7U6W",
		"supabase/insert.json":           "5d0c8f3e-2a1b-4c9d-8e7f-6a5b4c3d2e1f",
		"stytch/direct.user.create.json": "event-live-3b1f0c2e-5d4a-4e8b-9c7d-6e5f4a3b2c1d",
		"stytch/scim.member.create.json": "event-live-6f7a8b9c-0d1e-4f2a-9b3c-4d5e6f7a8b9c",
	} {
		if got, err := parseFixture(t, fixture); err != nil || got.ID != want {
			t.Errorf("%s: id %q, %v; want %q", fixture, got.ID, err, want)
		}
	}
}

func TestAuthProvidersInvalid(t *testing.T) {
	for provider, bodies := range map[string][]string{
		"clerk": {`{`, `[]`, `{"data":{}}`, `{"type":"user.created","data":{"email_addresses":"x"}}`},
		"stytch": {`nope`, `{"event_id":"e"}`, `{"source":"DIRECT","object_type":"user","action":"CREATE"}`,
			`{"source":"DIRECT","object_type":"member","action":"CREATE"}`,
			`{"source":"SCIM","object_type":"member","action":"CREATE","member":null}`,
			`{"source":"DIRECT","object_type":"member","action":"CREATE","member":{"member_id":7}}`},
		"workos":   {`{"event":"user.created"}`, `{"id":"e","event":"user.created","data":[]}`},
		"supabase": {`{}`, `{"type":"INSERT","table":"users","schema":"auth"}`, `{"type":"INSERT","table":"users","schema":"auth","record":{"id":5}}`},
		"generic":  {`null`, `[]`, `"a string"`, `{"email":`},
	} {
		for _, body := range bodies {
			if _, err := parsers[provider]([]byte(body)); !errors.Is(err, ErrInvalidPayload) {
				t.Errorf("%s %s: err = %v, want ErrInvalidPayload", provider, body, err)
			}
		}
	}
}
