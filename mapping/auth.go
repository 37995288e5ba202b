package mapping

import (
	"cmp"
	"encoding/json"
	"strings"
)

// The auth providers' mapping functions. For each, uid is the provider's user
// id, and referral data is read from the trusted metadata first (set by your
// backend), then from the client-writable metadata (set by your sign-up form).
// The event id is left to the delivery's header where the provider signs with
// Svix: it is the same on every retry of a message.

// FromClerk maps a Clerk user.created event.
func FromClerk(payload []byte) (Event, error) {
	var e struct {
		Type string `json:"type"`
		Data struct {
			ID             string `json:"id"`
			EmailAddresses []struct {
				ID           string `json:"id"`
				EmailAddress string `json:"email_address"`
			} `json:"email_addresses"`
			PrimaryEmailAddressID string   `json:"primary_email_address_id"`
			PublicMetadata        Metadata `json:"public_metadata"`
			PrivateMetadata       Metadata `json:"private_metadata"`
			UnsafeMetadata        Metadata `json:"unsafe_metadata"`
		} `json:"data"`
	}
	if err := Decode(payload, &e, "a Clerk event"); err != nil {
		return Event{}, err
	}
	if e.Type == "" {
		return Event{}, Invalid("not a Clerk event: no type")
	}
	ev := Event{Type: e.Type}
	if e.Type != "user.created" {
		return DoesNotConvert(ev, "user.created"), nil
	}
	u := e.Data
	var email string
	for i, a := range u.EmailAddresses {
		// The primary address, or the first when none is marked primary.
		if a.ID == u.PrimaryEmailAddressID || (i == 0 && u.PrimaryEmailAddressID == "") {
			email = a.EmailAddress
		}
	}
	who := Who{Email: email, UID: u.ID, Looked: "data.email_addresses (the primary one) and data.id"}
	return Convert(ev, who,
		Place{"public_metadata", u.PublicMetadata},
		Place{"private_metadata", u.PrivateMetadata},
		Place{"unsafe_metadata", u.UnsafeMetadata},
	), nil
}

// stytchConverts are the Stytch event types that convert, for skip reasons:
// a B2B member created from any source (DIRECT, DASHBOARD, SCIM) converts.
var stytchConverts = []string{"direct.user.create", "dashboard.user.create", "*.member.create"}

// FromStytch maps a Stytch consumer user creation, direct.user.create (API or
// SDK) or dashboard.user.create, or a B2B member creation, *.member.create.
// Stytch names an event by its source, object_type and action fields, which
// together make the type, and puts the object under the key object_type
// names. The object is decoded only for a type that converts, so that an
// event the bridge skips is never refused for the shape of its object.
func FromStytch(payload []byte) (Event, error) {
	var e struct {
		EventID    string          `json:"event_id"`
		Source     string          `json:"source"`
		ObjectType string          `json:"object_type"`
		Action     string          `json:"action"`
		User       json.RawMessage `json:"user"`
		Member     json.RawMessage `json:"member"`
	}
	if err := Decode(payload, &e, "a Stytch event"); err != nil {
		return Event{}, err
	}
	if e.Source == "" || e.ObjectType == "" || e.Action == "" {
		return Event{}, Invalid("not a Stytch event: no source, object_type or action")
	}
	ev := Event{ID: e.EventID, Type: strings.ToLower(e.Source + "." + e.ObjectType + "." + e.Action)}
	switch {
	case ev.Type == "direct.user.create" || ev.Type == "dashboard.user.create":
		return fromStytchUser(ev, e.User)
	case strings.EqualFold(e.ObjectType, "member") && strings.EqualFold(e.Action, "create"):
		return fromStytchMember(ev, e.Member)
	}
	return DoesNotConvert(ev, stytchConverts...), nil
}

// fromStytchUser maps a consumer project's User object.
func fromStytchUser(ev Event, raw json.RawMessage) (Event, error) {
	var u struct {
		UserID string `json:"user_id"`
		Emails []struct {
			Email string `json:"email"`
		} `json:"emails"`
		TrustedMetadata   Metadata `json:"trusted_metadata"`
		UntrustedMetadata Metadata `json:"untrusted_metadata"`
	}
	if err := decodeObject(raw, &u, ev.Type, "user"); err != nil {
		return Event{}, err
	}
	var email string
	if len(u.Emails) > 0 {
		email = u.Emails[0].Email
	}
	who := Who{Email: email, UID: u.UserID, Looked: "user.emails and user.user_id"}
	return Convert(ev, who,
		Place{"trusted_metadata", u.TrustedMetadata},
		Place{"untrusted_metadata", u.UntrustedMetadata},
	), nil
}

// fromStytchMember maps a B2B project's Member object. A member has one email
// address; the organization's own metadata is not in the event.
func fromStytchMember(ev Event, raw json.RawMessage) (Event, error) {
	var m struct {
		MemberID          string   `json:"member_id"`
		EmailAddress      string   `json:"email_address"`
		TrustedMetadata   Metadata `json:"trusted_metadata"`
		UntrustedMetadata Metadata `json:"untrusted_metadata"`
	}
	if err := decodeObject(raw, &m, ev.Type, "member"); err != nil {
		return Event{}, err
	}
	who := Who{Email: m.EmailAddress, UID: m.MemberID, Looked: "member.email_address and member.member_id"}
	return Convert(ev, who,
		Place{"member.trusted_metadata", m.TrustedMetadata},
		Place{"member.untrusted_metadata", m.UntrustedMetadata},
	), nil
}

