package providers

import (
	"testing"

	"github.com/getreditus/reditus-bridge/mapping"
	"github.com/getreditus/reditus-bridge/reditus"
)

func TestSupabaseConverts(t *testing.T) {
	testConverts(t, []converts{
		{"supabase/insert.json", "INSERT auth.users",
			reditus.Conversion{AffiliateSlug: "john", GrID: clickAffiliate, Email: "ada@example.com", UID: "5d0c8f3e-2a1b-4c9d-8e7f-6a5b4c3d2e1f"}},
	})
}

func TestSupabaseSkips(t *testing.T) {
	testSkips(t, []skips{
		{"supabase/insert.no_referral.json", []string{"no Reditus referral data", "raw_app_meta_data and raw_user_meta_data"}},
		{"supabase/update.json", []string{"UPDATE auth.users does not convert", "INSERT auth.users"}},
	})
}

func TestSupabaseEventIDs(t *testing.T) {
	testEventIDs(t, map[string]string{"supabase/insert.json": "5d0c8f3e-2a1b-4c9d-8e7f-6a5b4c3d2e1f"})
}

func TestSupabaseInvalid(t *testing.T) {
	testInvalid(t, "supabase", []string{`{}`, `{"type":"INSERT","table":"users","schema":"auth"}`, `{"type":"INSERT","table":"users","schema":"auth","record":{"id":5}}`})
}

func FuzzMapSupabase(f *testing.F) {
	fuzzMapping(f, "supabase", func(b []byte) (mapping.Event, error) { return mapSupabase(b, mapping.Options{}) })
}
