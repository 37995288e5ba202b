package fakereditus_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/getreditus/reditus-bridge/internal/fakereditus"
	"github.com/getreditus/reditus-bridge/reditus"
)

func client(red *fakereditus.Server) *reditus.Client {
	return reditus.New(reditus.Options{BaseURL: red.BaseURL, APIKey: fakereditus.Key,
		AttemptTimeout: time.Second, Budget: 2 * time.Second, Backoff: time.Millisecond})
}

// With Conflicts the fake creates a referral once and answers 409 after, by
// email or by uid; a payment is recorded once per idempotency key, however
// often it is sent: what end-to-end tests assert as "created once, paid
// once".
func TestCreatedOncePaidOnce(t *testing.T) {
	red := fakereditus.New(t, fakereditus.Conflicts())
	c := client(red)
	ctx := context.Background()
	for i, tt := range []struct {
		conv reditus.Conversion
		want reditus.Kind
	}{
		{reditus.Conversion{AffiliateSlug: "john", Email: "jane@example.com", UID: "usr_1"}, 0},
		{reditus.Conversion{AffiliateSlug: "john", Email: "jane@example.com", UID: "usr_1"}, reditus.Duplicate},
		{reditus.Conversion{AffiliateSlug: "anna", Email: "other@example.com", UID: "usr_1"}, reditus.Duplicate},
		{reditus.Conversion{AffiliateSlug: "anna", Email: "jane@example.com"}, reditus.Duplicate},
		{reditus.Conversion{AffiliateSlug: "anna", UID: "usr_2"}, 0},
	} {
		if _, err := c.Track(ctx, tt.conv); reditus.KindOf(err) != tt.want {
			t.Errorf("conversion %d: got %v, want kind %v", i, err, tt.want)
		}
	}
	if got := red.Created(); len(got) != 2 || got[0].UID != "usr_1" || got[1].UID != "usr_2" {
		t.Errorf("got created %+v, want usr_1 and usr_2 once each", got)
	}
	if got := red.Conversions(); len(got) != 5 {
		t.Errorf("got %d conversions received, want 5", len(got))
	}

	pay := reditus.Payment{Amount: 1999, Currency: "usd", IdempotencyKey: "polar:order:o_1", ReferralUID: "usr_1"}
	for range 3 {
		if err := c.Pay(ctx, pay); err != nil {
			t.Fatalf("got %v, want a repeated payment accepted", err)
		}
	}
	if got := red.Paid(); len(got) != 1 || got[0] != pay {
		t.Errorf("got paid %+v, want [%+v]", got, pay)
	}
	if got := red.Payments(); len(got) != 3 {
		t.Errorf("got %d payments received, want 3", len(got))
	}
}

// With NeedsReferral the fake answers 404 as Reditus does for a customer it
// has no referral for, and for a refund of a payment it does not have.
func TestNeedsReferral(t *testing.T) {
	red := fakereditus.New(t, fakereditus.NeedsReferral())
	c := client(red)
	ctx := context.Background()
	pay := reditus.Payment{Amount: 500, Currency: "eur", IdempotencyKey: "lemonsqueezy:order:1", ReferralEmail: "jane@example.com"}
	steps := []struct {
		name string
		do   func() error
		want reditus.Kind
	}{
		{"payment before the conversion", func() error { return c.Pay(ctx, pay) }, reditus.NotReferred},
		{"refund of an unknown payment", func() error { return c.Refund(ctx, reditus.Refund{PaymentID: pay.IdempotencyKey}) }, reditus.NotReferred},
		{"churn before the conversion", func() error { return c.Churn(ctx, reditus.Churn{ReferralUID: "usr_1"}) }, reditus.NotReferred},
		{"conversion", func() error {
			_, err := c.Track(ctx, reditus.Conversion{AffiliateSlug: "john", Email: "jane@example.com", UID: "usr_1"})
			return err
		}, 0},
		{"payment after it", func() error { return c.Pay(ctx, pay) }, 0},
		{"payment by the referral's Reditus id", func() error {
			return c.Pay(ctx, reditus.Payment{Amount: 1, Currency: "eur", IdempotencyKey: "k2", ReferralID: "ref_1"})
		}, 0},
		{"refund of it", func() error { return c.Refund(ctx, reditus.Refund{PaymentID: pay.IdempotencyKey}) }, 0},
		{"churn by uid", func() error { return c.Churn(ctx, reditus.Churn{ReferralUID: "usr_1"}) }, 0},
	}
	for _, s := range steps {
		if err := s.do(); reditus.KindOf(err) != s.want {
			t.Errorf("%s: got %v, want kind %v", s.name, err, s.want)
		}
	}
	if n := len(red.Paid()); n != 2 {
		t.Errorf("got %d payments paid, want 2", n)
	}
	if got := red.Refunded(); len(got) != 1 {
		t.Errorf("got refunded %+v, want one", got)
	}
	if got := red.Churned(); len(got) != 1 {
		t.Errorf("got churned %+v, want one", got)
	}
}

