package providers

import (
	"testing"

	"github.com/getreditus/reditus-bridge/mapping"
	"github.com/getreditus/reditus-bridge/reditus"
)

func TestClerkConverts(t *testing.T) {
	testConverts(t, []converts{
		// The cookie in unsafe_metadata, as signUp.create({ unsafeMetadata }) puts it.
		{"clerk/user.created.json", "user.created",
			reditus.Conversion{AffiliateSlug: "john", GrID: clickAffiliate, Email: "ada@example.com", UID: "user_2pQx7Lm9Kz3Vb8Nc1Rt5Yw0Ae"}},
		// A slug in public_metadata (backend-set) wins over one in unsafe_metadata.
		{"clerk/user.created.public_slug.json", "user.created",
			reditus.Conversion{AffiliateSlug: "mary", GrID: clickAffiliate, Email: "ada@example.com", UID: "user_2pQx7Lm9Kz3Vb8Nc1Rt5Yw0Ae"}},
		// The primary email, not the first; an advocate slug in private_metadata.
		{"clerk/user.created.second_email_primary.json", "user.created",
			reditus.Conversion{AdvocateSlug: "jwe512", Email: "ada@example.com", UID: "user_2pQx7Lm9Kz3Vb8Nc1Rt5Yw0Ae"}},
	})
}

func TestClerkSkips(t *testing.T) {
	testSkips(t, []skips{
		{"clerk/user.created.no_referral.json", []string{"no Reditus referral data", "public_metadata, private_metadata and unsafe_metadata"}},
		{"clerk/user.updated.json", []string{"user.updated does not convert", "user.created"}},
	})
}

func TestClerkInvalid(t *testing.T) {
	testInvalid(t, "clerk", []string{`{`, `[]`, `{"data":{}}`, `{"type":"user.created","data":{"email_addresses":"x"}}`})
}

func FuzzMapClerk(f *testing.F) {
	fuzzMapping(f, "clerk", func(b []byte) (mapping.Event, error) { return mapClerk(b, mapping.Options{}) })
}
