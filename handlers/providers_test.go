package handlers

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/getreditus/reditus-bridge/config"
	"github.com/getreditus/reditus-bridge/internal/fakereditus"
	"github.com/getreditus/reditus-bridge/internal/testprovider"
	"github.com/getreditus/reditus-bridge/internal/webhooktest"
	"github.com/getreditus/reditus-bridge/mapping"
	"github.com/getreditus/reditus-bridge/providers"
	"github.com/getreditus/reditus-bridge/reditus"
	"github.com/getreditus/reditus-bridge/simulate"
	"github.com/getreditus/reditus-bridge/verify"
)

// provider returns the registered provider called name.
func provider(t *testing.T, name string) providers.Provider {
	t.Helper()
	p, err := providers.Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// sign makes the headers provider p sends for body, with p's own Scheme; id
// is the delivery id where the scheme signs one.
func sign(t *testing.T, p providers.Provider, secret, id string, body []byte, at time.Time) http.Header {
	t.Helper()
	h, err := p.Scheme.Sign(secret, id, body, at)
	if err != nil {
		t.Fatalf("sign as %s: %v", p.Name, err)
	}
	return h
}

// currentSecret is the secret p's deliveries are signed with in the tests.
func currentSecret(p providers.Provider) string {
	s := webhooktest.Secrets(p)
	return s[len(s)-1].Reveal()
}

// sampleBody is a new event of p's first Sample (simulate's default), which
// converts, for email and the sample cookie.
func sampleBody(t *testing.T, p providers.Provider, email string) []byte {
	t.Helper()
	body, err := simulate.Render(p.Samples[0], email, simulate.SampleCookie, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return body
}

// mapped is the conversion p's mapping makes of body: what must reach
// Reditus.
func mapped(t *testing.T, p providers.Provider, body []byte) reditus.Conversion {
	t.Helper()
	ev, err := p.Map(body, mapping.Options{})
	if err != nil || ev.Skip != "" {
		t.Fatalf("%s's sample does not convert: %v %s", p.Name, err, ev.Skip)
	}
	return ev.Conversion
}

// headersVary reports whether p's scheme signs what change changes: the
// time (so stale deliveries are refused) or the body (so tampering is).
func headersVary(t *testing.T, p providers.Provider, body []byte, change func(body []byte, at time.Time) ([]byte, time.Time)) bool {
	t.Helper()
	secret, at := currentSecret(p), time.Now()
	body2, at2 := change(body, at)
	return fmt.Sprint(sign(t, p, secret, "msg_vary", body, at)) != fmt.Sprint(sign(t, p, secret, "msg_vary", body2, at2))
}

// anotherProvidersSignature signs body the way another provider does, with
// p's secret where that scheme takes it: Stripe's signature, or Svix's on
// Stripe's route.
func anotherProvidersSignature(t *testing.T, p providers.Provider, body []byte) http.Header {
	t.Helper()
	other := verify.Stripe
	if p.Scheme == verify.Stripe {
		other = verify.Svix
	}
	if h, err := other.Sign(currentSecret(p), "msg_other", body, time.Now()); err == nil {
		return h
	}
	h, err := other.Sign(other.NewSecret(), "msg_other", body, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func providerRequest(name string, header http.Header, body []byte) *http.Request {
	req := httptest.NewRequest(http.MethodPost, "/webhooks/"+name, bytes.NewReader(body))
	for k, v := range header {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", "application/json")
	return req
}

// The checks every provider gets, taken from the registry: each registered
// provider, including one added later, is signed with its own Scheme and
// sends its first simulate sample, with no edit here.
func TestEveryProvider(t *testing.T) {
	for _, p := range providers.All() {
		t.Run(p.Name, func(t *testing.T) { checkProvider(t, p) })
	}
}

// A provider registered from a test gets every check of TestEveryProvider,
// through the route handlers.New gives it, with no edit here or in handlers.
func TestANewProviderGetsEveryCheck(t *testing.T) {
	p := testprovider.Register(t)
	checkProvider(t, p)
}

// checkProvider runs the checks every provider gets on p.
func checkProvider(t *testing.T, p providers.Provider) {
	const email = "ada@example.com"
	send := func(t *testing.T, b *bridge, secret, id string, body []byte, at time.Time) webhooktest.Answer {
		t.Helper()
		return b.do(t, providerRequest(p.Name, sign(t, p, secret, id, body, at), body))
	}
	secret := currentSecret(p)
	t.Run("converts", func(t *testing.T) {
		b := newBridge(t, nil)
		body := sampleBody(t, p, email)
		r := send(t, b, secret, "msg_converts", body, time.Now())
		r.Is(t, http.StatusOK, "forwarded")
		want := mapped(t, p, body)
		if got := b.reditus.Conversions(); len(got) != 1 || got[0] != want || want.Email != email || want.AffiliateSlug != "john" {
			t.Errorf("Reditus received %+v, want [%+v] for %s and the sample cookie's slug john", got, want, email)
		}
		if p.DeliveryID != nil && r.EventID != "msg_converts" {
			t.Errorf("event_id %q, want the delivery id", r.EventID)
		}
	})
	t.Run("wrong secret", func(t *testing.T) {
		b := newBridge(t, nil)
		send(t, b, p.Scheme.NewSecret(), "msg_1", sampleBody(t, p, email), time.Now()).Is(t, http.StatusBadRequest, "invalid_signature")
	})
	t.Run("no signature", func(t *testing.T) {
		b := newBridge(t, nil)
		b.do(t, providerRequest(p.Name, nil, sampleBody(t, p, email))).Is(t, http.StatusBadRequest, "invalid_signature")
	})
	t.Run("another provider's signature", func(t *testing.T) {
		b := newBridge(t, nil)
		body := sampleBody(t, p, email)
		b.do(t, providerRequest(p.Name, anotherProvidersSignature(t, p, body), body)).Is(t, http.StatusBadRequest, "invalid_signature")
	})
	if headersVary(t, p, sampleBody(t, p, email), func(body []byte, at time.Time) ([]byte, time.Time) { return body, at.Add(time.Hour) }) {
		t.Run("stale signature", func(t *testing.T) {
			b := newBridge(t, nil)
			send(t, b, secret, "msg_1", sampleBody(t, p, email), time.Now().Add(-10*time.Minute)).Is(t, http.StatusBadRequest, "invalid_signature")
			send(t, b, secret, "msg_1", sampleBody(t, p, email), time.Now().Add(10*time.Minute)).Is(t, http.StatusBadRequest, "invalid_signature")
		})
	}
	if headersVary(t, p, sampleBody(t, p, email), func(body []byte, at time.Time) ([]byte, time.Time) { return append(body, ' '), at }) {
		t.Run("tampered body", func(t *testing.T) {
			b := newBridge(t, nil)
			body := sampleBody(t, p, email)
			header := sign(t, p, secret, "msg_1", body, time.Now())
			forged := bytes.Replace(body, []byte(email), []byte("eve@example.com"), 1)
			b.do(t, providerRequest(p.Name, header, forged)).Is(t, http.StatusBadRequest, "invalid_signature")
		})
	}
	t.Run("secret rotation", func(t *testing.T) {
		rotated := p.Scheme.NewSecret()
		b := newBridge(t, func(c *config.Config) {
			webhooktest.SetWebhook(c, p.Name, func(w *config.Webhook) { w.Secrets = append(slices.Clone(w.Secrets), config.Secret(rotated)) })
		})
		send(t, b, rotated, "msg_rot", sampleBody(t, p, email), time.Now()).Is(t, http.StatusOK, "forwarded")
		send(t, b, secret, "msg_rot_old", sampleBody(t, p, "old@example.com"), time.Now()).Is(t, http.StatusOK, "forwarded")
	})
	t.Run("signed but not JSON", func(t *testing.T) {
		b := newBridge(t, nil)
		send(t, b, secret, "msg_bad", []byte("<xml/>"), time.Now()).Is(t, http.StatusBadRequest, "invalid_payload")
	})
	t.Run("too large", func(t *testing.T) {
		b := newBridge(t, nil)
		big := bytes.Repeat([]byte(" "), MaxBody+1)
		send(t, b, secret, "msg_big", big, time.Now()).Is(t, http.StatusRequestEntityTooLarge, "too_large")
	})
	t.Run("re-sent delivery calls Reditus once", func(t *testing.T) {
		b := newBridge(t, nil)
		body := sampleBody(t, p, email)
		send(t, b, secret, "msg_same", body, time.Now()).Is(t, http.StatusOK, "forwarded")
		calls := b.reditus.Requests()
		send(t, b, secret, "msg_same", body, time.Now()).Is(t, http.StatusOK, "forwarded")
		if n := len(b.reditus.Conversions()); n != 1 || b.reditus.Requests() != calls {
			t.Errorf("Reditus called %d times for the conversion, and %d times for the re-sent delivery; want 1 and 0", n, b.reditus.Requests()-calls)
		}
	})
	t.Run("off without a secret", func(t *testing.T) {
		b := newBridge(t, func(c *config.Config) {
			webhooktest.SetWebhook(c, p.Name, func(w *config.Webhook) { w.Secrets, w.APIKey = nil, "" })
		})
		r := send(t, b, config.DevelopmentSecret.Reveal(), "msg_off", sampleBody(t, p, email), time.Now())
		r.Is(t, http.StatusNotFound, "disabled")
		// The variable that turns it on: its secret's, or its API key's.
		webhooktest.MustContain(t, r.Reason, p.OnVar())
	})
}

// providerFixtures are the provider-specific cases: a real payload that
// converts, and to what; one that skips; a body that is JSON but not the
// provider's event. A provider without a row here still gets TestEveryProvider.
var providerFixtures = []struct {
	name              string
	converts, skips   string // fixtures under providers/testdata
	want              reditus.Conversion
	malformedButValid string
}{
	{
		name:     "clerk",
		converts: "clerk/user.created.json", skips: "clerk/user.created.no_referral.json",
		want:              reditus.Conversion{AffiliateSlug: "john", GrID: "0f8fad5b-d9cb-469f-a165-70867728950e", Email: "ada@example.com", UID: "user_2pQx7Lm9Kz3Vb8Nc1Rt5Yw0Ae"},
		malformedButValid: `{"type":`,
	},
	{
		name:     "stytch",
		converts: "stytch/direct.user.create.json", skips: "stytch/direct.user.create.no_referral.json",
		want:              reditus.Conversion{AffiliateSlug: "john", GrID: "0f8fad5b-d9cb-469f-a165-70867728950e", Email: "ada@example.com", UID: "user-live-8c2e4f6a-1b3d-4e5f-8a7b-9c0d1e2f3a4b"},
		malformedButValid: `{"source":"DIRECT"}`,
	},
	{
		name:     "workos",
		converts: "workos/user.created.json", skips: "workos/user.created.no_referral.json",
		want:              reditus.Conversion{AffiliateSlug: "john", GrID: "0f8fad5b-d9cb-469f-a165-70867728950e", Email: "ada@example.com", UID: "user_01JDQ8YH3G2F1E0D9C8B7A6Z5Y"},
		malformedButValid: `{"id":"event_1","event":"user.created","data":"x"}`,
	},
	{
		name:     "supabase",
		converts: "supabase/insert.json", skips: "supabase/insert.no_referral.json",
		want:              reditus.Conversion{AffiliateSlug: "john", GrID: "0f8fad5b-d9cb-469f-a165-70867728950e", Email: "ada@example.com", UID: "5d0c8f3e-2a1b-4c9d-8e7f-6a5b4c3d2e1f"},
		malformedButValid: `{"type":"INSERT","table":"users","schema":"auth","record":null}`,
	},
	{
		name:     "generic",
		converts: "generic/conversion.json", skips: "generic/no_referral.json",
		want:              reditus.Conversion{AffiliateSlug: "john", GrID: "0f8fad5b-d9cb-469f-a165-70867728950e", Email: "ada@example.com", UID: "usr_1001"},
		malformedButValid: `["email"]`,
	},
}

func TestProviderFixtures(t *testing.T) {
	for _, f := range providerFixtures {
		p := provider(t, f.name)
		send := func(t *testing.T, b *bridge, id string, body []byte) webhooktest.Answer {
			t.Helper()
			return b.do(t, providerRequest(p.Name, sign(t, p, currentSecret(p), id, body, time.Now()), body))
		}
		t.Run(p.Name+"/converts", func(t *testing.T) {
			b := newBridge(t, nil)
			r := send(t, b, "msg_converts", webhooktest.Fixture(t, f.converts))
			r.Is(t, http.StatusOK, "forwarded")
			if got := b.reditus.Conversions(); len(got) != 1 || got[0] != f.want {
				t.Errorf("Reditus received %+v, want [%+v]", got, f.want)
			}
			if p.DeliveryID != nil && r.EventID != "msg_converts" {
				t.Errorf("event_id %q, want the delivery id", r.EventID)
			}
		})
		t.Run(p.Name+"/skips without referral data", func(t *testing.T) {
			b := newBridge(t, nil)
			r := send(t, b, "msg_skips", webhooktest.Fixture(t, f.skips))
			r.Is(t, http.StatusOK, "skipped")
			webhooktest.MustContain(t, r.Reason, "no Reditus referral data")
			if got := b.reditus.Conversions(); len(got) != 0 {
				t.Errorf("Reditus received %+v", got)
			}
		})
		t.Run(p.Name+"/signed but malformed", func(t *testing.T) {
			b := newBridge(t, nil)
			send(t, b, "msg_bad", []byte(f.malformedButValid)).Is(t, http.StatusBadRequest, "invalid_payload")
		})
		for _, row := range []struct {
			reditus         int
			status          int
			outcome, reason string
		}{
			{409, 200, "duplicate", "already has"},
			{400, 200, "rejected", "Affiliate john not found"},
			{401, 500, "retry", "misconfigured"},
			{503, 503, "retry", "retryable"},
		} {
			t.Run(fmt.Sprintf("%s/Reditus %d", p.Name, row.reditus), func(t *testing.T) {
				b := newBridge(t, nil)
				b.reditus.Respond(reditus.CallTrack, fakereditus.Status(row.reditus, `{"errors":[{"detail":"Affiliate john not found"}]}`))
				r := send(t, b, "msg_row", webhooktest.Fixture(t, f.converts))
				r.Is(t, row.status, row.outcome)
				webhooktest.MustContain(t, r.Reason, row.reason)
			})
		}
	}
}

// The payload shapes a provider sends besides its main fixture, through the
// whole pipeline with a real signature: the generic endpoint's Standard
// Webhooks envelope and Stytch's B2B member events. The answer and the log
// line carry the event's own type.
func TestAuthProviderPayloadShapes(t *testing.T) {
	tests := []struct {
		name, provider, fixture string
		outcome, eventType      string
		want                    *reditus.Conversion // nil: nothing reaches Reditus
		reason                  string
	}{
		{
			name: "generic envelope converts", provider: "generic", fixture: "generic/envelope.json",
			outcome: "forwarded", eventType: "user.created",
			want: &reditus.Conversion{AffiliateSlug: "john", GrID: "0f8fad5b-d9cb-469f-a165-70867728950e", Email: "ada@example.com", UID: "usr_1004"},
		},
		{
			name: "generic envelope without referral skips", provider: "generic", fixture: "generic/envelope.no_referral.json",
			outcome: "skipped", eventType: "user.created",
			reason: "looked for gr_id/affiliate_slug/advocate_slug in data and the top level",
		},
		{
			name: "stytch B2B member converts", provider: "stytch", fixture: "stytch/direct.member.create.json",
			outcome: "forwarded", eventType: "direct.member.create",
			want: &reditus.Conversion{AffiliateSlug: "john", GrID: "0f8fad5b-d9cb-469f-a165-70867728950e", Email: "ada@example.com", UID: "member-live-4d5e6f7a-8b9c-4d0e-9f1a-2b3c4d5e6f7a"},
		},
		{
			name: "stytch B2B member from SCIM converts", provider: "stytch", fixture: "stytch/scim.member.create.json",
			outcome: "forwarded", eventType: "scim.member.create",
			want: &reditus.Conversion{AdvocateSlug: "jwe512", GrID: "7c9e6679-7425-40de-944b-e07fc1f90ae7", Email: "ada@example.com", UID: "member-live-4d5e6f7a-8b9c-4d0e-9f1a-2b3c4d5e6f7a"},
		},
		{
			name: "stytch B2B member update skips", provider: "stytch", fixture: "stytch/direct.member.update.json",
			outcome: "skipped", eventType: "direct.member.update",
			reason: "the bridge converts direct.user.create, dashboard.user.create, *.member.create",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newBridge(t, nil)
			p := provider(t, tt.provider)
			body := webhooktest.Fixture(t, tt.fixture)
			r := b.do(t, providerRequest(p.Name, sign(t, p, currentSecret(p), "msg_shape", body, time.Now()), body))
			r.Is(t, http.StatusOK, tt.outcome)
			webhooktest.MustContain(t, r.Reason, tt.reason)
			if r.EventID != "msg_shape" {
				t.Errorf("event_id %q, want the delivery id msg_shape", r.EventID)
			}
			got := b.reditus.Conversions()
			switch {
			case tt.want == nil && len(got) != 0:
				t.Errorf("Reditus received %+v, want nothing", got)
			case tt.want != nil && (len(got) != 1 || got[0] != *tt.want):
				t.Errorf("Reditus received %+v, want [%+v]", got, *tt.want)
			}
			webhooktest.MustContain(t, b.logText(), `"event_type":"`+tt.eventType+`"`)
		})
	}
}

// In dry run every provider accepts the development secret: each registered
// provider's sample, and each provider's real payload.
func TestDryRunAcceptsDevelopmentSecretEverywhere(t *testing.T) {
	b := newBridge(t, func(c *config.Config) { *c = config.Config{ReditusAPIURL: c.ReditusAPIURL} })
	dev := config.DevelopmentSecret.Reveal()
	for _, p := range providers.All() {
		body := sampleBody(t, p, "dev@example.com")
		r := b.do(t, providerRequest(p.Name, sign(t, p, dev, "msg_dev_sample_"+p.Name, body, time.Now()), body))
		r.Is(t, http.StatusOK, "dry_run")
		if want := mapped(t, p, body); r.Conversion == nil || *r.Conversion != want {
			t.Errorf("%s sample: conversion %+v, want %+v", p.Name, r.Conversion, want)
		}
	}
	for _, f := range providerFixtures {
		p := provider(t, f.name)
		body := webhooktest.Fixture(t, f.converts)
		r := b.do(t, providerRequest(p.Name, sign(t, p, dev, "msg_dev_"+p.Name, body, time.Now()), body))
		r.Is(t, http.StatusOK, "dry_run")
		if r.Conversion == nil || *r.Conversion != f.want {
			t.Errorf("%s: conversion %+v, want %+v", p.Name, r.Conversion, f.want)
		}
	}
	if n := len(b.reditus.Conversions()); n != 0 {
		t.Errorf("dry run called Reditus %d times", n)
	}
}
