package config

import (
	"fmt"
	"net/url"
	"os"

	"github.com/getreditus/reditus-bridge/providers"
)

// loadAPI reads the variables of a provider's API (providers.API): its
// credentials and its base, {NAME}_API_URL.
func loadAPI(p providers.Provider, w *Webhook) {
	if p.API == nil {
		return
	}
	value, ok := os.LookupEnv(p.API.Variable)
	// Set but empty counts as set, as for secrets, and checkAPI refuses it.
	w.APIKey, w.apiKeyEmpty = Secret(value), ok && value == ""
	w.APIURL = os.Getenv(p.APIURLVar())
}

// Enabled reports whether provider p takes webhooks: every provider in the
// local default; else one with its secret variable set, or, for a provider
// whose API key turns it on (Mollie), with that key set.
func (c Config) Enabled(p providers.Provider) bool {
	switch {
	case c.LocalDefault():
		return true
	case p.API != nil && p.API.TurnsOn:
		return c.webhook(p).APIKey != ""
	}
	return len(c.webhook(p).Secrets) > 0
}

// API returns provider p's API credentials and base URL ("" and "" for a
// provider without an API, or whose credentials are not set).
func (c Config) API(p providers.Provider) (key Secret, base string) {
	if p.API == nil || c.webhook(p).APIKey == "" {
		return "", ""
	}
	base = c.webhook(p).APIURL
	if base == "" {
		base = p.API.URL
	}
	return c.webhook(p).APIKey, base
}

// checkAPI refuses a provider's API variables that cannot work: credentials
// set but empty, the development secret, credentials the provider's Check
// refuses, a base that is not an http(s) URL; and a secret for a provider
// that its API key turns on, without that key. Errors name the variable and
// never quote the credentials.
func (c Config) checkAPI(p providers.Provider) error {
	if p.API == nil {
		return nil
	}
	w := c.webhook(p)
	key := w.APIKey.Reveal()
	switch {
	case w.apiKeyEmpty:
		return fmt.Errorf("%s: set but empty: give the key, or unset the variable", p.API.Variable)
	case key != "" && isDevelopment(key):
		return fmt.Errorf("%s: is the public development secret, not a %s API key", p.API.Variable, p.Title)
	case p.API.TurnsOn && key == "" && len(w.Secrets) > 0:
		return fmt.Errorf("%s is set, but %s is not: %s's webhooks are read from its API, so %s turns them on", p.SecretVar(), p.API.Variable, p.Title, p.API.Variable)
	}
	if p.API.Check != nil && key != "" {
		if err := p.API.Check(key); err != nil {
			return fmt.Errorf("%s: %w", p.API.Variable, err)
		}
	}
	if w.APIURL != "" {
		if err := checkBaseURL(w.APIURL); err != nil {
			return fmt.Errorf("%s: %w", p.APIURLVar(), err)
		}
	}
	return nil
}

// apiWarnings lists what is valid in the providers' API variables but is
// probably not meant: a key that would travel in clear text, and an API key
// for a provider that is off.
func (c Config) apiWarnings() []string {
	var w []string
	for _, p := range providers.All() {
		key, base := c.API(p)
		if key == "" {
			continue
		}
		if u, err := url.Parse(base); err == nil && u.Scheme != "https" {
			w = append(w, p.APIURLVar()+" is not https: "+p.API.Variable+" would travel in clear text")
		}
		if !c.Enabled(p) {
			w = append(w, fmt.Sprintf("%s is set, but %s is not: %s is off", p.API.Variable, p.OnVar(), p.Title))
		}
	}
	return w
}
