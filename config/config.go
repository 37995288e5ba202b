// Package config reads the bridge's configuration from the environment. It is
// the only package that does (docs/configuration.md).
package config

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/getreditus/reditus-bridge/providers"
	"github.com/getreditus/reditus-bridge/verify"
	"github.com/kelseyhightower/envconfig"
)

// DevelopmentSecret is the webhook secret every provider accepts in the local
// default (no REDITUS_API_KEY and no provider secret), so that `go run .` and
// `go run . simulate stripe` work with no configuration. It is public (it is
// in the README), which is why it is accepted nowhere else, in any spelling.
// It is verify.DevelopmentSecret, which the schemes that must recognise it
// (PayPal's development certificate) read.
const DevelopmentSecret Secret = verify.DevelopmentSecret

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
	// DryRunRequested is DRY_RUN: log conversions instead of sending them,
	// whatever else is configured. DryRun reports the mode in force.
	DryRunRequested bool `envconfig:"DRY_RUN" default:"false"`

	// DataDir holds the embedded journal, DATA_DIR/bridge.db (SQLite).
	DataDir string `envconfig:"DATA_DIR" default:"data"`
	// DatabaseURL, when set, keeps the journal in Postgres instead, shared
	// by every instance. It holds a password, so it is a Secret.
	DatabaseURL Secret `envconfig:"DATABASE_URL"`
	// JournalRetention is how long journaled events (raw bodies included)
	// are kept.
	JournalRetention time.Duration `envconfig:"JOURNAL_RETENTION" default:"720h"`
	// RetryFor is how long a queued event is retried before it is failed.
	RetryFor time.Duration `envconfig:"RETRY_FOR" default:"72h"`
	// AdminToken turns /admin on; its password (user admin).
	AdminToken Secret `envconfig:"ADMIN_TOKEN"`

	StripeAPIKey Secret `envconfig:"STRIPE_API_KEY"`
	StripeAPIURL string `envconfig:"STRIPE_API_URL" default:"https://api.stripe.com"`

	// AlertURLs are where alerts are posted (AlertDestinations reads them):
	// each URL holds its webhook's token.
	AlertURLs Secrets `envconfig:"ALERT_URLS"`
	// AlertEmail and SMTPURL send alerts by email too (AlertSMTP reads them).
	AlertEmail string `envconfig:"ALERT_EMAIL"`
	SMTPURL    Secret `envconfig:"SMTP_URL"`
	// AlertInterval is the least time between two alerts of one kind and
	// provider; what happens meanwhile is counted into the next.
	AlertInterval time.Duration `envconfig:"ALERT_INTERVAL" default:"1h"`
	// AlertUnavailableAfter is how long Reditus must fail, every call,
	// before reditus_unavailable: a blip of a minute is no one's business.
	AlertUnavailableAfter time.Duration `envconfig:"ALERT_UNAVAILABLE_AFTER" default:"5m"`

	// APIs are connect's and doctor's: PUBLIC_URL and the providers' API
	// keys and bases (config/apis.go).
	APIs

	// Webhooks are the providers' settings by name, read from each
	// registered provider's {NAME}_WEBHOOK_SECRET and
	// {NAME}_ACCEPT_TEST_EVENTS (providers.All).
	Webhooks map[string]Webhook `ignored:"true"`
}

// Webhook is one provider's settings.
type Webhook struct {
	Secrets          Secrets // {NAME}_WEBHOOK_SECRET, or the provider's SecretVariable
	AcceptTestEvents bool    // {NAME}_ACCEPT_TEST_EVENTS, for providers with test-mode events
	// For a provider with an API (providers.API): its credentials (Mollie's
	// MOLLIE_API_KEY), and its base, {NAME}_API_URL ("": the provider's).
	APIKey Secret
	APIURL string

	apiKeyEmpty bool // the API variable is set to ""
}

// webhook returns the settings of a registered provider: none set when
// Webhooks lacks it (a Config built by hand).
func (c Config) webhook(p providers.Provider) Webhook { return c.Webhooks[p.Name] }

