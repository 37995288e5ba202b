package connect

import (
	"fmt"
	"io"
	"strings"

	"github.com/getreditus/reditus-bridge/providers"
)

// dashboards are the steps connect prints, by provider name, for the
// providers that have no API to make a webhook endpoint with. Each is
// taken from the provider's current documentation (sources in
// docs/providers/<name>.md).
var dashboards = map[string]func(w io.Writer, p providers.Provider, url string){
	"clerk":    clerkSteps,
	"stytch":   stytchSteps,
	"supabase": supabaseSteps,
	"generic":  genericSteps,
	"mollie":   mollieSteps,
	"paypal":   payPalSteps,
}

// printSteps prints p's dashboard steps, or says that connect cannot set p
// up and where to read how.
func printSteps(w io.Writer, p providers.Provider, url string) error {
	steps, ok := dashboards[p.Name]
	if !ok {
		events := "the events its page lists"
		if len(p.Events) > 0 {
			events = strings.Join(p.Events, ", ")
		}
		return fmt.Errorf("connect does not set up %s: in its dashboard, point a webhook at %s, subscribed to %s, and set %s to its secret (docs/providers/%s.md)", p.Title, url, events, p.SecretVar(), p.Name)
	}
	steps(w, p, url)
	return nil
}

// Clerk's Backend API makes only the Svix app and a portal link, not
// endpoints (https://clerk.com/docs/webhooks/sync-data).
func clerkSteps(w io.Writer, p providers.Provider, url string) {
	fmt.Fprintf(w, `Clerk has no API that makes webhook endpoints: set it up in the Clerk Dashboard (a minute).

  1. https://dashboard.clerk.com: your application, then Webhooks, Add Endpoint.
  2. Endpoint URL: %s
  3. Subscribe to events: %s (nothing else: the bridge skips every other event).
  4. Create. On the endpoint's page, copy the Signing Secret (whsec_...).
  5. Set it on the bridge:
       fly secrets set %s=whsec_...
     or, outside Fly.io, %s=whsec_... in the bridge's environment.

Then send a test event from the endpoint's Testing tab and look for it with
reditus-bridge events --since 1h (it is skipped: a test user has no referral).
`, url, strings.Join(p.Events, ", "), p.SecretVar(), p.SecretVar())
}

// Stytch enrolls webhooks in its dashboard only
// (https://stytch.com/docs/workspace-management/webhooks).
func stytchSteps(w io.Writer, p providers.Provider, url string) {
	fmt.Fprintf(w, `Stytch has no API that makes webhook endpoints: set it up in the Stytch Dashboard (a minute).

  1. https://stytch.com/dashboard: your project and environment (Live, or Test), then Webhooks, Add endpoint.
  2. Endpoint URL: %s
  3. Event filters: %s
     (the consumer types are direct.user.create and dashboard.user.create; B2B projects create members).
  4. Create, and copy the endpoint's signing secret (whsec_...).
  5. Set it on the bridge:
       fly secrets set %s=whsec_...
     or, outside Fly.io, %s=whsec_... in the bridge's environment.
`, url, strings.Join(p.Events, ", "), p.SecretVar(), p.SecretVar())
}

// Supabase's database webhooks are triggers around
// supabase_functions.http_request (https://supabase.com/docs/guides/database/webhooks):
// connect chooses the bearer token and prints the trigger's SQL with it.
func supabaseSteps(w io.Writer, p providers.Provider, url string) {
	token := p.Scheme.NewSecret()
	fmt.Fprintf(w, `Supabase sends the bridge a database webhook: a trigger on auth.users that
connect cannot make for you. Run this in your project's SQL Editor
(Supabase Dashboard, SQL Editor, New query). If Supabase answers that schema
"supabase_functions" does not exist, first turn on Database Webhooks
(Integrations, Database Webhooks, Enable).

  create trigger "reditus_bridge_signup" after insert
  on "auth"."users" for each row
  execute function "supabase_functions"."http_request"(
    '%s',
    'POST',
    '{"Content-Type":"application/json","Authorization":"Bearer %s"}',
    '{}',
    '5000'
  );

The bearer token in it is new, chosen by connect just now, and shown this once
(the trigger keeps it, readable by your database's admins). Set the same on
the bridge (a restart of the machine applies it):
  fly secrets set %s=%s
or, outside Fly.io, in the bridge's environment:
  %s=%s
`, url, token, p.SecretVar(), token, p.SecretVar(), token)
}

// The generic endpoint's sender is the user's own code
// (docs/providers/generic.md): connect chooses its secret.
func genericSteps(w io.Writer, p providers.Provider, url string) {
	secret := p.Scheme.NewSecret()
	fmt.Fprintf(w, `The generic endpoint has no dashboard: your own code sends it Standard Webhooks
deliveries (an Auth0 Action, a Firebase function, Better Auth, your backend;
examples/generic/ has each). Give that code this URL and secret:

  URL:    %s
  secret: %s   (new, chosen by connect just now, shown this once)

and set the same secret on the bridge (a restart of the machine applies it):
  fly secrets set %s=%s
or, outside Fly.io, in the bridge's environment:
  %s=%s
`, url, secret, p.SecretVar(), secret, p.SecretVar(), secret)
}

// Mollie's Webhooks API takes an organization access token or OAuth with
// webhooks.write, not the profile's API key that the bridge holds
// (https://docs.mollie.com/reference/create-webhook); classic webhooks are
// set per payment by the site's own code.
//
// Mollie declares no Events: a classic webhook has no event type (the
// bridge names it after the payment's state), and the next-gen types are
// another vocabulary, so the page lists those.
func mollieSteps(w io.Writer, _ providers.Provider, url string) {
	fmt.Fprintf(w, `Mollie's Webhooks API needs an organization access token, not MOLLIE_API_KEY: set it up in your code or the Mollie Dashboard.

  Classic webhooks (recommended, docs/providers/mollie.md): pass
       webhookUrl: "%s"
     when your code creates each payment and each subscription. MOLLIE_API_KEY
     (Developers, API keys: the live key) is all the bridge needs:
       fly secrets set MOLLIE_API_KEY=live_...
  Or next-gen webhooks:
  1. https://my.mollie.com: Developers, Webhooks, Create webhook.
  2. URL: %s
  3. Events: the ones docs/providers/mollie.md lists; the full payload.
  4. Copy the secret it shows once, and set it with the API key:
       fly secrets set MOLLIE_WEBHOOK_SECRET=... MOLLIE_API_KEY=live_...
     or, outside Fly.io, both in the bridge's environment.
`, url, url)
}

// PayPal's REST API can make webhooks (POST /v1/notifications/webhooks), but
// with the app's client credentials, which the bridge need not hold; the
// dashboard takes a minute (https://developer.paypal.com/api/rest/webhooks/).
func payPalSteps(w io.Writer, p providers.Provider, url string) {
	fmt.Fprintf(w, `Set PayPal up in its developer dashboard (a minute).

  1. https://developer.paypal.com: Apps & Credentials, your app (Live), Add Webhook.
  2. Webhook URL: %s
  3. Event types: %s.
  4. Save, and copy the webhook's Webhook ID. Set it on the bridge:
       fly secrets set %s=...
     or, outside Fly.io, %s=... in the bridge's environment.
  5. Optional, for refunds: PAYPAL_API_CREDENTIALS=CLIENT_ID:SECRET (the app's).

Then store the referral in custom_id (docs/providers/paypal.md).
`, url, strings.Join(p.Events, ", "), p.SecretVar(), p.SecretVar())
}
