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
