package pipeline

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getreditus/reditus-bridge/config"
	"github.com/getreditus/reditus-bridge/internal/fakereditus"
	"github.com/getreditus/reditus-bridge/internal/webhooktest"
	"github.com/getreditus/reditus-bridge/reditus"
)

// Each Stripe event that converts reaches Reditus with the fields the
// fixture's referral data and customer call for.
func TestStripeEventsReachReditus(t *testing.T) {
	const click = "0f8fad5b-d9cb-469f-a165-70867728950e"
	tests := []struct {
		fixture string
		want    reditus.Conversion
	}{
		{"customer.created.json", reditus.Conversion{AffiliateSlug: "john", GrID: click, Email: "jane.doe@example.com", UID: "cus_R2x8LmNq4TzK1a"}},
		{"customer.updated.metadata.json", reditus.Conversion{AdvocateSlug: "jwe512", GrID: "7c9e6679-7425-40de-944b-e07fc1f90ae7", Email: "jane.doe@example.com", UID: "cus_R2x8LmNq4TzK1a"}},
		{"checkout.session.completed.json", reditus.Conversion{AffiliateSlug: "john", GrID: click, Email: "jane.doe@example.com", UID: "cus_R2x8LmNq4TzK1a"}},
		{"checkout.session.async_payment_succeeded.json", reditus.Conversion{AffiliateSlug: "john", GrID: click, Email: "jane.doe@example.com", UID: "cus_R2x8LmNq4TzK1a"}},
		{"customer.subscription.created.json", reditus.Conversion{AffiliateSlug: "john", UID: "usr_42"}},
		// Another API version than stripe-go v76's own converts all the same.
		{"customer.created.api_2020.json", reditus.Conversion{AffiliateSlug: "john", GrID: click, Email: "jane.doe@example.com", UID: "cus_R2x8LmNq4TzK1a"}},
	}
	for _, tt := range tests {
		t.Run(tt.fixture, func(t *testing.T) {
			b := newBridge(t, nil)
			r := b.do(t, stripeWebhook(stripeFixture(t, tt.fixture), stripeSecret, time.Now()))
			r.Is(t, http.StatusOK, "forwarded")
			if r.ReferralID != "ref_1" || r.EventID == "" {
				t.Errorf("referral_id %q, event_id %q", r.ReferralID, r.EventID)
			}
			got := b.reditus.Conversions()
			if len(got) != 1 || got[0] != tt.want {
				t.Errorf("Reditus received %+v, want [%+v]", got, tt.want)
			}
		})
	}
}

// Events that must not convert never reach Reditus, and say why.
func TestStripeSkips(t *testing.T) {
	for _, fixture := range []string{
		"customer.created.no_referral.json",
		"customer.created.bad_cookie.json",
		"customer.created.test_mode.json",
		"customer.updated.address.json",
		"checkout.session.completed.unpaid.json",
		"checkout.session.completed.app_reference.json",
		"invoice.paid.json",
	} {
		t.Run(fixture, func(t *testing.T) {
			b := newBridge(t, nil)
			r := b.do(t, stripeWebhook(stripeFixture(t, fixture), stripeSecret, time.Now()))
			r.Is(t, http.StatusOK, "skipped")
			if r.Reason == "" {
				t.Error("a skip must say why")
			}
			if got := b.reditus.Conversions(); len(got) != 0 {
				t.Errorf("Reditus received %+v", got)
			}
		})
	}
}

func TestStripeAcceptTestEvents(t *testing.T) {
	b := newBridge(t, func(c *config.Config) {
		webhooktest.SetWebhook(c, "stripe", func(w *config.Webhook) { w.AcceptTestEvents = true })
	})
	b.do(t, stripeWebhook(stripeFixture(t, "customer.created.test_mode.json"), stripeSecret, time.Now())).Is(t, http.StatusOK, "forwarded")
}

