package stripeapi

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	stripe "github.com/stripe/stripe-go/v76"

	"github.com/getreditus/reditus-bridge/providers"
)

// Window is a span of creation times, [Since, Until).
type Window struct{ Since, Until time.Time }

func (w Window) params() *stripe.RangeQueryParams {
	r := &stripe.RangeQueryParams{GreaterThanOrEqual: w.Since.Unix()}
	if !w.Until.IsZero() {
		r.LesserThan = w.Until.Unix()
	}
	return r
}

// Visit is called with each item of a listing, as the body of a Stripe event
// the webhook pipeline can read. Returning an error stops the listing.
type Visit func(kind string, event []byte) error

// EachCustomer visits the customers created in w, as customer.created
// events, newest first, following pagination.
func (c *Client) EachCustomer(ctx context.Context, w Window, visit Visit) error {
	params := &stripe.CustomerListParams{CreatedRange: w.params()}
	params.Context = ctx
	params.Limit = stripe.Int64(pageSize)
	it := c.customers.List(params)
	for ctx.Err() == nil && it.Next() {
		cust := it.Customer()
		if err := visitAsEvent(visit, "customer", "customer.created", cust.ID, cust.Livemode, cust); err != nil {
			return err
		}
	}
	return c.listErr(it.Err(), "list customers")
}

// EachCheckoutSession visits the completed Checkout Sessions created in w,
// as checkout.session.completed events.
func (c *Client) EachCheckoutSession(ctx context.Context, w Window, visit Visit) error {
	params := &stripe.CheckoutSessionListParams{CreatedRange: w.params(), Status: stripe.String("complete")}
	params.Context = ctx
	params.Limit = stripe.Int64(pageSize)
	it := c.sessions.List(params)
	for ctx.Err() == nil && it.Next() {
		s := it.CheckoutSession()
		if err := visitAsEvent(visit, "checkout session", "checkout.session.completed", s.ID, s.Livemode, s); err != nil {
			return err
		}
	}
	return c.listErr(it.Err(), "list checkout sessions")
}

// EachUndeliveredEvent visits the events of the types the bridge converts
// that Stripe failed to deliver to a webhook endpoint (delivery_success
// false) since the given time. Stripe keeps events for 30 days.
func (c *Client) EachUndeliveredEvent(ctx context.Context, since time.Time, visit Visit) error {
	params := &stripe.EventListParams{
		DeliverySuccess: stripe.Bool(false),
		CreatedRange:    Window{Since: since}.params(),
	}
	for _, t := range providers.StripeEventTypes() {
		params.Types = append(params.Types, stripe.String(t))
	}
	params.Context = ctx
	params.Limit = stripe.Int64(pageSize)
	it := c.events.List(params)
	for ctx.Err() == nil && it.Next() {
		// An event's data.object is kept raw by stripe-go, so the event
		// marshals back to what Stripe sent.
		body, err := json.Marshal(it.Event())
		if err != nil {
			return fmt.Errorf("encode event: %w", err)
		}
		if err := visit("event", body); err != nil {
			return err
		}
	}
	return c.listErr(it.Err(), "list events")
}

// pageSize is how many items one list call returns: Stripe's maximum.
const pageSize = 100

func (c *Client) listErr(err error, what string) error {
	if err == nil {
		return nil
	}
	return classify(err, what)
}

// visitAsEvent wraps an object the API listed in the event that would have
// announced it, with an id of its own ("backfill_" and the object's id), so
// that the pipeline reads it as it reads a webhook.
func visitAsEvent(visit Visit, kind, eventType, id string, livemode bool, object any) error {
	raw, err := json.Marshal(object)
	if err != nil {
		return fmt.Errorf("encode %s %s: %w", kind, id, err)
	}
	body, err := json.Marshal(map[string]any{
		"id":       "backfill_" + id,
		"object":   "event",
		"type":     eventType,
		"livemode": livemode,
		"data":     map[string]json.RawMessage{"object": raw},
	})
	if err != nil {
		return fmt.Errorf("encode %s %s: %w", kind, id, err)
	}
	return visit(kind, body)
}
