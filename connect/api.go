// Package connect registers the bridge's webhook endpoint with a provider
// through the provider's own API, subscribed to exactly the events the
// provider's registry entry declares (providers.Provider.Events), and finds
// it again for doctor. Each provider with such an API has a file here with
// its client; the providers without one (Clerk, Stytch, Supabase, the
// generic endpoint) have the dashboard steps connect prints instead
// (dashboard.go). Both are looked up by the provider's registry name.
package connect

import (
	"context"
	"net/http"
	"slices"
	"sync"

	"github.com/getreditus/reditus-bridge/config"
)

// Endpoint is a webhook endpoint as a provider's API shows it.
type Endpoint struct {
	ID      string
	URL     string
	Events  []string
	Enabled bool
	// Secret is the endpoint's signing secret where the API shows it: when
	// it creates the endpoint, and on every read for the providers that
	// show it again (Client.SecretShownAgain). Empty otherwise.
	Secret string
	// Note is something about the endpoint a person should know that is not
	// wrong enough to change it (Stripe: another API version).
	Note string
}

// Spec is the endpoint the bridge wants.
type Spec struct {
	URL    string
	Events []string
	// Secret is the secret the bridge chose, for the providers whose
	// secret the caller sets (Lemon Squeezy's signing secret, Chargebee's
	// basic authentication as user:password); empty for the others.
	Secret string
}

// API is one provider's webhook endpoint API: the three calls connect
// makes. Errors are *Error values.
type API interface {
	// Find returns the endpoint whose URL is url; false when there is none.
	Find(ctx context.Context, url string) (Endpoint, bool, error)
	// Create makes the endpoint s describes, enabled.
	Create(ctx context.Context, s Spec) (Endpoint, error)
	// Update subscribes the endpoint id to exactly s.Events and enables it.
	// It never changes the endpoint's secret.
	Update(ctx context.Context, id string, s Spec) (Endpoint, error)
}

// Client is how connect reaches one provider's API.
type Client struct {
	// New returns the API for cfg, sending its requests with hc; its error
	// names the variable that is missing.
	New func(cfg config.Config, hc *http.Client) (API, error)
	// SecretShownAgain says the API shows an existing endpoint's secret, so
	// that connect and doctor can tell whether the bridge holds it.
	SecretShownAgain bool
	// Rotation says, for a provider that never shows a secret again, how to
	// replace the one the bridge holds without losing deliveries.
	Rotation string
}

var (
	mu      sync.RWMutex
	clients = map[string]Client{}
)

// register adds the Client of the provider called name, from its file's
// init. Twice is a programming error, and panics.
func register(name string, c Client) {
	mu.Lock()
	defer mu.Unlock()
	if _, ok := clients[name]; ok {
		panic("connect: " + name + " is registered twice")
	}
	clients[name] = c
}

// For returns the Client of the provider called name, and false for a
// provider whose endpoints connect cannot make through an API.
func For(name string) (Client, bool) {
	mu.RLock()
	defer mu.RUnlock()
	c, ok := clients[name]
	return c, ok
}

// Supports says how connect sets up the provider called name: through its
// API, by printing dashboard steps, or neither (then it says so, and where to
// read how). The registry test holds every provider to one of the first two.
func Supports(name string) (api, steps bool) {
	_, api = For(name)
	_, steps = dashboards[name]
	return api, steps
}

// diff returns the events of want that have lacks, and those it has beyond
// want. Stripe's "*" (every event) lacks none.
func diff(have, want []string) (missing, extra []string) {
	for _, e := range want {
		if !slices.Contains(have, e) && !slices.Contains(have, "*") {
			missing = append(missing, e)
		}
	}
	for _, e := range have {
		if !slices.Contains(want, e) {
			extra = append(extra, e)
		}
	}
	return missing, extra
}

// Missing returns the events of want that ep is not subscribed to: what
// doctor fails on.
func (ep Endpoint) Missing(want []string) []string {
	missing, _ := diff(ep.Events, want)
	return missing
}
