package config

import (
	"fmt"
	"strings"
	"testing"
)

// PUBLIC_URL defaults to the Fly.io app's address, where Fly sets
// FLY_APP_NAME; a value of its own wins; and Chargebee's API base follows
// its site.
func TestAPIsDefaults(t *testing.T) {
	tests := []struct {
		env                  map[string]string
		publicURL, chargebee string
	}{
		{nil, "", ""},
		{map[string]string{"FLY_APP_NAME": "acme-bridge"}, "https://acme-bridge.fly.dev", ""},
		{map[string]string{"FLY_APP_NAME": "acme-bridge", "PUBLIC_URL": "https://bridge.acme.com/"}, "https://bridge.acme.com", ""},
		{map[string]string{"PUBLIC_URL": "http://127.0.0.1:8080"}, "http://127.0.0.1:8080", ""},
		{map[string]string{"CHARGEBEE_SITE": "acme-test"}, "", "https://acme-test.chargebee.com/api/v2"},
		{map[string]string{"CHARGEBEE_SITE": "acme", "CHARGEBEE_API_URL": "http://127.0.0.1:9/api/v2"}, "", "http://127.0.0.1:9/api/v2"},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.env), func(t *testing.T) {
			setenv(t, tt.env)
			c, err := Load()
			if err != nil {
				t.Fatal(err)
			}
			if c.PublicURL != tt.publicURL || c.ChargebeeAPIURL != tt.chargebee {
				t.Errorf("got PUBLIC_URL %q, Chargebee API %q; want %q, %q", c.PublicURL, c.ChargebeeAPIURL, tt.publicURL, tt.chargebee)
			}
			if c.PolarAPIURL != "https://api.polar.sh" || c.PaddleAPIURL != "https://api.paddle.com" ||
				c.LemonSqueezyAPIURL != "https://api.lemonsqueezy.com" || c.WorkOSAPIURL != "https://api.workos.com" {
				t.Errorf("got API bases %+v, want the providers' production APIs", c.APIs)
			}
		})
	}
}

func TestAPIsRejected(t *testing.T) {
	tests := []struct {
		env     map[string]string
		want    string
		mustNot []string
	}{
		{map[string]string{"PUBLIC_URL": "http://bridge.acme.com"}, "PUBLIC_URL: \"http://bridge.acme.com\" is not https", nil},
		{map[string]string{"PUBLIC_URL": "bridge.acme.com"}, "PUBLIC_URL: \"bridge.acme.com\" is not an absolute URL", nil},
		{map[string]string{"PUBLIC_URL": "https://bridge.acme.com?x=1"}, "PUBLIC_URL: \"https://bridge.acme.com?x=1\" has a query", nil},
		{map[string]string{"PUBLIC_URL": "https://u:hunter2pass@bridge.acme.com"}, "PUBLIC_URL: the URL holds credentials", []string{"hunter2pass"}},
		{map[string]string{"POLAR_API_URL": "https://polar_oat_in_url@api.polar.sh"}, "POLAR_API_URL: the URL holds credentials", []string{"polar_oat_in_url"}},
		{map[string]string{"PADDLE_API_URL": "sandbox-api.paddle.com"}, "PADDLE_API_URL", nil},
		{map[string]string{"CHARGEBEE_SITE": "acme.chargebee.com"}, "CHARGEBEE_SITE: \"acme.chargebee.com\" is not a site name", nil},
		{map[string]string{"LEMONSQUEEZY_STORE_ID": "my-store"}, "LEMONSQUEEZY_STORE_ID: \"my-store\" is not a store id", nil},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.env), func(t *testing.T) {
			setenv(t, tt.env)
			_, err := Load()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want %q", err, tt.want)
			}
			for _, bad := range tt.mustNot {
				if strings.Contains(err.Error(), bad) {
					t.Errorf("error %q contains %q", err, bad)
				}
			}
		})
	}
}

// The API keys are Secrets: no printed form of the configuration shows them.
func TestAPIKeysNeverPrint(t *testing.T) {
	keys := map[string]string{
		"POLAR_ACCESS_TOKEN": "polar_oat_do_not_print", "PADDLE_API_KEY": "pdl_live_apikey_do_not_print",
		"LEMONSQUEEZY_API_KEY": "ls_key_do_not_print", "WORKOS_API_KEY": "sk_workos_do_not_print",
		"CHARGEBEE_API_KEY": "live_chargebee_do_not_print",
	}
	setenv(t, keys)
	c, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	var report strings.Builder
	c.Report(&report)
	printed := fmt.Sprintf("%v %+v %#v", c, c, c) + report.String() + strings.Join(c.Warnings(), " ")
	for name, key := range keys {
		if strings.Contains(printed, key) {
			t.Errorf("%s is printed", name)
		}
	}
}

// An API base that is not https, with its key set, is a warning: the key
// would travel in clear text.
func TestAPIBaseInClearTextWarns(t *testing.T) {
	setenv(t, map[string]string{"REDITUS_API_KEY": "rk_live_1", "PADDLE_API_KEY": "pdl_key", "PADDLE_API_URL": "http://paddle.internal"})
	c, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	if w := strings.Join(c.Warnings(), "\n"); !strings.Contains(w, "PADDLE_API_URL is not https: PADDLE_API_KEY would travel in clear text") {
		t.Errorf("got warnings %q, want one for PADDLE_API_URL", w)
	}
}

// Contains finds a secret among several, as a rotation holds them, and
// nothing else.
func TestSecretsContains(t *testing.T) {
	s := Secrets{"whsec_old_0123456789", "whsec_new_0123456789"}
	for value, want := range map[string]bool{"whsec_new_0123456789": true, "whsec_old_0123456789": true, "whsec_new": false, "": false} {
		if got := s.Contains(value); got != want {
			t.Errorf("Contains(%q) = %v, want %v", value, got, want)
		}
	}
	if (Secrets{}).Contains("") {
		t.Error("no secrets contain the empty one")
	}
}
