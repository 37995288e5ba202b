package config

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"testing"

	"github.com/getreditus/reditus-bridge/providers"
)

// setenv sets the environment for one Load, clearing every variable the
// bridge reads first so that the machine's own environment cannot leak in.
func setenv(t *testing.T, env map[string]string) {
	t.Helper()
	vars := []string{"PORT", "LOG_LEVEL", "REDITUS_API_KEY", "REDITUS_API_URL", "DRY_RUN", "STRIPE_API_KEY", "STRIPE_API_URL",
		"HOST", "LOG_FORMAT", "METRICS_PORT", "DATA_DIR", "DATABASE_URL", "JOURNAL_RETENTION", "RETRY_FOR", "ADMIN_TOKEN",
		"PUBLIC_URL", "FLY_APP_NAME", "POLAR_ACCESS_TOKEN", "POLAR_API_URL", "PADDLE_API_KEY", "PADDLE_API_URL",
		"LEMONSQUEEZY_API_KEY", "LEMONSQUEEZY_STORE_ID", "LEMONSQUEEZY_API_URL", "WORKOS_API_KEY", "WORKOS_API_URL",
		"CHARGEBEE_SITE", "CHARGEBEE_API_KEY", "CHARGEBEE_API_URL",
		"ALERT_URLS", "ALERT_EMAIL", "SMTP_URL", "ALERT_INTERVAL", "ALERT_UNAVAILABLE_AFTER"}
	for _, p := range providers.All() {
		vars = append(vars, p.TestEventsVar())
		vars = append(vars, p.Variables()...)
	}
	for _, k := range vars {
		t.Setenv(k, "") // restores the variable after the test
		os.Unsetenv(k)  // envconfig takes a set-but-empty variable as set
	}
	for k, v := range env {
		t.Setenv(k, v)
	}
}

// Realistic secrets: as long as the providers make them.
const (
	stripeSecret   = "whsec_live_0123456789abcdefghijklmnop"
	svixSecret     = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw" // 24 bytes of key
	workOSSecret   = "wos_live_0123456789abcdefghij"
	supabaseSecret = "a-token-of-at-least-16-characters"
)

func TestLoadDefaults(t *testing.T) {
	setenv(t, nil)
	c, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	if c.Port != 8080 || c.ReditusAPIURL != "https://api.getreditus.com/api" || c.LogLevel != slog.LevelInfo || c.Webhooks["stripe"].AcceptTestEvents || c.DryRunRequested {
		t.Errorf("defaults: %+v", c)
	}
	if !c.DryRun() || !c.LocalDefault() {
		t.Error("no REDITUS_API_KEY and no secret must be the local default, in dry run")
	}
	for _, p := range providers.All() {
		if got := c.WebhookSecrets(p); len(got) != 1 || got[0] != DevelopmentSecret {
			t.Errorf("local default %s secrets = %v, want the development secret", p.Name, got.Reveal())
		}
	}
}

func TestLoadLive(t *testing.T) {
	setenv(t, map[string]string{
		"PORT": "9000", "LOG_LEVEL": "DEBUG", "REDITUS_API_KEY": "rk_live_1",
		"STRIPE_WEBHOOK_SECRET": " " + stripeSecret + "_old , " + stripeSecret + " ", "STRIPE_ACCEPT_TEST_EVENTS": "true",
		"CLERK_WEBHOOK_SECRET": svixSecret, "STYTCH_WEBHOOK_SECRET": svixSecret, "WORKOS_WEBHOOK_SECRET": workOSSecret,
		"SUPABASE_WEBHOOK_SECRET": supabaseSecret, "GENERIC_WEBHOOK_SECRET": svixSecret,
	})
	c, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	if c.DryRun() || c.LocalDefault() || c.Port != 9000 || c.LogLevel != slog.LevelDebug || !c.Webhooks["stripe"].AcceptTestEvents {
		t.Errorf("live config: %+v", c)
	}
	for provider, want := range map[string]string{
		"stripe": stripeSecret + "_old|" + stripeSecret, "clerk": svixSecret, "stytch": svixSecret,
		"workos": workOSSecret, "supabase": supabaseSecret, "generic": svixSecret,
	} {
		if got := strings.Join(secretsOf(t, c, provider).Reveal(), "|"); got != want {
			t.Errorf("%s secrets = %q, want %q", provider, got, want)
		}
	}
	setenv(t, map[string]string{"REDITUS_API_KEY": "rk_live_1"})
	if c, err = Load(); err != nil {
		t.Fatal(err)
	}
	if got := secretsOf(t, c, "clerk"); got != nil {
		t.Errorf("live provider without a secret got %v, want none (off)", got.Reveal())
	}
}

