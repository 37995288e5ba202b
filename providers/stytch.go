package providers

import (
	"encoding/json"
	"strings"

	"github.com/getreditus/reditus-bridge/mapping"
	"github.com/getreditus/reditus-bridge/verify"
)

// Stytch: consumer user creation and B2B member creation, signed by Svix
// (README.md, "Stytch").
func init() {
	Register(Provider{
		Name:       "stytch",
		Title:      "Stytch",
		Scheme:     verify.Svix,
		DeliveryID: verify.SvixID,
		Map:        mapStytch,
		Events:     stytchEvents,
		Retries:    "every non-2xx, about 8 times over 27 hours (Svix)",
		Samples: []Sample{
			sample("direct.user.create", "stytch/user.create.json"),
			sample("dashboard.user.create", "stytch/user.create.json"),
			sample("direct.member.create", "stytch/member.create.json"),
			sample("scim.member.create", "stytch/member.create.json"),
		},
	})
}

// stytchConverts are the Stytch event types that convert, for skip reasons:
// a B2B member created from any source (DIRECT, DASHBOARD, SCIM) converts.
var stytchConverts = []string{"direct.user.create", "dashboard.user.create", "*.member.create"}

// stytchEvents are the types to pick in Stytch's dashboard: stytchConverts
// spelled out, a B2B member from each source that creates one.
var stytchEvents = []string{
	"direct.user.create", "dashboard.user.create",
	"direct.member.create", "dashboard.member.create", "scim.member.create",
}

// mapStytch maps a Stytch consumer user creation, direct.user.create (API or
// SDK) or dashboard.user.create, or a B2B member creation, *.member.create.
// Stytch names an event by its source, object_type and action fields, which
// together make the type, and puts the object under the key object_type
// names. The object is decoded only for a type that converts, so that an
// event the bridge skips is never refused for the shape of its object.
//
// The uid is the user's or member's id, and referral data is read from the
// trusted metadata (set by your backend) before the untrusted (set by your
// sign-up form).
func mapStytch(payload []byte, _ mapping.Options) (mapping.Event, error) {
	var e struct {
		EventID    string          `json:"event_id"`
		Source     string          `json:"source"`
		ObjectType string          `json:"object_type"`
		Action     string          `json:"action"`
		User       json.RawMessage `json:"user"`
		Member     json.RawMessage `json:"member"`
	}
	if err := mapping.Decode(payload, &e, "a Stytch event"); err != nil {
		return mapping.Event{}, err
	}
	if e.Source == "" || e.ObjectType == "" || e.Action == "" {
		return mapping.Event{}, mapping.Invalid("not a Stytch event: no source, object_type or action")
	}
	ev := mapping.Event{ID: e.EventID, Type: strings.ToLower(e.Source + "." + e.ObjectType + "." + e.Action)}
	switch {
	case ev.Type == "direct.user.create" || ev.Type == "dashboard.user.create":
		return mapStytchUser(ev, e.User)
	case strings.EqualFold(e.ObjectType, "member") && strings.EqualFold(e.Action, "create"):
		return mapStytchMember(ev, e.Member)
	}
	return mapping.DoesNotConvert(ev, stytchConverts...), nil
}

// mapStytchUser maps a consumer project's User object.
func mapStytchUser(ev mapping.Event, raw json.RawMessage) (mapping.Event, error) {
	var u struct {
		UserID string `json:"user_id"`
		Emails []struct {
			Email string `json:"email"`
		} `json:"emails"`
		TrustedMetadata   mapping.Metadata `json:"trusted_metadata"`
		UntrustedMetadata mapping.Metadata `json:"untrusted_metadata"`
	}
	if err := decodeStytchObject(raw, &u, ev.Type, "user"); err != nil {
		return mapping.Event{}, err
	}
	var email string
	if len(u.Emails) > 0 {
		email = u.Emails[0].Email
	}
	who := mapping.Who{Email: email, UID: u.UserID, Looked: "user.emails and user.user_id"}
	return mapping.Convert(ev, who,
		mapping.Place{Name: "trusted_metadata", Meta: u.TrustedMetadata},
		mapping.Place{Name: "untrusted_metadata", Meta: u.UntrustedMetadata},
	), nil
}

// mapStytchMember maps a B2B project's Member object. A member has one email
// address; the organization's own metadata is not in the event.
func mapStytchMember(ev mapping.Event, raw json.RawMessage) (mapping.Event, error) {
	var m struct {
		MemberID          string           `json:"member_id"`
		EmailAddress      string           `json:"email_address"`
		TrustedMetadata   mapping.Metadata `json:"trusted_metadata"`
		UntrustedMetadata mapping.Metadata `json:"untrusted_metadata"`
	}
	if err := decodeStytchObject(raw, &m, ev.Type, "member"); err != nil {
		return mapping.Event{}, err
	}
	who := mapping.Who{Email: m.EmailAddress, UID: m.MemberID, Looked: "member.email_address and member.member_id"}
	return mapping.Convert(ev, who,
		mapping.Place{Name: "member.trusted_metadata", Meta: m.TrustedMetadata},
		mapping.Place{Name: "member.untrusted_metadata", Meta: m.UntrustedMetadata},
	), nil
}

// decodeStytchObject decodes the object a Stytch event is about, under key,
// and refuses an event that lacks it.
func decodeStytchObject(raw json.RawMessage, v any, eventType, key string) error {
	if len(raw) == 0 || string(raw) == "null" {
		return mapping.Invalid("%s event has no %s", eventType, key)
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return mapping.Invalid("not a Stytch %s: %v", key, err)
	}
	return nil
}
