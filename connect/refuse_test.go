package connect

import (
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/getreditus/reditus-bridge/config"
	"github.com/getreditus/reditus-bridge/internal/testenv"
	"github.com/getreditus/reditus-bridge/internal/testprovider"
	"github.com/getreditus/reditus-bridge/providers"
)

// What connect refuses, before it calls any API: each refusal is one line
// that says what to do, and nothing is written.
func TestConnectRefuses(t *testing.T) {
	api, cfg, _ := fakes[0].setup(t)
	tests := []struct {
		name string
		cfg  func(c *config.Config)
		args []string
		want string
	}{
		{"no provider", nil, nil, "connect needs a provider, one of chargebee, clerk"},
		{"unknown provider", nil, []string{"braintree", "--url", bridgeURL}, `no provider "braintree" (providers: chargebee, clerk,`},
		{"two providers", nil, []string{"stripe", "polar"}, `unexpected argument "polar"`},
		{"no URL", nil, []string{"stripe"}, "no URL to register: pass --url https://YOUR-BRIDGE, or set PUBLIC_URL"},
		{"http", nil, []string{"stripe", "--url", "http://bridge.example.com"}, `--url: "http://bridge.example.com" is not https`},
		{"http PUBLIC_URL", func(c *config.Config) { c.PublicURL = "http://bridge.example.com" }, []string{"stripe"}, `PUBLIC_URL: "http://bridge.example.com" is not https`},
		{"not a URL", nil, []string{"stripe", "--url", "bridge.example.com"}, "is not an absolute URL"},
		{"credentials", nil, []string{"stripe", "--url", "https://user:hunter2pass@bridge.example.com"}, "holds credentials"},
		{"a path", nil, []string{"stripe", "--url", bridgeURL + "/webhooks/stripe?x=1"}, "has a query"},
		{"unknown flag", nil, []string{"stripe", "--yes"}, "flag provided but not defined: -yes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := cfg
			if tt.cfg != nil {
				tt.cfg(&c)
			}
			out, err := run(t, c, api.Key, tt.args...)
			if err == nil || !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), "\n") || strings.Contains(err.Error(), "hunter2pass") {
				t.Errorf("got %v (printed %q); want one line saying %q", err, out, tt.want)
			}
			if len(api.Requests()) != 0 {
				t.Errorf("called the API %d times, want none", len(api.Requests()))
			}
		})
	}
	t.Run("http on loopback", func(t *testing.T) {
		if _, err := run(t, cfg, api.Key, "stripe", "--url", "http://127.0.0.1:8080"); err != nil {
			t.Errorf("got %v, want http accepted on loopback", err)
		}
	})
	t.Run("PUBLIC_URL is the default", func(t *testing.T) {
		c := cfg
		c.PublicURL = "https://default.example.com"
		if _, err := run(t, c, api.Key, "stripe"); err != nil || api.Endpoints()[len(api.Endpoints())-1].URL != "https://default.example.com/webhooks/stripe" {
			t.Errorf("got %v, endpoints %+v; want one at PUBLIC_URL", err, api.Endpoints())
		}
	})
}

// A missing key or setting names its variable, and nothing is called.
func TestConnectNamesTheMissingVariable(t *testing.T) {
	tests := map[string][]struct {
		unset func(c *config.Config)
		want  string
	}{
		"stripe":       {{func(c *config.Config) { c.StripeAPIKey = "" }, "set STRIPE_API_KEY"}},
		"polar":        {{func(c *config.Config) { c.PolarAccessToken = "" }, "set POLAR_ACCESS_TOKEN"}},
		"paddle":       {{func(c *config.Config) { c.PaddleAPIKey = "" }, "set PADDLE_API_KEY"}},
		"workos":       {{func(c *config.Config) { c.WorkOSAPIKey = "" }, "set WORKOS_API_KEY"}},
		"lemonsqueezy": {{func(c *config.Config) { c.LemonSqueezyAPIKey = "" }, "set LEMONSQUEEZY_API_KEY"}, {func(c *config.Config) { c.LemonSqueezyStoreID = "" }, "set LEMONSQUEEZY_STORE_ID"}},
		"chargebee":    {{func(c *config.Config) { c.ChargebeeAPIKey = "" }, "set CHARGEBEE_API_KEY"}, {func(c *config.Config) { c.ChargebeeAPIURL = "" }, "set CHARGEBEE_SITE"}},
	}
	for _, f := range fakes {
		for _, tt := range tests[f.name] {
			t.Run(tt.want, func(t *testing.T) {
				api, cfg, _ := f.setup(t)
				tt.unset(&cfg)
				_, err := run(t, cfg, api.Key, f.name, "--url", bridgeURL, "--dry-run")
				if err == nil || !strings.Contains(err.Error(), tt.want) || len(api.Requests()) != 0 {
					t.Errorf("got %v, %d requests; want %q and no request", err, len(api.Requests()), tt.want)
				}
			})
		}
		if _, ok := tests[f.name]; !ok {
			t.Errorf("no missing-variable case for %s", f.name)
		}
	}
}

