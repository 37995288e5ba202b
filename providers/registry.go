// Package providers holds every webhook sender the bridge serves, one file
// each, and the registry that configuration, the routes, check, simulate,
// metrics and the tests read. A provider's file is all there is to it: its
// name (so its route /webhooks/{name} and its variables {NAME}_WEBHOOK_SECRET
// and {NAME}_ACCEPT_TEST_EVENTS), its signature scheme, its API when a
// delivery must be completed from it (api.go), its mapping from payload to
// event, how its sender retries, and its simulate samples.
// Adding a provider is that file, its testdata and samples, and its README
// section (README.md, "Adding a provider").
package providers

import (
	"cmp"
	"embed"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"

	"github.com/getreditus/reditus-bridge/mapping"
	"github.com/getreditus/reditus-bridge/verify"
)

// Provider is one webhook sender.
type Provider struct {
	// Name is the provider's id: lower-case letters and digits. It gives the
	// route /webhooks/{Name}, the variables {NAME}_WEBHOOK_SECRET and
	// {NAME}_ACCEPT_TEST_EVENTS, and the metrics label.
	Name string
	// Title is how people write it: "Lemon Squeezy".
	Title string
	// Scheme verifies deliveries, signs samples and judges secrets.
	Scheme verify.Scheme
	// SecretVariable names the variable that holds what Scheme verifies
	// with, when that is not {NAME}_WEBHOOK_SECRET: PayPal's webhook id,
	// PAYPAL_WEBHOOK_ID.
	SecretVariable string
	// API is the provider's own API, for a provider whose deliveries the
	// bridge completes from it after verification (Mollie, PayPal); nil for
	// the rest.
	API *API
	// DeliveryID reads the sender's delivery id from verified headers, for
	// providers that put it there (Svix); nil when the event carries its own.
	DeliveryID func(http.Header) string
	// Map turns a verified body into an event: what to send, or why not.
	Map func(body []byte, o mapping.Options) (mapping.Event, error)
	// Events are the event types the bridge handles, as the provider names
	// them where a webhook's events are chosen: `connect` subscribes the
	// provider's endpoint to exactly these, `doctor` checks that it is, and
	// its page says to pick them. Map skips every other type as not handled.
	// Empty when the sender has no types to choose from (the generic
	// endpoint takes every delivery).
	Events []string
	// TestEvents says the provider marks test-mode events, which are skipped
	// unless {NAME}_ACCEPT_TEST_EVENTS=true.
	TestEvents bool
	// Retries says how the sender retries a non-2xx answer, for `check` and
	// the README: the journal must hold what the sender will not re-send.
	Retries string
	// Samples are simulate's events, the first the default.
	Samples []Sample
}

// Sample is one event simulate can send: a text/template of the body
// (simulate documents the fields it fills in).
type Sample struct {
	Event    string
	Template string
}

// SecretVar names the variable that holds the provider's webhook secrets:
// {NAME}_WEBHOOK_SECRET, or the provider's SecretVariable.
func (p Provider) SecretVar() string {
	return cmp.Or(p.SecretVariable, strings.ToUpper(p.Name)+"_WEBHOOK_SECRET")
}

// OnVar names the variable that turns the provider on: its secret
// variable, or its API's when the API key alone turns it on (Mollie, whose
// classic webhooks are unsigned).
func (p Provider) OnVar() string {
	if p.API != nil && p.API.TurnsOn {
		return p.API.Variable
	}
	return p.SecretVar()
}

// APIURLVar names the variable that overrides the provider's API base,
// {NAME}_API_URL; "" for a provider without an API.
func (p Provider) APIURLVar() string {
	if p.API == nil {
		return ""
	}
	return strings.ToUpper(p.Name) + "_API_URL"
}

// Variables lists every variable the provider reads: its secret, its
// test-events switch when it marks test events, and its API's key and base.
func (p Provider) Variables() []string {
	vars := []string{p.SecretVar()}
	if p.TestEvents {
		vars = append(vars, p.TestEventsVar())
	}
	if p.API != nil {
		vars = append(vars, p.API.Variable, p.APIURLVar())
	}
	return vars
}

// TestEventsVar names the variable that lets the provider's test-mode
// events through.
func (p Provider) TestEventsVar() string { return strings.ToUpper(p.Name) + "_ACCEPT_TEST_EVENTS" }

// Route is where the provider posts its webhooks.
func (p Provider) Route() string { return "/webhooks/" + p.Name }

var (
	mu        sync.RWMutex
	registry  []Provider // sorted by Name
	validName = regexp.MustCompile(`^[a-z][a-z0-9]*$`)
	validVar  = regexp.MustCompile(`^[A-Z][A-Z0-9_]*$`)
)

// Register adds p to the registry, from its file's init, or from a test, which
// calls the returned func to remove it again. A malformed or duplicate
// provider is a programming error, and panics.
func Register(p Provider) (unregister func()) {
	switch {
	case !validName.MatchString(p.Name):
		panic(fmt.Sprintf("providers: name %q is not lower-case letters and digits", p.Name))
	case p.Scheme == nil || p.Map == nil || len(p.Samples) == 0:
		panic(fmt.Sprintf("providers: %s needs a Scheme, a Map and a Sample", p.Name))
	case p.SecretVariable != "" && !validVar.MatchString(p.SecretVariable):
		panic(fmt.Sprintf("providers: %s's SecretVariable %q is not a variable name", p.Name, p.SecretVariable))
	case p.API != nil && (!validVar.MatchString(p.API.Variable) || p.API.URL == "" || p.API.Resolve == nil):
		panic(fmt.Sprintf("providers: %s's API needs a Variable, a URL and a Resolve", p.Name))
	}
	mu.Lock()
	defer mu.Unlock()
	i, found := slices.BinarySearchFunc(registry, p.Name, func(q Provider, name string) int { return strings.Compare(q.Name, name) })
	if found {
		panic("providers: " + p.Name + " is registered twice")
	}
	registry = slices.Insert(registry, i, p)
	return func() {
		mu.Lock()
		defer mu.Unlock()
		registry = slices.DeleteFunc(registry, func(q Provider) bool { return q.Name == p.Name })
	}
}

// All returns every registered provider, by name.
func All() []Provider {
	mu.RLock()
	defer mu.RUnlock()
	return slices.Clone(registry)
}

// Names returns the registered providers' names, sorted.
func Names() []string {
	var names []string
	for _, p := range All() {
		names = append(names, p.Name)
	}
	return names
}

// Lookup returns the provider called name. An unknown name is an error,
// never a zero Provider that would silently do nothing.
func Lookup(name string) (Provider, error) {
	for _, p := range All() {
		if p.Name == name {
			return p, nil
		}
	}
	return Provider{}, fmt.Errorf("no provider %q (providers: %s)", name, strings.Join(Names(), ", "))
}

//go:embed samples
var samples embed.FS

// sample reads a sample template from samples/. Its files are embedded at
// build time, and TestEveryProviderIsWhole renders every one.
func sample(event, path string) Sample {
	text, err := samples.ReadFile("samples/" + path)
	if err != nil {
		panic("providers: no sample " + path)
	}
	return Sample{Event: event, Template: string(text)}
}
