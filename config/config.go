// Package config reads the bridge's configuration from the environment. It is
// the only package that does (DESIGN.md section 4).
package config

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strconv"
	"strings"

	"github.com/kelseyhightower/envconfig"
)

// DevelopmentSecret is the webhook secret every provider without one accepts
// in dry run, so that `go run .` and `go run . simulate stripe` work with no
// configuration. It is public (it is in the README), which is why it is never
// accepted once REDITUS_API_KEY is set. It is a valid Stripe and Svix secret:
// "whsec_" followed by base64 of "reditus-bridge-development-secret".
const DevelopmentSecret Secret = "whsec_cmVkaXR1cy1icmlkZ2UtZGV2ZWxvcG1lbnQtc2VjcmV0"

// Config is the bridge's whole configuration. Field tags name the variables;
// README.md documents each one.
type Config struct {
	Port     int        `envconfig:"PORT" default:"8080"`
	LogLevel slog.Level `envconfig:"LOG_LEVEL" default:"info"`
	// Host is the address to listen on; empty means every interface.
	Host string `envconfig:"HOST"`
	// LogFormat is "json" (one object a line) or "text" (slog's key=value).
	LogFormat string `envconfig:"LOG_FORMAT" default:"json"`
	// MetricsPort, when not 0, serves /metrics on its own listener, and
	// not on Port, so that the public port does not expose it.
	MetricsPort int `envconfig:"METRICS_PORT"`

	ReditusAPIKey Secret `envconfig:"REDITUS_API_KEY"`
	ReditusAPIURL string `envconfig:"REDITUS_API_URL" default:"https://api.getreditus.com/api"`

	StripeWebhookSecret    Secrets `envconfig:"STRIPE_WEBHOOK_SECRET"`
	StripeAcceptTestEvents bool    `envconfig:"STRIPE_ACCEPT_TEST_EVENTS" default:"false"`
	StripeAPIKey           Secret  `envconfig:"STRIPE_API_KEY"`
	StripeAPIURL           string  `envconfig:"STRIPE_API_URL" default:"https://api.stripe.com"`

	ClerkWebhookSecret    Secrets `envconfig:"CLERK_WEBHOOK_SECRET"`
	StytchWebhookSecret   Secrets `envconfig:"STYTCH_WEBHOOK_SECRET"`
	WorkOSWebhookSecret   Secrets `envconfig:"WORKOS_WEBHOOK_SECRET"`
	SupabaseWebhookSecret Secrets `envconfig:"SUPABASE_WEBHOOK_SECRET"`
	GenericWebhookSecret  Secrets `envconfig:"GENERIC_WEBHOOK_SECRET"`
}

// Providers are the webhook senders the bridge serves, each at
// /webhooks/{name}, in the order the README documents them.
var Providers = []string{"stripe", "clerk", "stytch", "workos", "supabase", "generic"}

// SecretVar names the variable that holds a provider's webhook secrets.
func SecretVar(provider string) string {
	return strings.ToUpper(provider) + "_WEBHOOK_SECRET"
}

// configured returns the secrets set for provider, which is one of Providers.
func (c Config) configured(provider string) Secrets {
	switch provider {
	case "stripe":
		return c.StripeWebhookSecret
	case "clerk":
		return c.ClerkWebhookSecret
	case "stytch":
		return c.StytchWebhookSecret
	case "workos":
		return c.WorkOSWebhookSecret
	case "supabase":
		return c.SupabaseWebhookSecret
	case "generic":
		return c.GenericWebhookSecret
	default:
		return nil
	}
}

// Load reads the configuration from the process environment and validates it.
// Its errors name the variable at fault and never contain a secret.
func Load() (Config, error) {
	var c Config
	if err := envconfig.Process("", &c); err != nil {
		var pe *envconfig.ParseError
		if errors.As(err, &pe) {
			// pe.Value is left out on purpose: it could be a secret.
			return c, fmt.Errorf("%s: %w", pe.KeyName, pe.Err)
		}
		return c, fmt.Errorf("read environment: %w", err)
	}
	return c, c.validate()
}

// DryRun reports whether conversions are only logged, never sent: the case
// when no REDITUS_API_KEY is set.
func (c Config) DryRun() bool { return c.ReditusAPIKey == "" }

// Addr is the address the server listens on.
func (c Config) Addr() string { return net.JoinHostPort(c.Host, strconv.Itoa(c.Port)) }

// MetricsAddr is the address /metrics is served on, when MetricsPort is set.
func (c Config) MetricsAddr() string { return net.JoinHostPort(c.Host, strconv.Itoa(c.MetricsPort)) }

// WebhookSecrets returns the secrets a provider's webhooks are verified with:
// the configured ones, else DevelopmentSecret in dry run, else none, which
// turns the provider off.
func (c Config) WebhookSecrets(provider string) Secrets {
	switch configured := c.configured(provider); {
	case len(configured) > 0:
		return configured
	case c.DryRun():
		return Secrets{DevelopmentSecret}
	default:
		return nil
	}
}

func (c Config) validate() error {
	if c.Port < 0 || c.Port > 65535 {
		return fmt.Errorf("PORT: %d is not a TCP port (0-65535)", c.Port)
	}
	if err := c.validateServing(); err != nil {
		return err
	}
	if err := checkBaseURL(c.ReditusAPIURL); err != nil {
		return fmt.Errorf("REDITUS_API_URL: %w", err)
	}
	if err := checkBaseURL(c.StripeAPIURL); err != nil {
		return fmt.Errorf("STRIPE_API_URL: %w", err)
	}
	for _, p := range Providers {
		if !c.DryRun() && c.configured(p).contains(DevelopmentSecret) {
			return fmt.Errorf("%s: the development secret is public and is never accepted when REDITUS_API_KEY is set", SecretVar(p))
		}
	}
	return nil
}

// validateServing checks how the bridge serves: HOST, LOG_FORMAT and
// METRICS_PORT.
func (c Config) validateServing() error {
	// A port or a scheme in HOST would make a listen address that fails
	// later with a less helpful error; an IPv6 address is fine as it is.
	if c.Host != "" && net.ParseIP(c.Host) == nil && strings.ContainsAny(c.Host, ":/[] ") {
		return fmt.Errorf("HOST: %q is not an address or a host name (for example 127.0.0.1 or ::1); the port is PORT", c.Host)
	}
	if c.LogFormat != "json" && c.LogFormat != "text" {
		return fmt.Errorf("LOG_FORMAT: %q is not a log format (json or text)", c.LogFormat)
	}
	if c.MetricsPort < 0 || c.MetricsPort > 65535 {
		return fmt.Errorf("METRICS_PORT: %d is not a TCP port (1-65535)", c.MetricsPort)
	}
	if c.MetricsPort != 0 && c.MetricsPort == c.Port {
		return fmt.Errorf("METRICS_PORT: %d is also PORT; metrics need a port of their own (or leave METRICS_PORT unset to serve them on PORT)", c.MetricsPort)
	}
	return nil
}

func checkBaseURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("not a URL: %w", err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%q is not an absolute http(s) URL", raw)
	}
	return nil
}
