package config

import (
	"fmt"
	"io"
	"net/url"
	"strings"
)

// On lists the providers whose webhooks are accepted: those with secrets,
// or every one in the local default.
func (c Config) On() []string {
	var on []string
	for _, p := range Providers {
		if len(c.WebhookSecrets(p)) > 0 {
			on = append(on, p)
		}
	}
	return on
}

// Warnings lists what is valid but is probably not what the operator meant.
// None of them stops the bridge; each is logged at startup and printed by
// `check`.
func (c Config) Warnings() []string {
	var w []string
	switch {
	case c.LocalDefault():
		w = append(w, "dry run: no REDITUS_API_KEY and no *_WEBHOOK_SECRET (the local default), so conversions are logged and not sent, and every provider accepts the public development secret")
	case c.DryRun():
		w = append(w, "dry run: DRY_RUN=true, so conversions are logged and not sent")
	}
	for _, p := range Providers {
		w = append(w, weakSecrets(p, c.configured(p))...)
	}
	for i, s := range c.StripeWebhookSecret {
		if !strings.HasPrefix(s.Reveal(), "whsec_") {
			w = append(w, fmt.Sprintf("STRIPE_WEBHOOK_SECRET: secret %d of %d does not start with whsec_, as Stripe signing secrets do (is it an API key?)", i+1, len(c.StripeWebhookSecret)))
		}
	}
	if len(c.On()) == 0 {
		w = append(w, "no provider is on: set at least one *_WEBHOOK_SECRET, or every webhook answers 404")
	}
	if c.DryRun() {
		return w
	}
	if c.StripeAcceptTestEvents {
		w = append(w, "STRIPE_ACCEPT_TEST_EVENTS=true while live: test-mode checkouts create real conversions")
	}
	if u, err := url.Parse(c.ReditusAPIURL); err == nil && u.Scheme != "https" {
		w = append(w, "REDITUS_API_URL is not https: the API key would travel in clear text")
	}
	if u, err := url.Parse(c.StripeAPIURL); err == nil && u.Scheme != "https" && c.StripeAPIKey != "" {
		w = append(w, "STRIPE_API_URL is not https: STRIPE_API_KEY would travel in clear text")
	}
	if k := c.StripeAPIKey.Reveal(); k != "" && !strings.HasPrefix(k, "rk_") && !strings.HasPrefix(k, "sk_") {
		w = append(w, "STRIPE_API_KEY does not start with rk_ or sk_, as Stripe API keys do (a restricted key with read access to customers, subscriptions, Checkout Sessions and events is enough)")
	}
	return w
}

// Report writes what `check` prints: the mode, the address, the providers on
// and off, and the warnings. It never prints a secret.
func (c Config) Report(w io.Writer) {
	mode := "live: conversions are sent to " + c.ReditusAPIURL
	switch {
	case c.LocalDefault():
		mode = "dry run: nothing is sent (the local default: no REDITUS_API_KEY, no secret)"
	case c.DryRun():
		mode = "dry run: nothing is sent (DRY_RUN=true)"
	}
	fmt.Fprintf(w, "mode:      %s\n", mode)
	fmt.Fprintf(w, "listen:    %s\n", c.Addr())
	lookups := "off (set STRIPE_API_KEY to look at related Stripe objects)"
	if c.StripeAPIKey != "" {
		lookups = "on, at " + c.StripeAPIURL
	}
	fmt.Fprintf(w, "stripe api: %s\n", lookups)
	for _, p := range Providers {
		secrets := c.WebhookSecrets(p)
		switch {
		case len(secrets) == 0:
			fmt.Fprintf(w, "%-10s off (set %s)\n", p+":", SecretVar(p))
		case len(c.configured(p)) == 0:
			fmt.Fprintf(w, "%-10s on, development secret\n", p+":")
		default:
			fmt.Fprintf(w, "%-10s on, %d secret(s) in %s\n", p+":", len(secrets), SecretVar(p))
		}
	}
	warnings := c.Warnings()
	if len(warnings) == 0 {
		fmt.Fprintln(w, "warnings:  none")
		return
	}
	fmt.Fprintln(w, "warnings:")
	for _, warning := range warnings {
		fmt.Fprintf(w, "  - %s\n", warning)
	}
}