// The fake refuses, as Reditus does, what the bridge must never send.
func TestReditusValidates(t *testing.T) {
	tests := []struct {
		name, path, body string
		status           int
	}{
		{"valid payment", "/v1/payments", `{"amount":100,"currency":"usd","idempotency_key":"k","referral_uid":"u"}`, 202},
		{"amount with a fraction", "/v1/payments", `{"amount":19.99,"currency":"usd","idempotency_key":"k","referral_uid":"u"}`, 400},
		{"amount as a string", "/v1/payments", `{"amount":"100","currency":"usd","idempotency_key":"k","referral_uid":"u"}`, 400},
		{"no amount", "/v1/payments", `{"currency":"usd","idempotency_key":"k","referral_uid":"u"}`, 400},
		{"uppercase currency", "/v1/payments", `{"amount":100,"currency":"USD","idempotency_key":"k","referral_uid":"u"}`, 400},
		{"no idempotency key", "/v1/payments", `{"amount":100,"currency":"usd","referral_uid":"u"}`, 400},
		{"weekly interval", "/v1/payments", `{"amount":100,"currency":"usd","idempotency_key":"k","referral_uid":"u","interval":"week"}`, 400},
		{"unknown field", "/v1/payments", `{"amount":100,"currency":"usd","idempotency_key":"k","referral_uid":"u","tax":5}`, 400},
		{"conversion without slug", "/v2/tracking/conversion", `{"email":"a@b.c"}`, 400},
		{"conversion without email or uid", "/v2/tracking/conversion", `{"affiliate_slug":"john"}`, 400},
		{"refund without payment_id", "/v1/refunds", `{}`, 400},
		{"churn without referral", "/v1/referrals/churn", `{}`, 400},
		{"not JSON", "/v1/referrals/churn", `referral_uid=u`, 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			red := fakereditus.New(t)
			req, _ := http.NewRequest(http.MethodPost, red.BaseURL+tt.path, strings.NewReader(tt.body))
			req.Header.Set("Authorization", "Bearer "+fakereditus.Key)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.status {
				t.Errorf("got %d, want %d", resp.StatusCode, tt.status)
			}
		})
	}
}

// A wrong key or a wrong URL is answered as Reditus and a web server would,
// and is no call: nothing is recorded.
func TestWrongKeyAndWrongURL(t *testing.T) {
	red := fakereditus.New(t)
	ctx := context.Background()
	conv := reditus.Conversion{AffiliateSlug: "john", Email: "jane@example.com"}
	wrongKey := reditus.New(reditus.Options{BaseURL: red.BaseURL, APIKey: "rk_wrong"})
	if _, err := wrongKey.Track(ctx, conv); reditus.KindOf(err) != reditus.Misconfigured || !strings.Contains(err.Error(), "HTTP 401") {
		t.Errorf("wrong key: got %v, want a 401 misconfiguration", err)
	}
	wrongURL := reditus.New(reditus.Options{BaseURL: red.URL, APIKey: fakereditus.Key})
	if err := wrongURL.Pay(ctx, reditus.Payment{Amount: 1, Currency: "usd", IdempotencyKey: "k", ReferralUID: "u"}); reditus.KindOf(err) != reditus.Misconfigured {
		t.Errorf("wrong URL: got %v, want a misconfiguration, not %v", err, reditus.NotReferred)
	}
	if red.Requests() != 2 || red.Calls(reditus.CallTrack) != 0 || red.Calls(reditus.CallPay) != 0 || len(red.Conversions()) != 0 {
		t.Errorf("got %d requests, %d calls, %d conversions; want 2, 0, 0",
			red.Requests(), red.Calls(reditus.CallTrack)+red.Calls(reditus.CallPay), len(red.Conversions()))
	}
}

