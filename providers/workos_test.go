package providers

import (
	"testing"

	"github.com/getreditus/reditus-bridge/mapping"
	"github.com/getreditus/reditus-bridge/reditus"
)

func TestWorkOSConverts(t *testing.T) {
	testConverts(t, []converts{
		{"workos/user.created.json", "user.created",
			reditus.Conversion{AffiliateSlug: "john", GrID: clickAffiliate, Email: "ada@example.com", UID: "user_01JDQ8YH3G2F1E0D9C8B7A6Z5Y"}},
	})
}

func TestWorkOSSkips(t *testing.T) {
	testSkips(t, []skips{
		{"workos/user.created.no_referral.json", []string{"no Reditus referral data", "data.metadata"}},
		{"workos/user.updated.json", []string{"user.updated does not convert"}},
	})
}

func TestWorkOSEventIDs(t *testing.T) {
	testEventIDs(t, map[string]string{"workos/user.created.json": "event_01JDQ8ZK4V3M2N1P0R9S8T7U6W"})
}

func TestWorkOSInvalid(t *testing.T) {
	testInvalid(t, "workos", []string{`{"event":"user.created"}`, `{"id":"e","event":"user.created","data":[]}`})
}

func FuzzMapWorkOS(f *testing.F) {
	fuzzMapping(f, "workos", func(b []byte) (mapping.Event, error) { return mapWorkOS(b, mapping.Options{}) })
}
