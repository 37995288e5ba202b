package providers

import (
	"testing"

	"github.com/getreditus/reditus-bridge/mapping"
	"github.com/getreditus/reditus-bridge/reditus"
)

const (
	stytchMemberID = "member-live-4d5e6f7a-8b9c-4d0e-9f1a-2b3c4d5e6f7a"
	// The Stytch event types that convert, as a skip reason lists them.
	stytchConvertList = "direct.user.create, dashboard.user.create, *.member.create"
)

func TestStytchConverts(t *testing.T) {
	testConverts(t, []converts{
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
	})
}

func TestStytchSkips(t *testing.T) {
	testSkips(t, []skips{
		{"stytch/direct.user.create.no_referral.json", []string{"no Reditus referral data", "trusted_metadata and untrusted_metadata"}},
		{"stytch/direct.user.update.json", []string{"direct.user.update does not convert", stytchConvertList}},
		{"stytch/direct.member.create.no_referral.json", []string{"no Reditus referral data", "member.trusted_metadata and member.untrusted_metadata"}},
		{"stytch/direct.member.update.json", []string{"direct.member.update does not convert", stytchConvertList}},
		{"stytch/dashboard.member.delete.json", []string{"dashboard.member.delete does not convert", stytchConvertList}},
	})
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
			got, err := mapStytch([]byte(body), mapping.Options{})
			wantSkip(t, got, err, "does not convert", stytchConvertList)
		})
	}
}

func TestStytchEventIDs(t *testing.T) {
	testEventIDs(t, map[string]string{
		"stytch/direct.user.create.json": "event-live-3b1f0c2e-5d4a-4e8b-9c7d-6e5f4a3b2c1d",
		"stytch/scim.member.create.json": "event-live-6f7a8b9c-0d1e-4f2a-9b3c-4d5e6f7a8b9c",
	})
}

func TestStytchInvalid(t *testing.T) {
	testInvalid(t, "stytch", []string{`nope`, `{"event_id":"e"}`, `{"source":"DIRECT","object_type":"user","action":"CREATE"}`,
		`{"source":"DIRECT","object_type":"member","action":"CREATE"}`,
		`{"source":"SCIM","object_type":"member","action":"CREATE","member":null}`,
		`{"source":"DIRECT","object_type":"member","action":"CREATE","member":{"member_id":7}}`})
}

func FuzzMapStytch(f *testing.F) {
	fuzzMapping(f, "stytch", func(b []byte) (mapping.Event, error) { return mapStytch(b, mapping.Options{}) })
}
