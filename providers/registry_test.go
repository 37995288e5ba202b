package providers_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/getreditus/reditus-bridge/config"
	"github.com/getreditus/reditus-bridge/connect"
	"github.com/getreditus/reditus-bridge/mapping"
	"github.com/getreditus/reditus-bridge/providers"
	"github.com/getreditus/reditus-bridge/simulate"
	"github.com/getreditus/reditus-bridge/verify"
)

// sampleGrID is the click id in simulate.SampleCookie.
const sampleGrID = "9b2f6c1e-7d4a-4e8b-a3c5-0f1e2d3c4b5a"

// The registry is whole: every provider the bridge serves has what a person
// deploying it needs and what simulate and the tests need, so that a
// provider file alone cannot ship half a provider. The rules (docs/development.md,
// "Adding a provider"):
//
//   - it has its page, docs/providers/<name>.md, whose "# " heading starts
//     with its Title and which names every variable it reads (Variables: its
//     {NAME}_WEBHOOK_SECRET or its own secret variable, its
//     {NAME}_ACCEPT_TEST_EVENTS when it marks test events, its API's key and
//     base when it has an API), in backquotes;
//   - README.md links that page;
//   - those variables are in docs/configuration.md's Variables section, in
//     backquotes ({NAME}_ACCEPT_TEST_EVENTS may stand for the test-events
//     one);
//   - it has testdata: a directory providers/testdata/<name>/ holding at
//     least one .json payload;
//   - every Sample renders with simulate.Render, is signed by its Scheme with
//     a fresh Scheme.NewSecret, is accepted by the Scheme's own Verifier for
//     that secret and refused for another, and maps without error; its
//     DeliveryID, if any, reads the signed delivery id back;
//   - its first Sample (simulate's default) converts, with the referral and
//     email it was given;
//   - `connect` can set it up: through the provider's API (a client in
//     connect/<name>.go, which subscribes its Events), or by printing the
//     steps for its dashboard (connect/dashboard.go).
//
// And every page in docs/providers/ is a registered provider's, so that a
// page cannot outlive its provider.
func TestEveryProviderIsWhole(t *testing.T) {
	configuration := section(readDoc(t, "docs", "configuration.md"), "## Variables")
	if configuration == "" {
		t.Fatal(`docs/configuration.md has no "## Variables" section`)
	}
	readme := readDoc(t, "README.md")
	all := providers.All()
	if len(all) == 0 {
		t.Fatal("got no registered provider")
	}
	for _, p := range all {
		t.Run(p.Name+"/secret variable documented", func(t *testing.T) {
			if !strings.Contains(configuration, "`"+p.SecretVar()+"`") {
				t.Errorf("got no `%s` in docs/configuration.md's Variables section, want it documented", p.SecretVar())
			}
			if p.TestEvents && !strings.Contains(configuration, "`"+p.TestEventsVar()+"`") &&
				!strings.Contains(configuration, "`{NAME}_ACCEPT_TEST_EVENTS`") {
				t.Errorf("got neither `%s` nor `{NAME}_ACCEPT_TEST_EVENTS` in docs/configuration.md's Variables section, want one", p.TestEventsVar())
			}
			for _, v := range p.Variables() {
				if v != p.TestEventsVar() && !strings.Contains(configuration, "`"+v+"`") {
					t.Errorf("got no `%s` in docs/configuration.md's Variables section, want it documented", v)
				}
			}
		})
		t.Run(p.Name+"/page", func(t *testing.T) {
			if p.Title == "" {
				t.Fatal("got an empty Title, want the provider's name as people write it")
			}
			page := providerPage(p.Name)
			raw, err := os.ReadFile(filepath.Join("..", page))
			if err != nil {
				t.Fatalf("got no page for the provider (%v), want %s", err, page)
			}
			if hs := headings(string(raw), "# "); len(hs) == 0 || !strings.HasPrefix(hs[0], p.Title) {
				t.Errorf("got %s headings %q, want the first \"# %s...\"", page, hs, p.Title)
			}
			for _, v := range p.Variables() {
				if !strings.Contains(string(raw), "`"+v+"`") {
					t.Errorf("got no `%s` in %s, want the page to name it", v, page)
				}
			}
			if !strings.Contains(readme, "("+page+")") {
				t.Errorf("got no link to %s in README.md, want its row in the providers table", page)
			}
		})
		t.Run(p.Name+"/testdata", func(t *testing.T) {
			for _, dir := range []string{filepath.Join("testdata", p.Name)} {
				if payloads, _ := filepath.Glob(filepath.Join(dir, "*.json")); len(payloads) > 0 {
					return
				}
			}
			t.Errorf("got no testdata/%s/*.json in providers/ or mapping/, want the provider's payloads", p.Name)
		})
		t.Run(p.Name+"/connect", func(t *testing.T) {
			switch api, steps := connect.Supports(p.Name); {
			case !api && !steps:
				t.Errorf("connect has neither an API client (connect/%s.go) nor dashboard steps (connect/dashboard.go) for %s, want one", p.Name, p.Name)
			case api && len(p.Events) == 0:
				t.Error("connect has an API client, which subscribes the endpoint to Events, but Events is empty")
			}
		})
		for i, sample := range p.Samples {
			t.Run(p.Name+"/sample "+sample.Event, func(t *testing.T) {
				checkSample(t, p, sample, i == 0)
			})
		}
	}
	t.Run("no page without a provider", func(t *testing.T) {
		pages, err := filepath.Glob(filepath.Join("..", "docs", "providers", "*.md"))
		if err != nil || len(pages) == 0 {
			t.Fatalf("got pages %v, %v; want one per provider", pages, err)
		}
		for _, page := range pages {
			name := strings.TrimSuffix(filepath.Base(page), ".md")
			if _, err := providers.Lookup(name); err != nil {
				t.Errorf("got %s, want a page only for a registered provider: %v", providerPage(name), err)
			}
		}
	})
}

