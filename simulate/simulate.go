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
	"net/http"
	"slices"
	"strings"
	"text/template"
	"time"

	"github.com/stripe/stripe-go/v76/webhook"

	"github.com/getreditus/reditus-bridge/config"
	"github.com/getreditus/reditus-bridge/mapping"
)

// SampleCookie is the _gr_id cookie simulated events carry unless --gr-id
// says otherwise: a click on an affiliate link of the affiliate "john".
const SampleCookie = "1732492800:9b2f6c1e-7d4a-4e8b-a3c5-0f1e2d3c4b5a::pk_demo:::john:::s_demo:affiliate"

//go:embed samples
var samples embed.FS

var templates = template.Must(template.New("").
	Funcs(template.FuncMap{"json": func(v any) (string, error) {
		b, err := json.Marshal(v)
		return string(b), err
	}}).
	ParseFS(samples, "samples/*/*.json"))

// sender is what simulate knows of one provider: its events, each with the
// sample template it is made from, and how the provider signs.
type sender struct {
	events  []event // the first is the default
	secrets func(config.Config) config.Secrets
	envVar  string
	sign    func(secret string, body []byte, now time.Time) http.Header
}

type event struct{ name, template string }

var senders = map[string]sender{
	"stripe": {
		events: []event{
			{"customer.created", "customer.json"},
			{"customer.updated", "customer.json"},
			{"checkout.session.completed", "checkout.session.json"},
			{"checkout.session.async_payment_succeeded", "checkout.session.json"},
			{"customer.subscription.created", "customer.subscription.json"},
		},
		secrets: func(c config.Config) config.Secrets { return c.WebhookSecrets(c.StripeWebhookSecret) },
		envVar:  "STRIPE_WEBHOOK_SECRET",
		sign: func(secret string, body []byte, now time.Time) http.Header {
			signed := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: body, Secret: secret, Timestamp: now})
			return http.Header{"Stripe-Signature": {signed.Header}}
		},
	},
}

// Providers lists the providers simulate can send for.
func Providers() []string {
	var names []string
	for name := range senders {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

// Run parses `simulate PROVIDER [flags]`, posts one signed event to the bridge
// and prints the bridge's answer to stdout. It fails when the bridge does not
// answer 2xx, so that scripts can rely on its exit status.
func Run(ctx context.Context, cfg config.Config, args []string, stdout io.Writer) error {
	usage := fmt.Sprintf("usage: simulate {%s} [--event TYPE] [--email E] [--gr-id COOKIE] [--url URL]", strings.Join(Providers(), "|"))
	if len(args) == 0 {
		return errors.New(usage)
	}
	name := args[0]
	s, ok := senders[name]
	if !ok {
		return fmt.Errorf("unknown provider %q; %s", name, usage)
	}

	fs := flag.NewFlagSet("simulate "+name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	eventName := fs.String("event", s.events[0].name, "event type to send")
	email := fs.String("email", "jane.doe@example.com", "the new customer's email")
	cookie := fs.String("gr-id", SampleCookie, "the _gr_id cookie value the site stored (empty: no referral)")
	url := fs.String("url", fmt.Sprintf("http://localhost:%d/webhooks/%s", cfg.Port, name), "the bridge's webhook URL")
	if err := fs.Parse(args[1:]); err != nil {
		return fmt.Errorf("%v; %s", err, usage)
	}

	i := slices.IndexFunc(s.events, func(e event) bool { return e.name == *eventName })
	if i < 0 {
		var names []string
		for _, e := range s.events {
			names = append(names, e.name)
		}
		return fmt.Errorf("%s has no sample for %q; try one of %s", name, *eventName, strings.Join(names, ", "))
	}
	secrets := s.secrets(cfg)
	if len(secrets) == 0 {
		return fmt.Errorf("%s webhooks are off: set %s, which simulate signs with", name, s.envVar)
	}

	now := time.Now()
	body, err := render(s.events[i], *email, *cookie, now)
	if err != nil {
		return err
	}
	return post(ctx, *url, s.sign(secrets[0].Reveal(), body, now), body, stdout)
}

// sample is what a template is filled with.
type sample struct {
	EventID, Type, Email, Cookie, ClientReferenceID string
	Created                                         int64
	Updated                                         bool
}

func render(e event, email, cookie string, now time.Time) ([]byte, error) {
	id := make([]byte, 12)
	_, _ = rand.Read(id) // crypto/rand.Read never fails
	s := sample{
		EventID: "evt_sim_" + hex.EncodeToString(id),
		Type:    e.name,
		Email:   email,
		Cookie:  cookie,
		Created: now.Unix(),
		Updated: strings.HasSuffix(e.name, ".updated"),
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
