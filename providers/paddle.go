package providers

import (
	"cmp"
	"encoding/json"
	"slices"

	"github.com/getreditus/reditus-bridge/mapping"
	"github.com/getreditus/reditus-bridge/verify"
)

// Paddle Billing: a new customer or a completed transaction converts, and
// nothing more: Reditus's own Paddle connector tracks Paddle's payments, so
// sending them here would count them twice (README.md, "Paddle";
// providers/testdata/RESEARCH.md).
func init() {
	Register(Provider{
		Name:    "paddle",
		Title:   "Paddle Billing",
		Scheme:  verify.Paddle,
		Map:     mapPaddle,
		Events:  paddleEvents,
		Retries: "every non-2xx, up to 60 times over 3 days (live; sandbox fewer)",
		Samples: []Sample{
			sample("customer.created", "paddle/customer.created.json"),
			sample("transaction.completed", "paddle/transaction.completed.json"),
		},
	})
}

// paddleEvents are the events that convert, as the README says to select
// them.
var paddleEvents = []string{"customer.created", "transaction.completed"}

// mapPaddle maps a Paddle notification, {event_id, event_type, occurred_at,
// data}. The referral is in data.custom_data: Paddle.js
// Checkout.open({customData}) sets it on the transaction, and Paddle copies it
// to the subscription and every later transaction, whose conversion Reditus
// then answers 409. uid is custom_data's user_id when the site set one, else
// the Paddle customer id (ctm_...). event_id is the same on every retry.
func mapPaddle(body []byte, _ mapping.Options) (mapping.Event, error) {
	var e struct {
		EventID   string          `json:"event_id"`
		EventType string          `json:"event_type"`
		Data      json.RawMessage `json:"data"`
	}
	if err := mapping.Decode(body, &e, "a Paddle notification"); err != nil {
		return mapping.Event{}, err
	}
	if e.EventID == "" || e.EventType == "" {
		return mapping.Event{}, mapping.Invalid("not a Paddle notification: no event_id or event_type")
	}
	ev := mapping.Event{ID: e.EventID, Type: e.EventType}
	if !slices.Contains(paddleEvents, e.EventType) {
		return mapping.DoesNotConvert(ev, paddleEvents...), nil
	}
	var d struct {
		ID         string           `json:"id"`
		Email      string           `json:"email"`       // a customer's
		CustomerID string           `json:"customer_id"` // a transaction's
		CustomData mapping.Metadata `json:"custom_data"`
	}
	if err := json.Unmarshal(e.Data, &d); err != nil {
		return mapping.Event{}, mapping.Invalid("%s notification: data: %v", e.EventType, err)
	}
	place := mapping.Place{Name: "data.custom_data", Meta: d.CustomData}
	who := mapping.Who{
		Email:  d.Email,
		UID:    cmp.Or(d.CustomData.Get(mapping.KeysUserID), d.ID),
		Looked: "data.email, data.custom_data.user_id and data.id",
	}
	if e.EventType == "transaction.completed" {
		// A transaction names its customer by id only.
		who = mapping.Who{
			UID:    cmp.Or(d.CustomData.Get(mapping.KeysUserID), d.CustomerID),
			Looked: "data.custom_data.user_id and data.customer_id (a transaction carries no email)",
		}
	}
	return mapping.Convert(ev, who, place), nil
}
