package verify

import (
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// Bearer is the scheme of senders that cannot sign, such as a Supabase
// database webhook.
var Bearer Scheme = bearerScheme{}

type bearerScheme struct{}

// Verifier implements Scheme. It checks "Authorization: Bearer <secret>", for senders that cannot
// sign, such as a Supabase database webhook. It proves who sent the request
// but, unlike a signature, neither what was sent nor when: TLS has to protect
// the body, and a captured request could be replayed (README.md says so).
// Any string but the empty one is a usable token; how long one must be is
// config's rule, which knows who chose it.
func (bearerScheme) Verifier(secrets []string) (Func, error) {
	if err := noEmpty(secrets); err != nil {
		return nil, err
	}
	// Comparing hashes keeps the comparison constant-time in the length of
	// the secret too, which subtle.ConstantTimeCompare alone is not.
	sums := make([][sha256.Size]byte, len(secrets))
	for i, s := range secrets {
		sums[i] = sha256.Sum256([]byte(s))
	}
	return func(header http.Header, _ []byte) error {
		if len(sums) == 0 {
			return errNoSecret
		}
		auth := header.Get("Authorization")
		token, ok := strings.CutPrefix(auth, "Bearer ")
		if !ok || token == "" {
			return fmt.Errorf("%w: no Authorization: Bearer header", ErrSignature)
		}
		got := sha256.Sum256([]byte(strings.TrimSpace(token)))
		match := 0
		for _, want := range sums {
			match |= subtle.ConstantTimeCompare(got[:], want[:])
		}
		if match != 1 {
			return fmt.Errorf("%w: the bearer token matches no configured secret", ErrSignature)
		}
		return nil
	}, nil
}

// Sign implements Scheme: the header the sender is configured with.
func (bearerScheme) Sign(secret, _ string, _ []byte, _ time.Time) (http.Header, error) {
	return http.Header{"Authorization": {"Bearer " + secret}}, nil
}

// Key implements Scheme: the token itself.
func (bearerScheme) Key(secret string) []byte { return []byte(secret) }

// UserChosen implements Scheme: the user writes the token into the trigger.
func (bearerScheme) UserChosen() bool { return true }

// NewSecret implements Scheme.
func (bearerScheme) NewSecret() string { return randomHex(32) }
