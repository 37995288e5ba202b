package verify

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Polar is Polar's scheme: Standard Webhooks headers (webhook-id,
// webhook-timestamp, webhook-signature), with Polar's two secret forms.
// Secrets made since 2026-09-08 are "whsec_" and base64, keyed with the
// decoded bytes, as Standard Webhooks has it; older ones ("polar_whs_...", or
// "whsec_" and text) are keyed with the UTF-8 bytes of the whole string. The
// form of a string does not tell which: an old "whsec_" secret may happen to
// be valid base64 (Polar's own test secret "whsec_legacyPolarToken" is), and
// is still signed with its UTF-8 bytes. So every secret is tried both ways,
// as Polar's SDKs do (providers/testdata/RESEARCH.md, "Polar").
var Polar Scheme = polarScheme{}

type polarScheme struct{}

var _ Scheme = polarScheme{}

// polarPrefixes start Polar secrets; neither is key material on its own.
var polarPrefixes = []string{svixPrefix, "polar_whs_"}

// polarKeys returns the HMAC keys secret may stand for: its UTF-8 bytes, and,
// for "whsec_" and base64, the decoded bytes (padded or not).
func polarKeys(secret string) [][]byte {
	keys := [][]byte{[]byte(secret)}
	if decoded := polarDecoded(secret); len(decoded) > 0 && !bytes.Equal(decoded, keys[0]) {
		keys = append(keys, decoded)
	}
	return keys
}

// polarDecoded is the base64 after "whsec_", or nil when there is none.
func polarDecoded(secret string) []byte {
	material, ok := strings.CutPrefix(secret, svixPrefix)
	if !ok {
		return nil
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding} {
		if key, err := enc.DecodeString(material); err == nil {
			return key
		}
	}
	return nil
}

// polarMaterial is what follows a secret's prefix.
func polarMaterial(secret string) string {
	for _, prefix := range polarPrefixes {
		if material, ok := strings.CutPrefix(secret, prefix); ok {
			return material
		}
	}
	return secret
}

// Verifier implements Scheme. A secret that is empty or a prefix alone is
// refused: its UTF-8 key would be public.
func (polarScheme) Verifier(secrets []string) (Func, error) {
	var keys [][]byte
	for i, secret := range secrets {
		if polarMaterial(secret) == "" {
			return nil, fmt.Errorf("secret %d of %d holds no key", i+1, len(secrets))
		}
		keys = append(keys, polarKeys(secret)...)
	}
	return func(header http.Header, body []byte) error {
		return polarVerify(keys, header, body, time.Now())
	}, nil
}

// polarVerify checks one delivery against keys at time now. Only the
// webhook-* headers count: they are what Polar sends, and PolarID reads the
// delivery id from the same header the signature covers.
func polarVerify(keys [][]byte, header http.Header, body []byte, now time.Time) error {
	if len(keys) == 0 {
		return errNoSecret
	}
	id, ts, sigs := header.Get("webhook-id"), header.Get("webhook-timestamp"), header.Get("webhook-signature")
	if id == "" || ts == "" || sigs == "" {
		return fmt.Errorf("%w: no complete set of webhook-id, webhook-timestamp and webhook-signature headers", ErrSignature)
	}
	unix, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return fmt.Errorf("%w: webhook-timestamp is not unix seconds", ErrSignature)
	}
	if err := withinTolerance(time.Unix(unix, 0), now); err != nil {
		return err
	}
	for _, key := range keys {
		want := []byte("v1," + polarMAC(key, id, ts, body))
		for _, sig := range strings.Fields(sigs) {
			if hmac.Equal([]byte(sig), want) {
				return nil
			}
		}
	}
	return fmt.Errorf("%w: no v1 signature matched any configured secret", ErrSignature)
}

// polarMAC is the base64 HMAC-SHA256 of "<id>.<timestamp>.<body>".
func polarMAC(key []byte, id, ts string, body []byte) string {
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id + "." + ts + "."))
	mac.Write(body)
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// PolarID returns the delivery id of a Polar webhook: the webhook-id header,
// which the signature covers and which stays the same on every retry and
// redelivery of one event.
func PolarID(header http.Header) string { return header.Get("webhook-id") }

// Sign implements Scheme: the headers Polar sends for body, keyed as Polar
// keys a secret of this form (decoded "whsec_" base64, else UTF-8).
func (polarScheme) Sign(secret, id string, body []byte, at time.Time) (http.Header, error) {
	key := polarDecoded(secret)
	if len(key) == 0 {
		key = []byte(secret)
	}
	ts := strconv.FormatInt(at.Unix(), 10)
	h := http.Header{}
	h.Set("webhook-id", id)
	h.Set("webhook-timestamp", ts)
	h.Set("webhook-signature", "v1,"+polarMAC(key, id, ts, body))
	return h, nil
}

// Key implements Scheme: the decoded base64 of a "whsec_" secret, else what
// follows the prefix, so that a prefix alone holds no key and a cut secret
// shows up as short.
func (polarScheme) Key(secret string) []byte {
	if key := polarDecoded(secret); len(key) > 0 {
		return key
	}
	return []byte(polarMaterial(secret))
}

// UserChosen implements Scheme: Polar generates its secrets.
func (polarScheme) UserChosen() bool { return false }

// NewSecret implements Scheme: a secret in Polar's current form, "whsec_"
// and 32 random bytes in base64.
func (polarScheme) NewSecret() string {
	key := make([]byte, 32)
	_, _ = rand.Read(key) // never fails (crypto/rand)
	return svixPrefix + base64.StdEncoding.EncodeToString(key)
}
