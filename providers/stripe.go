package providers

import (
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
		Map:        mapping.FromStripe,
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
