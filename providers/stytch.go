package providers

import (
	"github.com/getreditus/reditus-bridge/mapping"
	"github.com/getreditus/reditus-bridge/verify"
)

// Stytch: consumer user creation and B2B member creation, signed by Svix
// (README.md, "Stytch").
func init() {
	Register(Provider{
		Name:       "stytch",
		Title:      "Stytch",
		Scheme:     verify.Svix,
		DeliveryID: verify.SvixID,
		Map:        func(body []byte, _ mapping.Options) (mapping.Event, error) { return mapping.FromStytch(body) },
		Retries:    "every non-2xx, about 8 times over 27 hours (Svix)",
		Samples: []Sample{
			sample("direct.user.create", "stytch/user.create.json"),
			sample("dashboard.user.create", "stytch/user.create.json"),
			sample("direct.member.create", "stytch/member.create.json"),
			sample("scim.member.create", "stytch/member.create.json"),
		},
	})
}
