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

// Stripe verifies the Stripe-Signature header with stripe-go's webhook
// package against each secret in turn. Any string is a usable Stripe secret,
// so it never fails.
func Stripe(secrets []string) (Func, error) {
	return func(header http.Header, body []byte) error {
		if len(secrets) == 0 {
			return errNoSecret
		}
		sig := header.Get("Stripe-Signature")
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

// stripeNotFuture rejects a timestamp beyond Tolerance in the future, which
// stripe-go does not check: a signature made with a clock set ahead would
// otherwise stay replayable for as long as the clock was ahead.
func stripeNotFuture(header string) error {
	for _, part := range strings.Split(header, ",") {
		key, value, _ := strings.Cut(part, "=")
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