// Webhook returns the settings of the provider called name. A name that no
// registered provider has is an error, never "off".
func (c Config) Webhook(name string) (Webhook, error) {
	p, err := providers.Lookup(name)
	if err != nil {
		return Webhook{}, err
	}
	return c.webhook(p), nil
}

// Load reads the configuration from the process environment and validates it.
// Its errors name the variable at fault and never contain a secret.
func Load() (Config, error) {
	var c Config
	if err := envconfig.Process("", &c); err != nil {
		var pe *envconfig.ParseError
		if errors.As(err, &pe) {
			return c, explain(pe)
		}
		return c, fmt.Errorf("read environment: %w", err)
	}
	if err := c.loadWebhooks(); err != nil {
		return c, err
	}
	c.defaultAPIs()
	return c, c.validate()
}

// explain says what a variable that could not be read should hold. Secrets
// never get here (their Decode never fails), so the value may be quoted; it is
// cut short in case a value was pasted into the wrong variable.
func explain(pe *envconfig.ParseError) error {
	value := pe.Value
	if len(value) > 40 {
		value = value[:40] + "..."
	}
	switch {
	case strings.HasSuffix(pe.KeyName, "PORT"):
		return fmt.Errorf("%s: %q is not a port number (0-65535)", pe.KeyName, value)
	case pe.TypeName == "slog.Level":
		return fmt.Errorf("%s: %q is not a log level: use debug, info, warn or error", pe.KeyName, value)
	case pe.TypeName == "time.Duration":
		return fmt.Errorf("%s: %q is not a duration: use a number and a unit, such as 72h or 30m", pe.KeyName, value)
	case pe.TypeName == "bool":
		return fmt.Errorf("%s: %q is not a boolean: use true or false", pe.KeyName, value)
	default:
		// pe.Err quotes the whole value; say only what type was wanted.
		return fmt.Errorf("%s: %q is not a valid %s", pe.KeyName, value, pe.TypeName)
	}
}

// DryRun reports whether conversions are only logged, never sent: with
// DRY_RUN=true, or without REDITUS_API_KEY (which validate allows only in the
// local default, or with DRY_RUN=true).
func (c Config) DryRun() bool { return c.ReditusAPIKey == "" || c.DryRunRequested }

// LocalDefault reports whether nothing is configured, neither REDITUS_API_KEY
// nor any provider secret: the one case in which the development secret is
// accepted, by every provider.
func (c Config) LocalDefault() bool {
	return c.ReditusAPIKey == "" && len(c.secretVarsSet()) == 0
}

// secretVarsSet names the providers' secret variables that are set
// (*_WEBHOOK_SECRET, PAYPAL_WEBHOOK_ID), and their API keys (MOLLIE_API_KEY).
func (c Config) secretVarsSet() []string {
	var set []string
	for _, p := range providers.All() {
		if len(c.webhook(p).Secrets) > 0 {
			set = append(set, p.SecretVar())
		}
		if w := c.webhook(p); w.APIKey != "" || w.apiKeyEmpty {
			set = append(set, p.API.Variable)
		}
	}
	return set
}

// loadWebhooks reads every registered provider's variables. A variable set
// to "" counts as set, as envconfig has it, and checkSecrets refuses it.
func (c *Config) loadWebhooks() error {
	c.Webhooks = map[string]Webhook{}
	for _, p := range providers.All() {
		var w Webhook
		if value, ok := os.LookupEnv(p.SecretVar()); ok {
			_ = w.Secrets.Decode(value) // never fails
		}
		loadAPI(p, &w)
		if value, ok := os.LookupEnv(p.TestEventsVar()); ok && p.TestEvents {
			accept, err := strconv.ParseBool(value)
			if err != nil {
				return fmt.Errorf("%s: %q is not a boolean: use true or false", p.TestEventsVar(), value)
			}
			w.AcceptTestEvents = accept
		}
		c.Webhooks[p.Name] = w
	}
	return nil
}

// Addr is the address the server listens on.
func (c Config) Addr() string { return net.JoinHostPort(c.Host, strconv.Itoa(c.Port)) }

// MetricsAddr is the address /metrics is served on, when MetricsPort is set.
func (c Config) MetricsAddr() string { return net.JoinHostPort(c.Host, strconv.Itoa(c.MetricsPort)) }