// docs/configuration.md, "The local default and dry run": the development secret only in the local default; a
// provider secret without REDITUS_API_KEY only with DRY_RUN=true; DRY_RUN
// forces dry run even with a key.
func TestDryRunRule(t *testing.T) {
	every := strings.Join(providers.Names(), ",") // the local default turns every provider on
	tests := []struct {
		name    string
		env     map[string]string
		wantErr []string // what the error names; nil: loads
		dryRun  bool
		local   bool
		on      string // the providers on, comma-separated
	}{
		{"nothing set: the local default", nil, nil, true, true, every},
		{"a secret and no key: refused", map[string]string{"STRIPE_WEBHOOK_SECRET": stripeSecret, "CLERK_WEBHOOK_SECRET": svixSecret},
			[]string{"REDITUS_API_KEY is not set", "CLERK_WEBHOOK_SECRET, STRIPE_WEBHOOK_SECRET", "DRY_RUN=true"}, false, false, ""},
		{"a secret and no key, DRY_RUN=true: dry run, and no development secret for the others",
			map[string]string{"STRIPE_WEBHOOK_SECRET": stripeSecret, "DRY_RUN": "true"}, nil, true, false, "stripe"},
		{"a key and DRY_RUN=true: dry run", map[string]string{"REDITUS_API_KEY": "rk_live_1", "CLERK_WEBHOOK_SECRET": svixSecret, "DRY_RUN": "true"}, nil, true, false, "clerk"},
		{"a key and no secret: live, nothing on", map[string]string{"REDITUS_API_KEY": "rk_live_1"}, nil, false, false, ""},
		{"DRY_RUN=false with a key: live", map[string]string{"REDITUS_API_KEY": "rk_live_1", "STRIPE_WEBHOOK_SECRET": stripeSecret, "DRY_RUN": "false"}, nil, false, false, "stripe"},
		{"DRY_RUN=true alone: still the local default", map[string]string{"DRY_RUN": "true"}, nil, true, true, every},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			setenv(t, tt.env)
			c, err := Load()
			if tt.wantErr != nil {
				if err == nil {
					t.Fatalf("loaded, want an error naming %q", tt.wantErr)
				}
				for _, want := range tt.wantErr {
					if !strings.Contains(err.Error(), want) {
						t.Errorf("error %q does not say %q", err, want)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.DryRun() != tt.dryRun || c.LocalDefault() != tt.local {
				t.Errorf("DryRun() = %v, LocalDefault() = %v, want %v, %v", c.DryRun(), c.LocalDefault(), tt.dryRun, tt.local)
			}
			if got := strings.Join(c.On(), ","); got != tt.on {
				t.Errorf("providers on: got %q, want %q", got, tt.on)
			}
			for _, p := range providers.All() {
				if !tt.local && c.WebhookSecrets(p).containsDevelopment() {
					t.Errorf("%s accepts the development secret outside the local default", p.Name)
				}
			}
		})
	}
}

func (s Secrets) containsDevelopment() bool {
	for _, secret := range s {
		if secret == DevelopmentSecret {
			return true
		}
	}
	return false
}

// The development secret is refused in every spelling that a verifier reads
// as its key, in every provider's variable, with or without a key.
func TestDevelopmentSecretRefusedInAnySpelling(t *testing.T) {
	spellings := map[string]string{
		"as documented":            DevelopmentSecret.Reveal(),
		"without whsec_":           "cmVkaXR1cy1icmlkZ2UtZGV2ZWxvcG1lbnQtc2VjcmV0",
		"the key as the string":    "reditus-bridge-development-secret",
		"whsec_ and the key":       "whsec_reditus-bridge-development-secret",
		"second in a list, spaced": stripeSecret + ", cmVkaXR1cy1icmlkZ2UtZGV2ZWxvcG1lbnQtc2VjcmV0 ",
	}
	modes := map[string]map[string]string{
		"live":    {"REDITUS_API_KEY": "rk_live_1"},
		"dry run": {"DRY_RUN": "true"},
	}
	for spelling, value := range spellings {
		for _, p := range providers.All() {
			for mode, base := range modes {
				t.Run(fmt.Sprintf("%s/%s/%s", spelling, p.Name, mode), func(t *testing.T) {
					env := map[string]string{p.SecretVar(): value}
					for k, v := range base {
						env[k] = v
					}
					setenv(t, env)
					_, err := Load()
					if err == nil || !strings.Contains(err.Error(), p.SecretVar()+": ") || !strings.Contains(err.Error(), "development secret") {
						t.Errorf("got %v, want an error naming %s and the development secret", err, p.SecretVar())
					}
				})
			}
		}
	}
}

// Secrets that anybody could sign with, or guess, are refused at start,
// naming the variable and never quoting the value.
func TestWeakSecretsRefused(t *testing.T) {
	tests := []struct {
		name, variable, value, want string
	}{
		{"whsec_ alone, generic", "GENERIC_WEBHOOK_SECRET", "whsec_", "holds no key"},
		{"whsec_ alone, stripe", "STRIPE_WEBHOOK_SECRET", "whsec_", "holds no key"},
		{"whsec_ alone, workos", "WORKOS_WEBHOOK_SECRET", "whsec_", "holds no key"},
		{"whsec_ alone, second of two", "CLERK_WEBHOOK_SECRET", svixSecret + ",whsec_", "secret 2 of 2 holds no key"},
		{"empty item", "STRIPE_WEBHOOK_SECRET", stripeSecret + ",," + stripeSecret + "_new", "secret 2 of 3 is empty"},
		{"trailing comma", "STRIPE_WEBHOOK_SECRET", stripeSecret + ",", "secret 2 of 2 is empty"},
		{"blank item", "WORKOS_WEBHOOK_SECRET", " , " + workOSSecret, "secret 1 of 2 is empty"},
		{"set but empty", "CLERK_WEBHOOK_SECRET", "", "set but empty"},
		{"short chosen token", "SUPABASE_WEBHOOK_SECRET", "hunter2-short", "shorter than 16 characters"},
		{"15 characters of chosen token, in a list", "SUPABASE_WEBHOOK_SECRET", supabaseSecret + ",fifteen-chars-x", "secret 2 of 2 is shorter than 16"},
		// The length is the password's: a long user name does not make it strong.
		{"short password after a long user", "CHARGEBEE_WEBHOOK_SECRET", "a-long-user-name-here:short-pw", "shorter than 16 characters"},
		{"the development secret as basic auth's password", "CHARGEBEE_WEBHOOK_SECRET", "reditus:" + DevelopmentSecret.Reveal(), "public development secret"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			setenv(t, map[string]string{"REDITUS_API_KEY": "rk_live_1", tt.variable: tt.value})
			_, err := Load()
			if err == nil {
				t.Fatalf("%s=%q loaded, want it refused", tt.variable, tt.value)
			}
			if !strings.HasPrefix(err.Error(), tt.variable+": ") || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %q, want %s named and %q", err, tt.variable, tt.want)
			}
			for _, part := range strings.Split(tt.value, ",") {
				if part = strings.TrimSpace(part); len(part) > len("whsec_") && strings.Contains(err.Error(), part) {
					t.Errorf("error %q quotes a secret", err)
				}
			}
		})
	}
	// At the limit: 16 characters is enough.
	setenv(t, map[string]string{"REDITUS_API_KEY": "rk_live_1", "SUPABASE_WEBHOOK_SECRET": "sixteen-chars-ok"})
	if _, err := Load(); err != nil {
		t.Errorf("a 16-character token: %v", err)
	}
}

