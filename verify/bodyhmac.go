package verify

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"time"
)

// BodyHMAC is the scheme of a header that carries the hex HMAC-SHA256 of the
// raw body alone, keyed with the secret string: no timestamp, so a captured
// delivery can be replayed (dedupe on the event id is what stops it paying
// twice), and TLS must protect the body.
type BodyHMAC struct {
	Header string // "X-Signature"
}

// LemonSqueezy verifies Lemon Squeezy's X-Signature header: lowercase hex of
// HMAC-SHA256 of the body, keyed with the signing secret the store owner
// typed into the webhook's form
// (https://docs.lemonsqueezy.com/help/webhooks/signing-requests).
var LemonSqueezy = BodyHMAC{Header: "X-Signature"}

var _ Scheme = BodyHMAC{}

// Verifier implements Scheme. Any string but the empty one is a usable key;
// how long a chosen one must be is config's rule (UserChosen).
func (s BodyHMAC) Verifier(secrets []string) (Func, error) {
	if err := noEmpty(secrets); err != nil {
		return nil, err
	}
	return func(header http.Header, body []byte) error {
		if len(secrets) == 0 {
			return errNoSecret
		}
		sig := header.Get(s.Header)
		if sig == "" {
			return fmt.Errorf("%w: no %s header", ErrSignature, s.Header)
		}
		got, err := hex.DecodeString(sig)
		if err != nil || len(got) != sha256.Size {
			return fmt.Errorf("%w: malformed %s header, want 64 hex digits", ErrSignature, s.Header)
		}
		for _, secret := range secrets {
			// hmac.Equal takes the same time whichever byte differs.
			if hmac.Equal(got, bodyMAC(secret, body)) {
				return nil
			}
		}
		return fmt.Errorf("%w: %s matches no configured secret", ErrSignature, s.Header)
	}, nil
}

// Sign implements Scheme: the header the provider sends for body. Neither id
// nor at is part of this scheme.
func (s BodyHMAC) Sign(secret, _ string, body []byte, _ time.Time) (http.Header, error) {
	h := http.Header{}
	h.Set(s.Header, hex.EncodeToString(bodyMAC(secret, body)))
	return h, nil
}

// Key implements Scheme: the secret string is the HMAC key.
func (BodyHMAC) Key(secret string) []byte { return []byte(secret) }

// UserChosen implements Scheme: Lemon Squeezy lets the store owner type any
// secret of 6 to 40 characters, so config holds it to the rule for chosen
// tokens (16 characters at least).
func (BodyHMAC) UserChosen() bool { return true }

// NewSecret implements Scheme: 32 hex digits, within Lemon Squeezy's 40.
func (BodyHMAC) NewSecret() string { return randomHex(16) }

func bodyMAC(secret string, body []byte) []byte {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return mac.Sum(nil)
}
