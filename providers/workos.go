package providers

import (
	"github.com/getreditus/reditus-bridge/mapping"
	"github.com/getreditus/reditus-bridge/verify"
)

// WorkOS: user.created, "WorkOS-Signature: t=<ms>, v1=<hex>" (README.md,
// "WorkOS").
func init() {
	Register(Provider{
		Name:    "workos",
		Title:   "WorkOS",
		Scheme:  verify.WorkOS,
		Map:     func(body []byte, _ mapping.Options) (mapping.Event, error) { return mapping.FromWorkOS(body) },
		Retries: "every non-2xx, with backoff, for up to 3 days",
		Samples: []Sample{sample("user.created", "workos/user.created.json")},
	})
}