// The signature rows of the status table: nothing unverified reaches Reditus.
func TestStripeSignatureRejected(t *testing.T) {
	body := stripeFixture(t, "customer.created.json")
	tests := []struct {
		name   string
		send   func() webhook
		reason string
	}{
		{"no signature", func() webhook {
			w := stripeWebhook(body, stripeSecret, time.Now())
			w.header.Del("Stripe-Signature")
			return w
		}, "no Stripe-Signature header"},
		{"malformed header", func() webhook {
			w := stripeWebhook(body, stripeSecret, time.Now())
			w.header.Set("Stripe-Signature", "garbage")
			return w
		}, "invalid Stripe-Signature header"},
		{"wrong secret", func() webhook { return stripeWebhook(body, "whsec_someone_else", time.Now()) }, "no valid signature"},
		{"development secret while live", func() webhook {
			return stripeWebhook(body, config.DevelopmentSecret.Reveal(), time.Now())
		}, "no valid signature"},
		{"replayed: signed 10 minutes ago", func() webhook {
			return stripeWebhook(body, stripeSecret, time.Now().Add(-10*time.Minute))
		}, "tolerance"},
		{"signed 10 minutes in the future", func() webhook {
			return stripeWebhook(body, stripeSecret, time.Now().Add(10*time.Minute))
		}, "in the future"},
		{"tampered body", func() webhook {
			w := stripeWebhook(body, stripeSecret, time.Now())
			w.body = bytes.Replace(body, []byte(`"jane.doe@example.com"`), []byte(`"mallory@example.com"`), 1)
			return w
		}, "no valid signature"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newBridge(t, nil)
			r := b.do(t, tt.send())
			r.Is(t, http.StatusBadRequest, "invalid_signature")
			webhooktest.MustContain(t, r.Reason, tt.reason)
			if got := b.reditus.Conversions(); len(got) != 0 {
				t.Errorf("Reditus received %+v", got)
			}
		})
	}
}

// During a rotation both secrets verify; one that was removed does not.
func TestStripeSecretRotation(t *testing.T) {
	b := newBridge(t, func(c *config.Config) {
		webhooktest.SetWebhook(c, "stripe", func(w *config.Webhook) { w.Secrets = config.Secrets{stripeSecretOld, stripeSecret} })
	})
	for _, secret := range []string{stripeSecretOld, stripeSecret} {
		b.do(t, stripeWebhook(stripeFixture(t, "customer.created.json"), secret, time.Now())).Is(t, http.StatusOK, "forwarded")
	}
	after := newBridge(t, nil) // the old secret has been removed
	after.do(t, stripeWebhook(stripeFixture(t, "customer.created.json"), stripeSecretOld, time.Now())).Is(t, http.StatusBadRequest, "invalid_signature")
}

func TestSignedButUnparsable(t *testing.T) {
	for name, body := range map[string]string{
		"not JSON":             `{"id": "evt_1", "type":`,
		"JSON but no event":    `{"hello":"world"}`,
		"object of wrong type": `{"id":"evt_1","type":"customer.created","livemode":true,"data":{"object":"cus_1"}}`,
	} {
		t.Run(name, func(t *testing.T) {
			b := newBridge(t, nil)
			b.do(t, stripeWebhook([]byte(body), stripeSecret, time.Now())).Is(t, http.StatusBadRequest, "invalid_payload")
			if got := b.reditus.Conversions(); len(got) != 0 {
				t.Errorf("Reditus received %+v", got)
			}
		})
	}
}

// The Reditus rows of the status table.
func TestReditusAnswers(t *testing.T) {
	tests := []struct {
		name    string
		respond fakereditus.Responder
		status  int
		outcome string
		reason  string
	}{
		{"201", fakereditus.Status(201, `{"data":{"id":"ref_9"}}`), 200, "forwarded", ""},
		{"409", fakereditus.Status(409, `{"errors":[{"detail":"Referral already exists"}]}`), 200, "duplicate", "already has"},
		{"400 unknown slug", fakereditus.Status(400, `{"errors":[{"detail":"Affiliate john not found"}]}`), 200, "rejected", "Affiliate john not found"},
		{"422", fakereditus.Status(422, `{"message":"The email must be a valid email address."}`), 200, "rejected", "valid email"},
		{"401", fakereditus.Status(401, `{"message":"Unauthenticated."}`), 500, "retry", "misconfigured"},
		{"403", fakereditus.Status(403, ``), 500, "retry", "misconfigured"},
		{"429", fakereditus.Status(429, ``), 503, "retry", "retryable"},
		{"500", fakereditus.Status(500, ``), 503, "retry", "retryable"},
		{"503", fakereditus.Status(503, ``), 503, "retry", "retryable"},
		{"timeout", fakereditus.Hang, 503, "retry", "retryable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newBridge(t, nil)
			b.reditus.Respond(reditus.CallTrack, tt.respond)
			r := b.do(t, stripeWebhook(stripeFixture(t, "customer.created.json"), stripeSecret, time.Now()))
			r.Is(t, tt.status, tt.outcome)
			webhooktest.MustContain(t, r.Reason, tt.reason)
			if len(b.reditus.Conversions()) == 0 {
				t.Error("Reditus was never called")
			}
			if strings.Contains(b.logText(), apiKey) || strings.Contains(r.Reason, apiKey) {
				t.Error("the API key leaked into the log or the answer")
			}
		})
	}
}

func TestReditusUnreachable(t *testing.T) {
	b := newBridge(t, func(c *config.Config) {
		closed := httptest.NewServer(http.NotFoundHandler())
		closed.Close() // nothing listens there any more
		c.ReditusAPIURL = closed.URL + "/api"
	})
	r := b.do(t, stripeWebhook(stripeFixture(t, "customer.created.json"), stripeSecret, time.Now()))
	r.Is(t, http.StatusServiceUnavailable, "retry")
	webhooktest.MustContain(t, r.Reason, "no answer")
}

