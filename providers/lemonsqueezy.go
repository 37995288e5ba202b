package providers

import (
	"cmp"
	"encoding/json"
	"slices"

	"github.com/getreditus/reditus-bridge/mapping"
	"github.com/getreditus/reditus-bridge/verify"
)

// Lemon Squeezy: an order converts and pays, a subscription's later invoices
// pay, refunds take the commission back, an expired subscription churns
// (README.md, "Lemon Squeezy"; providers/testdata/RESEARCH.md). It retries a
// failed delivery only three times within minutes, so a Reditus outage longer
// than that is the journal's to bridge.
func init() {
	Register(Provider{
		Name:       "lemonsqueezy",
		Title:      "Lemon Squeezy",
		Scheme:     verify.LemonSqueezy,
		Map:        mapLemonSqueezy,
		Events:     lemonSqueezyEvents,
		TestEvents: true,
		Retries:    "3 more times after a non-200 (5 s, 25 s, 125 s apart), then never",
		Samples: []Sample{
			sample("order_created", "lemonsqueezy/order_created.json"),
			sample("subscription_payment_success", "lemonsqueezy/subscription_payment_success.json"),
			sample("order_refunded", "lemonsqueezy/order_refunded.json"),
			sample("subscription_expired", "lemonsqueezy/subscription_expired.json"),
		},
	})
}

// lemonSqueezyEvents are the events the bridge handles, as the README says to
// select them.
var lemonSqueezyEvents = []string{
	"order_created",
	"subscription_payment_success",
	"order_refunded",
	"subscription_payment_refunded",
	"subscription_expired",
}

// lemonSqueezyAttributes are the fields read from data.attributes of an
// order, a subscription invoice or a subscription (JSON:API). Amounts are
// integers in the currency's ISO 4217 minor unit, as Lemon Squeezy's own
// Laravel package formats them (none for JPY, three decimals for KWD); total
// includes tax. Any other form of a number than an integer is refused.
type lemonSqueezyAttributes struct {
	CustomerID     lemonSqueezyID `json:"customer_id"`
	UserEmail      string         `json:"user_email"`
	Currency       string         `json:"currency"` // upper case: "USD"
	Total          int64          `json:"total"`
	Tax            int64          `json:"tax"`
	RefundedAmount int64          `json:"refunded_amount"`
	Refunded       bool           `json:"refunded"`
	Status         string         `json:"status"`
	BillingReason  string         `json:"billing_reason"` // invoices: "initial", "renewal", "updated"
	TestMode       bool           `json:"test_mode"`
}

// mapLemonSqueezy maps a Lemon Squeezy webhook. The referral is in
// meta.custom_data, which checkout[custom][...] fills and Lemon Squeezy
// copies to every later event of the subscription. uid is custom_data's
// user_id when the site set one, else the Lemon Squeezy customer id.
func mapLemonSqueezy(body []byte, o mapping.Options) (mapping.Event, error) {
	var e struct {
		Meta struct {
			TestMode   bool             `json:"test_mode"`
			EventName  string           `json:"event_name"`
			WebhookID  string           `json:"webhook_id"`
			CustomData mapping.Metadata `json:"custom_data"`
		} `json:"meta"`
		Data struct {
			ID         lemonSqueezyID  `json:"id"`
			Attributes json.RawMessage `json:"attributes"`
		} `json:"data"`
	}
	if err := mapping.Decode(body, &e, "a Lemon Squeezy event"); err != nil {
		return mapping.Event{}, err
	}
	if e.Meta.EventName == "" {
		return mapping.Event{}, mapping.Invalid("not a Lemon Squeezy event: no meta.event_name")
	}
	id := string(e.Data.ID)
	// webhook_id is the same on every retry; without it, the event name and
	// the object's id name the event (an order is created once).
	ev := mapping.Event{ID: cmp.Or(e.Meta.WebhookID, e.Meta.EventName+":"+id), Type: e.Meta.EventName}
	if !slices.Contains(lemonSqueezyEvents, ev.Type) {
		return mapping.NotHandled(ev, lemonSqueezyEvents...), nil
	}
	// The attributes are read only for the events handled, so that another
	// event's object is never refused for its shape.
	var a lemonSqueezyAttributes
	if id == "" || len(e.Data.Attributes) == 0 {
		return mapping.Event{}, mapping.Invalid("%s event has no data.id or data.attributes", ev.Type)
	}
	if err := json.Unmarshal(e.Data.Attributes, &a); err != nil {
		return mapping.Event{}, mapping.Invalid("%s event: data.attributes: %v", ev.Type, err)
	}
	if (e.Meta.TestMode || a.TestMode) && !o.AcceptTestEvents {
		ev.Skip = "test-mode event (meta.test_mode: true); set LEMONSQUEEZY_ACCEPT_TEST_EVENTS=true to forward test events"
		return ev, nil
	}
	return lemonSqueezyCalls(ev, a, id, e.Meta.CustomData)
}

