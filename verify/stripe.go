package verify

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/stripe/stripe-go/v76/webhook"
)

// Stripe is Stripe's scheme: the Stripe-Signature header, verified with
// stripe-go's webhook package against each secret in turn.
var Stripe Scheme = stripeScheme{}

type stripeScheme struct{}

// Verifier implements Scheme. stripe-go keys the HMAC with the whole secret
// string, so any string is a usable Stripe secret except one with nothing
// after "whsec_", which is public.
func (stripeScheme) Verifier(secrets []string) (Func, error) {
	for i, secret := range secrets {
		if strings.TrimPrefix(secret, "whsec_") == "" {
			return nil, fmt.Errorf("secret %d of %d holds no key after whsec_", i+1, len(secrets))
		}
	}
	return func(header http.Header, body []byte) error {
		if len(secrets) == 0 {
			return errNoSecret
		}
		sig := header.Get("Stripe-Signature")
		if err := stripeOneTimestamp(sig); err != nil {
			return err
		}
		var err error
		for _, secret := range secrets {
			err = webhook.ValidatePayloadWithTolerance(body, sig, secret, Tolerance)
			if err == nil {
				return stripeNotFuture(sig)
			}
			// A missing or malformed header, or a stale timestamp, fails the
			// same way under every secret.
			if !errors.Is(err, webhook.ErrNoValidSignature) {
				break
			}
		}
		return fmt.Errorf("%w: %w", ErrSignature, err)
	}, nil
}

// stripeOneTimestamp refuses a header with more than one t=. Stripe sends
// one; stripe-go signs over the last and our future check reads one, so a
// second t= could show the check one timestamp while the signature covers
// another. Refusing is simpler to trust than checking every one. Pairs are
// split as stripe-go splits them, so both count the same t= pairs.
func stripeOneTimestamp(header string) error {
	var n int
	for _, pair := range strings.Split(header, ",") {
		if key, _, _ := strings.Cut(pair, "="); key == "t" {
			n++
		}
	}
	if n > 1 {
		return fmt.Errorf("%w: %d t= timestamps in Stripe-Signature, want one", ErrSignature, n)
	}
	return nil
}

// stripeNotFuture rejects a timestamp beyond Tolerance in the future, which
// stripe-go does not check: a signature made with a clock set ahead would
// otherwise stay replayable for as long as the clock was ahead. The header
// holds one t= (stripeOneTimestamp), so this reads the one stripe-go
// verified.
func stripeNotFuture(header string) error {
	for _, pair := range strings.Split(header, ",") {
		key, value, _ := strings.Cut(pair, "=")
		if key != "t" {
			continue
		}
		unix, err := strconv.ParseInt(value, 10, 64)
		if err != nil {
			return fmt.Errorf("%w: %w", ErrSignature, webhook.ErrInvalidHeader)
		}
		return withinTolerance(time.Unix(unix, 0), time.Now())
	}
	return nil
}

// Sign implements Scheme with stripe-go's own test signer.
func (stripeScheme) Sign(secret, _ string, body []byte, at time.Time) (http.Header, error) {
	signed := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: body, Secret: secret, Timestamp: at})
	return http.Header{"Stripe-Signature": {signed.Header}}, nil
}

// Key implements Scheme: Stripe keys its HMAC with the whole secret string,
// but "whsec_" alone is no key.
func (stripeScheme) Key(secret string) []byte { return []byte(strings.TrimPrefix(secret, svixPrefix)) }

// UserChosen implements Scheme: Stripe generates its secrets.
func (stripeScheme) UserChosen() bool { return false }

// NewSecret implements Scheme.
func (stripeScheme) NewSecret() string { return svixPrefix + randomHex(16) }

// Lint implements Linter.
func (stripeScheme) Lint(secret string) string {
	if !strings.HasPrefix(secret, svixPrefix) {
		return "does not start with whsec_, as Stripe signing secrets do (is it an API key?)"
	}
	return ""
}
