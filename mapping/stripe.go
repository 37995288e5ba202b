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

// StripeOptions changes how Stripe events are mapped.
type StripeOptions struct {
	// AcceptTestEvents forwards events with livemode false, which are
	// otherwise skipped so that a test-mode checkout never pays a commission.
	AcceptTestEvents bool
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
// in every Stripe API version; that is why any version is accepted.
type stripeEvent struct {
	ID       string `json:"id"`
	Type     string `json:"type"`
	Livemode bool   `json:"livemode"`
	Data     struct {
		Object             json.RawMessage            `json:"object"`
		PreviousAttributes map[string]json.RawMessage `json:"previous_attributes"`
	} `json:"data"`
}

type stripeCustomer struct {
	ID       string   `json:"id"`
	Email    string   `json:"email"`
	Metadata Metadata `json:"metadata"`
}

type stripeCheckoutSession struct {
	ClientReferenceID string    `json:"client_reference_id"`
	Customer          stripeRef `json:"customer"`
	CustomerDetails   struct {
		Email string `json:"email"`
	} `json:"customer_details"`
	CustomerEmail string    `json:"customer_email"`
	Metadata      Metadata  `json:"metadata"`
	PaymentStatus string    `json:"payment_status"`
	Subscription  stripeRef `json:"subscription"`
}

type stripeSubscription struct {
	Customer stripeRef `json:"customer"`
	Metadata Metadata  `json:"metadata"`
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
func FromStripe(payload []byte, opts StripeOptions) (Event, error) {
	var e stripeEvent
	if err := decode(payload, &e, "a Stripe event"); err != nil {
		return Event{}, err
	}
	if e.ID == "" || e.Type == "" {
		return Event{}, invalid("not a Stripe event: no id or type")
	}
	ev := Event{ID: e.ID, Type: e.Type}
	if !slices.Contains(stripeEventTypes, e.Type) {
		return doesNotConvert(ev, stripeEventTypes...), nil
	}
	if !e.Livemode && !opts.AcceptTestEvents {
		ev.Skip = "test-mode event (livemode: false); set STRIPE_ACCEPT_TEST_EVENTS=true to forward test events"
		return ev, nil
	}
	if len(e.Data.Object) == 0 || string(e.Data.Object) == "null" {
		return Event{}, invalid("%s event has no data.object", e.Type)
	}

	switch e.Type {
	case "customer.created", "customer.updated":
		var c stripeCustomer
		if err := json.Unmarshal(e.Data.Object, &c); err != nil {
			return Event{}, invalid("data.object is not a customer: %v", err)
		}
		if e.Type == "customer.updated" && !referralMayHaveChanged(e.Data.PreviousAttributes) {
			ev.Skip = "customer.updated changed neither metadata nor email; a referral on this customer was sent when it was set"
			return ev, nil
		}
		who := identity{
			email:  c.Email,
			uid:    cmp.Or(c.Metadata.get(keysUserID), c.ID),
			looked: "the customer's email, metadata.user_id and id",
		}
		// Laravel Cashier and others put the referral on the subscription.
		ev = convert(ev, who, place{"customer metadata", c.Metadata})
		return lookups(ev, StripeLookup{"subscriptions", c.ID}), nil

	case "checkout.session.completed", "checkout.session.async_payment_succeeded":
		var s stripeCheckoutSession
		if err := json.Unmarshal(e.Data.Object, &s); err != nil {
			return Event{}, invalid("data.object is not a checkout session: %v", err)
		}
		if s.PaymentStatus == "unpaid" {
			ev.Skip = "checkout session is unpaid (a delayed payment method); it converts on checkout.session.async_payment_succeeded"
			return ev, nil
		}
		who := identity{
			email:  cmp.Or(s.CustomerDetails.Email, s.CustomerEmail),
			uid:    cmp.Or(s.Metadata.get(keysUserID), string(s.Customer)),
			looked: "customer_details.email, customer_email, metadata.user_id and customer",
		}
		ev = convert(ev, who,
			place{"checkout session metadata", s.Metadata},
			place{"client_reference_id", clientReference(s.ClientReferenceID)},
		)
		// Checkout copies none of its metadata to the objects it creates,
		// and the referral may have been put on those.
		return lookups(ev, StripeLookup{"customer", string(s.Customer)}, StripeLookup{"subscription", string(s.Subscription)}), nil

	default: // customer.subscription.created
		var s stripeSubscription
		if err := json.Unmarshal(e.Data.Object, &s); err != nil {
			return Event{}, invalid("data.object is not a subscription: %v", err)
		}
		// A subscription carries no email; the customer id is enough for
		// Reditus to match the customer's payments.
		who := identity{
			uid:    cmp.Or(s.Metadata.get(keysUserID), string(s.Customer)),
			looked: "the subscription's metadata.user_id and customer",
		}
		ev = convert(ev, who, place{"subscription metadata", s.Metadata})
		return lookups(ev, StripeLookup{"customer", string(s.Customer)}), nil
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

// referralMayHaveChanged reports whether a customer.updated event touched the
// fields a conversion is made of. Stripe sends customer.updated for every
// change (address, balance, payment method); forwarding each would ask
// Reditus again for a referral it already has. An event without
// previous_attributes is taken as a change, since nothing says otherwise.
func referralMayHaveChanged(previous map[string]json.RawMessage) bool {
	if previous == nil {
		return true
	}
	_, metadata := previous["metadata"]
	_, email := previous["email"]
	return metadata || email
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
