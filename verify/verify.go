// Package verify checks that a webhook was sent by the provider it claims to
// come from. Each provider has a function that returns a Func for a list of
// secrets; a list, because during a rotation both the old and the new secret
// must verify.
package verify

import (
	"fmt"
	"net/http"
	"time"

	"github.com/getreditus/reditus-bridge/outcome"
)

// ErrSignature is wrapped by every verification failure: a missing,
// malformed or wrong signature, or a timestamp outside Tolerance.
var ErrSignature = outcome.New(outcome.InvalidSignature, "invalid signature")

// Tolerance is how far a signature's timestamp may be from now, in either
// direction. Older deliveries are replays; newer ones come from a clock that
// cannot be trusted. Five minutes is Stripe's and Svix's own default.
const Tolerance = 5 * time.Minute

// DevelopmentSecret is the secret every provider accepts in the local
// default, and only there (config refuses it anywhere else, in any
// spelling). It is public. It is a valid Stripe and Svix secret: "whsec_"
// followed by base64 of "reditus-bridge-development-secret". PayPal, which
// signs with a certificate rather than a secret, takes it as the
// development webhook id, the one id its development certificate is trusted
// for (PayPal).
const DevelopmentSecret = "whsec_cmVkaXR1cy1icmlkZ2UtZGV2ZWxvcG1lbnQtc2VjcmV0"

// Func verifies one delivery from its headers and its raw body. Its error
// wraps ErrSignature and says what was wrong, never with a secret; but a
// scheme that fetches what it verifies with (PayPal's certificate) fails
// with an outcome.Unavailable error when the fetch fails in a way that the
// sender's retry may cure, so that an outage is not taken for a forgery.
type Func func(header http.Header, body []byte) error

// errNoSecret is what a Func built from no secrets answers: a provider
// without secrets is off, and nothing it sends can be verified.
var errNoSecret = fmt.Errorf("%w: no secret configured", ErrSignature)

// withinTolerance checks a signature's timestamp against now.
func withinTolerance(at, now time.Time) error {
	switch {
	case now.Sub(at) > Tolerance:
		return fmt.Errorf("%w: timestamp is more than %v old", ErrSignature, Tolerance)
	case at.Sub(now) > Tolerance:
		return fmt.Errorf("%w: timestamp is more than %v in the future", ErrSignature, Tolerance)
	}
	return nil
}

// noEmpty refuses an empty secret, the one key that anybody holds.
func noEmpty(secrets []string) error {
	for i, s := range secrets {
		if s == "" {
			return fmt.Errorf("secret %d of %d is empty", i+1, len(secrets))
		}
	}
	return nil
}
