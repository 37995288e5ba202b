package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"regexp"
	"strings"
)

// APIs is what `connect` and `doctor` need to reach the providers' APIs and
// to name the bridge's own address: PUBLIC_URL, and each provider's key and
// API base (STRIPE_API_KEY and STRIPE_API_URL serve Stripe, as they serve its
// look-ups). The bridge serves webhooks without any of it.
type APIs struct {
	// PublicURL is the bridge's public base URL, without a trailing slash:
	// connect's default --url and what doctor checks the endpoints against.
	// On Fly.io it defaults to https://$FLY_APP_NAME.fly.dev.
	PublicURL string `envconfig:"PUBLIC_URL"`

	PolarAccessToken Secret `envconfig:"POLAR_ACCESS_TOKEN"`
	PolarAPIURL      string `envconfig:"POLAR_API_URL" default:"https://api.polar.sh"`

	PaddleAPIKey Secret `envconfig:"PADDLE_API_KEY"`
	PaddleAPIURL string `envconfig:"PADDLE_API_URL" default:"https://api.paddle.com"`

	LemonSqueezyAPIKey  Secret `envconfig:"LEMONSQUEEZY_API_KEY"`
	LemonSqueezyStoreID string `envconfig:"LEMONSQUEEZY_STORE_ID"`
	LemonSqueezyAPIURL  string `envconfig:"LEMONSQUEEZY_API_URL" default:"https://api.lemonsqueezy.com"`

	WorkOSAPIKey Secret `envconfig:"WORKOS_API_KEY"`
	WorkOSAPIURL string `envconfig:"WORKOS_API_URL" default:"https://api.workos.com"`

	// ChargebeeSite is the site's name, the first label of its host
	// (acme for acme.chargebee.com, acme-test for the test site).
	ChargebeeSite   string `envconfig:"CHARGEBEE_SITE"`
	ChargebeeAPIKey Secret `envconfig:"CHARGEBEE_API_KEY"`
	// ChargebeeAPIURL defaults to https://{CHARGEBEE_SITE}.chargebee.com/api/v2.
	ChargebeeAPIURL string `envconfig:"CHARGEBEE_API_URL"`
}

// flyAppName is the variable Fly.io sets on every machine to the app's name.
const flyAppName = "FLY_APP_NAME"

// defaultAPIs fills in the defaults that depend on other values.
func (a *APIs) defaultAPIs() {
	if app := os.Getenv(flyAppName); a.PublicURL == "" && app != "" {
		a.PublicURL = "https://" + app + ".fly.dev"
	}
	a.PublicURL = strings.TrimRight(a.PublicURL, "/")
	if a.ChargebeeAPIURL == "" && a.ChargebeeSite != "" {
		a.ChargebeeAPIURL = "https://" + a.ChargebeeSite + ".chargebee.com/api/v2"
	}
}

var (
	chargebeeSite = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)
	digits        = regexp.MustCompile(`^[0-9]+$`)
)

// apiBase is one provider API's base URL and the key sent to it.
type apiBase struct {
	name, url string // the variable, and its value
	key       string // the key's variable
	keySet    bool
}

// bases lists the API bases APIs holds.
func (a APIs) bases() []apiBase {
	return []apiBase{
		{"POLAR_API_URL", a.PolarAPIURL, "POLAR_ACCESS_TOKEN", a.PolarAccessToken != ""},
		{"PADDLE_API_URL", a.PaddleAPIURL, "PADDLE_API_KEY", a.PaddleAPIKey != ""},
		{"LEMONSQUEEZY_API_URL", a.LemonSqueezyAPIURL, "LEMONSQUEEZY_API_KEY", a.LemonSqueezyAPIKey != ""},
		{"WORKOS_API_URL", a.WorkOSAPIURL, "WORKOS_API_KEY", a.WorkOSAPIKey != ""},
		{"CHARGEBEE_API_URL", a.ChargebeeAPIURL, "CHARGEBEE_API_KEY", a.ChargebeeAPIKey != ""},
	}
}

// validateAPIs checks the variables of APIs.
func (a APIs) validateAPIs() error {
	if a.PublicURL != "" {
		if err := CheckPublicURL(a.PublicURL); err != nil {
			return fmt.Errorf("PUBLIC_URL: %w", err)
		}
	}
	for _, base := range a.bases() {
		if base.url == "" {
			continue // CHARGEBEE_API_URL without CHARGEBEE_SITE
		}
		if err := checkBaseURL(base.url); err != nil {
			return fmt.Errorf("%s: %w", base.name, err)
		}
	}
	if a.ChargebeeSite != "" && !chargebeeSite.MatchString(a.ChargebeeSite) {
		return fmt.Errorf("CHARGEBEE_SITE: %q is not a site name: give the first part of its host (acme for acme.chargebee.com)", a.ChargebeeSite)
	}
	if a.LemonSqueezyStoreID != "" && !digits.MatchString(a.LemonSqueezyStoreID) {
		return fmt.Errorf("LEMONSQUEEZY_STORE_ID: %q is not a store id: Lemon Squeezy's are numbers (Settings, Stores)", a.LemonSqueezyStoreID)
	}
	return nil
}

// connectWarnings lists the connect API bases that would carry a key in
// clear text.
func (a APIs) connectWarnings() []string {
	var w []string
	for _, base := range a.bases() {
		if u, err := url.Parse(base.url); base.keySet && err == nil && u.Scheme != "https" {
			w = append(w, base.name+" is not https: "+base.key+" would travel in clear text")
		}
	}
	return w
}

// CheckPublicURL accepts the bridge's public base URL: an absolute https URL
// with a host and no credentials, query or fragment; http only on a loopback
// host (a test, or a tunnel's local end), since every provider sends its
// signature, and some their secret itself (basic auth, a bearer token), to
// this address. It never quotes a URL that holds credentials.
func CheckPublicURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return errors.New("not a URL: want https://host, such as https://my-bridge.fly.dev")
	}
	switch {
	case u.User != nil:
		return errors.New("the URL holds credentials (user:password@): refused, and not shown")
	case u.Host == "" || u.Scheme != "https" && u.Scheme != "http":
		return fmt.Errorf("%q is not an absolute URL: want https://host, such as https://my-bridge.fly.dev", raw)
	case u.RawQuery != "" || u.Fragment != "":
		return fmt.Errorf("%q has a query or a fragment: want the base URL alone; /webhooks/PROVIDER is added to it", raw)
	case u.Scheme == "http" && !isLoopback(u.Hostname()):
		return fmt.Errorf("%q is not https: providers would send their signatures (and some their secrets) in clear text; only a loopback host may use http", raw)
	}
	return nil
}

// isLoopback reports whether host is localhost or a loopback address.
func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