// providerPage is where provider name's page is, from the repository's root.
func providerPage(name string) string { return "docs/providers/" + name + ".md" }

// readDoc reads a documentation file, given by its path from the
// repository's root.
func readDoc(t *testing.T, path ...string) string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(append([]string{".."}, path...)...))
	if err != nil {
		t.Fatal(err)
	}
	return string(raw)
}

// checkSample renders, signs, verifies and maps one sample of p; converts
// says it must convert.
func checkSample(t *testing.T, p providers.Provider, sample providers.Sample, converts bool) {
	t.Helper()
	const email, id = "whole@example.com", "msg_whole_registry"
	now := time.Now()
	body, err := simulate.Render(sample, email, simulate.SampleCookie, now)
	if err != nil {
		t.Fatalf("simulate.Render: %v", err)
	}
	secret := p.Scheme.NewSecret()
	header, err := p.Scheme.Sign(secret, id, body, now)
	if err != nil {
		t.Fatalf("Sign with a fresh secret: %v", err)
	}
	check, err := p.Scheme.Verifier([]string{secret})
	if err != nil {
		t.Fatalf("Verifier for a fresh secret: %v", err)
	}
	if err := check(header, body); err != nil {
		t.Errorf("got %v from its own Verifier, want the signed sample accepted", err)
	}
	other, err := p.Scheme.Verifier([]string{p.Scheme.NewSecret()})
	if err != nil {
		t.Fatalf("Verifier for another fresh secret: %v", err)
	}
	if err := other(header, body); !errors.Is(err, verify.ErrSignature) {
		t.Errorf("got %v from a Verifier of another secret, want verify.ErrSignature", err)
	}
	if p.DeliveryID != nil {
		if got := p.DeliveryID(header); got != id {
			t.Errorf("got delivery id %q from the signed headers, want %q", got, id)
		}
	}

	ev, err := p.Map(body, mapping.Options{})
	if err != nil {
		t.Fatalf("Map: %v", err)
	}
	if !converts {
		return
	}
	c := ev.Conversion
	if ev.Skip != "" || c.AffiliateSlug != "john" || c.GrID != sampleGrID || c.Email != email {
		t.Errorf("got conversion %+v (skip %q), want the sample cookie's slug john and click id, and %s", c, ev.Skip, email)
	}
}

