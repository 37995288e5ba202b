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
		Map:        func(body []byte, _ mapping.Options) (mapping.Event, error) { return mapping.FromClerk(body) },
		Retries:    "every non-2xx, about 8 times over 27 hours (Svix)",
		Samples:    []Sample{sample("user.created", "clerk/user.created.json")},
	})
}
