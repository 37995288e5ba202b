package mapping

import (
	"bytes"
	"cmp"
	"encoding/json"
	"slices"
	"strings"
)

// StripeLookup names a Stripe object to fetch for the referral data an event
// lacks: a "customer" or "subscription" by id, or a customer's
// "subscriptions" (ID is then the customer's).
type StripeLookup struct {
	Object string
	ID     string
}

// stripeEventTypes are the events that convert, in the order the README
// lists them.
var stripeEventTypes = []string{
	"customer.created",
	"customer.updated",
	"checkout.session.completed",
	"checkout.session.async_payment_succeeded",
	"customer.subscription.created",
}

// StripeEventTypes returns the Stripe event types that convert: the ones to
// select when creating the webhook endpoint.
func StripeEventTypes() []string { return append([]string(nil), stripeEventTypes...) }

// stripeEvent holds only what the bridge reads of an event, which is the same
// in every Stripe API version; that is why any version is accepted. It is
// decoded in one pass: the fields the three object kinds use do not clash.
type stripeEvent struct {
	ID       string `json:"id"`
	Type     string `json:"type"`
	Livemode bool   `json:"livemode"`
	Data     struct {
		Object             *stripeObject `json:"object"`
		PreviousAttributes *struct {
			// Present (even as null) when the update changed them.
			Metadata json.RawMessage `json:"metadata"`
			Email    json.RawMessage `json:"email"`
		} `json:"previous_attributes"`
	} `json:"data"`
}

// stripeObject is a customer, a Checkout Session or a subscription: each
// reads its own fields of it.
type stripeObject struct {
	ID       string   `json:"id"`
	Metadata Metadata `json:"metadata"`

	Email string `json:"email"` // customer

	Customer          stripeRef `json:"customer"` // session, subscription
	ClientReferenceID string    `json:"client_reference_id"`
	CustomerDetails   *struct {
		Email string `json:"email"`
	} `json:"customer_details"`
	CustomerEmail string    `json:"customer_email"`
	PaymentStatus string    `json:"payment_status"`
	Subscription  stripeRef `json:"subscription"`
}

// stripeRef is an expandable field: an object id, or the object itself when
// it was expanded.
type stripeRef string

func (r *stripeRef) UnmarshalJSON(b []byte) error {
	if bytes.HasPrefix(b, []byte("{")) {
		var obj struct {
			ID string `json:"id"`
		}
		err := json.Unmarshal(b, &obj)
		*r = stripeRef(obj.ID)
		return err
	}
	if string(b) == "null" {
		*r = ""
		return nil
	}
	var id string
	err := json.Unmarshal(b, &id)
	*r = stripeRef(id)
	return err
}

// FromStripe maps a Stripe event (DESIGN.md section 3). The uid is the
// metadata's user_id when the site set one, else the Stripe customer id,
// because Reditus's Stripe connector matches later payments by either.
func FromStripe(payload []byte, opts Options) (Event, error) {
	var e stripeEvent
	if err := Decode(payload, &e, "a Stripe event"); err != nil {
		// The one-pass decode reads data.object as the objects the bridge
		// converts; another event's object may not fit, and is still only
		// an event to skip. Only this error path pays for the second look.
		var head struct{ ID, Type string }
		if json.Unmarshal(payload, &head) == nil && head.ID != "" && !slices.Contains(stripeEventTypes, head.Type) {
			return DoesNotConvert(Event{ID: head.ID, Type: head.Type}, stripeEventTypes...), nil
		}
		return Event{}, err
	}
	if e.ID == "" || e.Type == "" {
		return Event{}, Invalid("not a Stripe event: no id or type")
	}
	ev := Event{ID: e.ID, Type: e.Type}
	if !slices.Contains(stripeEventTypes, e.Type) {
		return DoesNotConvert(ev, stripeEventTypes...), nil
	}
	if !e.Livemode && !opts.AcceptTestEvents {
		ev.Skip = "test-mode event (livemode: false); set STRIPE_ACCEPT_TEST_EVENTS=true to forward test events"
		return ev, nil
	}
	o := e.Data.Object
	if o == nil {
		return Event{}, Invalid("%s event has no data.object", e.Type)
	}

	switch e.Type {
	case "customer.created", "customer.updated":
		if prev := e.Data.PreviousAttributes; e.Type == "customer.updated" && prev != nil && prev.Metadata == nil && prev.Email == nil {
			// Stripe sends customer.updated for every change (address,
			// balance, payment method); forwarding each would ask Reditus
			// again for a referral it has. Without previous_attributes,
			// nothing says the referral did not change.
			ev.Skip = "customer.updated changed neither metadata nor email; a referral on this customer was sent when it was set"
			return ev, nil
		}
		who := Who{
			Email:  o.Email,
			UID:    cmp.Or(o.Metadata.Get(KeysUserID), o.ID),
			Looked: "the customer's email, metadata.user_id and id",
		}
		// Laravel Cashier and others put the referral on the subscription.
		ev = Convert(ev, who, Place{"customer metadata", o.Metadata})
		return lookups(ev, StripeLookup{"subscriptions", o.ID}), nil

	case "checkout.session.completed", "checkout.session.async_payment_succeeded":
		if o.PaymentStatus == "unpaid" {
			ev.Skip = "checkout session is unpaid (a delayed payment method); it converts on checkout.session.async_payment_succeeded"
			return ev, nil
		}
		var detailsEmail string
		if o.CustomerDetails != nil {
			detailsEmail = o.CustomerDetails.Email
		}
		who := Who{
			Email:  cmp.Or(detailsEmail, o.CustomerEmail),
			UID:    cmp.Or(o.Metadata.Get(KeysUserID), string(o.Customer)),
			Looked: "customer_details.email, customer_email, metadata.user_id and customer",
		}
		ev = Convert(ev, who,
			Place{"checkout session metadata", o.Metadata},
			Place{"client_reference_id", clientReference(o.ClientReferenceID)},
		)
		// Checkout copies none of its metadata to the objects it creates,
		// and the referral may have been put on those.
		return lookups(ev, StripeLookup{"customer", string(o.Customer)}, StripeLookup{"subscription", string(o.Subscription)}), nil

	default: // customer.subscription.created
		// A subscription carries no email; the customer id is enough for
		// Reditus to match the customer's payments.
		who := Who{
			UID:    cmp.Or(o.Metadata.Get(KeysUserID), string(o.Customer)),
			Looked: "the subscription's metadata.user_id and customer",
		}
		ev = Convert(ev, who, Place{"subscription metadata", o.Metadata})
		return lookups(ev, StripeLookup{"customer", string(o.Customer)}), nil
	}
}

// lookups lists the related objects that exist, for an event that lacks
// referral data.
func lookups(ev Event, candidates ...StripeLookup) Event {
	if !ev.missingReferral {
		return ev
	}
	for _, l := range candidates {
		if l.ID != "" {
			ev.Lookups = append(ev.Lookups, l)
		}
	}
	return ev
}

// clientReference reads a client_reference_id as a place that may hold the
// cookie. Only the "gr_" form counts: apps often put their own ids there, and
// one of those must never be mistaken for a click id.
func clientReference(id string) Metadata {
	if !strings.HasPrefix(id, ClientReferencePrefix) {
		return nil
	}
	return Metadata{"gr_id": id}
}
