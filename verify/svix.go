package verify

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	svix "github.com/svix/svix-webhooks/go"
)

// Svix is the scheme of Clerk and Stytch, and StandardWebhooks its open
// twin (the generic endpoint): the same MAC under svix-* or webhook-* header
// names. Either verifies both header sets; they differ in how they sign.
var (
	Svix             Scheme = svixScheme{prefix: "svix"}
	StandardWebhooks Scheme = svixScheme{prefix: "webhook"}
)

type svixScheme struct{ prefix string }

// Verifier implements Scheme. It verifies the svix-id, svix-timestamp and svix-signature headers that
// Clerk and Stytch send, and the webhook-id, webhook-timestamp and
// webhook-signature headers of Standard Webhooks (the same scheme under its
// open name), with the svix library. Each secret is "whsec_" followed by
// base64; one that is not, or that holds no key at all, fails here, at
// startup, rather than on every delivery.
func (svixScheme) Verifier(secrets []string) (Func, error) {
	hooks := make([]*svix.Webhook, 0, len(secrets))
	for i, secret := range secrets {
		wh, err := svix.NewWebhook(secret)
		if err != nil {
			// err is not wrapped: it would quote part of the secret.
			return nil, fmt.Errorf("secret %d of %d is not a Svix secret (whsec_ followed by base64)", i+1, len(secrets))
		}
		// The library takes "whsec_" alone as an empty HMAC key, with which
		// anyone can sign.
		if key, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, svixPrefix)); len(key) == 0 {
			return nil, fmt.Errorf("secret %d of %d holds no key after whsec_", i+1, len(secrets))
		}
		hooks = append(hooks, wh)
	}
	return func(header http.Header, body []byte) error {
		if len(hooks) == 0 {
			return errNoSecret
		}
		msg, ok := signedSvixHeaders(header)
		if !ok {
			return fmt.Errorf("%w: no complete set of svix-* or webhook-* headers (id, timestamp, signature)", ErrSignature)
		}
		var err error
		for _, wh := range hooks {
			if err = wh.Verify(body, msg); err == nil {
				return nil
			}
		}
		// The svix library's errors are plain strings ("Missing Required
		// Headers", "Message timestamp too old"): say them, wrapped.
		return fmt.Errorf("%w: %s", ErrSignature, err)
	}, nil
}

const svixPrefix = "whsec_"

// signedSvixHeaders returns the one header set a Svix signature is checked
// over, alone: the svix-* headers when all three are present, else the
// webhook-* ones, which is the choice the svix library makes. Svix verifies
// only what this returns, and SvixID reads the id from it too, so the id a
// delivery is recognised by is always the one its signature covered, never
// a header sent beside it (a replay with a forged svix-id next to a signed
// webhook-id would otherwise claim another delivery's id).
func signedSvixHeaders(header http.Header) (http.Header, bool) {
	for _, prefix := range []string{"svix", "webhook"} {
		id, timestamp, signature := header.Get(prefix+"-id"), header.Get(prefix+"-timestamp"), header.Get(prefix+"-signature")
		if id != "" && timestamp != "" && signature != "" {
			msg := http.Header{}
			msg.Set("svix-id", id)
			msg.Set("svix-timestamp", timestamp)
			msg.Set("svix-signature", signature)
			return msg, true
		}
	}
	return nil, false
}

// SvixID returns the message id of a Svix or Standard Webhooks delivery that
// Svix verified: the id its signature covers, which stays the same on every
// retry of one message, so the key to recognise a re-sent delivery by. It is
// empty when the headers hold no complete set.
func SvixID(header http.Header) string {
	msg, ok := signedSvixHeaders(header)
	if !ok {
		return ""
	}
	return msg.Get("svix-id")
}

// SignSvix returns the headers Svix would send for body, signed with svix's
// own signer: under Svix's header names when prefix is "svix", under Standard
// Webhooks' when it is "webhook". simulate and the tests sign with it.
func SignSvix(prefix, secret, id string, body []byte, at time.Time) (http.Header, error) {
	wh, err := svix.NewWebhook(secret)
	if err != nil {
		return nil, errors.New("not a Svix secret (whsec_ followed by base64)")
	}
	sig, err := wh.Sign(id, at, body)
	if err != nil {
		return nil, fmt.Errorf("sign: %w", err)
	}
	h := http.Header{}
	h.Set(prefix+"-id", id)
	h.Set(prefix+"-timestamp", strconv.FormatInt(at.Unix(), 10))
	h.Set(prefix+"-signature", sig)
	return h, nil
}

// Sign implements Scheme with the svix library's signer, under the scheme's
// header names.
func (s svixScheme) Sign(secret, id string, body []byte, at time.Time) (http.Header, error) {
	return SignSvix(s.prefix, secret, id, body, at)
}

// Key implements Scheme: the base64 after "whsec_" (the text itself when it
// is not base64: Verifier refuses such a secret).
func (svixScheme) Key(secret string) []byte {
	material := strings.TrimPrefix(secret, svixPrefix)
	if key, err := base64.StdEncoding.DecodeString(material); err == nil {
		return key
	}
	return []byte(material)
}

// UserChosen implements Scheme: Svix generates secrets, and so does
// NewSecret for the generic endpoint's senders.
func (svixScheme) UserChosen() bool { return false }

// NewSecret implements Scheme: "whsec_" and 24 random bytes in base64.
func (svixScheme) NewSecret() string {
	key := make([]byte, 24)
	_, _ = rand.Read(key) // never fails (crypto/rand)
	return svixPrefix + base64.StdEncoding.EncodeToString(key)
}
