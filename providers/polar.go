package providers

import (
	"cmp"
	"encoding/json"
	"slices"

	"github.com/getreditus/reditus-bridge/mapping"
	"github.com/getreditus/reditus-bridge/verify"
)

// Polar: a paid order converts and pays (renewals too: their conversion is a
// 409 duplicate), a refunded order takes the commission back, a revoked
// subscription churns (README.md, "Polar"; providers/testdata/RESEARCH.md).
// Polar disables an endpoint after ten failed events in a row, so a Reditus
// outage is the journal's to bridge, not the sender's.
func init() {
	Register(Provider{
		Name:       "polar",
		Title:      "Polar",
		Scheme:     verify.Polar,
		DeliveryID: verify.PolarID,
		Map:        mapPolar,
		Events:     polarEvents,
		Retries:    "every non-2xx (3xx too), 10 times within about half an hour; 10 failed events in a row disable the endpoint",
		Samples: []Sample{
			sample("order.paid", "polar/order.paid.json"),
			sample("order.refunded", "polar/order.refunded.json"),
			sample("subscription.revoked", "polar/subscription.revoked.json"),
		},
	})
}

// polarEvents are the events the bridge handles, as the README says to
// select them.
var polarEvents = []string{"order.paid", "order.refunded", "subscription.revoked"}

// polarCustomer is an order's or a subscription's customer. external_id is
// the app's own user id, set when the app created the customer.
type polarCustomer struct {
	ID         string           `json:"id"`
	Email      string           `json:"email"`
	ExternalID string           `json:"external_id"`
	Metadata   mapping.Metadata `json:"metadata"`
}

// polarSubscription is the part of a Subscription the bridge reads.
type polarSubscription struct {
	ID                     string           `json:"id"`
	CustomerID             string           `json:"customer_id"`
	RecurringInterval      string           `json:"recurring_interval"` // day, week, month, year
	RecurringIntervalCount int              `json:"recurring_interval_count"`
	Metadata               mapping.Metadata `json:"metadata"`
}

// polarOrder is the part of an Order the bridge reads. Amounts are integers
// in Polar's unit of the currency (polarDecimals): net_amount is after
// discounts and before tax; older API versions had amount instead.
type polarOrder struct {
	ID             string             `json:"id"`
	Status         string             `json:"status"` // paid, refunded, partially_refunded, ...
	NetAmount      *int64             `json:"net_amount"`
	Amount         *int64             `json:"amount"`
	RefundedAmount int64              `json:"refunded_amount"`
	Currency       string             `json:"currency"`
	CustomerID     string             `json:"customer_id"`
	Customer       polarCustomer      `json:"customer"`
	Metadata       mapping.Metadata   `json:"metadata"`
	SubscriptionID string             `json:"subscription_id"`
	Subscription   *polarSubscription `json:"subscription"`
	Product        *struct {
		RecurringInterval      string `json:"recurring_interval"`
		RecurringIntervalCount int    `json:"recurring_interval_count"`
	} `json:"product"`
}

// mapPolar maps a Polar webhook, {type, timestamp, data}. The referral is in
// the checkout's metadata, which Polar copies to the order and the
// subscription, or in its customer_metadata, copied to the customer. uid is
// the customer's external_id (the app's user id) when set, else a user_id in
// that metadata, else the Polar customer id. The body has no id of its own:
// the delivery's webhook-id header names the event, and the type and the
// object's id stand in for it where there is no header (a replay).
func mapPolar(body []byte, _ mapping.Options) (mapping.Event, error) {
	var e struct {
		Type string          `json:"type"`
		Data json.RawMessage `json:"data"`
	}
	if err := mapping.Decode(body, &e, "a Polar event"); err != nil {
		return mapping.Event{}, err
	}
	if e.Type == "" {
		return mapping.Event{}, mapping.Invalid("not a Polar event: no type")
	}
	var head struct {
		ID string `json:"id"`
	}
	_ = json.Unmarshal(e.Data, &head) // another event's data may be anything
	ev := mapping.Event{ID: e.Type + ":" + head.ID, Type: e.Type}
	if !slices.Contains(polarEvents, e.Type) {
		return mapping.NotHandled(ev, polarEvents...), nil
	}
	if e.Type == "subscription.revoked" {
		var s struct {
			polarSubscription
			Customer polarCustomer `json:"customer"`
		}
		if err := decodePolarData(e.Data, &s, e.Type); err != nil {
			return mapping.Event{}, err
		}
		who := polarWho(s.Customer, s.CustomerID, s.Metadata)
		return mapping.Churn(ev, who), nil
	}

	var o polarOrder
	if err := decodePolarData(e.Data, &o, e.Type); err != nil {
		return mapping.Event{}, err
	}
	return polarOrderCalls(ev, o)
}

