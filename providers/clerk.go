package providers

import (
	"github.com/getreditus/reditus-bridge/mapping"
	"github.com/getreditus/reditus-bridge/verify"
)

// Clerk: user.created, signed by Svix (README.md, "Clerk").
func init() {
	Register(Provider{
		Name:       "clerk",
		Title:      "Clerk",
		Scheme:     verify.Svix,
		DeliveryID: verify.SvixID,
		Map:        mapClerk,
		Events:     clerkEvents,
		Retries:    "every non-2xx, about 8 times over 27 hours (Svix)",
		Samples:    []Sample{sample("user.created", "clerk/user.created.json")},
	})
}

// clerkEvents are the events that convert.
var clerkEvents = []string{"user.created"}

// mapClerk maps a Clerk user.created event. The uid is Clerk's user id, and
// referral data is read from the metadata the backend sets (public, then
// private) before the metadata the sign-up form can write (unsafe). The event
// id is left to the Svix delivery id, which is the same on every retry.
func mapClerk(payload []byte, _ mapping.Options) (mapping.Event, error) {
	var e struct {
		Type string `json:"type"`
		Data struct {
			ID             string `json:"id"`
			EmailAddresses []struct {
				ID           string `json:"id"`
				EmailAddress string `json:"email_address"`
			} `json:"email_addresses"`
			PrimaryEmailAddressID string           `json:"primary_email_address_id"`
			PublicMetadata        mapping.Metadata `json:"public_metadata"`
			PrivateMetadata       mapping.Metadata `json:"private_metadata"`
			UnsafeMetadata        mapping.Metadata `json:"unsafe_metadata"`
		} `json:"data"`
	}
	if err := mapping.Decode(payload, &e, "a Clerk event"); err != nil {
		return mapping.Event{}, err
	}
	if e.Type == "" {
		return mapping.Event{}, mapping.Invalid("not a Clerk event: no type")
	}
	ev := mapping.Event{Type: e.Type}
	if e.Type != "user.created" {
		return mapping.DoesNotConvert(ev, clerkEvents...), nil
	}
	u := e.Data
	var email string
	for i, a := range u.EmailAddresses {
		// The primary address, or the first when none is marked primary.
		if a.ID == u.PrimaryEmailAddressID || (i == 0 && u.PrimaryEmailAddressID == "") {
			email = a.EmailAddress
		}
	}
	who := mapping.Who{Email: email, UID: u.ID, Looked: "data.email_addresses (the primary one) and data.id"}
	return mapping.Convert(ev, who,
		mapping.Place{Name: "public_metadata", Meta: u.PublicMetadata},
		mapping.Place{Name: "private_metadata", Meta: u.PrivateMetadata},
		mapping.Place{Name: "unsafe_metadata", Meta: u.UnsafeMetadata},
	), nil
}
