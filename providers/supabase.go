package providers

import (
	"github.com/getreditus/reditus-bridge/mapping"
	"github.com/getreditus/reditus-bridge/verify"
)

// Supabase: a database webhook on INSERT into auth.users, authenticated by a
// bearer token the user writes into the trigger (README.md, "Supabase").
func init() {
	Register(Provider{
		Name:    "supabase",
		Title:   "Supabase",
		Scheme:  verify.Bearer,
		Map:     func(body []byte, _ mapping.Options) (mapping.Event, error) { return mapping.FromSupabase(body) },
		Retries: "never: a database webhook is sent once",
		Samples: []Sample{sample("INSERT", "supabase/insert.json")},
	})
}
