package handlers

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/getreditus/reditus-bridge/config"
	"github.com/getreditus/reditus-bridge/internal/fakereditus"
	"github.com/getreditus/reditus-bridge/reditus"
	"github.com/getreditus/reditus-bridge/verify"
)

// signer makes the headers a provider sends for body: id is the delivery id
// where the provider has one in its headers.
type signer func(t *testing.T, secret, id string, body []byte, at time.Time) http.Header

// svixSigner signs with the svix library itself, under Svix's header names
// ("svix") or Standard Webhooks' ("webhook").
func svixSigner(prefix string) signer {
	return func(t *testing.T, secret, id string, body []byte, at time.Time) http.Header {
		t.Helper()
		h, err := verify.SignSvix(prefix, secret, id, body, at)
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
}

func signWorkOS(_ *testing.T, secret, _ string, body []byte, at time.Time) http.Header {
	h, _ := verify.WorkOS.Sign(secret, "", body, at)
	return h
}

func bearer(_ *testing.T, secret, _ string, _ []byte, _ time.Time) http.Header {
	return http.Header{"Authorization": {"Bearer " + secret}}
}

// authProviders are the providers beside Stripe, each with a fixture that
// converts and one that does not.
var authProviders = []struct {
	name              string
	sign              signer
	secret, rotated   string // a configured secret, and another one of the same provider
	converts, skips   string // fixtures under mapping/testdata
	want              reditus.Conversion
	hasTimestamp      bool // a signature with a timestamp, so replays are refused
	idFromDelivery    bool // the delivery id comes from the headers, not the body
	malformedButValid string
}{
	{
		name: "clerk", sign: svixSigner("svix"), secret: clerkSecret, rotated: clerkSecretOld,
		converts: "clerk/user.created.json", skips: "clerk/user.created.no_referral.json",
		want:         reditus.Conversion{AffiliateSlug: "john", GrID: "0f8fad5b-d9cb-469f-a165-70867728950e", Email: "ada@example.com", UID: "user_2pQx7Lm9Kz3Vb8Nc1Rt5Yw0Ae"},
		hasTimestamp: true, idFromDelivery: true, malformedButValid: `{"type":`,
	},
	{
		name: "stytch", sign: svixSigner("svix"), secret: stytchSecret,
		converts: "stytch/direct.user.create.json", skips: "stytch/direct.user.create.no_referral.json",
		want:         reditus.Conversion{AffiliateSlug: "john", GrID: "0f8fad5b-d9cb-469f-a165-70867728950e", Email: "ada@example.com", UID: "user-live-8c2e4f6a-1b3d-4e5f-8a7b-9c0d1e2f3a4b"},
		hasTimestamp: true, idFromDelivery: true, malformedButValid: `{"source":"DIRECT"}`,
	},
	{
		name: "workos", sign: signWorkOS, secret: workOSSecret,
		converts: "workos/user.created.json", skips: "workos/user.created.no_referral.json",
		want:         reditus.Conversion{AffiliateSlug: "john", GrID: "0f8fad5b-d9cb-469f-a165-70867728950e", Email: "ada@example.com", UID: "user_01JDQ8YH3G2F1E0D9C8B7A6Z5Y"},
		hasTimestamp: true, malformedButValid: `{"id":"event_1","event":"user.created","data":"x"}`,
	},
	{
		name: "supabase", sign: bearer, secret: supabaseSecret,
		converts: "supabase/insert.json", skips: "supabase/insert.no_referral.json",
		want:              reditus.Conversion{AffiliateSlug: "john", GrID: "0f8fad5b-d9cb-469f-a165-70867728950e", Email: "ada@example.com", UID: "5d0c8f3e-2a1b-4c9d-8e7f-6a5b4c3d2e1f"},
		malformedButValid: `{"type":"INSERT","table":"users","schema":"auth","record":null}`,
	},
	{
		name: "generic", sign: svixSigner("webhook"), secret: genericSecret,
		converts: "generic/conversion.json", skips: "generic/no_referral.json",
		want:         reditus.Conversion{AffiliateSlug: "john", GrID: "0f8fad5b-d9cb-469f-a165-70867728950e", Email: "ada@example.com", UID: "usr_1001"},
		hasTimestamp: true, idFromDelivery: true, malformedButValid: `["email"]`,
	},
}

func providerRequest(name string, header http.Header, body []byte) *http.Request {
	req := httptest.NewRequest(http.MethodPost, "/webhooks/"+name, bytes.NewReader(body))
	for k, v := range header {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", "application/json")
	return req
}

func TestAuthProviders(t *testing.T) {
	for _, p := range authProviders {
		send := func(t *testing.T, b *bridge, secret, id string, body []byte, at time.Time) response {
			t.Helper()
			return b.do(t, providerRequest(p.name, p.sign(t, secret, id, body, at), body))
		}
		t.Run(p.name+"/converts", func(t *testing.T) {
			b := newBridge(t, nil)
			r := send(t, b, p.secret, "msg_converts", fixture(t, p.converts), time.Now())
			r.is(t, http.StatusOK, "forwarded")
			if got := b.reditus.Conversions(); len(got) != 1 || got[0] != p.want {
				t.Errorf("Reditus received %+v, want [%+v]", got, p.want)
			}
			if p.idFromDelivery && r.EventID != "msg_converts" {
				t.Errorf("event_id %q, want the delivery id", r.EventID)
			}
		})
		t.Run(p.name+"/skips without referral data", func(t *testing.T) {
			b := newBridge(t, nil)
			r := send(t, b, p.secret, "msg_skips", fixture(t, p.skips), time.Now())
			r.is(t, http.StatusOK, "skipped")
			mustContain(t, r.Reason, "no Reditus referral data")
			if got := b.reditus.Conversions(); len(got) != 0 {
				t.Errorf("Reditus received %+v", got)
			}
		})
		t.Run(p.name+"/wrong secret", func(t *testing.T) {
			b := newBridge(t, nil)
			send(t, b, "whsec_b3RoZXItc2VjcmV0", "msg_1", fixture(t, p.converts), time.Now()).is(t, http.StatusBadRequest, "invalid_signature")
		})
		t.Run(p.name+"/no signature", func(t *testing.T) {
			b := newBridge(t, nil)
			b.do(t, providerRequest(p.name, nil, fixture(t, p.converts))).is(t, http.StatusBadRequest, "invalid_signature")
		})
		t.Run(p.name+"/another provider's signature", func(t *testing.T) {
			b := newBridge(t, nil)
			body := fixture(t, p.converts)
			req := providerRequest(p.name, stripeRequest(body, p.secret, time.Now()).Header, body)
			b.do(t, req).is(t, http.StatusBadRequest, "invalid_signature")
		})
		if p.hasTimestamp {
			t.Run(p.name+"/stale signature", func(t *testing.T) {
				b := newBridge(t, nil)
				send(t, b, p.secret, "msg_1", fixture(t, p.converts), time.Now().Add(-10*time.Minute)).is(t, http.StatusBadRequest, "invalid_signature")
				send(t, b, p.secret, "msg_1", fixture(t, p.converts), time.Now().Add(10*time.Minute)).is(t, http.StatusBadRequest, "invalid_signature")
			})
			t.Run(p.name+"/tampered body", func(t *testing.T) {
				b := newBridge(t, nil)
				body := fixture(t, p.converts)
				header := p.sign(t, p.secret, "msg_1", body, time.Now())
				forged := bytes.Replace(body, []byte("ada@example.com"), []byte("eve@example.com"), 1)
				b.do(t, providerRequest(p.name, header, forged)).is(t, http.StatusBadRequest, "invalid_signature")
			})
		}
		t.Run(p.name+"/secret rotation", func(t *testing.T) {
			rotated := p.rotated
			if rotated == "" {
				rotated = "whsec_cm90YXRlZC1zZWNyZXQ=" // valid for every provider
			}
			b := newBridge(t, func(c *config.Config) {
				setWebhook(c, p.name, func(w *config.Webhook) { w.Secrets = append(slices.Clone(w.Secrets), config.Secret(rotated)) })
			})
			send(t, b, rotated, "msg_rot", fixture(t, p.converts), time.Now()).is(t, http.StatusOK, "forwarded")
		})
		t.Run(p.name+"/signed but malformed", func(t *testing.T) {
			b := newBridge(t, nil)
			send(t, b, p.secret, "msg_bad", []byte(p.malformedButValid), time.Now()).is(t, http.StatusBadRequest, "invalid_payload")
		})
		t.Run(p.name+"/too large", func(t *testing.T) {
			b := newBridge(t, nil)
			big := bytes.Repeat([]byte(" "), MaxBody+1)
			send(t, b, p.secret, "msg_big", big, time.Now()).is(t, http.StatusRequestEntityTooLarge, "too_large")
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
			t.Run(fmt.Sprintf("%s/Reditus %d", p.name, row.reditus), func(t *testing.T) {
				b := newBridge(t, nil)
				b.reditus.Respond(reditus.CallTrack, fakereditus.Status(row.reditus, `{"errors":[{"detail":"Affiliate john not found"}]}`))
				r := send(t, b, p.secret, "msg_row", fixture(t, p.converts), time.Now())
				r.is(t, row.status, row.outcome)
				mustContain(t, r.Reason, row.reason)
			})
		}
		t.Run(p.name+"/re-sent delivery calls Reditus once", func(t *testing.T) {
			b := newBridge(t, nil)
			body := fixture(t, p.converts)
			for range 2 {
				send(t, b, p.secret, "msg_same", body, time.Now()).is(t, http.StatusOK, "forwarded")
			}
			if n := len(b.reditus.Conversions()); n != 1 {
				t.Errorf("Reditus called %d times, want 1", n)
			}
		})
		t.Run(p.name+"/off without a secret", func(t *testing.T) {
			b := newBridge(t, func(c *config.Config) {
				*c = liveConfig(c.ReditusAPIURL[:strings.LastIndex(c.ReditusAPIURL, "/api")])
				setWebhook(c, p.name, func(w *config.Webhook) { w.Secrets = nil })
			})
			r := send(t, b, config.DevelopmentSecret.Reveal(), "msg_off", fixture(t, p.converts), time.Now())
			r.is(t, http.StatusNotFound, "disabled")
			mustContain(t, r.Reason, strings.ToUpper(p.name)+"_WEBHOOK_SECRET")
		})
	}
}

// The payload shapes a provider sends besides its main fixture, through the
// whole pipeline with a real signature: the generic endpoint's Standard
// Webhooks envelope and Stytch's B2B member events. The answer and the log
// line carry the event's own type.
func TestAuthProviderPayloadShapes(t *testing.T) {
	tests := []struct {
		name, provider, fixture string
		sign                    signer
		secret                  string
		outcome, eventType      string
		want                    *reditus.Conversion // nil: nothing reaches Reditus
		reason                  string
	}{
		{
			name: "generic envelope converts", provider: "generic", fixture: "generic/envelope.json",
			sign: svixSigner("webhook"), secret: genericSecret, outcome: "forwarded", eventType: "user.created",
			want: &reditus.Conversion{AffiliateSlug: "john", GrID: "0f8fad5b-d9cb-469f-a165-70867728950e", Email: "ada@example.com", UID: "usr_1004"},
		},
		{
			name: "generic envelope without referral skips", provider: "generic", fixture: "generic/envelope.no_referral.json",
			sign: svixSigner("webhook"), secret: genericSecret, outcome: "skipped", eventType: "user.created",
			reason: "looked for gr_id/affiliate_slug/advocate_slug in data and the top level",
		},
		{
			name: "stytch B2B member converts", provider: "stytch", fixture: "stytch/direct.member.create.json",
			sign: svixSigner("svix"), secret: stytchSecret, outcome: "forwarded", eventType: "direct.member.create",
			want: &reditus.Conversion{AffiliateSlug: "john", GrID: "0f8fad5b-d9cb-469f-a165-70867728950e", Email: "ada@example.com", UID: "member-live-4d5e6f7a-8b9c-4d0e-9f1a-2b3c4d5e6f7a"},
		},
		{
			name: "stytch B2B member from SCIM converts", provider: "stytch", fixture: "stytch/scim.member.create.json",
			sign: svixSigner("svix"), secret: stytchSecret, outcome: "forwarded", eventType: "scim.member.create",
			want: &reditus.Conversion{AdvocateSlug: "jwe512", GrID: "7c9e6679-7425-40de-944b-e07fc1f90ae7", Email: "ada@example.com", UID: "member-live-4d5e6f7a-8b9c-4d0e-9f1a-2b3c4d5e6f7a"},
		},
		{
			name: "stytch B2B member update skips", provider: "stytch", fixture: "stytch/direct.member.update.json",
			sign: svixSigner("svix"), secret: stytchSecret, outcome: "skipped", eventType: "direct.member.update",
			reason: "the bridge converts direct.user.create, dashboard.user.create, *.member.create",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newBridge(t, nil)
			body := fixture(t, tt.fixture)
			r := b.do(t, providerRequest(tt.provider, tt.sign(t, tt.secret, "msg_shape", body, time.Now()), body))
			r.is(t, http.StatusOK, tt.outcome)
			mustContain(t, r.Reason, tt.reason)
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
			mustContain(t, b.logText(), `"event_type":"`+tt.eventType+`"`)
		})
	}
}

// In dry run every provider accepts the development secret.
func TestDryRunAcceptsDevelopmentSecretEverywhere(t *testing.T) {
	b := newBridge(t, func(c *config.Config) { *c = config.Config{ReditusAPIURL: c.ReditusAPIURL} })
	for _, p := range authProviders {
		r := b.do(t, providerRequest(p.name, p.sign(t, config.DevelopmentSecret.Reveal(), "msg_dev_"+p.name, fixture(t, p.converts), time.Now()), fixture(t, p.converts)))
		r.is(t, http.StatusOK, "dry_run")
		if r.Conversion == nil || *r.Conversion != p.want {
			t.Errorf("%s: conversion %+v, want %+v", p.name, r.Conversion, p.want)
		}
	}
	if n := len(b.reditus.Conversions()); n != 0 {
		t.Errorf("dry run called Reditus %d times", n)
	}
}

func TestUnusableSvixSecretFailsAtStartup(t *testing.T) {
	cfg := liveConfig("http://127.0.0.1:1")
	setWebhook(&cfg, "clerk", func(w *config.Webhook) { w.Secrets = config.Secrets{"whsec_not base64"} })
	_, err := New(cfg, Deps{})
	if err == nil || !strings.Contains(err.Error(), "CLERK_WEBHOOK_SECRET") {
		t.Errorf("New = %v, want an error naming CLERK_WEBHOOK_SECRET", err)
	}
}
