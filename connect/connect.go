package connect

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/getreditus/reditus-bridge/config"
	"github.com/getreditus/reditus-bridge/providers"
)

// Usage is what `connect --help` prints.
const Usage = `usage: reditus-bridge connect PROVIDER [--url URL] [--dry-run]

Registers URL/webhooks/PROVIDER with the provider, through its API,
subscribed to exactly the events the bridge handles, and prints the new
signing secret once, with the line that sets it on the bridge. Run again, it
finds its endpoint by that URL, subscribes it again to any event that was
taken off and enables it, and never makes a second one.

Through the API: stripe (STRIPE_API_KEY), polar (POLAR_ACCESS_TOKEN), paddle
(PADDLE_API_KEY), lemonsqueezy (LEMONSQUEEZY_API_KEY, LEMONSQUEEZY_STORE_ID),
workos (WORKOS_API_KEY), chargebee (CHARGEBEE_SITE, CHARGEBEE_API_KEY).
For clerk, stytch, supabase and generic, which have no such API, it prints
the steps to take in their dashboard (for Supabase, the SQL of the trigger).

  --url URL   the bridge's public base URL (default PUBLIC_URL; on Fly.io
              https://$FLY_APP_NAME.fly.dev); https, or http on loopback
  --dry-run   print the requests that would change anything, and send none
              (the endpoints are still read, to know what would change)
`

// timeout bounds each call to a provider's API.
const timeout = 30 * time.Second

// options are connect's arguments.
type options struct {
	provider string
	url      string
	dryRun   bool
}

// Run answers `connect PROVIDER [--url URL] [--dry-run]` with cfg's keys,
// printing to stdout what it did. Its error is one line, and like
// everything it prints, it holds no API key and no secret but the new
// signing secret, printed once.
func Run(ctx context.Context, cfg config.Config, args []string, stdout io.Writer) error {
	o, err := parse(args)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(stdout, Usage)
		return nil
	}
	if err != nil {
		return fmt.Errorf("%w; see `reditus-bridge help connect`", err)
	}
	p, err := providers.Lookup(o.provider)
	if err != nil {
		return fmt.Errorf("%w; see `reditus-bridge help connect`", err)
	}
	target, err := webhookURL(o.url, cfg.PublicURL, p)
	if err != nil {
		return err
	}
	client, ok := For(p.Name)
	if !ok {
		return printSteps(stdout, p, target)
	}
	c := &connection{p: p, client: client, out: stdout, target: target, held: cfg.Webhooks[p.Name].Secrets}
	hc := &http.Client{Timeout: timeout}
	if o.dryRun {
		c.dry = &dryRun{next: http.DefaultTransport, out: stdout}
		hc.Transport = c.dry
	}
	api, err := client.New(cfg, hc)
	if err != nil {
		return fmt.Errorf("connect %s: %w", p.Name, err)
	}
	return c.run(ctx, api)
}

// parse reads connect's arguments: the provider, then the flags (or the
// flags first).
func parse(args []string) (options, error) {
	var o options
	fs := flag.NewFlagSet("connect", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&o.url, "url", "", "")
	fs.BoolVar(&o.dryRun, "dry-run", false, "")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() == 0 {
		return o, fmt.Errorf("connect needs a provider, one of %s", strings.Join(providers.Names(), ", "))
	}
	o.provider = fs.Arg(0)
	if err := fs.Parse(fs.Args()[1:]); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected argument %q: connect takes one provider", fs.Arg(0))
	}
	return o, nil
}

// webhookURL is where p's webhooks go: flagURL, else PUBLIC_URL, and p's route.
func webhookURL(flagURL, publicURL string, p providers.Provider) (string, error) {
	base, from := flagURL, "--url"
	if base == "" {
		base, from = publicURL, "PUBLIC_URL"
	}
	if base == "" {
		return "", errors.New("no URL to register: pass --url https://YOUR-BRIDGE, or set PUBLIC_URL (on Fly.io it defaults to https://$FLY_APP_NAME.fly.dev)")
	}
	base = strings.TrimRight(base, "/")
	if err := config.CheckPublicURL(base); err != nil {
		return "", fmt.Errorf("%s: %w", from, err)
	}
	return base + p.Route(), nil
}

// connection is one run of connect for a provider with an API.
type connection struct {
	p      providers.Provider
	client Client
	out    io.Writer
	target string         // the endpoint's URL
	held   config.Secrets // the provider's secrets in this environment
	dry    *dryRun        // nil unless --dry-run
}

// run finds the endpoint at c.target and makes it, or brings it to the
// handled events.
func (c *connection) run(ctx context.Context, api API) error {
	ep, found, err := api.Find(ctx, c.target)
	if err != nil {
		return fmt.Errorf("%w; nothing was changed", err)
	}
	if !found {
		return c.create(ctx, api)
	}
	return c.update(ctx, api, ep)
}

