// Package simulate signs a realistic sample event the way a provider would and
// posts it to a running bridge: the offline `stripe trigger`, for every
// provider the bridge serves.
package simulate

import (
	"bytes"
	"context"
	"crypto/rand"
	"embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"slices"
	"strings"
	"text/template"
	"time"

	"github.com/stripe/stripe-go/v76/webhook"

	"github.com/getreditus/reditus-bridge/config"
	"github.com/getreditus/reditus-bridge/mapping"
	"github.com/getreditus/reditus-bridge/verify"
)

// SampleCookie is the _gr_id cookie simulated events carry unless --gr-id
// says otherwise: a click on an affiliate link of the affiliate "john".
const SampleCookie = "1732492800:9b2f6c1e-7d4a-4e8b-a3c5-0f1e2d3c4b5a::pk_demo:::john:::s_demo:affiliate"

//go:embed samples
var samples embed.FS

// templates holds every sample, named by its path under samples/:
// template.ParseFS would name them by file name, and two providers have a
// user.created.json.
var templates = func() *template.Template {
	root := template.New("").Funcs(template.FuncMap{"json": func(v any) (string, error) {
		b, err := json.Marshal(v)
		return string(b), err
	}})
	paths, _ := fs.Glob(samples, "samples/*/*.json")
	for _, path := range paths {
		text, err := fs.ReadFile(samples, path)
		if err != nil {
			panic(err) // embedded at build time: cannot happen
		}
		template.Must(root.New(strings.TrimPrefix(path, "samples/")).Parse(string(text)))
	}
	return root
}()

// sender is what simulate knows of one provider: its events, each with the
// sample template it is made from, and how the provider signs.
type sender struct {
	events []event // the first is the default
	sign   func(secret string, body []byte, now time.Time) (http.Header, error)
}

type event struct{ name, template string }

var senders = map[string]sender{
	"stripe": {
		events: []event{
			{"customer.created", "stripe/customer.json"},
			{"customer.updated", "stripe/customer.json"},
			{"checkout.session.completed", "stripe/checkout.session.json"},
			{"checkout.session.async_payment_succeeded", "stripe/checkout.session.json"},
			{"customer.subscription.created", "stripe/customer.subscription.json"},
		},
		sign: func(secret string, body []byte, now time.Time) (http.Header, error) {
			signed := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: body, Secret: secret, Timestamp: now})
			return http.Header{"Stripe-Signature": {signed.Header}}, nil
		},
	},
	"clerk":  {events: []event{{"user.created", "clerk/user.created.json"}}, sign: signSvix("svix")},
	"stytch": {events: []event{{"direct.user.create", "stytch/user.create.json"}, {"dashboard.user.create", "stytch/user.create.json"}}, sign: signSvix("svix")},
	"workos": {
		events: []event{{"user.created", "workos/user.created.json"}},
		sign: func(secret string, body []byte, now time.Time) (http.Header, error) {
			return http.Header{"Workos-Signature": {verify.SignWorkOS(secret, body, now)}}, nil
		},
	},
	"supabase": {
		events: []event{{"INSERT", "supabase/insert.json"}},
		sign: func(secret string, _ []byte, _ time.Time) (http.Header, error) {
			return http.Header{"Authorization": {"Bearer " + secret}}, nil
		},
	},
	"generic": {events: []event{{"conversion", "generic/conversion.json"}}, sign: signSvix("webhook")},
}

// signSvix signs with the svix library, under Svix's header names ("svix")
// or Standard Webhooks' ("webhook").
func signSvix(prefix string) func(string, []byte, time.Time) (http.Header, error) {
	return func(secret string, body []byte, now time.Time) (http.Header, error) {
		return verify.SignSvix(prefix, secret, "msg_"+randomHex(12), body, now)
	}
}

// Run parses `simulate PROVIDER [flags]`, posts one signed event to the bridge
// and prints the bridge's answer to stdout. It fails when the bridge does not
// answer 2xx, so that scripts can rely on its exit status. With -h or --help
// it prints Usage to stdout instead.
func Run(ctx context.Context, cfg config.Config, args []string, stdout io.Writer) error {
	const seeHelp = "see `reditus-bridge help simulate`"
	if len(args) == 0 {
		return fmt.Errorf("simulate needs a provider, one of %s; %s", strings.Join(config.Providers, ", "), seeHelp)
	}
	name := args[0]
	if isHelp(name) {
		Usage(stdout)
		return nil
	}
	s, ok := senders[name]
	if !ok {
		return fmt.Errorf("unknown provider %q: simulate one of %s; %s", name, strings.Join(config.Providers, ", "), seeHelp)
	}

	fs, opts := newFlags(name)
	if err := fs.Parse(args[1:]); errors.Is(err, flag.ErrHelp) {
		Usage(stdout)
		return nil
	} else if err != nil {
		return fmt.Errorf("%v; %s", err, seeHelp)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q (flags come after the provider, and take a value each); %s", fs.Arg(0), seeHelp)
	}
	eventName, email, cookie, url := opts.event, opts.email, opts.cookie, opts.url
	if *eventName == "" {
		*eventName = s.events[0].name
	}
	if *url == "" {
		*url = fmt.Sprintf("http://localhost:%d/webhooks/%s", cfg.Port, name)
	}

	i := slices.IndexFunc(s.events, func(e event) bool { return e.name == *eventName })
	if i < 0 {
		var names []string
		for _, e := range s.events {
			names = append(names, e.name)
		}
		return fmt.Errorf("%s has no sample for %q; try one of %s", name, *eventName, strings.Join(names, ", "))
	}
	secrets := cfg.WebhookSecrets(name)
	if len(secrets) == 0 {
		return fmt.Errorf("%s webhooks are off: set %s, which simulate signs with", name, config.SecretVar(name))
	}

	now := time.Now()
	body, err := render(s.events[i], *email, *cookie, now)
	if err != nil {
		return err
	}
	header, err := s.sign(secrets[0].Reveal(), body, now)
	if err != nil {
		return fmt.Errorf("%s: %w", config.SecretVar(name), err)
	}
	return post(ctx, *url, header, body, stdout)
}