// section returns the text of a Markdown file's section that starts with the
// line heading, up to the next heading of the same level or above.
func section(doc, heading string) string {
	_, rest, ok := strings.Cut(doc, "\n"+heading+"\n")
	if !ok {
		return ""
	}
	if end := strings.Index(rest, "\n## "); end >= 0 {
		rest = rest[:end]
	}
	return rest
}

// headings lists a Markdown file's headings that start with marker ("# ",
// "## "), without the marker. Lines in code blocks are not headings.
func headings(doc, marker string) []string {
	var out []string
	inCode := false
	sc := bufio.NewScanner(strings.NewReader(doc))
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "```") {
			inCode = !inCode
		}
		if h, ok := strings.CutPrefix(line, marker); ok && !inCode {
			out = append(out, h)
		}
	}
	return out
}

// A name that no provider has is an error wherever a provider is named,
// never a zero provider that silently does nothing: before the registry,
// config answered "off" for a name it did not know.
func TestUnknownProviderIsAnError(t *testing.T) {
	for _, name := range []string{"braintree", "", "Stripe", "stripe ", "webhooks/stripe"} {
		t.Run(fmt.Sprintf("%q", name), func(t *testing.T) {
			if p, err := providers.Lookup(name); err == nil || p.Name != "" {
				t.Errorf("providers.Lookup: got %+v, %v; want an error and no provider", p, err)
			}
			if _, err := (config.Config{}).Webhook(name); err == nil {
				t.Error("config.Webhook: got no error, want one")
			}
			var posts atomic.Int32
			bridge := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				posts.Add(1)
				w.WriteHeader(http.StatusOK)
			}))
			defer bridge.Close()
			var out bytes.Buffer
			err := simulate.Run(context.Background(), config.Config{}, []string{name, "--url", bridge.URL}, &out)
			if err == nil || posts.Load() != 0 {
				t.Errorf("simulate: got %v and %d posts, want an error and nothing sent", err, posts.Load())
			}
		})
	}
	t.Run("the error lists the providers", func(t *testing.T) {
		_, err := providers.Lookup("braintree")
		for _, name := range providers.Names() {
			if err == nil || !strings.Contains(err.Error(), name) {
				t.Errorf("got %v, want it to name %s", err, name)
			}
		}
	})
}

// Register's returned func removes the provider again, which is how a test
// registers a provider of its own; a provider without its parts is refused.
func TestRegisterAndUnregister(t *testing.T) {
	before := providers.Names()
	unregister := providers.Register(providers.Provider{
		Name:    "registrytest",
		Title:   "Registry test",
		Scheme:  verify.Bearer,
		Map:     func([]byte, mapping.Options) (mapping.Event, error) { return mapping.Event{}, nil },
		Samples: []providers.Sample{{Event: "created", Template: `{}`}},
	})
	if p, err := providers.Lookup("registrytest"); err != nil || p.Title != "Registry test" {
		t.Errorf("got %+v, %v after Register, want the provider", p, err)
	}
	unregister()
	if _, err := providers.Lookup("registrytest"); err == nil {
		t.Error("got the provider after unregister, want it gone")
	}
	if after := providers.Names(); strings.Join(after, ",") != strings.Join(before, ",") {
		t.Errorf("got providers %v after unregister, want %v", after, before)
	}

	for _, tt := range []struct {
		name string
		p    providers.Provider
	}{
		{"upper-case name", providers.Provider{Name: "Bad", Scheme: verify.Bearer, Map: mapNothing, Samples: []providers.Sample{{}}}},
		{"no scheme", providers.Provider{Name: "noscheme", Map: mapNothing, Samples: []providers.Sample{{}}}},
		{"no sample", providers.Provider{Name: "nosample", Scheme: verify.Bearer, Map: mapNothing}},
		{"twice", providers.Provider{Name: "stripe", Scheme: verify.Bearer, Map: mapNothing, Samples: []providers.Sample{{}}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Error("got the provider registered, want a panic: a malformed provider is a programming error")
				}
			}()
			providers.Register(tt.p)()
		})
	}
}

func mapNothing([]byte, mapping.Options) (mapping.Event, error) { return mapping.Event{}, nil }
