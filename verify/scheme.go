package verify

import (
	"net/http"
	"time"
)

// Scheme is one way of signing webhooks. A provider names its Scheme, and
// the bridge verifies its deliveries, signs simulate's samples and judges its
// secrets through it.
type Scheme interface {
	// Verifier returns the check for deliveries signed with any of secrets
	// (several during a rotation). Its error says which secret is unusable,
	// by position, never quoting it.
	Verifier(secrets []string) (Func, error)
	// Sign returns the headers the provider would send for body, signed with
	// secret at time at; id is the delivery id where the scheme signs one.
	Sign(secret, id string, body []byte, at time.Time) (http.Header, error)
	// Key returns the key material of a secret, the bytes that make a
	// signature: for the weak-secret and development-secret checks.
	Key(secret string) []byte
	// UserChosen reports whether people make these secrets up themselves
	// (a bearer token, a password), rather than copy one the provider made.
	UserChosen() bool
	// NewSecret returns a fresh random secret in this scheme's form.
	NewSecret() string
}

// Linter is a Scheme that can tell a secret that verifies but is probably
// not what the operator meant (a Stripe API key in place of a signing
// secret). Lint says what is wrong, or "".
type Linter interface {
	Lint(secret string) string
}

var (
	_ Linter = stripeScheme{}
	_ Scheme = Timestamped{}
	_ Scheme = svixScheme{}
	_ Scheme = stripeScheme{}
	_ Scheme = bearerScheme{}
)
