package config

import (
	"bytes"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"log/slog"
	"strings"
	"unicode/utf8"

	"github.com/getreditus/reditus-bridge/providers"
)

const redacted = "[redacted]"

// Secret is a credential. Every way of printing it (fmt verbs, slog, JSON)
// yields "[redacted]"; Reveal is the one way to the value, for the code that
// signs or authenticates with it.
type Secret string

// Reveal returns the secret's value.
func (s Secret) Reveal() string { return string(s) }

// String implements fmt.Stringer so that %v and %s print "[redacted]".
func (Secret) String() string { return redacted }

// GoString implements fmt.GoStringer so that %#v prints "[redacted]".
func (Secret) GoString() string { return redacted }

// LogValue implements slog.LogValuer.
func (Secret) LogValue() slog.Value { return slog.StringValue(redacted) }

// MarshalText implements encoding.TextMarshaler, which JSON encoding uses.
func (Secret) MarshalText() ([]byte, error) { return []byte(redacted), nil }

// Secrets is a comma-separated list of secrets, as the *_WEBHOOK_SECRET
// variables hold during a rotation: the old and the new secret both verify
// until the old one is removed.
type Secrets []Secret

// Decode implements envconfig.Decoder. It keeps empty items (`a,,b`, a
// trailing comma, a variable set to ""), which validate refuses, and it never
// fails, so that envconfig never has a reason to quote the value in an error.
func (s *Secrets) Decode(value string) error {
	*s = nil
	for _, part := range strings.Split(value, ",") {
		*s = append(*s, Secret(strings.TrimSpace(part)))
	}
	return nil
}

// Reveal returns the secrets' values, in order.
func (s Secrets) Reveal() []string {
	out := make([]string, len(s))
	for i, secret := range s {
		out[i] = secret.Reveal()
	}
	return out
}

// Contains reports whether one of the secrets is value, comparing each in
// constant time.
func (s Secrets) Contains(value string) bool {
	found := 0
	for _, secret := range s {
		found |= subtle.ConstantTimeCompare([]byte(secret.Reveal()), []byte(value))
	}
	return found == 1
}

// minKey is the shortest key that is not weak: 16 bytes of a provider's key,
// 16 characters of a chosen token.
const minKey = 16

// svixPrefix starts Svix and Stripe secrets. It is not part of the key.
const svixPrefix = "whsec_"

// developmentKey is the development secret's key bytes.
var developmentKey = func() []byte {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(string(DevelopmentSecret), svixPrefix))
	if err != nil {
		panic("config: DevelopmentSecret is not base64") // a constant: cannot happen
	}
	return key
}()

// checkSecrets refuses a provider's secrets when one is empty, holds no key,
// is the development secret, or is a chosen token too short to resist
// guessing. Errors say which secret by position, never what it is.
func checkSecrets(p providers.Provider, secrets Secrets) error {
	if len(secrets) == 1 && secrets[0] == "" {
		return fmt.Errorf("set but empty: give the secret, or unset the variable to turn %s off", p.Name)
	}
	for i, secret := range secrets {
		nth := fmt.Sprintf("secret %d of %d", i+1, len(secrets))
		value := secret.Reveal()
		switch {
		case value == "":
			// An unset shell variable in "$OLD,$NEW" looks like this.
			return fmt.Errorf("%s is empty (a stray comma?): list only secrets, separated by single commas", nth)
		// "whsec_" alone is the start of a secret that was cut, under any scheme.
		case len(p.Scheme.Key(value)) == 0, value == svixPrefix:
			return fmt.Errorf("%s holds no key after %s, so anybody could sign with it", nth, svixPrefix)
		case isDevelopment(value), isDevelopment(string(p.Scheme.Key(value))):
			// The key itself, too: basic auth's "reditus:<development secret>".
			return fmt.Errorf("%s is the public development secret (in some spelling), which is accepted only when no REDITUS_API_KEY and no secret is set: use the provider's own secret", nth)
		case p.Scheme.UserChosen() && utf8.RuneCountInString(string(p.Scheme.Key(value))) < minKey:
			return fmt.Errorf("%s is shorter than %d characters: choose a long random token, for example `openssl rand -hex 32`", nth, minKey)
		}
	}
	return nil
}

// weakSecrets lists the secrets of a provider that are valid but hold fewer
// than minKey bytes of key: providers generate longer ones, so a short one
// was probably cut when it was copied.
func weakSecrets(p providers.Provider, secrets Secrets) []string {
	if p.Scheme.UserChosen() { // refused by checkSecrets instead
		return nil
	}
	var w []string
	for i, secret := range secrets {
		if key := p.Scheme.Key(secret.Reveal()); len(key) > 0 && len(key) < minKey {
			w = append(w, fmt.Sprintf("%s: secret %d of %d holds fewer than %d bytes of key; provider secrets are longer: was it copied whole?", p.SecretVar(), i+1, len(secrets), minKey))
		}
	}
	return w
}

// isDevelopment reports whether secret is the development secret in any
// spelling that some verifier reads as the same key: the string itself, its
// key bytes in base64 with or without "whsec_", padded or not, standard or
// URL alphabet, or the key bytes themselves as the string (the schemes that
// key with the secret string: Stripe, WorkOS, the bearer token).
func isDevelopment(secret string) bool {
	if secret == DevelopmentSecret.Reveal() {
		return true
	}
	material := strings.TrimPrefix(secret, svixPrefix)
	if material == string(developmentKey) {
		return true
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if key, err := enc.DecodeString(material); err == nil && bytes.Equal(key, developmentKey) {
			return true
		}
	}
	return false
}