// A provider's own secret with a short key is allowed, with a warning in
// check and the startup log.
func TestShortProviderSecretWarns(t *testing.T) {
	setenv(t, map[string]string{
		"REDITUS_API_KEY":       "rk_live_1",
		"CLERK_WEBHOOK_SECRET":  svixSecret + ",whsec_c2hvcnQta2V5", // "short-key": 9 bytes
		"WORKOS_WEBHOOK_SECRET": "wos_short",
		"STRIPE_WEBHOOK_SECRET": stripeSecret,
	})
	c, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	var report bytes.Buffer
	c.Report(&report)
	for _, want := range []string{
		"CLERK_WEBHOOK_SECRET: secret 2 of 2 holds fewer than 16 bytes of key",
		"WORKOS_WEBHOOK_SECRET: secret 1 of 1 holds fewer than 16 bytes of key",
	} {
		if !strings.Contains(strings.Join(c.Warnings(), "\n"), want) || !strings.Contains(report.String(), want) {
			t.Errorf("warnings and report lack %q:\n%s", want, report.String())
		}
	}
	if strings.Contains(report.String(), "STRIPE_WEBHOOK_SECRET: secret 1 of 1 holds") {
		t.Errorf("a full-length Stripe secret was called short:\n%s", report.String())
	}
}

