package connect

import (
	"bytes"
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/getreditus/reditus-bridge/config"
	"github.com/getreditus/reditus-bridge/internal/fakeapi"
	"github.com/getreditus/reditus-bridge/providers"
)

// bridgeURL is the public URL the tests register; the providers' real APIs
// would refuse a loopback one, the fakes take any.
const bridgeURL = "https://bridge.example.com"

// fake is one provider's fake API and how the configuration points at it.
type fake struct {
	name   string
	keyVar string
	start  func(t testing.TB) *fakeapi.Server
	point  func(c *config.Config, s *fakeapi.Server)
}

// fakes are the fake APIs of every provider connect has a client for.
var fakes = []fake{
	{"stripe", "STRIPE_API_KEY", func(t testing.TB) *fakeapi.Server { return fakeapi.Stripe(t, "sk_test_connect_51Hkey") },
		func(c *config.Config, s *fakeapi.Server) {
			c.StripeAPIKey, c.StripeAPIURL = config.Secret(s.Key), s.BaseURL
		}},
	{"polar", "POLAR_ACCESS_TOKEN", func(t testing.TB) *fakeapi.Server { return fakeapi.Polar(t, "polar_oat_connect_key") },
		func(c *config.Config, s *fakeapi.Server) {
			c.PolarAccessToken, c.PolarAPIURL = config.Secret(s.Key), s.BaseURL
		}},
	{"paddle", "PADDLE_API_KEY", func(t testing.TB) *fakeapi.Server { return fakeapi.Paddle(t, "pdl_live_apikey_connect") },
		func(c *config.Config, s *fakeapi.Server) {
			c.PaddleAPIKey, c.PaddleAPIURL = config.Secret(s.Key), s.BaseURL
		}},
	{"lemonsqueezy", "LEMONSQUEEZY_API_KEY", func(t testing.TB) *fakeapi.Server { return fakeapi.LemonSqueezy(t, "eyJ0eXAiOiJKV1Qi.ls_connect_key") },
		func(c *config.Config, s *fakeapi.Server) {
			c.LemonSqueezyAPIKey, c.LemonSqueezyAPIURL, c.LemonSqueezyStoreID = config.Secret(s.Key), s.BaseURL, "48215"
		}},
	{"workos", "WORKOS_API_KEY", func(t testing.TB) *fakeapi.Server { return fakeapi.WorkOS(t, "sk_test_workos_connect") },
		func(c *config.Config, s *fakeapi.Server) {
			c.WorkOSAPIKey, c.WorkOSAPIURL = config.Secret(s.Key), s.BaseURL
		}},
	{"chargebee", "CHARGEBEE_API_KEY", func(t testing.TB) *fakeapi.Server { return fakeapi.Chargebee(t, "live_chargebee_connect_key") },
		func(c *config.Config, s *fakeapi.Server) {
			c.ChargebeeSite, c.ChargebeeAPIKey, c.ChargebeeAPIURL = "acme", config.Secret(s.Key), s.BaseURL
		}},
}

// setup starts f's fake and returns it, the configuration that reaches it,
// and f's provider.
func (f fake) setup(t *testing.T) (*fakeapi.Server, config.Config, providers.Provider) {
	t.Helper()
	api := f.start(t)
	cfg := config.Config{Webhooks: map[string]config.Webhook{}}
	f.point(&cfg, api)
	p, err := providers.Lookup(f.name)
	if err != nil {
		t.Fatal(err)
	}
	return api, cfg, p
}

// run runs connect with args and returns what it printed and its error,
// failing t if either holds the API key.
func run(t *testing.T, cfg config.Config, key string, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	err := Run(context.Background(), cfg, args, &out)
	if strings.Contains(out.String(), key) || err != nil && strings.Contains(err.Error(), key) {
		t.Errorf("connect %v printed the API key:\n%s\nerror: %v", args, out.String(), err)
	}
	return out.String(), err
}

// printedSecret is the secret connect printed for variable name, checking
// that both lines that set it were printed; "" when it printed none.
func printedSecret(t *testing.T, out, name string) string {
	t.Helper()
	plain := regexp.MustCompile(`(?m)^  ` + name + `=(\S+)$`).FindStringSubmatch(out)
	fly := regexp.MustCompile(`(?m)^  fly secrets set ` + name + `=(\S+)$`).FindStringSubmatch(out)
	switch {
	case plain == nil && fly == nil:
		return ""
	case plain == nil || fly == nil || plain[1] != fly[1]:
		t.Fatalf("want both `fly secrets set %s=...` and `%s=...`, with the same secret:\n%s", name, name, out)
	}
	return plain[1]
}