// lemonSqueezyCalls maps a handled event, live or accepted, to its calls.
func lemonSqueezyCalls(ev mapping.Event, a lemonSqueezyAttributes, id string, custom mapping.Metadata) (mapping.Event, error) {
	who := mapping.Who{
		Email:  a.UserEmail,
		UID:    cmp.Or(custom.Get(mapping.KeysUserID), string(a.CustomerID)),
		Looked: "data.attributes.user_email, meta.custom_data.user_id and data.attributes.customer_id",
	}
	places := []mapping.Place{{Name: "meta.custom_data", Meta: custom}}
	// The tax is stated apart from the total, which includes it: the payment
	// is the rest. Amounts are in the currency's ISO 4217 minor unit.
	paid := mapping.Money{Currency: a.Currency, Paid: a.Total, Total: a.Total, Tax: a.Tax}

	switch ev.Type {
	case "order_created":
		if a.Status != "paid" {
			ev.Skip = "order status is " + a.Status + ", not paid: nothing converts or pays until an order is paid"
			return ev, nil
		}
		ev = mapping.Convert(ev, who, places...)
		return mapping.Pay(ev, who, "lemonsqueezy:order:"+id, paid, nil)

	case "subscription_payment_success":
		if a.BillingReason == "initial" {
			// Lemon Squeezy sends order_created for the same charge, and
			// that order paid it (RESEARCH.md, "double payment").
			ev.Skip = "the first payment of a subscription (billing_reason initial) is paid from its order_created event; paying this invoice too would pay it twice"
			return ev, nil
		}
		// No billing interval is in any Lemon Squeezy webhook (it is on the
		// variant), so the payment goes without subscription fields.
		ev = mapping.Convert(ev, who, places...)
		return mapping.Pay(ev, who, "lemonsqueezy:invoice:"+id, paid, nil)

	case "order_refunded", "subscription_payment_refunded":
		key := "lemonsqueezy:order:" + id
		if ev.Type == "subscription_payment_refunded" {
			if a.BillingReason == "initial" {
				ev.Skip = "the refund of a subscription's first payment (billing_reason initial), which was paid as its order: the order's refund (order_refunded) takes it back"
				return ev, nil
			}
			key = "lemonsqueezy:invoice:" + id
		}
		if a.Status != "refunded" && !a.Refunded && a.RefundedAmount < a.Total {
			return mapping.PartialRefund(ev, a.RefundedAmount, a.Total, "data.attributes.refunded_amount of total"), nil
		}
		return mapping.Refund(ev, who, key), nil

	default: // subscription_expired: the subscription ended, after a cancellation or failed payments
		return mapping.Churn(ev, who), nil
	}
}

// lemonSqueezyID is an id that Lemon Squeezy writes as a JSON string (data.id)
// or number (customer_id and the other ids inside attributes).
type lemonSqueezyID string

// UnmarshalJSON implements json.Unmarshaler.
func (id *lemonSqueezyID) UnmarshalJSON(b []byte) error {
	var n json.Number // a number, or a string that holds one
	if err := json.Unmarshal(b, &n); err == nil {
		*id = lemonSqueezyID(n.String())
		return nil
	}
	var s *string // null is no id
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	if s != nil {
		*id = lemonSqueezyID(*s)
	} else {
		*id = ""
	}
	return nil
}
