package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/getreditus/reditus-bridge/config"
	"github.com/getreditus/reditus-bridge/handlers"
	"github.com/getreditus/reditus-bridge/internal/fakereditus"
	"github.com/getreditus/reditus-bridge/internal/testprovider"
	"github.com/getreditus/reditus-bridge/metrics"
	"github.com/getreditus/reditus-bridge/pipeline"
	"github.com/getreditus/reditus-bridge/providers"
	"github.com/getreditus/reditus-bridge/reditus"
	"github.com/getreditus/reditus-bridge/simulate"
)

// The tests of run itself, called in this process as main calls it. The
// tests that start the built binary are in e2e/.

// runIn calls run with args, as main does, with exactly env set among the
// variables the configuration reads (cleanEnv), and returns what it printed
// on each stream and its error: main prints that error and exits 1. A run
// that serves instead of answering is stopped after 5 seconds, and the test
// fails.
func runIn(t *testing.T, env []string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	cleanEnv(t)
	for _, kv := range append([]string{"PORT=0", "HOST=127.0.0.1", "DATA_DIR=" + t.TempDir()}, env...) {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var out, errOut bytes.Buffer
	err = run(ctx, args, &out, &errOut)
	if ctx.Err() != nil {
		t.Fatalf("%v did not return: it served instead\nstdout: %s", args, out.String())
	}
	return out.String(), errOut.String(), err
}

// configVars are the variables config reads besides the providers' own.
var configVars = []string{
	"PORT", "HOST", "LOG_LEVEL", "LOG_FORMAT", "METRICS_PORT", "DRY_RUN",
	"REDITUS_API_KEY", "REDITUS_API_URL", "STRIPE_API_KEY", "STRIPE_API_URL",
	"DATA_DIR", "DATABASE_URL", "JOURNAL_RETENTION", "RETRY_FOR", "ADMIN_TOKEN",
}

// cleanEnv unsets every variable the configuration reads, for this test, so
// that the machine's own cannot change what config.Load makes of the test's.
func cleanEnv(t *testing.T) {
	t.Helper()
	vars := configVars
	for _, p := range providers.All() {
		vars = append(vars, p.TestEventsVar())
		vars = append(vars, p.Variables()...)
	}
	for _, v := range vars {
		t.Setenv(v, "") // restores the old value when the test ends
		os.Unsetenv(v)
	}
}

// check validates the configuration as the bridge does at start and reports
// what it makes of it, without ever printing a secret; a configuration the
// bridge would refuse fails it.
func TestCheckReportsTheConfigurationWithoutSecrets(t *testing.T) {
	tests := []struct {
		name string
		env  []string
		ok   bool
		want []string
	}{
		{"dry run", nil, true, []string{"the configuration is valid", "mode:      dry run", "stripe:    on, development secret", "warnings:", "dry run:", "queue:     no event waits"}},
		{"live", []string{"REDITUS_API_KEY=rk_live_must_not_print", "STRIPE_WEBHOOK_SECRET=sk_live_must_not_print", "STRIPE_ACCEPT_TEST_EVENTS=true"}, true, []string{
			"mode:      live", "stripe:    on, 1 secret(s) in STRIPE_WEBHOOK_SECRET", "clerk:     off (set CLERK_WEBHOOK_SECRET)",
			"does not start with whsec_", "STRIPE_ACCEPT_TEST_EVENTS=true while live",
		}},
		{"port not a number", []string{"PORT=eighty"}, false, []string{"PORT"}},
		{"svix secret not base64", []string{"REDITUS_API_KEY=rk_live_must_not_print", "CLERK_WEBHOOK_SECRET=whsec_must_not_print!"}, false, []string{"CLERK_WEBHOOK_SECRET", "not a Svix secret"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stdout, stderr, err := runIn(t, tt.env, "check")
			if tt.ok != (err == nil) {
				t.Fatalf("check returned %v, want ok=%v:\n%s%s", err, tt.ok, stdout, stderr)
			}
			out := stdout + stderr + errText(err)
			for _, want := range tt.want {
				if !strings.Contains(out, want) {
					t.Errorf("check printed no %q:\n%s", want, out)
				}
			}
			if strings.Contains(out, "must_not_print") {
				t.Errorf("check printed a secret:\n%s", out)
			}
		})
	}
}

// errText is err's message, or "" for nil.
func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// The bridge refuses to start on a configuration that would lose or forge
// conversions, or that it cannot read, naming the variable and what to do,
// and never printing a secret or a password.
func TestRefusesToStartOnABadConfiguration(t *testing.T) {
	const key = "REDITUS_API_KEY=rk_live_must_not_print"
	tests := []struct {
		name string
		env  []string
		want []string
	}{
		{"a secret without REDITUS_API_KEY", []string{"STRIPE_WEBHOOK_SECRET=whsec_must_not_print_0123456789"},
			[]string{"REDITUS_API_KEY is not set, but STRIPE_WEBHOOK_SECRET is", "DRY_RUN=true"}},
		{"whsec_ alone: anybody could sign", []string{key, "GENERIC_WEBHOOK_SECRET=whsec_"}, []string{"GENERIC_WEBHOOK_SECRET: secret 1 of 1 holds no key"}},
		{"whsec_ alone, even in dry run", []string{"DRY_RUN=true", "GENERIC_WEBHOOK_SECRET=whsec_"}, []string{"GENERIC_WEBHOOK_SECRET: secret 1 of 1 holds no key"}},
		{"the development secret without whsec_", []string{key, "CLERK_WEBHOOK_SECRET=cmVkaXR1cy1icmlkZ2UtZGV2ZWxvcG1lbnQtc2VjcmV0"},
			[]string{"CLERK_WEBHOOK_SECRET: secret 1 of 1 is the public development secret"}},
		{"an empty item", []string{key, "STRIPE_WEBHOOK_SECRET=whsec_must_not_print_0123456789,"}, []string{"STRIPE_WEBHOOK_SECRET: secret 2 of 2 is empty"}},
		{"a short chosen token", []string{key, "SUPABASE_WEBHOOK_SECRET=must_not_print"}, []string{"SUPABASE_WEBHOOK_SECRET: secret 1 of 1 is shorter than 16 characters"}},
		{"PORT=abc", []string{key, "PORT=abc"}, []string{`PORT: "abc" is not a port number (0-65535)`}},
		{"LOG_LEVEL=verbose", []string{key, "LOG_LEVEL=verbose"}, []string{`LOG_LEVEL: "verbose" is not a log level: use debug, info, warn or error`}},
		{"a password in REDITUS_API_URL", []string{key, "REDITUS_API_URL=https://jdoe:must_not_print@api.getreditus.com/api"}, []string{"REDITUS_API_URL: the URL holds credentials"}},
		{"a password in STRIPE_API_URL", []string{key, "STRIPE_API_URL=https://jdoe:must_not_print@api.stripe.com"}, []string{"STRIPE_API_URL: the URL holds credentials"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stdout, stderr, err := runIn(t, tt.env)
			if err == nil {
				t.Fatalf("started, want an error")
			}
			for _, want := range tt.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error lacks %q: %v", want, err)
				}
			}
			if strings.Contains(stdout+stderr+err.Error(), "must_not_print") || strings.Contains(err.Error(), "strconv") {
				t.Errorf("printed a secret or a raw parse error: %s%s%v", stdout, stderr, err)
			}
		})
	}
}