// polarOrderCalls maps order.paid and order.refunded.
func polarOrderCalls(ev mapping.Event, o polarOrder) (mapping.Event, error) {
	sub := o.Subscription
	if sub == nil {
		sub = &polarSubscription{}
	}
	key := "polar:order:" + o.ID
	who := polarWho(o.Customer, o.CustomerID, o.Metadata, sub.Metadata)
	if ev.Type == "order.refunded" {
		net := cmp.Or(polarCents(o.NetAmount), polarCents(o.Amount))
		if o.Status != "refunded" && o.RefundedAmount < net {
			return mapping.PartialRefund(ev, o.RefundedAmount, net, "data.refunded_amount of net_amount"), nil
		}
		return mapping.Refund(ev, who, key), nil
	}

	// order.paid: every paid order, the first and each renewal.
	ev = mapping.Convert(ev, who,
		mapping.Place{Name: "order metadata", Meta: o.Metadata},
		mapping.Place{Name: "subscription metadata", Meta: sub.Metadata},
		mapping.Place{Name: "customer metadata", Meta: o.Customer.Metadata},
	)
	amount := o.NetAmount
	if amount == nil {
		amount = o.Amount
	}
	if amount == nil {
		return mapping.Event{}, mapping.Invalid("order.paid has no net_amount")
	}
	interval, count := sub.RecurringInterval, sub.RecurringIntervalCount
	if interval == "" && o.Product != nil {
		interval, count = o.Product.RecurringInterval, o.Product.RecurringIntervalCount
	}
	paid := mapping.Money{Currency: o.Currency, Paid: *amount, Units: polarDecimals}
	return mapping.Pay(ev, who, key, paid, mapping.Subscription(cmp.Or(o.SubscriptionID, sub.ID), interval, count))
}

// polarZeroDecimal are the currencies Polar counts in whole units
// (polarsource/polar, server/polar/kit/currency.py,
// _ZERO_DECIMAL_CURRENCIES: Stripe's list less UGX, which Stripe takes in
// hundredths).
var polarZeroDecimal = map[string]bool{
	"bif": true, "clp": true, "djf": true, "gnf": true, "jpy": true, "kmf": true, "krw": true, "mga": true,
	"pyg": true, "rwf": true, "vnd": true, "vuv": true, "xaf": true, "xof": true, "xpf": true,
}

// polarDecimals is how many decimals Polar's integers carry in currency:
// none in its zero-decimal currencies, hundredths in every other, as Stripe,
// which Polar charges through, counts them (so ISK and UGX in hundredths,
// where ISO 4217 gives them none, and MGA in whole ariary, where ISO gives
// it two). Polar sells in no three-decimal currency (KWD, BHD), and its
// hundredths would disagree with the thousandths Stripe takes them in: an
// amount in one is refused rather than guessed.
func polarDecimals(currency string) (decimals int, ok bool) {
	if polarZeroDecimal[currency] {
		return 0, true
	}
	if iso, _ := mapping.Exponent(currency); iso > 2 {
		return 0, false
	}
	return 2, true
}

// polarWho is who an order or a subscription is about. The metadata maps are
// searched for a user_id in the order given.
func polarWho(c polarCustomer, customerID string, metadata ...mapping.Metadata) mapping.Who {
	uid := c.ExternalID
	for _, m := range append(metadata, c.Metadata) {
		uid = cmp.Or(uid, m.Get(mapping.KeysUserID))
	}
	return mapping.Who{
		Email:  c.Email,
		UID:    cmp.Or(uid, c.ID, customerID),
		Looked: "data.customer.email, data.customer.external_id, user_id in the metadata, and the customer id",
	}
}

// decodePolarData decodes an event's data, which must be an object with an
// id.
func decodePolarData(raw json.RawMessage, v interface{ polarID() string }, eventType string) error {
	if err := json.Unmarshal(raw, v); err != nil {
		return mapping.Invalid("%s event: data: %v", eventType, err)
	}
	if v.polarID() == "" {
		return mapping.Invalid("%s event has no data.id", eventType)
	}
	return nil
}

func (o *polarOrder) polarID() string        { return o.ID }
func (s *polarSubscription) polarID() string { return s.ID }

// polarCents is an optional amount, 0 when absent.
func polarCents(n *int64) int64 {
	if n == nil {
		return 0
	}
	return *n
}