func TestLoadRejects(t *testing.T) {
	tests := []struct {
		env     map[string]string
		want    string
		mustNot []string // what the error must never contain
	}{
		{map[string]string{"PORT": "eighty"}, `PORT: "eighty" is not a port number (0-65535)`, []string{"strconv"}},
		{map[string]string{"PORT": "abc"}, `PORT: "abc" is not a port number (0-65535)`, []string{"strconv"}},
		{map[string]string{"PORT": "70000"}, "PORT: 70000 is not a port number (0-65535)", nil},
		{map[string]string{"REDITUS_API_URL": "api.getreditus.com"}, "REDITUS_API_URL", nil},
		{map[string]string{"STRIPE_ACCEPT_TEST_EVENTS": "maybe"}, `STRIPE_ACCEPT_TEST_EVENTS: "maybe" is not a boolean: use true or false`, []string{"strconv"}},
		{map[string]string{"DRY_RUN": "yes please"}, `DRY_RUN: "yes please" is not a boolean`, nil},
		{map[string]string{"LOG_LEVEL": "verbose"}, `LOG_LEVEL: "verbose" is not a log level: use debug, info, warn or error`, nil},
		{map[string]string{"REDITUS_API_URL": "https://jdoe:hunter2pass@api.getreditus.com/api"}, "REDITUS_API_URL: the URL holds credentials", []string{"hunter2pass", "jdoe"}},
		{map[string]string{"STRIPE_API_URL": "https://sk_live_in_the_url@api.stripe.com"}, "STRIPE_API_URL: the URL holds credentials", []string{"sk_live_in_the_url"}},
		{map[string]string{"REDITUS_API_URL": "https://jdoe:pa ss/word@host"}, "REDITUS_API_URL: not a URL", []string{"pa ss", "word"}},
		{map[string]string{"REDITUS_API_KEY": "rk_live_1", "STRIPE_WEBHOOK_SECRET": stripeSecret + "," + string(DevelopmentSecret)}, "STRIPE_WEBHOOK_SECRET: secret 2 of 2 is the public development secret", nil},
		{map[string]string{"REDITUS_API_KEY": "rk_live_1", "SUPABASE_WEBHOOK_SECRET": string(DevelopmentSecret)}, "SUPABASE_WEBHOOK_SECRET: secret 1 of 1 is the public development secret", nil},
		{map[string]string{"ADMIN_TOKEN": "short-admin-pw"}, "ADMIN_TOKEN: shorter than 16 characters", []string{"short-admin-pw"}},
		{map[string]string{"DATABASE_URL": "mysql://root:hunter2pass@db/bridge"}, "DATABASE_URL: want a postgres:// URL", []string{"hunter2pass"}},
		{map[string]string{"DATABASE_URL": "postgres://bridge:p@ss-S3cret-tail@db/bridge"}, "DATABASE_URL: more than one @", []string{"S3cret"}},
		{map[string]string{"RETRY_FOR": "3 days"}, `RETRY_FOR: "3 days" is not a duration`, nil},
		{map[string]string{"RETRY_FOR": "800h"}, "JOURNAL_RETENTION: 720h0m0s is shorter than RETRY_FOR (800h0m0s)", nil},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.env), func(t *testing.T) {
			setenv(t, tt.env)
			_, err := Load()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want %q", err, tt.want)
			}
			for _, bad := range append(tt.mustNot, "rk_live_1") {
				if strings.Contains(err.Error(), bad) {
					t.Errorf("error %q contains %q", err, bad)
				}
			}
		})
	}
}