// decodeObject decodes the object a Stytch event is about, under key, and
// refuses an event that lacks it.
func decodeObject(raw json.RawMessage, v any, eventType, key string) error {
	if len(raw) == 0 || string(raw) == "null" {
		return Invalid("%s event has no %s", eventType, key)
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return Invalid("not a Stytch %s: %v", key, err)
	}
	return nil
}

// FromWorkOS maps a WorkOS user.created event. WorkOS names the type in the
// field "event" and gives every event an id of its own.
func FromWorkOS(payload []byte) (Event, error) {
	var e struct {
		ID    string `json:"id"`
		Event string `json:"event"`
		Data  struct {
			ID       string   `json:"id"`
			Email    string   `json:"email"`
			Metadata Metadata `json:"metadata"`
		} `json:"data"`
	}
	if err := Decode(payload, &e, "a WorkOS event"); err != nil {
		return Event{}, err
	}
	if e.ID == "" || e.Event == "" {
		return Event{}, Invalid("not a WorkOS event: no id or event")
	}
	ev := Event{ID: e.ID, Type: e.Event}
	if e.Event != "user.created" {
		return DoesNotConvert(ev, "user.created"), nil
	}
	who := Who{Email: e.Data.Email, UID: e.Data.ID, Looked: "data.email and data.id"}
	return Convert(ev, who, Place{"data.metadata", e.Data.Metadata}), nil
}

// FromSupabase maps a Supabase database webhook on INSERT into auth.users.
// Such a webhook carries no event id; the new user's id is one, since a user
// is inserted once.
func FromSupabase(payload []byte) (Event, error) {
	var e struct {
		Type   string `json:"type"`
		Table  string `json:"table"`
		Schema string `json:"schema"`
		Record *struct {
			ID              string   `json:"id"`
			Email           string   `json:"email"`
			RawAppMetaData  Metadata `json:"raw_app_meta_data"`
			RawUserMetaData Metadata `json:"raw_user_meta_data"`
		} `json:"record"`
	}
	if err := Decode(payload, &e, "a Supabase database webhook"); err != nil {
		return Event{}, err
	}
	if e.Type == "" || e.Table == "" {
		return Event{}, Invalid("not a Supabase database webhook: no type or table")
	}
	ev := Event{Type: e.Type + " " + e.Schema + "." + e.Table}
	if ev.Type != "INSERT auth.users" {
		return DoesNotConvert(ev, "INSERT auth.users"), nil
	}
	if e.Record == nil || e.Record.ID == "" {
		return Event{}, Invalid("INSERT has no record id")
	}
	ev.ID = e.Record.ID
	who := Who{Email: e.Record.Email, UID: e.Record.ID, Looked: "record.email and record.id"}
	return Convert(ev, who,
		Place{"raw_app_meta_data", e.Record.RawAppMetaData},
		Place{"raw_user_meta_data", e.Record.RawUserMetaData},
	), nil
}

// FromGeneric maps the generic endpoint's body: the flat object {email, uid,
// gr_id, affiliate_slug, advocate_slug} that any backend can send, or the
// Standard Webhooks envelope {type, timestamp, data} with those fields under
// data, as senders built on a Standard Webhooks library emit it.
//
// A body whose data is a JSON object is an envelope. Its fields are read from
// data, then from the top level: the spec lets a sender "squash" data into
// the top-level object, and a flat body that carries an object of its own
// under data must keep converting from its top-level fields. Where both
// levels hold one of the bridge's keys, data's wins. A data that is not an
// object is not an envelope, and is ignored as before.
//
// The event type is the body's type when it is a string, for the log and the
// answer; every type converts, since the sender chooses what it sends.
func FromGeneric(payload []byte) (Event, error) {
	var body Metadata
	if err := Decode(payload, &body, "a JSON object"); err != nil {
		return Event{}, err
	}
	if body == nil {
		return Event{}, Invalid("not a JSON object")
	}
	ev := Event{Type: "conversion"}
	if t, ok := body["type"].(string); ok && strings.TrimSpace(t) != "" {
		ev.Type = strings.TrimSpace(t)
	}
	data, ok := body["data"].(map[string]any)
	if !ok {
		who := Who{Email: body.Get(KeysEmail), UID: body.Get(KeysUID), Looked: "email and uid"}
		return Convert(ev, who, Place{"the body", body}), nil
	}
	inner := Metadata(data)
	who := Who{
		Email:  cmp.Or(inner.Get(KeysEmail), body.Get(KeysEmail)),
		UID:    cmp.Or(inner.Get(KeysUID), body.Get(KeysUID)),
		Looked: "data.email, data.uid, email and uid",
	}
	return Convert(ev, who, Place{"data", inner}, Place{"the top level", body}), nil
}

// decode unmarshals a provider payload, or says what it was expected to be.
func Decode(payload []byte, v any, what string) error {
	if err := json.Unmarshal(payload, v); err != nil {
		return Invalid("not %s: %v", what, err)
	}
	return nil
}