// For the providers without an endpoint API, connect prints the steps:
// the URL, the events and the variable, and for the two whose secret the
// bridge chooses (Supabase's bearer token, the generic endpoint's Standard
// Webhooks secret) a new, strong one; Supabase's as the trigger's SQL.
func TestConnectPrintsDashboardSteps(t *testing.T) {
	for _, name := range []string{"clerk", "stytch", "supabase", "generic"} {
		t.Run(name, func(t *testing.T) {
			p, _ := providers.Lookup(name)
			out, err := run(t, config.Config{APIs: config.APIs{PublicURL: bridgeURL}}, "no key", name)
			if err != nil {
				t.Fatal(err)
			}
			for _, want := range append([]string{bridgeURL + "/webhooks/" + name, p.SecretVar()}, p.Events...) {
				if name == "supabase" && want == "INSERT auth.users" {
					want = `after insert
  on "auth"."users"`
				}
				if !strings.Contains(out, want) {
					t.Errorf("the steps do not say %q:\n%s", want, out)
				}
			}
			if !p.Scheme.UserChosen() && name != "generic" {
				return
			}
			secret := printedSecret(t, out, p.SecretVar())
			if _, err := p.Scheme.Verifier([]string{secret}); err != nil || len(p.Scheme.Key(secret)) < 16 {
				t.Errorf("printed secret %q: want a strong %s secret (%v)", secret, name, err)
			}
			if name == "supabase" && !strings.Contains(out, `'{"Content-Type":"application/json","Authorization":"Bearer `+secret+`"}'`) {
				t.Errorf("the trigger's SQL does not send the token it printed:\n%s", out)
			}
		})
	}
}

// A provider connect knows neither by an API nor by steps (a new one, before
// its connect file) gets a one-line answer that says what to do, not a crash.
func TestConnectWithoutClientOrStepsSaysSo(t *testing.T) {
	p := testprovider.Register(t)
	_, err := run(t, config.Config{APIs: config.APIs{PublicURL: bridgeURL}}, "no key", p.Name)
	want := regexp.MustCompile(`^connect does not set up Test-only provider: in its dashboard, point a webhook at https://bridge.example.com/webhooks/testonly, .* set TESTONLY_WEBHOOK_SECRET`)
	if err == nil || !want.MatchString(err.Error()) {
		t.Errorf("got %v, want %v", err, want)
	}
}

// connect's Stripe requests are valid Stripe API calls: stripe-mock checks
// each against Stripe's OpenAPI spec (it answers fixtures, so what it
// answers is not checked, but that it took them).
func TestStripeRequestsAreValidStripeCalls(t *testing.T) {
	mock := os.Getenv("STRIPE_MOCK_URL")
	testenv.Require(t, mock != "", "stripe-mock (go install github.com/stripe/stripe-mock@v0.203.0), running, and STRIPE_MOCK_URL set to it")
	cfg := config.Config{StripeAPIKey: "sk_test_123", StripeAPIURL: mock}
	// stripe-mock's fixture endpoint has no secret: connect then says what
	// it created and where the secret is.
	out, err := run(t, cfg, "sk_test_123", "stripe", "--url", bridgeURL)
	if !strings.Contains(out, "created Stripe's webhook endpoint we_") || err != nil && !strings.Contains(err.Error(), "returned no signing secret: get it from the endpoint's page") {
		t.Fatalf("connect against stripe-mock: %v\n%s", err, out)
	}
	client, _ := For("stripe")
	api, err := client.New(cfg, &http.Client{})
	if err != nil {
		t.Fatal(err)
	}
	p, _ := providers.Lookup("stripe")
	if _, err := api.Update(t.Context(), "we_123", Spec{URL: bridgeURL + "/webhooks/stripe", Events: p.Events}); err != nil {
		t.Errorf("update against stripe-mock: %v", err)
	}
	if _, _, err := api.Find(t.Context(), bridgeURL+"/webhooks/stripe"); err != nil {
		t.Errorf("list against stripe-mock: %v", err)
	}
}
