package config

import (
	"log/slog"
	"strings"
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

// Decode implements envconfig.Decoder. It never fails, so that envconfig
// never has a reason to quote the value in an error.
func (s *Secrets) Decode(value string) error {
	*s = nil
	for _, part := range strings.Split(value, ",") {
		if part = strings.TrimSpace(part); part != "" {
			*s = append(*s, Secret(part))
		}
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

func (s Secrets) contains(want Secret) bool {
	for _, secret := range s {
		if secret == want {
			return true
		}
	}
	return false
}
