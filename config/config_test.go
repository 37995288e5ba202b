package config

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"testing"
)

// setenv sets the environment for one Load, clearing every variable the
// bridge reads first so that the machine's own environment cannot leak in.
func setenv(t *testing.T, env map[string]string) {
	t.Helper()
	for _, k := range []string{"PORT", "LOG_LEVEL", "REDITUS_API_KEY", "REDITUS_API_URL", "STRIPE_WEBHOOK_SECRET", "STRIPE_ACCEPT_TEST_EVENTS",
		"CLERK_WEBHOOK_SECRET", "STYTCH_WEBHOOK_SECRET", "WORKOS_WEBHOOK_SECRET", "SUPABASE_WEBHOOK_SECRET", "GENERIC_WEBHOOK_SECRET",
		"HOST", "LOG_FORMAT", "METRICS_PORT"} {
		t.Setenv(k, "") // restores the variable after the test
		os.Unsetenv(k)  // envconfig takes a set-but-empty variable as set
	}
	for k, v := range env {
		t.Setenv(k, v)
	}
}

func TestLoadDefaults(t *testing.T) {
	setenv(t, nil)
	c, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	if c.Port != 8080 || c.ReditusAPIURL != "https://api.getreditus.com/api" || c.LogLevel != slog.LevelInfo || c.StripeAcceptTestEvents {
		t.Errorf("defaults: %+v", c)
	}
	if !c.DryRun() {
		t.Error("no REDITUS_API_KEY must mean dry run")
	}
	for _, p := range Providers {
		if got := c.WebhookSecrets(p); len(got) != 1 || got[0] != DevelopmentSecret {
			t.Errorf("dry run %s secrets = %v, want the development secret", p, got.Reveal())
		}
	}
}

func TestLoadLive(t *testing.T) {
	setenv(t, map[string]string{
		"PORT": "9000", "LOG_LEVEL": "DEBUG", "REDITUS_API_KEY": "rk_live_1",
		"STRIPE_WEBHOOK_SECRET": " whsec_old , whsec_new ,", "STRIPE_ACCEPT_TEST_EVENTS": "true",
		"CLERK_WEBHOOK_SECRET": "whsec_clerk", "STYTCH_WEBHOOK_SECRET": "whsec_stytch", "WORKOS_WEBHOOK_SECRET": "workos",
		"SUPABASE_WEBHOOK_SECRET": "supabase", "GENERIC_WEBHOOK_SECRET": "whsec_generic",
	})
	c, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	if c.DryRun() || c.Port != 9000 || c.LogLevel != slog.LevelDebug || !c.StripeAcceptTestEvents {
		t.Errorf("live config: %+v", c)
	}
	for provider, want := range map[string]string{
		"stripe": "whsec_old|whsec_new", "clerk": "whsec_clerk", "stytch": "whsec_stytch",
		"workos": "workos", "supabase": "supabase", "generic": "whsec_generic",
	} {
		if got := strings.Join(c.WebhookSecrets(provider).Reveal(), "|"); got != want {
			t.Errorf("%s secrets = %q, want %q", provider, got, want)
		}
	}
	setenv(t, map[string]string{"REDITUS_API_KEY": "rk_live_1"})
	if c, err = Load(); err != nil {
		t.Fatal(err)
	}
	if got := c.WebhookSecrets("clerk"); got != nil {
		t.Errorf("live provider without a secret got %v, want none (off)", got.Reveal())
	}
}

func TestLoadRejects(t *testing.T) {
	tests := []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"PORT": "eighty"}, "PORT"},
		{map[string]string{"PORT": "70000"}, "PORT"},
		{map[string]string{"REDITUS_API_URL": "api.getreditus.com"}, "REDITUS_API_URL"},
		{map[string]string{"STRIPE_ACCEPT_TEST_EVENTS": "maybe"}, "STRIPE_ACCEPT_TEST_EVENTS"},
		{map[string]string{"LOG_LEVEL": "loud"}, "LOG_LEVEL"},
		{map[string]string{"REDITUS_API_KEY": "rk_live_1", "STRIPE_WEBHOOK_SECRET": "whsec_real," + string(DevelopmentSecret)}, "STRIPE_WEBHOOK_SECRET: the development secret"},
		{map[string]string{"REDITUS_API_KEY": "rk_live_1", "SUPABASE_WEBHOOK_SECRET": string(DevelopmentSecret)}, "SUPABASE_WEBHOOK_SECRET: the development secret"},
	}
	for _, tt := range tests {
		setenv(t, tt.env)
		_, err := Load()
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Load with %v = %v, want an error naming %s", tt.env, err, tt.want)
		}
		if err != nil && strings.Contains(err.Error(), "rk_live_1") {
			t.Errorf("error %q contains the API key", err)
		}
	}
}

func TestSecretNeverPrints(t *testing.T) {
	const value = "whsec_do_not_print"
	s := Secret(value)
	list := Secrets{s, s}
	var logged bytes.Buffer
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("config", "secret", s, "cfg", Config{ReditusAPIKey: s})
	asJSON, _ := json.Marshal(Config{ReditusAPIKey: s, StripeWebhookSecret: list})
	for name, out := range map[string]string{
		"%v": fmt.Sprintf("%v", s), "%s": fmt.Sprintf("%s", s), "%#v": fmt.Sprintf("%#v", s),
		"%+v config": fmt.Sprintf("%+v", Config{ReditusAPIKey: s, StripeWebhookSecret: list}),
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
