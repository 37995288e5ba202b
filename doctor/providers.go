package doctor

import (
	"context"
	"strings"

	"github.com/getreditus/reditus-bridge/connect"
	"github.com/getreditus/reditus-bridge/journal"
	"github.com/getreditus/reditus-bridge/outcome"
	"github.com/getreditus/reditus-bridge/providers"
)

// providerChecks reports, for each provider in use (on, or with an API key,
// or with events in the journal), its endpoint and its last 24 hours.
func providerChecks(ctx context.Context, r *Report, d Deps, sum *journal.Summary) {
	for _, p := range providers.All() {
		var counts map[outcome.Word]int
		if sum != nil {
			counts = sum.Outcomes[p.Name]
		}
		used := endpoint(ctx, r, d, p)
		if sum != nil && (used || len(counts) > 0) {
			r.add(p.Name, OK, "%s", outcomes(counts))
		}
	}
}

// endpoint checks p's endpoint at PUBLIC_URL through p's API, where the
// bridge has p's key: that it exists, is enabled, is subscribed to every
// event p handles, and that the bridge holds its secret. It reports
// whether p is in use.
func endpoint(ctx context.Context, r *Report, d Deps, p providers.Provider) bool {
	// On: its secret set. The local default's development secret does not
	// count: no real provider signs with it.
	held := d.Config.Webhooks[p.Name].Secrets
	on := len(held) > 0
	client, ok := connect.For(p.Name)
	if !ok {
		if on {
			r.add(p.Name, OK, "on (%s); its endpoint is set up in its dashboard, where doctor cannot look", p.SecretVar())
		}
		return on
	}
	api, err := client.New(d.Config, d.HTTP)
	switch {
	case err != nil && on:
		r.add(p.Name, Warn, "on, but its endpoint is not checked: %v", err)
		return true
	case err != nil:
		return false // not in use
	case d.Config.PublicURL == "":
		r.add(p.Name, Warn, "endpoint not checked: PUBLIC_URL is not set")
		return true
	}
	target := d.Config.PublicURL + p.Route()
	ep, found, err := api.Find(ctx, target)
	fix := "run reditus-bridge connect " + p.Name
	switch missing := ep.Missing(p.Events); {
	case err != nil:
		r.add(p.Name, Warn, "endpoint not checked: %v", err)
	case !found:
		r.add(p.Name, Fail, "no endpoint at %s: %s", target, fix)
	case !ep.Enabled:
		r.add(p.Name, Fail, "endpoint %s at %s is disabled: %s, which enables it", ep.ID, target, fix)
	case len(missing) > 0:
		r.add(p.Name, Fail, "endpoint %s at %s is not subscribed to %s, whose events are lost: %s", ep.ID, target, strings.Join(missing, ", "), fix)
	case len(held) == 0:
		r.add(p.Name, Fail, "endpoint %s at %s exists, but %s is not set: its deliveries are answered 404", ep.ID, target, p.SecretVar())
	case client.SecretShownAgain && ep.Secret != "" && !held.Contains(ep.Secret):
		r.add(p.Name, Fail, "%s does not hold the signing secret of endpoint %s: its deliveries fail the signature check (400); %s, which prints it", p.SecretVar(), ep.ID, fix)
	default:
		r.add(p.Name, OK, "endpoint %s at %s: enabled, subscribed to every event the bridge handles", ep.ID, target)
	}
	return true
}
