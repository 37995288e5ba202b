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
		Map:     mapSupabase,
		Events:  []string{supabaseInsert},
		Retries: "never: a database webhook is sent once",
		Samples: []Sample{sample("INSERT", "supabase/insert.json")},
	})
}

// supabaseInsert is the one event that converts, named as the mapping names
// a database webhook's event: its type and its table.
const supabaseInsert = "INSERT auth.users"

// mapSupabase maps a Supabase database webhook on INSERT into auth.users.
// Such a webhook carries no event id; the new user's id is one, since a user
// is inserted once. Referral data is read from raw_app_meta_data (set by your
// backend) before raw_user_meta_data (set by your sign-up form).
func mapSupabase(payload []byte, _ mapping.Options) (mapping.Event, error) {
	var e struct {
		Type   string `json:"type"`
		Table  string `json:"table"`
		Schema string `json:"schema"`
		Record *struct {
			ID              string           `json:"id"`
			Email           string           `json:"email"`
			RawAppMetaData  mapping.Metadata `json:"raw_app_meta_data"`
			RawUserMetaData mapping.Metadata `json:"raw_user_meta_data"`
		} `json:"record"`
	}
	if err := mapping.Decode(payload, &e, "a Supabase database webhook"); err != nil {
		return mapping.Event{}, err
	}
	if e.Type == "" || e.Table == "" {
		return mapping.Event{}, mapping.Invalid("not a Supabase database webhook: no type or table")
	}
	ev := mapping.Event{Type: e.Type + " " + e.Schema + "." + e.Table}
	if ev.Type != supabaseInsert {
		return mapping.DoesNotConvert(ev, supabaseInsert), nil
	}
	if e.Record == nil || e.Record.ID == "" {
		return mapping.Event{}, mapping.Invalid("INSERT has no record id")
	}
	ev.ID = e.Record.ID
	who := mapping.Who{Email: e.Record.Email, UID: e.Record.ID, Looked: "record.email and record.id"}
	return mapping.Convert(ev, who,
		mapping.Place{Name: "raw_app_meta_data", Meta: e.Record.RawAppMetaData},
		mapping.Place{Name: "raw_user_meta_data", Meta: e.Record.RawUserMetaData},
	), nil
}