// The first run creates the endpoint, subscribed to exactly the provider's
// events, and prints its secret; a second changes nothing and makes no
// second endpoint; after someone trimmed the events and disabled it, a third
// restores both.
func TestConnectMakesOneEndpointAndKeepsIt(t *testing.T) {
	for _, f := range fakes {
		t.Run(f.name, func(t *testing.T) {
			api, cfg, p := f.setup(t)
			target := bridgeURL + "/webhooks/" + f.name
			out, err := run(t, cfg, api.Key, f.name, "--url", bridgeURL+"/")
			if err != nil {
				t.Fatalf("first run: %v\n%s", err, out)
			}
			eps := api.Endpoints()
			if len(eps) != 1 || eps[0].URL != target || !slices.Equal(eps[0].Events, p.Events) || !eps[0].Enabled {
				t.Fatalf("the provider holds %+v; want one enabled endpoint at %s subscribed to %v", eps, target, p.Events)
			}
			secret := printedSecret(t, out, p.SecretVar())
			if secret == "" || secret != eps[0].Secret {
				t.Errorf("printed secret %q, want the endpoint's, %q:\n%s", secret, eps[0].Secret, out)
			}
			if _, err := p.Scheme.Verifier([]string{secret}); err != nil || len(p.Scheme.Key(secret)) < 16 {
				t.Errorf("the printed secret does not make a strong verifier: %v", err)
			}

			writes := api.Writes()
			cfg.Webhooks[f.name] = config.Webhook{Secrets: config.Secrets{"whsec_other", config.Secret(secret)}}
			out, err = run(t, cfg, api.Key, f.name, "--url", bridgeURL)
			if err != nil || api.Writes() != writes || len(api.Endpoints()) != 1 || !strings.Contains(out, "nothing to change") {
				t.Fatalf("second run: %v, %d writes more, %d endpoints; want nothing changed:\n%s", err, api.Writes()-writes, len(api.Endpoints()), out)
			}
			if got := printedSecret(t, out, p.SecretVar()); got != "" {
				t.Errorf("the second run printed the secret again, which %s holds already:\n%s", p.SecretVar(), out)
			}

			api.SetEvents(eps[0].ID, p.Events[1:]...)
			enable := "; enable it"
			if f.name == "lemonsqueezy" {
				enable = "" // its webhooks have no enabled flag
			} else {
				api.Disable(eps[0].ID)
			}
			out, err = run(t, cfg, api.Key, f.name, "--url", bridgeURL)
			eps = api.Endpoints()
			if err != nil || len(eps) != 1 || !slices.Equal(eps[0].Events, p.Events) || !eps[0].Enabled {
				t.Fatalf("after a trim: %v, endpoints %+v; want the one endpoint enabled and subscribed to %v again:\n%s", err, eps, p.Events, out)
			}
			if !strings.Contains(out, "subscribe it again to "+p.Events[0]+enable) {
				t.Errorf("the third run does not say what it restored:\n%s", out)
			}
			if eps[0].Secret != secret {
				t.Errorf("the update changed the endpoint's secret")
			}
		})
	}
}

// Run again where the bridge's environment lacks the secret, connect prints
// it for the providers that show it again, and for the others says it
// cannot and how to rotate, naming the variable.
func TestConnectAgainSaysWhereTheSecretIs(t *testing.T) {
	for _, f := range fakes {
		t.Run(f.name, func(t *testing.T) {
			api, cfg, p := f.setup(t)
			if _, err := run(t, cfg, api.Key, f.name, "--url", bridgeURL); err != nil {
				t.Fatal(err)
			}
			out, err := run(t, cfg, api.Key, f.name, "--url", bridgeURL)
			if err != nil {
				t.Fatal(err)
			}
			client, _ := For(f.name)
			got := printedSecret(t, out, p.SecretVar())
			switch {
			case client.SecretShownAgain && got != api.Endpoints()[0].Secret:
				t.Errorf("printed %q, want the endpoint's secret, which %s shows and this environment lacks:\n%s", got, p.Title, out)
			case !client.SecretShownAgain && (got != "" || !strings.Contains(out, "cannot print it") || !strings.Contains(out, p.SecretVar()+"=")):
				t.Errorf("want no secret, a word that it cannot be shown, and how to set two during a rotation:\n%s", out)
			}
		})
	}
}