// options are simulate's flags.
type options struct{ event, email, cookie, url *string }

// newFlags declares simulate's flags. The defaults that depend on the
// provider or the port are empty here, filled in by Run, so that Usage can
// describe them without a provider or a configuration.
func newFlags(provider string) (*flag.FlagSet, options) {
	fs := flag.NewFlagSet("simulate "+provider, flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors are returned, and Usage goes to stdout
	return fs, options{
		event:  fs.String("event", "", "the event type to send (default: the provider's first, listed above)"),
		email:  fs.String("email", "jane.doe@example.com", "the new customer's or user's email"),
		cookie: fs.String("gr-id", SampleCookie, "the _gr_id cookie value the site stored; empty sends an event with no referral, which is skipped"),
		url:    fs.String("url", "", "the bridge's webhook URL (default: http://localhost:$PORT/webhooks/PROVIDER)"),
	}
}

// Usage writes simulate's usage, with its providers, their events and its
// flags.
func Usage(w io.Writer) {
	fmt.Fprint(w, `usage: reditus-bridge simulate PROVIDER [flags]

Signs a sample event the way PROVIDER signs its webhooks, with the first secret
in its *_WEBHOOK_SECRET (the development secret in the local default), posts it
to a running bridge and prints the bridge's answer. It exits 1 unless the
bridge answers 2xx. Each run sends a new event, with fresh ids.

Providers and their events (the first is the default):
`)
	for _, p := range config.Providers {
		var names []string
		for _, e := range senders[p].events {
			names = append(names, e.name)
		}
		fmt.Fprintf(w, "  %-9s %s\n", p, strings.Join(names, ", "))
	}
	fmt.Fprint(w, "\nFlags (one dash or two):\n")
	fs, _ := newFlags("PROVIDER")
	fs.SetOutput(w)
	fs.PrintDefaults()
	fmt.Fprint(w, `
Example, against `+"`go run .`"+` in another terminal:
  reditus-bridge simulate stripe --event checkout.session.completed --email ana@example.com
`)
}

// isHelp reports whether arg asks for usage.
func isHelp(arg string) bool {
	return arg == "-h" || arg == "-help" || arg == "--help" || arg == "help"
}

// sample is what a template is filled with: the event, the person, and fresh
// ids in each provider's format, so that every simulated event is new.
type sample struct {
	EventID, Type, Email, Cookie, ClientReferenceID string
	Source                                          string // Stytch's DIRECT or DASHBOARD
	UUID, ULID                                      string
	Created, CreatedMillis                          int64
	CreatedRFC3339                                  string
	Updated                                         bool
}

func render(e event, email, cookie string, now time.Time) ([]byte, error) {
	u := randomHex(16)
	source, _, _ := strings.Cut(e.name, ".")
	s := sample{
		EventID:        "evt_sim_" + randomHex(12),
		Type:           e.name,
		Email:          email,
		Cookie:         cookie,
		Source:         strings.ToUpper(source),
		UUID:           u[:8] + "-" + u[8:12] + "-4" + u[13:16] + "-a" + u[17:20] + "-" + u[20:],
		ULID:           strings.ToUpper(randomHex(11)),
		Created:        now.Unix(),
		CreatedMillis:  now.UnixMilli(),
		CreatedRFC3339: now.UTC().Format(time.RFC3339Nano),
		Updated:        strings.HasSuffix(e.name, ".updated"),
	}
	if cookie != "" {
		s.ClientReferenceID = mapping.ClientReferenceID(cookie)
	}
	var buf bytes.Buffer
	if err := templates.ExecuteTemplate(&buf, e.template, s); err != nil {
		return nil, fmt.Errorf("render %s sample: %w", e.name, err)
	}
	return buf.Bytes(), nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return hex.EncodeToString(b)
}

func post(ctx context.Context, url string, header http.Header, body []byte, stdout io.Writer) error {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("bad --url: %w", err)
	}
	req.Header = header
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("post to the bridge (is `go run .` running?): %w", err)
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("read the bridge's answer: %w", err)
	}

	var pretty bytes.Buffer
	if json.Indent(&pretty, answer, "", "  ") != nil {
		pretty.Reset()
		pretty.Write(answer)
	}
	fmt.Fprintf(stdout, "POST %s\nHTTP %d\n%s\n", url, resp.StatusCode, pretty.String())
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("the bridge answered %d", resp.StatusCode)
	}
	return nil
}
