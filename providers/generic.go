package providers

import (
	"github.com/getreditus/reditus-bridge/mapping"
	"github.com/getreditus/reditus-bridge/verify"
)

// Generic: anything that can send a Standard Webhooks delivery, with a flat
// body or the Standard Webhooks envelope (README.md, "Generic endpoint").
func init() {
	Register(Provider{
		Name:       "generic",
		Title:      "Generic endpoint",
		Scheme:     verify.StandardWebhooks,
		DeliveryID: verify.SvixID,
		Map:        func(body []byte, _ mapping.Options) (mapping.Event, error) { return mapping.FromGeneric(body) },
		Retries:    "as your sender does (Standard Webhooks libraries retry with backoff)",
		Samples: []Sample{
			sample("conversion", "generic/conversion.json"),
			sample("user.created", "generic/envelope.json"),
		},
	})
}
