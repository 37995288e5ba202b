package verify

import (
	"cmp"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	svix "github.com/svix/svix-webhooks/go"
)

// Svix verifies the svix-id, svix-timestamp and svix-signature headers that
// Clerk and Stytch send, and the webhook-id, webhook-timestamp and
// webhook-signature headers of Standard Webhooks (the same scheme under its
// open name), with the svix library. Each secret is "whsec_" followed by
// base64; one that is not fails here, at startup, rather than on every
// delivery.
func Svix(secrets []string) (Func, error) {
	hooks := make([]*svix.Webhook, 0, len(secrets))
	for i, secret := range secrets {
		wh, err := svix.NewWebhook(secret)
		if err != nil {
			// err is not wrapped: it would quote part of the secret.
			return nil, fmt.Errorf("secret %d of %d is not a Svix secret (whsec_ followed by base64)", i+1, len(secrets))
		}
		hooks = append(hooks, wh)
	}
	return func(header http.Header, body []byte) error {
		if len(hooks) == 0 {
			return errNoSecret
		}
		var err error
		for _, wh := range hooks {
			if err = wh.Verify(body, header); err == nil {
				return nil
			}
		}
		// The svix library's errors are plain strings ("Missing Required
		// Headers", "Message timestamp too old"): say them, wrapped.
		return fmt.Errorf("%w: %s", ErrSignature, err)
	}, nil
}

// SvixID returns a Svix or Standard Webhooks delivery's message id, which
// stays the same on every retry of one message: the key to recognise a
// re-sent delivery by.
func SvixID(header http.Header) string {
	return cmp.Or(header.Get("svix-id"), header.Get("webhook-id"))
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