func TestSecretNeverPrints(t *testing.T) {
	const value = "whsec_do_not_print"
	s := Secret(value)
	list := Secrets{s, s}
	var logged bytes.Buffer
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("config", "secret", s, "cfg", Config{ReditusAPIKey: s})
	asJSON, _ := json.Marshal(Config{ReditusAPIKey: s, Webhooks: map[string]Webhook{"stripe": {Secrets: list}}})
	for name, out := range map[string]string{
		"%v": fmt.Sprintf("%v", s), "%s": fmt.Sprintf("%s", s), "%#v": fmt.Sprintf("%#v", s),
		"%+v config": fmt.Sprintf("%+v", Config{ReditusAPIKey: s, Webhooks: map[string]Webhook{"stripe": {Secrets: list}}}),
		"slog":       logged.String(), "json": string(asJSON),
	} {
		if strings.Contains(out, value) {
			t.Errorf("%s printed the secret: %s", name, out)
		}
	}
	if s.Reveal() != value {
		t.Error("Reveal must return the value")
	}
}

func TestServingVariables(t *testing.T) {
	tests := []struct {
		name        string
		env         map[string]string
		addr        string
		metricsAddr string // "" when /metrics stays on PORT
		logFormat   string
	}{
		{"defaults: every interface, JSON, metrics on PORT", nil, ":8080", "", "json"},
		{"HOST", map[string]string{"HOST": "127.0.0.1", "PORT": "9000"}, "127.0.0.1:9000", "", "json"},
		{"IPv6 HOST", map[string]string{"HOST": "::1"}, "[::1]:8080", "", "json"},
		{"host name", map[string]string{"HOST": "localhost"}, "localhost:8080", "", "json"},
		{"text logs", map[string]string{"LOG_FORMAT": "text"}, ":8080", "", "text"},
		{"METRICS_PORT", map[string]string{"HOST": "127.0.0.1", "METRICS_PORT": "9091"}, "127.0.0.1:8080", "127.0.0.1:9091", "json"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			setenv(t, tt.env)
			c, err := Load()
			if err != nil {
				t.Fatal(err)
			}
			if got := c.Addr(); got != tt.addr {
				t.Errorf("Addr() = %q, want %q", got, tt.addr)
			}
			var metricsAddr string
			if c.MetricsPort != 0 {
				metricsAddr = c.MetricsAddr()
			}
			if metricsAddr != tt.metricsAddr {
				t.Errorf("metrics address %q, want %q", metricsAddr, tt.metricsAddr)
			}
			if c.LogFormat != tt.logFormat {
				t.Errorf("LogFormat = %q, want %q", c.LogFormat, tt.logFormat)
			}
		})
	}
}

func TestServingVariablesRejected(t *testing.T) {
	tests := []struct {
		env  map[string]string
		want []string // all in the error
	}{
		{map[string]string{"LOG_FORMAT": "xml"}, []string{"LOG_FORMAT", "json or text"}},
		{map[string]string{"LOG_FORMAT": ""}, []string{"LOG_FORMAT", "json or text"}},
		{map[string]string{"HOST": "127.0.0.1:8080"}, []string{"HOST", "the port is PORT"}},
		{map[string]string{"HOST": "http://localhost"}, []string{"HOST"}},
		{map[string]string{"METRICS_PORT": "8080"}, []string{"METRICS_PORT", "also PORT"}},
		{map[string]string{"PORT": "9000", "METRICS_PORT": "9000"}, []string{"METRICS_PORT", "also PORT"}},
		{map[string]string{"METRICS_PORT": "70000"}, []string{"METRICS_PORT", "not a TCP port"}},
		{map[string]string{"METRICS_PORT": "-1"}, []string{"METRICS_PORT"}},
		{map[string]string{"METRICS_PORT": "metrics"}, []string{"METRICS_PORT"}},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.env), func(t *testing.T) {
			setenv(t, tt.env)
			_, err := Load()
			if err == nil {
				t.Fatalf("Load with %v: no error, want one naming %s", tt.env, tt.want[0])
			}
			for _, want := range tt.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("got error %q, want it to contain %q", err, want)
				}
			}
		})
	}
}

// secretsOf is c.WebhookSecrets of the provider called name.
func secretsOf(t *testing.T, c Config, name string) Secrets {
	t.Helper()
	p, err := providers.Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	return c.WebhookSecrets(p)
}
