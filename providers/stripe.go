package providers

import (
	"bytes"
	"cmp"
	"encoding/json"
	"slices"
	"strings"

	"github.com/getreditus/reditus-bridge/mapping"
	"github.com/getreditus/reditus-bridge/verify"
)

// Stripe: customers, Checkout Sessions and subscriptions (README.md,
// "Stripe"). Stripe retries every non-2xx for 3 days.
func init() {
	Register(Provider{
		Name:       "stripe",
		Title:      "Stripe",
		Scheme:     verify.Stripe,
		Map:        mapStripe,
		Events:     stripeEventTypes,
		TestEvents: true,
		Retries:    "every non-2xx, for 3 days",
		Samples: []Sample{
			sample("customer.created", "stripe/customer.json"),
			sample("customer.updated", "stripe/customer.json"),
			sample("checkout.session.completed", "stripe/checkout.session.json"),
			sample("checkout.session.async_payment_succeeded", "stripe/checkout.session.json"),
			sample("customer.subscription.created", "stripe/customer.subscription.json"),
		},
	})
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
// select when creating the webhook endpoint, and the ones recover asks
// Stripe for.
func StripeEventTypes() []string { return slices.Clone(stripeEventTypes) }

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
	ID       string           `json:"id"`
	Metadata mapping.Metadata `json:"metadata"`

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

// UnmarshalJSON reads an id, an expanded object's id, or null.
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

// mapStripe maps a Stripe event (docs/providers/stripe.md, "Events and where the referral is read"): it reads the event,
// skips what does not convert, and hands the object to the function for its
// kind. The uid is the metadata's user_id when the site set one, else the
// Stripe customer id, because Reditus's Stripe connector matches later
// payments by either.
func mapStripe(payload []byte, opts mapping.Options) (mapping.Event, error) {
	e, ev, err := decodeStripe(payload)
	if err != nil || ev.Skip != "" {
		return ev, err
	}
	if !e.Livemode && !opts.AcceptTestEvents {
		ev.Skip = "test-mode event (livemode: false); set STRIPE_ACCEPT_TEST_EVENTS=true to forward test events"
		return ev, nil
	}
	o := e.Data.Object
	if o == nil {
		return mapping.Event{}, mapping.Invalid("%s event has no data.object", e.Type)
	}
	switch e.Type {
	case "customer.created", "customer.updated":
		return mapStripeCustomer(ev, e, o), nil
	case "checkout.session.completed", "checkout.session.async_payment_succeeded":
		return mapStripeCheckout(ev, o), nil
	default: // customer.subscription.created
		return mapStripeSubscription(ev, o), nil
	}
}

// decodeStripe reads a Stripe event, and skips one of a type that does not
// convert.
func decodeStripe(payload []byte) (stripeEvent, mapping.Event, error) {
	var e stripeEvent
	if err := mapping.Decode(payload, &e, "a Stripe event"); err != nil {
		// The one-pass decode reads data.object as the objects the bridge
		// converts; another event's object may not fit, and is still only
		// an event to skip. Only this error path pays for the second look.
		var head struct{ ID, Type string }
		if json.Unmarshal(payload, &head) == nil && head.ID != "" && !slices.Contains(stripeEventTypes, head.Type) {
			return e, mapping.DoesNotConvert(mapping.Event{ID: head.ID, Type: head.Type}, stripeEventTypes...), nil
		}
		return e, mapping.Event{}, err
	}
	if e.ID == "" || e.Type == "" {
		return e, mapping.Event{}, mapping.Invalid("not a Stripe event: no id or type")
	}
	ev := mapping.Event{ID: e.ID, Type: e.Type}
	if !slices.Contains(stripeEventTypes, e.Type) {
		return e, mapping.DoesNotConvert(ev, stripeEventTypes...), nil
	}
	return e, ev, nil
}

// mapStripeCustomer maps customer.created and customer.updated.
func mapStripeCustomer(ev mapping.Event, e stripeEvent, o *stripeObject) mapping.Event {
	if prev := e.Data.PreviousAttributes; e.Type == "customer.updated" && prev != nil && prev.Metadata == nil && prev.Email == nil {
		// Stripe sends customer.updated for every change (address,
		// balance, payment method); forwarding each would ask Reditus
		// again for a referral it has. Without previous_attributes,
		// nothing says the referral did not change.
		ev.Skip = "customer.updated changed neither metadata nor email; a referral on this customer was sent when it was set"
		return ev
	}
	who := mapping.Who{
		Email:  o.Email,
		UID:    cmp.Or(o.Metadata.Get(mapping.KeysUserID), o.ID),
		Looked: "the customer's email, metadata.user_id and id",
	}
	ev = mapping.Convert(ev, who, mapping.Place{Name: "customer metadata", Meta: o.Metadata})
	// Laravel Cashier and others put the referral on the subscription.
	return ev.WithLookups(mapping.StripeLookup{Kind: mapping.LookupCustomerSubscriptions, ID: o.ID})
}

// mapStripeCheckout maps checkout.session.completed and
// checkout.session.async_payment_succeeded.
func mapStripeCheckout(ev mapping.Event, o *stripeObject) mapping.Event {
	if o.PaymentStatus == "unpaid" {
		ev.Skip = "checkout session is unpaid (a delayed payment method); it converts on checkout.session.async_payment_succeeded"
		return ev
	}
	var detailsEmail string
	if o.CustomerDetails != nil {
		detailsEmail = o.CustomerDetails.Email
	}
	who := mapping.Who{
		Email:  cmp.Or(detailsEmail, o.CustomerEmail),
		UID:    cmp.Or(o.Metadata.Get(mapping.KeysUserID), string(o.Customer)),
		Looked: "customer_details.email, customer_email, metadata.user_id and customer",
	}
	ev = mapping.Convert(ev, who,
		mapping.Place{Name: "checkout session metadata", Meta: o.Metadata},
		mapping.Place{Name: "client_reference_id", Meta: clientReference(o.ClientReferenceID)},
	)
	// Checkout copies none of its metadata to the objects it creates, and
	// the referral may have been put on those.
	return ev.WithLookups(
		mapping.StripeLookup{Kind: mapping.LookupCustomer, ID: string(o.Customer)},
		mapping.StripeLookup{Kind: mapping.LookupSubscription, ID: string(o.Subscription)},
	)
}

// mapStripeSubscription maps customer.subscription.created.
func mapStripeSubscription(ev mapping.Event, o *stripeObject) mapping.Event {
	// A subscription carries no email; the customer id is enough for
	// Reditus to match the customer's payments.
	who := mapping.Who{
		UID:    cmp.Or(o.Metadata.Get(mapping.KeysUserID), string(o.Customer)),
		Looked: "the subscription's metadata.user_id and customer",
	}
	ev = mapping.Convert(ev, who, mapping.Place{Name: "subscription metadata", Meta: o.Metadata})
	return ev.WithLookups(mapping.StripeLookup{Kind: mapping.LookupCustomer, ID: string(o.Customer)})
}

// clientReference reads a client_reference_id as a place that may hold the
// cookie. Only the "gr_" form counts: apps often put their own ids there, and
// one of those must never be mistaken for a click id.
func clientReference(id string) mapping.Metadata {
	if !strings.HasPrefix(id, mapping.ClientReferencePrefix) {
		return nil
	}
	return mapping.Metadata{"gr_id": id}
}