// WebhookSecrets returns the secrets a provider's webhooks are verified with:
// the configured ones, else DevelopmentSecret in the local default, else none,
// which turns the provider off.
func (c Config) WebhookSecrets(p providers.Provider) Secrets {
	switch configured := c.webhook(p).Secrets; {
	case len(configured) > 0:
		return configured
	case c.LocalDefault():
		return Secrets{DevelopmentSecret}
	default:
		return nil
	}
}

func (c Config) validate() error {
	if c.Port < 0 || c.Port > 65535 {
		return fmt.Errorf("PORT: %d is not a port number (0-65535)", c.Port)
	}
	if err := c.validateServing(); err != nil {
		return err
	}
	if err := c.validateJournal(); err != nil {
		return err
	}
	if err := checkBaseURL(c.ReditusAPIURL); err != nil {
		return fmt.Errorf("REDITUS_API_URL: %w", err)
	}
	if err := checkBaseURL(c.StripeAPIURL); err != nil {
		return fmt.Errorf("STRIPE_API_URL: %w", err)
	}
	if err := c.validateAPIs(); err != nil {
		return err
	}
	if err := c.validateAlerts(); err != nil {
		return err
	}
	for _, p := range providers.All() {
		if err := checkSecrets(p, c.webhook(p).Secrets); err != nil {
			return fmt.Errorf("%s: %w", p.SecretVar(), err)
		}
		if err := c.checkAPI(p); err != nil {
			return err
		}
	}
	// A deployment that forgot its key would otherwise acknowledge every
	// real webhook as dry_run, and nothing could bring those back.
	if set := c.secretVarsSet(); c.ReditusAPIKey == "" && !c.DryRunRequested && len(set) > 0 {
		return fmt.Errorf("REDITUS_API_KEY is not set, but %s is: the bridge would acknowledge real webhooks without sending anything to Reditus; set REDITUS_API_KEY, or DRY_RUN=true to only log conversions", strings.Join(set, ", "))
	}
	return nil
}

// validateJournal checks the journal's and /admin's variables.
func (c Config) validateJournal() error {
	if u := c.DatabaseURL.Reveal(); u != "" {
		rest, ok := strings.CutPrefix(u, "postgres://")
		if !ok {
			rest, ok = strings.CutPrefix(u, "postgresql://")
		}
		if !ok {
			return errors.New("DATABASE_URL: want a postgres:// URL (the URL is not shown: it holds a password)")
		}
		// An unencoded @ in the password is read differently by different
		// parsers; pgx would take part of the password for the host, and
		// print it. Refuse it rather than guess.
		authority, _, _ := strings.Cut(rest, "/")
		if strings.Count(authority, "@") > 1 {
			return errors.New("DATABASE_URL: more than one @ before the host: percent-encode the password's special characters (@ as %40; the URL is not shown)")
		}
	}
	if c.RetryFor <= 0 || c.JournalRetention <= 0 {
		return errors.New("RETRY_FOR and JOURNAL_RETENTION: want positive durations, such as 72h and 720h")
	}
	// Retention deletes old events whatever their outcome: with a shorter
	// one, a queued event could be deleted before it is delivered.
	if c.JournalRetention < c.RetryFor {
		return fmt.Errorf("JOURNAL_RETENTION: %v is shorter than RETRY_FOR (%v), so queued events could be deleted before they are delivered", c.JournalRetention, c.RetryFor)
	}
	if t := c.AdminToken.Reveal(); t != "" && utf8.RuneCountInString(t) < minKey {
		return fmt.Errorf("ADMIN_TOKEN: shorter than %d characters: choose a long random token, for example `openssl rand -hex 32`", minKey)
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

// checkBaseURL accepts an absolute http(s) URL without credentials. It never
// quotes a URL that holds credentials: the password would be in the error.
func checkBaseURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		// err quotes the URL, and with it any password.
		return errors.New("not a URL: want an absolute http(s) URL")
	}
	if u.User != nil {
		return errors.New("the URL holds credentials (user:password@): refused, since they would be logged and are never used (keys have their own variables)")
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%q is not an absolute http(s) URL", u.Redacted())
	}
	return nil
}
