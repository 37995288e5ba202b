package pipeline

import (
	"context"
	"net/http"

	"github.com/getreditus/reditus-bridge/config"
	"github.com/getreditus/reditus-bridge/providers"
)

// resolveBudget bounds the calls a provider's API step makes for one
// delivery (Mollie: the payment, then its customer and subscription at
// once). With Reditus's 7 s budget it keeps the answer under 10 s.
const resolveBudget = lookupBudget

// resolver is provider p's API step under cfg: its Resolve over a client of
// the configured API, or nil when p has no API or its credentials are not
// set (then the verified body is the event).
func resolver(cfg config.Config, p providers.Provider) providers.Resolver {
	key, base := cfg.API(p)
	if p.API == nil || key == "" {
		return nil
	}
	return p.API.Resolve(providers.NewAPIClient(p, base, key.Reveal(), nil))
}

// resolved runs a verified delivery through its provider's API step, if it
// has one: what comes back is the event the rest of the path maps and the
// journal keeps, so that the worker and a retry never call the API again.
// It fails as the step says: a forged reference (400), the API down (503,
// not journaled: the sender retries), our key refused (500).
func (p *Pipeline) resolved(ctx context.Context, provider string, header http.Header, body []byte) ([]byte, error) {
	r := p.routes[provider]
	if r.resolve == nil {
		return body, nil
	}
	ctx, cancel := context.WithTimeout(ctx, resolveBudget)
	defer cancel()
	return r.resolve(ctx, header, body)
}