// Among many endpoints, over several pages, connect finds its own.
func TestConnectFindsItsEndpointOnALaterPage(t *testing.T) {
	for _, f := range fakes {
		t.Run(f.name, func(t *testing.T) {
			api, cfg, p := f.setup(t)
			for _, other := range []string{"https://a.example.com/hook", "https://b.example.com/hook", "https://c.example.com/hook"} {
				api.Add(fakeapi.Endpoint{URL: other, Events: p.Events, Enabled: true, Store: "48215"})
			}
			api.Add(fakeapi.Endpoint{URL: bridgeURL + "/webhooks/" + f.name, Events: p.Events, Enabled: true, Store: "48215"})
			api.SetPageSize(1)
			out, err := run(t, cfg, api.Key, f.name, "--url", bridgeURL)
			if err != nil || api.Writes() != 0 || len(api.Endpoints()) != 4 {
				t.Errorf("got %v, %d writes, %d endpoints; want its endpoint found on the last page, nothing written:\n%s", err, api.Writes(), len(api.Endpoints()), out)
			}
		})
	}
}

// --dry-run reads, prints each request that would write, with the URL and
// the events, and sends none; a secret the bridge chose shows as a
// placeholder.
func TestConnectDryRunWritesNothing(t *testing.T) {
	for _, f := range fakes {
		t.Run(f.name, func(t *testing.T) {
			api, cfg, p := f.setup(t)
			out, err := run(t, cfg, api.Key, f.name, "--url", bridgeURL, "--dry-run")
			if err != nil || api.Writes() != 0 || len(api.Endpoints()) != 0 {
				t.Fatalf("got %v, %d writes; want nothing written:\n%s", err, api.Writes(), out)
			}
			for _, want := range append([]string{"would send: POST " + api.BaseURL, bridgeURL + "/webhooks/" + f.name, "dry run: nothing was created"}, p.Events...) {
				if !strings.Contains(out, want) {
					t.Errorf("the dry run does not print %q:\n%s", want, out)
				}
			}
			if p.Scheme.UserChosen() && !strings.Contains(out, "<new secret>") {
				t.Errorf("the dry run does not mask the secret it would set:\n%s", out)
			}

			id := api.Add(fakeapi.Endpoint{URL: bridgeURL + "/webhooks/" + f.name, Events: p.Events[1:], Enabled: true, Store: "48215"})
			out, err = run(t, cfg, api.Key, f.name, "--url", bridgeURL, "--dry-run")
			if err != nil || api.Writes() != 0 || !strings.Contains(out, "would send: ") || !strings.Contains(out, id) || !strings.Contains(out, "dry run: nothing was changed") {
				t.Errorf("a trimmed endpoint: got %v, %d writes; want the update printed, not sent:\n%s", err, api.Writes(), out)
			}
		})
	}
}

// An API that refuses or fails gives one line that says what to do, never
// the key, and connect writes nothing after a failed read; after a failed
// write it says whether anything may exist.
func TestConnectAPIErrors(t *testing.T) {
	faults := []struct {
		status int
		body   string
		want   string
	}{
		{401, "", "refused {KEY} (HTTP 401)"},
		{403, `{"error":{"message":"This key lacks the permission, {KEY}"}}`, "refused {KEY} (HTTP 403)"},
		{429, "", "rate limiting (HTTP 429)"},
		{500, "", "failed (HTTP 500)"},
		{503, "<html>Service Unavailable</html>", "failed (HTTP 503)"},
		{200, "<html>a proxy's login page</html>", "but not with its JSON"},
	}
	for _, f := range fakes {
		for _, fault := range faults {
			t.Run(fmt.Sprint(f.name, "/", fault.status), func(t *testing.T) {
				api, cfg, _ := f.setup(t)
				api.Fail(fault.status, strings.ReplaceAll(fault.body, "{KEY}", api.Key))
				_, err := run(t, cfg, api.Key, f.name, "--url", bridgeURL)
				want := strings.ReplaceAll(fault.want, "{KEY}", f.keyVar)
				if err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), "nothing was changed") {
					t.Errorf("got %v; want one line saying %q and that nothing was changed", err, want)
				}
			})
		}
		t.Run(f.name+"/create refused", func(t *testing.T) {
			api, cfg, _ := f.setup(t)
			api.FailWrites(400, `{"message":"invalid url"}`)
			_, err := run(t, cfg, api.Key, f.name, "--url", bridgeURL)
			if err == nil || !strings.Contains(err.Error(), "(HTTP 400)") || !strings.HasSuffix(err.Error(), "nothing was created") {
				t.Errorf("got %v; want the refusal, and that nothing was created", err)
			}
		})
		t.Run(f.name+"/create failed", func(t *testing.T) {
			api, cfg, _ := f.setup(t)
			api.FailWrites(502, "")
			_, err := run(t, cfg, api.Key, f.name, "--url", bridgeURL)
			if err == nil || !strings.Contains(err.Error(), "may have been carried out") || !strings.Contains(err.Error(), "connect "+f.name+"` again") {
				t.Errorf("got %v; want it to say the endpoint may exist, and to run connect again", err)
			}
		})
	}
}