// create makes the endpoint and prints its secret.
func (c *connection) create(ctx context.Context, api API) error {
	spec := Spec{URL: c.target, Events: c.p.Events}
	if c.p.Scheme.UserChosen() {
		spec.Secret = c.p.Scheme.NewSecret()
		if c.dry != nil {
			_, password, _ := strings.Cut(spec.Secret, ":") // basic auth sends it in parts
			c.dry.secrets = []string{spec.Secret, password}
		}
	}
	ep, err := api.Create(ctx, spec)
	switch {
	case c.dry != nil && c.dry.held.Load() > 0:
		fmt.Fprintf(c.out, "dry run: nothing was created; without --dry-run, connect creates the endpoint at %s\n", c.target)
		return nil
	case err != nil:
		return fmt.Errorf("%w; %s", err, c.after(err, "nothing was created"))
	}
	if ep.ID == "" {
		return fmt.Errorf("%s's API answered the create without an endpoint; %s", c.p.Title, c.after(&Error{Write: true, Garbage: true}, ""))
	}
	fmt.Fprintf(c.out, "created %s's webhook endpoint %s\n  url:    %s\n  events: %s\n", c.p.Title, ep.ID, c.target, strings.Join(c.p.Events, ", "))
	secret := cmp.Or(spec.Secret, ep.Secret)
	if secret == "" {
		return fmt.Errorf("%s's API created endpoint %s but returned no signing secret: get it from the endpoint's page in the dashboard, and set %s", c.p.Title, ep.ID, c.p.SecretVar())
	}
	printSecret(c.out, c.p, secret, "the signing secret, shown this once")
	c.note(ep)
	return nil
}

// after says what exists after a write failed with err: nothing when the
// provider refused it, else possibly what it was to make.
func (c *connection) after(err error, nothing string) string {
	var e *Error
	if errors.As(err, &e) && e.MayHaveWritten() {
		return fmt.Sprintf("the request may have been carried out all the same: run `reditus-bridge connect %s` again, which finds the endpoint at %s instead of making another, and says what it holds", c.p.Name, c.target)
	}
	return nothing
}

// update brings the endpoint ep to the handled events, enabled, and says
// where its secret is.
func (c *connection) update(ctx context.Context, api API, ep Endpoint) error {
	missing, extra := diff(ep.Events, c.p.Events)
	if len(missing) == 0 && len(extra) == 0 && ep.Enabled {
		fmt.Fprintf(c.out, "%s's webhook endpoint %s at %s is enabled and subscribed to exactly the events the bridge handles: nothing to change\n", c.p.Title, ep.ID, c.target)
	} else {
		updated, err := api.Update(ctx, ep.ID, Spec{URL: c.target, Events: c.p.Events})
		switch {
		case c.dry != nil && c.dry.held.Load() > 0:
			fmt.Fprintf(c.out, "dry run: nothing was changed; without --dry-run, connect would %s\n", changes(ep, missing, extra))
			return nil
		case err != nil:
			return fmt.Errorf("%w; %s", err, c.after(err, "the endpoint is as it was"))
		}
		fmt.Fprintf(c.out, "updated %s's webhook endpoint %s at %s: %s\n", c.p.Title, ep.ID, c.target, changes(ep, missing, extra))
		updated.Secret = cmp.Or(updated.Secret, ep.Secret)
		ep = updated
	}
	c.existingSecret(ep)
	c.note(ep)
	return nil
}

// changes says what an update does to ep.
func changes(ep Endpoint, missing, extra []string) string {
	var what []string
	if len(missing) > 0 {
		what = append(what, "subscribe it again to "+strings.Join(missing, ", "))
	}
	if len(extra) > 0 {
		what = append(what, "unsubscribe it from "+strings.Join(extra, ", "))
	}
	if !ep.Enabled {
		what = append(what, "enable it")
	}
	return strings.Join(what, "; ")
}

// existingSecret says whether the bridge's environment here holds the secret
// of an endpoint connect did not create: it prints the secret only where the
// provider shows it and this environment does not hold it, and otherwise
// says how to get a new one.
func (c *connection) existingSecret(ep Endpoint) {
	name := c.p.SecretVar()
	switch {
	case c.client.SecretShownAgain && ep.Secret != "" && c.held.Contains(ep.Secret):
		fmt.Fprintf(c.out, "%s here holds its signing secret.\n", name)
	case c.client.SecretShownAgain && ep.Secret != "":
		printSecret(c.out, c.p, ep.Secret, fmt.Sprintf("%s here does not hold its signing secret, which %s shows", name, c.p.Title))
	default:
		fmt.Fprintf(c.out, "%s does not show a signing secret again, so connect cannot print it: %s must hold the one printed when the endpoint was created.\n%s\n", c.p.Title, name, c.client.Rotation)
	}
}

// printSecret prints p's signing secret with the lines that set it: the one
// place connect prints a secret. what introduces it.
func printSecret(w io.Writer, p providers.Provider, secret, what string) {
	name := p.SecretVar()
	fmt.Fprintf(w, "\n%s; set it on the bridge (a restart of the machine applies it):\n  fly secrets set %s=%s\nor, outside Fly.io, in the bridge's environment:\n  %s=%s\n", what, name, secret, name, secret)
}

// note prints what the API said about ep that needs no change.
func (c *connection) note(ep Endpoint) {
	if ep.Note != "" {
		fmt.Fprintf(c.out, "note: %s\n", ep.Note)
	}
}
