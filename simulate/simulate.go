// Package simulate signs a realistic sample event the way a provider would and
// posts it to a running bridge: the offline `stripe trigger`, for every
// provider the bridge serves.
package simulate

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
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

	"github.com/getreditus/reditus-bridge/config"
	"github.com/getreditus/reditus-bridge/mapping"
	"github.com/getreditus/reditus-bridge/providers"
)

// SampleCookie is the _gr_id cookie simulated events carry unless --gr-id
// says otherwise: a click on an affiliate link of the affiliate "john".
const SampleCookie = "1732492800:9b2f6c1e-7d4a-4e8b-a3c5-0f1e2d3c4b5a::pk_demo:::john:::s_demo:affiliate"

// funcs are what sample templates may call: json quotes a value.
var funcs = template.FuncMap{"json": func(v any) (string, error) {
	b, err := json.Marshal(v)
	return string(b), err
}}

// Run parses `simulate PROVIDER [flags]`, posts one signed event to the bridge
// and prints the bridge's answer to stdout. It fails when the bridge does not
// answer 2xx, so that scripts can rely on its exit status. With -h or --help
// it prints Usage to stdout instead.
func Run(ctx context.Context, cfg config.Config, args []string, stdout io.Writer) error {
	const seeHelp = "see `reditus-bridge help simulate`"
	if len(args) == 0 {
		return fmt.Errorf("simulate needs a provider, one of %s; %s", strings.Join(providers.Names(), ", "), seeHelp)
	}
	name := args[0]
	if isHelp(name) {
		Usage(stdout)
		return nil
	}
	p, err := providers.Lookup(name)
	if err != nil {
		return fmt.Errorf("%w; %s", err, seeHelp)
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
		*eventName = p.Samples[0].Event
	}
	if *url == "" {
		*url = fmt.Sprintf("http://localhost:%d/webhooks/%s", cfg.Port, name)
	}

	i := slices.IndexFunc(p.Samples, func(s providers.Sample) bool { return s.Event == *eventName })
	if i < 0 {
		return fmt.Errorf("%s has no sample for %q; try one of %s", name, *eventName, strings.Join(events(p), ", "))
	}
	secrets := cfg.WebhookSecrets(p)
	switch {
	case !cfg.Enabled(p):
		return fmt.Errorf("%s webhooks are off: set %s", name, p.OnVar())
	case len(secrets) == 0:
		return fmt.Errorf("%s is not set, and simulate signs %s's webhooks with it", p.SecretVar(), name)
	}

	now := time.Now()
	body, err := Render(p.Samples[i], *email, *cookie, now)
	if err != nil {
		return err
	}
	header, err := p.Scheme.Sign(secrets[0].Reveal(), "msg_"+randomHex(12), body, now)
	if err != nil {
		return fmt.Errorf("%s: %w", p.SecretVar(), err)
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
	for _, p := range providers.All() {
		fmt.Fprintf(w, "  %-12s %s\n", p.Name, strings.Join(events(p), ", "))
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
	Number                                          int64 // a fresh numeric id (Lemon Squeezy's orders, invoices)
	Created, CreatedMillis                          int64
	CreatedRFC3339                                  string
	Updated                                         bool
}

// events lists the events simulate can send for p.
func events(p providers.Provider) []string {
	var names []string
	for _, s := range p.Samples {
		names = append(names, s.Event)
	}
	return names
}

// Render fills a sample's template in: a new event of its type, for email,
// with cookie as the referral (none when empty), at now.
func Render(e providers.Sample, email, cookie string, now time.Time) ([]byte, error) {
	u := randomHex(16)
	source, _, _ := strings.Cut(e.Event, ".")
	s := sample{
		EventID:        "evt_sim_" + randomHex(12),
		Type:           e.Event,
		Email:          email,
		Cookie:         cookie,
		Source:         strings.ToUpper(source),
		UUID:           u[:8] + "-" + u[8:12] + "-4" + u[13:16] + "-a" + u[17:20] + "-" + u[20:],
		ULID:           strings.ToUpper(randomHex(11)),
		Number:         randomNumber(),
		Created:        now.Unix(),
		CreatedMillis:  now.UnixMilli(),
		CreatedRFC3339: now.UTC().Format(time.RFC3339Nano),
		Updated:        strings.HasSuffix(e.Event, ".updated"),
	}
	if cookie != "" {
		s.ClientReferenceID = mapping.ClientReferenceID(cookie)
	}
	var buf bytes.Buffer
	t, err := template.New(e.Event).Funcs(funcs).Parse(e.Template)
	if err != nil {
		return nil, fmt.Errorf("parse %s sample: %w", e.Event, err)
	}
	if err := t.Execute(&buf, s); err != nil {
		return nil, fmt.Errorf("render %s sample: %w", e.Event, err)
	}
	return buf.Bytes(), nil
}

// randomNumber is a random 9-digit number.
func randomNumber() int64 {
	b := make([]byte, 8)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return 100_000_000 + int64(binary.BigEndian.Uint64(b)%900_000_000)
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