func TestRejectedIsLoggedAsError(t *testing.T) {
	b := newBridge(t, nil)
	b.reditus.Respond(reditus.CallTrack, fakereditus.Status(400, `{"errors":[{"detail":"Affiliate john not found"}]}`))
	b.do(t, stripeWebhook(stripeFixture(t, "customer.created.json"), stripeSecret, time.Now())).Is(t, 200, "rejected")
	line := lastLogLine(t, b)
	if line["level"] != "ERROR" || line["outcome"] != "rejected" {
		t.Errorf("log line %v: want level ERROR, outcome rejected", line)
	}
}

func TestDryRun(t *testing.T) {
	// The local default, no key and no secret at all: the development secret
	// verifies (docs/design.md, "Configuration").
	b := newBridge(t, func(c *config.Config) { *c = config.Config{ReditusAPIURL: c.ReditusAPIURL} })
	r := b.do(t, stripeWebhook(stripeFixture(t, "customer.created.json"), config.DevelopmentSecret.Reveal(), time.Now()))
	r.Is(t, http.StatusOK, "dry_run")
	want := reditus.Conversion{AffiliateSlug: "john", GrID: "0f8fad5b-d9cb-469f-a165-70867728950e", Email: "jane.doe@example.com", UID: "cus_R2x8LmNq4TzK1a"}
	if r.Conversion == nil || *r.Conversion != want {
		t.Errorf("conversion %+v, want %+v", r.Conversion, want)
	}
	if got := b.reditus.Conversions(); len(got) != 0 {
		t.Errorf("dry run sent %+v to Reditus", got)
	}
	webhooktest.MustContain(t, b.logText(), `"outcome":"dry_run"`, `"affiliate_slug":"john"`, `"email":"j***@example.com"`)
}

func TestProviderWithoutSecretIsOff(t *testing.T) {
	b := newBridge(t, func(c *config.Config) {
		webhooktest.SetWebhook(c, "stripe", func(w *config.Webhook) { w.Secrets = nil })
	})
	r := b.do(t, stripeWebhook(stripeFixture(t, "customer.created.json"), config.DevelopmentSecret.Reveal(), time.Now()))
	r.Is(t, http.StatusNotFound, "disabled")
	webhooktest.MustContain(t, r.Reason, "STRIPE_WEBHOOK_SECRET")
}

// A re-sent event is answered from memory, while in flight or after it was
// acknowledged, and Reditus is called once.
func TestRepeatDelivery(t *testing.T) {
	t.Run("after success", func(t *testing.T) {
		b := newBridge(t, nil)
		body := stripeFixture(t, "customer.created.json")
		first := b.do(t, stripeWebhook(body, stripeSecret, time.Now()))
		again := b.do(t, stripeWebhook(body, stripeSecret, time.Now()))
		first.Is(t, 200, "forwarded")
		again.Is(t, 200, "forwarded")
		if again.ReferralID != first.ReferralID {
			t.Errorf("repeat answered %q, first %q", again.ReferralID, first.ReferralID)
		}
		if n := len(b.reditus.Conversions()); n != 1 {
			t.Errorf("Reditus called %d times, want 1", n)
		}
		webhooktest.MustContain(t, b.logText(), `"repeat_delivery":true`)
	})
	t.Run("in flight", func(t *testing.T) {
		b := newBridge(t, nil)
		gate := fakereditus.NewGate(1, fakereditus.Status(201, `{"data":{"id":"ref_1"}}`))
		b.reditus.Respond(reditus.CallTrack, gate.Respond)
		body := stripeFixture(t, "customer.created.json")
		var wg sync.WaitGroup
		answers := make([]webhooktest.Answer, 2)
		wg.Add(1)
		go func() { defer wg.Done(); answers[0] = b.do(t, stripeWebhook(body, stripeSecret, time.Now())) }()
		<-gate.Held() // the first delivery is now inside Reditus
		wg.Add(1)
		go func() { defer wg.Done(); answers[1] = b.do(t, stripeWebhook(body, stripeSecret, time.Now())) }()
		gate.Release()
		wg.Wait()
		for _, a := range answers {
			a.Is(t, 200, "forwarded")
		}
		if n := len(b.reditus.Conversions()); n != 1 {
			t.Errorf("Reditus called %d times, want 1", n)
		}
	})
	t.Run("after a failure it is sent again", func(t *testing.T) {
		b := newBridge(t, nil)
		// Every attempt of the first delivery fails.
		b.reditus.Respond(reditus.CallTrack, fakereditus.FailFirst(4, 503, fakereditus.Status(201, `{"data":{"id":"ref_2"}}`)))
		body := stripeFixture(t, "customer.created.json")
		b.do(t, stripeWebhook(body, stripeSecret, time.Now())).Is(t, 503, "retry")
		r := b.do(t, stripeWebhook(body, stripeSecret, time.Now()))
		r.Is(t, 200, "forwarded")
		if r.ReferralID != "ref_2" {
			t.Errorf("referral_id %q, want the retry's ref_2", r.ReferralID)
		}
	})
}

