package config

import (
	"fmt"
	"io"
	"net/url"
	"strings"

	"github.com/getreditus/reditus-bridge/providers"
	"github.com/getreditus/reditus-bridge/verify"
)

// On lists the providers whose webhooks are accepted: those turned on by
// their variables (Enabled), or every one in the local default.
func (c Config) On() []string {
	var on []string
	for _, p := range providers.All() {
		if c.Enabled(p) {
			on = append(on, p.Name)
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
	for _, p := range providers.All() {
		secrets := c.webhook(p).Secrets
		w = append(w, weakSecrets(p, secrets)...)
		if lint, ok := p.Scheme.(verify.Linter); ok {
			for i, s := range secrets {
				if problem := lint.Lint(s.Reveal()); problem != "" {
					w = append(w, fmt.Sprintf("%s: secret %d of %d %s", p.SecretVar(), i+1, len(secrets), problem))
				}
			}
		}
	}
	w = append(w, c.apiWarnings()...)
	if len(c.On()) == 0 {
		var vars []string
		for _, p := range providers.All() {
			if p.OnVar() != strings.ToUpper(p.Name)+"_WEBHOOK_SECRET" {
				vars = append(vars, p.OnVar())
			}
		}
		w = append(w, "no provider is on: set at least one *_WEBHOOK_SECRET (or "+strings.Join(vars, ", ")+"), or every webhook answers 404")
	}
	w = append(w, c.alertWarnings()...)
	if c.DryRun() {
		return w
	}
	for _, p := range providers.All() {
		if c.webhook(p).AcceptTestEvents {
			w = append(w, p.TestEventsVar()+"=true while live: test-mode events create real conversions")
		}
	}
	if u, err := url.Parse(c.ReditusAPIURL); err == nil && u.Scheme != "https" {
		w = append(w, "REDITUS_API_URL is not https: the API key would travel in clear text")
	}
	if u, err := url.Parse(c.StripeAPIURL); err == nil && u.Scheme != "https" && c.StripeAPIKey != "" {
		w = append(w, "STRIPE_API_URL is not https: STRIPE_API_KEY would travel in clear text")
	}
	w = append(w, c.APIs.connectWarnings()...)
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
	fmt.Fprintf(w, "alerts:    %s\n", c.alertReport())
	for _, p := range providers.All() {
		fmt.Fprintf(w, "%-10s %s\n", p.Name+":", c.providerLine(p))
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

// providerLine is what `check` says of provider p: off and what turns it
// on, or on and with what.
func (c Config) providerLine(p providers.Provider) string {
	secrets := c.WebhookSecrets(p)
	var line string
	switch {
	case !c.Enabled(p):
		return "off (set " + p.OnVar() + ")"
	case len(c.webhook(p).Secrets) == 0 && len(secrets) > 0:
		line = "on, development secret"
	case len(secrets) > 0:
		line = fmt.Sprintf("on, %d secret(s) in %s", len(secrets), p.SecretVar())
	default:
		line = "on, no " + p.SecretVar()
	}
	if key, base := c.API(p); key != "" {
		line += ", " + p.API.Variable + " (API at " + base + ")"
	}
	return line
}
