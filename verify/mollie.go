package verify

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"
)

// MollieSignature is the header of Mollie's next-gen webhooks: the hex
// HMAC-SHA256 of the raw body, keyed with the webhook's secret, with or
// without a "sha256=" prefix (docs.mollie.com, "Webhooks best practices";
// mollie-api-php's SignatureValidator strips the prefix). A delivery without
// it is a classic webhook.
const MollieSignature = "X-Mollie-Signature"

// Mollie verifies both of Mollie's webhook systems on one route.
//
// A next-gen webhook carries MollieSignature over its body, checked against
// every configured secret (rotation); it has no timestamp, so dedupe on
// what the event names is what stops a replay paying twice.
//
// A classic webhook is unsigned: its body is a payment's id and nothing else
// (id=tr_...), because Mollie's answer is to read the payment from its API.
// This check accepts only that form; what makes it authentic is the fetch of
// the payment with MOLLIE_API_KEY that the provider's API step makes
// (providers/mollie.go), which no forged id survives. A route with this
// scheme must have that step: without it the form is not JSON, and the
// mapping refuses it.
var Mollie Scheme = mollieScheme{}

type mollieScheme struct{}

var _ Scheme = mollieScheme{}

// classicMollieID is a Mollie payment id: what a classic webhook's form
// names. Mollie's ids are "tr_" and letters and digits (10 to 22 so far).
var classicMollieID = regexp.MustCompile(`^tr_[A-Za-z0-9]{1,64}$`)

// ClassicMollieID returns the payment id a classic Mollie webhook's body
// names, or false when the body is not exactly the form id=tr_....
func ClassicMollieID(body []byte) (string, bool) {
	if len(body) > 128 {
		return "", false
	}
	form, err := url.ParseQuery(string(body))
	if err != nil || len(form) != 1 || len(form["id"]) != 1 || !classicMollieID.MatchString(form["id"][0]) {
		return "", false
	}
	return form["id"][0], true
}

// Verifier implements Scheme. secrets may be none: Mollie is on with
// MOLLIE_API_KEY alone, for classic webhooks, and a signed delivery is then
// refused.
func (mollieScheme) Verifier(secrets []string) (Func, error) {
	if err := noEmpty(secrets); err != nil {
		return nil, err
	}
	return func(header http.Header, body []byte) error {
		sigs := header.Values(MollieSignature)
		if len(sigs) == 0 {
			if _, ok := ClassicMollieID(body); !ok {
				return fmt.Errorf("%w: no %s header, and the body is not a classic webhook (id=tr_...)", ErrSignature, MollieSignature)
			}
			return nil
		}
		if len(secrets) == 0 {
			return fmt.Errorf("%w: a next-gen webhook (%s), but MOLLIE_WEBHOOK_SECRET is not set", ErrSignature, MollieSignature)
		}
		for _, sig := range sigs {
			got, err := hex.DecodeString(strings.TrimPrefix(strings.TrimSpace(sig), "sha256="))
			if err != nil || len(got) != sha256.Size {
				continue // a malformed value matches nothing
			}
			for _, secret := range secrets {
				if hmac.Equal(got, bodyMAC(secret, body)) {
					return nil
				}
			}
		}
		return fmt.Errorf("%w: %s matches no configured secret", ErrSignature, MollieSignature)
	}, nil
}

// Sign implements Scheme: a next-gen webhook's header, the bare hex that
// Mollie's documentation compares. Neither id nor at is signed.
func (mollieScheme) Sign(secret, _ string, body []byte, _ time.Time) (http.Header, error) {
	h := http.Header{}
	h.Set(MollieSignature, hex.EncodeToString(bodyMAC(secret, body)))
	return h, nil
}

// Key implements Scheme: the secret string is the HMAC key.
func (mollieScheme) Key(secret string) []byte { return []byte(secret) }

// UserChosen implements Scheme: Mollie makes the secret when the webhook is
// created, and shows it once.
func (mollieScheme) UserChosen() bool { return false }

// NewSecret implements Scheme.
func (mollieScheme) NewSecret() string { return randomHex(20) }
