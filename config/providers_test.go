package config

import (
	"fmt"
	"strings"
	"testing"

	"github.com/getreditus/reditus-bridge/providers"
)

const (
	mollieKey     = "live_must_not_print_0123456789abcdef"
	mollieSecret  = "mollie_whsec_must_not_print_0123"
	payPalID      = "8PT597110X687430L"
	payPalAPICred = "AYSq3RDGsmBLJE:must_not_print_EGnHDxD"
)

// A provider's variables beyond its secret: Mollie's API key turns it on
// (and its webhook secret is optional), PayPal's webhook id turns it on
// (and its API credentials are optional); the API base has a default; and
// any of them set ends the local default.
func TestProviderAPIVariables(t *testing.T) {
	tests := []struct {
		name   string
		env    map[string]string
		on     string
		report []string
	}{
		{"Mollie's key alone", map[string]string{"REDITUS_API_KEY": "rk_live_1", "MOLLIE_API_KEY": mollieKey}, "mollie",
			[]string{"mollie:    on, no MOLLIE_WEBHOOK_SECRET, MOLLIE_API_KEY (API at https://api.mollie.com)", "paypal:    off (set PAYPAL_WEBHOOK_ID)"}},
		{"Mollie's key and next-gen secret, another base", map[string]string{"REDITUS_API_KEY": "rk_live_1", "MOLLIE_API_KEY": mollieKey, "MOLLIE_WEBHOOK_SECRET": mollieSecret, "MOLLIE_API_URL": "https://mollie.internal"}, "mollie",
			[]string{"mollie:    on, 1 secret(s) in MOLLIE_WEBHOOK_SECRET, MOLLIE_API_KEY (API at https://mollie.internal)"}},
		{"PayPal's webhook id", map[string]string{"REDITUS_API_KEY": "rk_live_1", "PAYPAL_WEBHOOK_ID": payPalID}, "paypal",
			[]string{"paypal:    on, 1 secret(s) in PAYPAL_WEBHOOK_ID", "mollie:    off (set MOLLIE_API_KEY)"}},
		{"PayPal's webhook ids and API", map[string]string{"REDITUS_API_KEY": "rk_live_1", "PAYPAL_WEBHOOK_ID": payPalID + ",WEBHOOK_ID", "PAYPAL_API_CREDENTIALS": payPalAPICred}, "paypal",
			[]string{"paypal:    on, 2 secret(s) in PAYPAL_WEBHOOK_ID, PAYPAL_API_CREDENTIALS (API at https://api-m.paypal.com)"}},
		{"PayPal's API without its webhook id: off, with a warning", map[string]string{"REDITUS_API_KEY": "rk_live_1", "PAYPAL_API_CREDENTIALS": payPalAPICred}, "",
			[]string{"PAYPAL_API_CREDENTIALS is set, but PAYPAL_WEBHOOK_ID is not: PayPal is off"}},
		{"Mollie's API over http: a warning", map[string]string{"REDITUS_API_KEY": "rk_live_1", "MOLLIE_API_KEY": mollieKey, "MOLLIE_API_URL": "http://127.0.0.1:9"}, "mollie",
			[]string{"MOLLIE_API_URL is not https: MOLLIE_API_KEY would travel in clear text"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			setenv(t, tt.env)
			c, err := Load()
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(c.On(), ","); got != tt.on || c.LocalDefault() {
				t.Errorf("on %q (local default %v), want %q and no local default", got, c.LocalDefault(), tt.on)
			}
			var report strings.Builder
			c.Report(&report)
			printed := report.String() + fmt.Sprintf("%v %+v %#v", c, c, c)
			for _, want := range tt.report {
				if !strings.Contains(report.String(), want) {
					t.Errorf("check printed\n%s\nwant %q", report.String(), want)
				}
			}
			if strings.Contains(printed, "must_not_print") {
				t.Errorf("a key or secret was printed:\n%s", printed)
			}
		})
	}
}

// What cannot work stops the bridge, naming the variable, never quoting a
// key: Mollie's secret without its key, an empty key, the development
// secret as a key or as PayPal's webhook id, PayPal credentials that are not
// CLIENT_ID:SECRET, credentials in an API base, and any of them set without
// REDITUS_API_KEY.
func TestProviderAPIVariablesRejected(t *testing.T) {
	live := "rk_live_1"
	tests := []struct {
		name string
		env  map[string]string
		want string
	}{
		{"Mollie's next-gen secret without its key", map[string]string{"REDITUS_API_KEY": live, "MOLLIE_WEBHOOK_SECRET": mollieSecret},
			"MOLLIE_WEBHOOK_SECRET is set, but MOLLIE_API_KEY is not"},
		{"Mollie's key set but empty", map[string]string{"REDITUS_API_KEY": live, "MOLLIE_API_KEY": ""}, "MOLLIE_API_KEY: set but empty"},
		{"the development secret as Mollie's key", map[string]string{"REDITUS_API_KEY": live, "MOLLIE_API_KEY": DevelopmentSecret.Reveal()}, "MOLLIE_API_KEY: is the public development secret"},
		{"the development secret as PayPal's webhook id", map[string]string{"REDITUS_API_KEY": live, "PAYPAL_WEBHOOK_ID": DevelopmentSecret.Reveal()}, "PAYPAL_WEBHOOK_ID: secret 1 of 1 is the public development secret"},
		{"PayPal's credentials without a colon", map[string]string{"REDITUS_API_KEY": live, "PAYPAL_WEBHOOK_ID": payPalID, "PAYPAL_API_CREDENTIALS": "must_not_print"},
			"PAYPAL_API_CREDENTIALS: want the REST app's CLIENT_ID:SECRET"},
		{"credentials in Mollie's base", map[string]string{"REDITUS_API_KEY": live, "MOLLIE_API_KEY": mollieKey, "MOLLIE_API_URL": "https://u:must_not_print@api.mollie.com"},
			"MOLLIE_API_URL: the URL holds credentials"},
		{"Mollie's key without REDITUS_API_KEY", map[string]string{"MOLLIE_API_KEY": mollieKey}, "REDITUS_API_KEY is not set, but MOLLIE_API_KEY is"},
		{"PayPal's credentials without REDITUS_API_KEY", map[string]string{"PAYPAL_API_CREDENTIALS": payPalAPICred}, "REDITUS_API_KEY is not set, but PAYPAL_API_CREDENTIALS is"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			setenv(t, tt.env)
			_, err := Load()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "must_not_print") {
				t.Errorf("the error quotes a key: %v", err)
			}
		})
	}
}

// Every provider's variables are read from the registry: a provider that
// declares an API brings its key and base with it.
func TestProviderVariablesComeFromTheRegistry(t *testing.T) {
	for _, p := range providers.All() {
		if p.API == nil {
			continue
		}
		setenv(t, map[string]string{"REDITUS_API_KEY": "rk_live_1", p.SecretVar(): p.Scheme.NewSecret(), p.API.Variable: "k:" + mollieKey, p.APIURLVar(): "https://" + p.Name + ".example"})
		c, err := Load()
		if err != nil {
			t.Fatalf("%s: %v", p.Name, err)
		}
		if key, base := c.API(p); key.Reveal() != "k:"+mollieKey || base != "https://"+p.Name+".example" || !c.Enabled(p) {
			t.Errorf("%s: API %q at %q, on %v", p.Name, key, base, c.Enabled(p))
		}
	}
}