// A provider registered from a test, with no other edit, gets everything a
// provider gets (docs/development.md, "Adding a provider"): its variable, its `check`
// line, its route through handlers.New, its metrics label, and its simulate
// sample.
func TestANewProviderNeedsNoOtherEdit(t *testing.T) {
	p := testprovider.Register(t)
	cleanEnv(t)
	const key = "rk_live_testonly_key"
	red := fakereditus.New(t, fakereditus.WithKey(key))
	t.Setenv("REDITUS_API_KEY", key)
	t.Setenv("REDITUS_API_URL", red.BaseURL)
	t.Setenv("DATA_DIR", t.TempDir()) // check opens the journal: not in the repo
	secret := p.Scheme.NewSecret()

	t.Run("variable", func(t *testing.T) {
		t.Setenv("TESTONLY_WEBHOOK_SECRET", secret)
		cfg, err := config.Load()
		if err != nil {
			t.Fatalf("config.Load: %v", err)
		}
		w, err := cfg.Webhook("testonly")
		if err != nil || len(w.Secrets) != 1 || w.Secrets[0].Reveal() != secret {
			t.Errorf("got %d secrets, %v; want TESTONLY_WEBHOOK_SECRET's one", len(w.Secrets), err)
		}
		if on := cfg.On(); strings.Join(on, ",") != "testonly" {
			t.Errorf("got providers on %v, want [testonly]", on)
		}
	})

	t.Run("check line", func(t *testing.T) {
		for _, tt := range []struct {
			name, secret, want string
		}{
			{"on", secret, `(?m)^testonly:\s+on, 1 secret\(s\) in TESTONLY_WEBHOOK_SECRET$`},
			{"off", "", `(?m)^testonly:\s+off \(set TESTONLY_WEBHOOK_SECRET\)$`},
		} {
			t.Run(tt.name, func(t *testing.T) {
				env := []string{"REDITUS_API_KEY=" + key, "REDITUS_API_URL=" + red.BaseURL}
				if tt.secret != "" {
					env = append(env, "TESTONLY_WEBHOOK_SECRET="+tt.secret)
				}
				out, _, err := runIn(t, env, "check")
				if err != nil {
					t.Fatalf("check: %v\n%s", err, out)
				}
				if !regexp.MustCompile(tt.want).MatchString(out) {
					t.Errorf("got check output\n%s\nwant a line matching %s", out, tt.want)
				}
				if strings.Contains(out, secret) {
					t.Errorf("check printed the secret:\n%s", out)
				}
			})
		}
	})

	t.Run("route and metrics", func(t *testing.T) {
		t.Setenv("TESTONLY_WEBHOOK_SECRET", secret)
		srv, m := serveTestOnly(t)
		body, err := simulate.Render(p.Samples[0], "route@example.com", simulate.SampleCookie, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		header, err := p.Scheme.Sign(secret, "", body, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if status, answer := post(t, srv.URL+"/webhooks/testonly", header, body); status != http.StatusOK || answer.Outcome != "forwarded" {
			t.Errorf("got %d %q (%s), want 200 forwarded", status, answer.Outcome, answer.Reason)
		}
		if status, answer := post(t, srv.URL+"/webhooks/testonly", http.Header{}, body); status != http.StatusBadRequest || answer.Outcome != "invalid_signature" {
			t.Errorf("unsigned: got %d %q, want 400 invalid_signature", status, answer.Outcome)
		}
		got := red.Conversions()
		if len(got) != 1 || got[0].Email != "route@example.com" || got[0].AffiliateSlug != "john" || got[0].UID == "" {
			t.Errorf("got Reditus conversions %+v, want the sample's one", got)
		}
		if scraped := scrape(t, m); !strings.Contains(scraped, `reditus_bridge_webhooks_total{outcome="forwarded",provider="testonly"} 1`) {
			t.Errorf("got metrics\n%s\nwant the forwarded webhook counted under provider=\"testonly\"", scraped)
		}
	})

	t.Run("route off without a secret", func(t *testing.T) {
		srv, _ := serveTestOnly(t)
		body, _ := simulate.Render(p.Samples[0], "off@example.com", simulate.SampleCookie, time.Now())
		header, _ := p.Scheme.Sign(secret, "", body, time.Now())
		status, answer := post(t, srv.URL+"/webhooks/testonly", header, body)
		if status != http.StatusNotFound || answer.Outcome != "disabled" || !strings.Contains(answer.Reason, "TESTONLY_WEBHOOK_SECRET") {
			t.Errorf("got %d %q (%s), want 404 disabled naming TESTONLY_WEBHOOK_SECRET", status, answer.Outcome, answer.Reason)
		}
	})

	t.Run("simulate", func(t *testing.T) {
		t.Setenv("TESTONLY_WEBHOOK_SECRET", secret)
		srv, _ := serveTestOnly(t)
		cfg, err := config.Load()
		if err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		err = simulate.Run(context.Background(), cfg, []string{"testonly", "--email", "sim@example.com", "--url", srv.URL + p.Route()}, &out)
		if err != nil || !strings.Contains(out.String(), `"outcome": "forwarded"`) {
			t.Errorf("got %v and\n%s\nwant the sample forwarded", err, out.String())
		}
		var usage bytes.Buffer
		simulate.Usage(&usage)
		if !strings.Contains(usage.String(), "testonly") || !strings.Contains(usage.String(), testprovider.Event) {
			t.Errorf("got simulate's usage\n%s\nwant testonly and its event listed", usage.String())
		}
		if got := red.Conversions(); len(got) == 0 || got[len(got)-1].Email != "sim@example.com" {
			t.Errorf("got Reditus conversions %+v, want the simulated one last", got)
		}
	})
}

// serveTestOnly serves the bridge as the environment configures it, with
// handlers.New and nothing told about the test-only provider.
func serveTestOnly(t *testing.T) (*httptest.Server, *metrics.Metrics) {
	t.Helper()
	cfg, err := config.Load()
	if err != nil {
		t.Fatalf("config.Load: %v", err)
	}
	m := metrics.New()
	client := reditus.New(reditus.Options{BaseURL: cfg.ReditusAPIURL, APIKey: cfg.ReditusAPIKey.Reveal()})
	p, err := pipeline.New(cfg, pipeline.Deps{Reditus: client, Metrics: m})
	if err != nil {
		t.Fatalf("pipeline.New: %v", err)
	}
	srv := httptest.NewServer(handlers.New(cfg, handlers.Deps{Pipeline: p, Metrics: m}))
	t.Cleanup(srv.Close)
	return srv, m
}

type answer struct{ Outcome, Reason string }

func post(t *testing.T, url string, header http.Header, body []byte) (int, answer) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header = header
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var a answer
	if err := json.NewDecoder(resp.Body).Decode(&a); err != nil {
		t.Fatalf("got an answer that is not JSON: %v", err)
	}
	return resp.StatusCode, a
}

func scrape(t *testing.T, m *metrics.Metrics) string {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	b, _ := io.ReadAll(rec.Body)
	return string(b)
}