// One log line per webhook, with what an operator needs, and neither the
// customer's email nor any secret.
func TestLogLine(t *testing.T) {
	b := newBridge(t, nil)
	b.do(t, stripeWebhook(stripeFixture(t, "customer.created.json"), stripeSecret, time.Now())).Is(t, 200, "forwarded")
	b.do(t, stripeWebhook(stripeFixture(t, "customer.created.json"), "whsec_wrong", time.Now())).Is(t, 400, "invalid_signature")

	lines := strings.Split(strings.TrimSpace(b.logText()), "\n")
	if len(lines) != 2 {
		t.Fatalf("%d log lines for 2 webhooks:\n%s", len(lines), b.logText())
	}
	var line map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &line); err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string]any{
		"msg": "webhook", "provider": "stripe", "event_id": "evt_1QcustCreated01",
		"event_type": "customer.created", "outcome": "forwarded", "status": float64(200),
	} {
		if line[key] != want {
			t.Errorf("log %s = %v, want %v", key, line[key], want)
		}
	}
	if _, ok := line["latency_ms"].(float64); !ok {
		t.Errorf("log line has no latency_ms: %v", line)
	}
	for _, secret := range []string{"jane.doe@example.com", stripeSecret, apiKey} {
		if strings.Contains(b.logText(), secret) {
			t.Errorf("log contains %q", secret)
		}
	}
}

// No full email reaches the log line or the answer's reason: not the
// customer's, not a uid that is an address, not one quoted in Reditus's error
// text. The masked form stays, so that a person can still tell whose it was.
func TestLogLineMasksEmails(t *testing.T) {
	const addr = "jane.doe@example.com"
	event := []byte(`{"id":"evt_uid_email","type":"customer.created","livemode":true,"data":{"object":
		{"id":"cus_1","email":"` + addr + `","metadata":{"red":"john","user_id":"` + addr + `"}}}}`)
	tests := []struct {
		name    string
		respond fakereditus.Responder
		outcome string
		reason  string // the masked text the answer must carry
		log     string // and the log line
	}{
		{"uid is an email", fakereditus.Status(201, `{"data":{"id":"ref_1"}}`), "forwarded", "", `"uid":"j***@example.com"`},
		{"Reditus quotes the email", fakereditus.Status(400, `{"errors":[{"detail":"Referral `+addr+` is invalid"}]}`), "rejected",
			"Referral j***@example.com is invalid", `"reason":"Referral j***@example.com is invalid"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newBridge(t, nil)
			b.reditus.Respond(reditus.CallTrack, tt.respond)
			r := b.do(t, stripeWebhook(event, stripeSecret, time.Now()))
			r.Is(t, http.StatusOK, tt.outcome)
			if r.Reason != tt.reason {
				t.Errorf("reason %q, want %q", r.Reason, tt.reason)
			}
			webhooktest.MustContain(t, b.logText(), tt.log)
			if strings.Contains(b.logText(), addr) {
				t.Errorf("the log line carries %q:\n%s", addr, b.logText())
			}
		})
	}
}

// A Reditus other than reditus.Client, or any other step, may put an
// address in its error: ErrorResult masks the reason whatever produced it.
func TestErrorResultMasksEmails(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"Reditus's Message", &reditus.Error{Kind: reditus.Rejected, Status: 400, Message: "jane@example.com is invalid"}, "j***@example.com is invalid"},
		{"any other error", errors.New("look up jane@example.com: timeout"), "look up j***@example.com: timeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ErrorResult(tt.err).Reason; got != tt.want {
				t.Errorf("reason %q, want %q", got, tt.want)
			}
		})
	}
}

func lastLogLine(t *testing.T, b *bridge) map[string]any {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(b.logText()), "\n")
	var line map[string]any
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &line); err != nil {
		t.Fatal(err)
	}
	return line
}

func TestUnusableSvixSecretFailsAtStartup(t *testing.T) {
	cfg := webhooktest.Config("http://127.0.0.1:1")
	webhooktest.SetWebhook(&cfg, "clerk", func(w *config.Webhook) { w.Secrets = config.Secrets{"whsec_not base64"} })
	_, err := New(cfg, Deps{})
	if err == nil || !strings.Contains(err.Error(), "CLERK_WEBHOOK_SECRET") {
		t.Errorf("New = %v, want an error naming CLERK_WEBHOOK_SECRET", err)
	}
}
