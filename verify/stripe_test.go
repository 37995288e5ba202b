package verify

import (
	"errors"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/stripe/stripe-go/v76/webhook"
)

func stripeHeader(body []byte, secret string, at time.Time) http.Header {
	signed := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: body, Secret: secret, Timestamp: at})
	return http.Header{"Stripe-Signature": {signed.Header}}
}

func TestStripe(t *testing.T) {
	body := []byte(`{"id":"evt_1"}`)
	now := time.Now()
	tests := []struct {
		name    string
		secrets []string
		header  http.Header
		ok      bool
	}{
		{"signed", []string{"whsec_a"}, stripeHeader(body, "whsec_a", now), true},
		{"second of two secrets", []string{"whsec_a", "whsec_b"}, stripeHeader(body, "whsec_b", now), true},
		{"at the edge of tolerance", []string{"whsec_a"}, stripeHeader(body, "whsec_a", now.Add(-Tolerance+5*time.Second)), true},
		{"no secret configured", nil, stripeHeader(body, "whsec_a", now), false},
		{"no header", []string{"whsec_a"}, http.Header{}, false},
		{"other secret", []string{"whsec_a"}, stripeHeader(body, "whsec_x", now), false},
		{"too old", []string{"whsec_a", "whsec_b"}, stripeHeader(body, "whsec_b", now.Add(-Tolerance-time.Minute)), false},
		{"too new", []string{"whsec_a"}, stripeHeader(body, "whsec_a", now.Add(Tolerance+time.Minute)), false},
		// stripe-go verifies the last t=, the future check once read the
		// first: a current t= in front hid a future signed one.
		{"doubled t=: a current one hides a future one", []string{"whsec_a"}, http.Header{"Stripe-Signature": {
			"t=" + strconv.FormatInt(now.Unix(), 10) + "," + stripeHeader(body, "whsec_a", now.Add(time.Hour)).Get("Stripe-Signature")}}, false},
		{"doubled t=, both current", []string{"whsec_a"}, http.Header{"Stripe-Signature": {
			"t=" + strconv.FormatInt(now.Unix(), 10) + "," + stripeHeader(body, "whsec_a", now).Get("Stripe-Signature")}}, false},
		{"v0 scheme only", []string{"whsec_a"}, func() http.Header {
			signed := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: body, Secret: "whsec_a", Scheme: "v0"})
			return http.Header{"Stripe-Signature": {signed.Header}}
		}(), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			check, err := Stripe.Verifier(tt.secrets)
			if err != nil {
				t.Fatal(err)
			}
			err = check(tt.header, body)
			if tt.ok && err != nil {
				t.Fatalf("rejected: %v", err)
			}
			if !tt.ok && !errors.Is(err, ErrSignature) {
				t.Fatalf("err = %v, want ErrSignature", err)
			}
		})
	}
}
