package verify

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"
)

// Basic is HTTP basic authentication, for senders that cannot sign, such as
// Chargebee. A secret is "user:password", split at the first colon (a
// password may hold colons, a user name may not: RFC 7617). A secret without
// a colon is the password of the user BasicUser, which is how the
// development secret works for it. Like a bearer token, basic auth proves
// who sent a request but neither what was sent nor when: TLS protects the
// body, and a captured request can be replayed (the event id dedupes it).
var Basic Scheme = basicScheme{}

// BasicUser is the user name of a Basic secret that names none.
const BasicUser = "reditus"

type basicScheme struct{}

var _ Scheme = basicScheme{}

// basicCredentials splits a secret into its user and password.
func basicCredentials(secret string) (user, password string) {
	if user, password, ok := strings.Cut(secret, ":"); ok {
		return user, password
	}
	return BasicUser, secret
}

// MinPassword is the fewest characters a Basic password may have. People
// choose these passwords, and one that is short can be guessed online.
const MinPassword = 16

// Verifier implements Scheme. A password under MinPassword characters is
// refused here, and not only by config, which counts the characters of the
// whole secret: "user:pass" with a long user name would pass there.
func (basicScheme) Verifier(secrets []string) (Func, error) {
	for i, s := range secrets {
		if _, password := basicCredentials(s); utf8.RuneCountInString(password) < MinPassword {
			return nil, fmt.Errorf("secret %d of %d has a password shorter than %d characters (want user:password): choose a long random one, for example `openssl rand -hex 24`", i+1, len(secrets), MinPassword)
		}
	}
	return basicVerifier(secrets), nil
}

// basicVerifier checks deliveries against secrets, whatever their length.
func basicVerifier(secrets []string) Func {
	// Hashes keep the comparison constant-time in the lengths too, which
	// subtle.ConstantTimeCompare alone is not.
	type pair struct{ user, password [sha256.Size]byte }
	pairs := make([]pair, len(secrets))
	for i, s := range secrets {
		user, password := basicCredentials(s)
		pairs[i] = pair{sha256.Sum256([]byte(user)), sha256.Sum256([]byte(password))}
	}
	return func(header http.Header, _ []byte) error {
		if len(pairs) == 0 {
			return errNoSecret
		}
		scheme, token, _ := strings.Cut(header.Get("Authorization"), " ")
		if !strings.EqualFold(scheme, "Basic") || token == "" {
			return fmt.Errorf("%w: no Authorization: Basic header", ErrSignature)
		}
		// Strict: one spelling per credential, as every client encodes it.
		decoded, err := base64.StdEncoding.Strict().DecodeString(token)
		if err != nil {
			return fmt.Errorf("%w: the Authorization: Basic credentials are not base64", ErrSignature)
		}
		user, password, ok := strings.Cut(string(decoded), ":")
		if !ok {
			return fmt.Errorf("%w: the Authorization: Basic credentials are not user:password", ErrSignature)
		}
		gotUser, gotPassword := sha256.Sum256([]byte(user)), sha256.Sum256([]byte(password))
		match := 0
		for _, p := range pairs {
			match |= subtle.ConstantTimeCompare(gotUser[:], p.user[:]) & subtle.ConstantTimeCompare(gotPassword[:], p.password[:])
		}
		if match != 1 {
			return fmt.Errorf("%w: the user and password match no configured secret", ErrSignature)
		}
		return nil
	}
}

// Sign implements Scheme: the header a sender configured with secret sends.
func (basicScheme) Sign(secret, _ string, _ []byte, _ time.Time) (http.Header, error) {
	user, password := basicCredentials(secret)
	return http.Header{"Authorization": {"Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+password))}}, nil
}

// Key implements Scheme: the password, which is the secret part (the user
// name is often guessable).
func (basicScheme) Key(secret string) []byte {
	_, password := basicCredentials(secret)
	return []byte(password)
}

// UserChosen implements Scheme: people type the user and password into the
// sender's form themselves.
func (basicScheme) UserChosen() bool { return true }

// NewSecret implements Scheme: the user BasicUser and a random password.
func (basicScheme) NewSecret() string { return BasicUser + ":" + randomHex(24) }