// Responders count calls per endpoint, and UnknownSlugs answers 400.
func TestRespondersPerEndpoint(t *testing.T) {
	red := fakereditus.New(t, fakereditus.UnknownSlugs("nobody"))
	red.Respond(reditus.CallTrack, fakereditus.FailFirst(1, http.StatusServiceUnavailable, red.Reditus))
	c := client(red)
	ctx := context.Background()
	if _, err := c.Track(ctx, reditus.Conversion{AffiliateSlug: "john", UID: "u1"}); err != nil {
		t.Errorf("got %v, want the retry to succeed", err)
	}
	if err := c.Pay(ctx, reditus.Payment{Amount: 1, Currency: "usd", IdempotencyKey: "k", ReferralUID: "u1"}); err != nil {
		t.Errorf("got %v, want the first payment accepted: FailFirst counts track's calls only", err)
	}
	if _, err := c.Track(ctx, reditus.Conversion{AffiliateSlug: "nobody", UID: "u2"}); reditus.KindOf(err) != reditus.Rejected {
		t.Errorf("got %v, want an unknown slug rejected", err)
	}
	if got := red.Calls(reditus.CallTrack); got != 3 {
		t.Errorf("got %d track calls, want 3", got)
	}
	red.Respond(reditus.CallTrack, nil)
	if _, err := c.Track(ctx, reditus.Conversion{AffiliateSlug: "john", UID: "u3"}); err != nil {
		t.Errorf("got %v after Respond(nil), want Reditus's answer", err)
	}
}

// A request still hanging when its test ends is dropped, not answered, and
// the end of the test does not wait for it.
func TestHangEndsWithTheTest(t *testing.T) {
	result := make(chan error, 1)
	t.Run("hanging", func(t *testing.T) {
		red := fakereditus.New(t)
		red.Respond(reditus.CallPay, fakereditus.Hang)
		// No timeout: only the end of the subtest can release it.
		c := reditus.New(reditus.Options{BaseURL: red.BaseURL, APIKey: fakereditus.Key,
			AttemptTimeout: time.Hour, Budget: time.Hour, MaxAttempts: 1})
		go func() {
			result <- c.Pay(context.Background(), reditus.Payment{Amount: 1, Currency: "usd", IdempotencyKey: "k", ReferralUID: "u"})
		}()
		for red.Calls(reditus.CallPay) == 0 {
			time.Sleep(time.Millisecond)
		}
	})
	if err := <-result; reditus.KindOf(err) != reditus.Retryable {
		t.Errorf("got %v, want the dropped connection as a retryable error", err)
	}
}

// A Gate holds its first n calls until Release, lets later ones through at
// once, and then answers the held ones with its Responder.
func TestGateHoldsUntilReleased(t *testing.T) {
	red := fakereditus.New(t)
	gate := fakereditus.NewGate(2, red.Reditus)
	red.Respond(reditus.CallTrack, gate.Respond)
	c := client(red)
	ctx := context.Background()
	conv := func(uid string) reditus.Conversion { return reditus.Conversion{AffiliateSlug: "john", UID: uid} }

	answers := make(chan error, 2)
	for _, uid := range []string{"held_1", "held_2"} {
		go func() {
			_, err := c.Track(ctx, conv(uid))
			answers <- err
		}()
	}
	<-gate.Held()
	if _, err := c.Track(ctx, conv("after")); err != nil {
		t.Errorf("got %v for a call past the gate's two, want it answered at once", err)
	}
	select {
	case err := <-answers:
		t.Fatalf("got a held call answered (%v) before Release", err)
	default:
	}
	gate.Release()
	gate.Release() // a second Release, as a deferred one would be, is harmless
	for range 2 {
		if err := <-answers; err != nil {
			t.Errorf("got %v for a released call, want Reditus's 201", err)
		}
	}
	if got := len(red.Created()); got != 3 {
		t.Errorf("got %d referrals created, want 3", got)
	}
}

// A call still held when its test ends is dropped, and the end of the test
// does not wait for a Release that never comes.
func TestGateEndsWithTheTest(t *testing.T) {
	result := make(chan error, 1)
	t.Run("held", func(t *testing.T) {
		red := fakereditus.New(t)
		gate := fakereditus.NewGate(1, red.Reditus)
		red.Respond(reditus.CallTrack, gate.Respond)
		c := reditus.New(reditus.Options{BaseURL: red.BaseURL, APIKey: fakereditus.Key,
			AttemptTimeout: time.Hour, Budget: time.Hour, MaxAttempts: 1})
		go func() {
			_, err := c.Track(context.Background(), reditus.Conversion{AffiliateSlug: "john", UID: "u"})
			result <- err
		}()
		<-gate.Held()
	})
	if err := <-result; reditus.KindOf(err) != reditus.Retryable {
		t.Errorf("got %v, want the dropped connection as a retryable error", err)
	}
}
