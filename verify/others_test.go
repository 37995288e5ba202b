package verify

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

const (
	svixA = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	svixB = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD"
)

// svixHeader signs like Svix itself, with the svix library's signer.
func svixHeader(t *testing.T, prefix, secret, id string, body []byte, at time.Time) http.Header {
	t.Helper()
	h, err := SignSvix(prefix, secret, id, body, at)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestSvix(t *testing.T) {
	body := []byte(`{"type":"user.created"}`)
	now := time.Now()
	tests := []struct {
		name   string
		header http.Header
		ok     bool
	}{
		{"svix headers", svixHeader(t, "svix", svixA, "msg_1", body, now), true},
		{"standard webhooks headers", svixHeader(t, "webhook", svixA, "msg_1", body, now), true},
		{"second secret", svixHeader(t, "svix", svixB, "msg_1", body, now), true},
		{"no headers", http.Header{}, false},
		{"unknown secret", svixHeader(t, "svix", "whsec_dW5rbm93bg==", "msg_1", body, now), false},
		{"too old", svixHeader(t, "svix", svixA, "msg_1", body, now.Add(-Tolerance-time.Minute)), false},
		{"too new", svixHeader(t, "svix", svixA, "msg_1", body, now.Add(Tolerance+time.Minute)), false},
		{"id swapped after signing", func() http.Header {
			h := svixHeader(t, "svix", svixA, "msg_1", body, now)
			h.Set("svix-id", "msg_2")
			return h
		}(), false},
	}
	check, err := Svix.Verifier([]string{svixA, svixB})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := check(tt.header, body)
			if tt.ok != (err == nil) || (err != nil && !errors.Is(err, ErrSignature)) {
				t.Errorf("err = %v, want ok=%v", err, tt.ok)
			}
		})
	}
	if SvixID(svixHeader(t, "webhook", svixA, "msg_7", body, now)) != "msg_7" {
		t.Error("SvixID does not read webhook-id")
	}
}

// The id a delivery is known by is the one its signature covers. The svix
// library checks the svix-* headers when all three are there, else the
// webhook-* ones; an id sent beside the checked set is not signed, and a
// replay could use it to claim another delivery's id.
func TestSvixIDIsTheSignedID(t *testing.T) {
	body := []byte(`{"email":"a@example.com"}`)
	now := time.Now()
	check, err := Svix.Verifier([]string{svixA})
	if err != nil {
		t.Fatal(err)
	}
	with := func(h http.Header, extra ...string) http.Header {
		for i := 0; i < len(extra); i += 2 {
			h.Set(extra[i], extra[i+1])
		}
		return h
	}
	tests := []struct {
		name   string
		header http.Header
		wantID string // "" when the delivery must be refused
	}{
		{"standard webhooks", svixHeader(t, "webhook", svixA, "msg_A", body, now), "msg_A"},
		{"standard webhooks with a forged svix-id", with(svixHeader(t, "webhook", svixA, "msg_A", body, now), "svix-id", "msg_B"), "msg_A"},
		{"standard webhooks with a forged svix-id and svix-signature", with(svixHeader(t, "webhook", svixA, "msg_A", body, now),
			"svix-id", "msg_B", "svix-signature", "v1,AAAA"), "msg_A"},
		{"svix with a forged webhook-id", with(svixHeader(t, "svix", svixA, "msg_A", body, now), "webhook-id", "msg_B"), "msg_A"},
		// A complete svix-* set is what is checked, so a valid webhook-* set
		// beside a forged svix-* one does not make it through.
		{"a complete forged svix set beside a signed webhook set", with(svixHeader(t, "webhook", svixA, "msg_A", body, now),
			"svix-id", "msg_B", "svix-timestamp", strconv.FormatInt(now.Unix(), 10), "svix-signature", "v1,AAAA"), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := check(tt.header, body)
			if tt.wantID == "" {
				if !errors.Is(err, ErrSignature) {
					t.Fatalf("err = %v, want ErrSignature", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("rejected: %v", err)
			}
			if got := SvixID(tt.header); got != tt.wantID {
				t.Errorf("SvixID = %q, want %q, the id the signature covers", got, tt.wantID)
			}
		})
	}
}

// A secret with no key in it is one anybody can sign with: every scheme
// refuses it when it is built, naming which secret, never quoting it.
func TestEmptyKeyRefused(t *testing.T) {
	schemes := map[string]func([]string) (Func, error){"Stripe": Stripe.Verifier, "Svix": Svix.Verifier, "WorkOS": WorkOS.Verifier, "Bearer": Bearer.Verifier}
	tests := []struct {
		scheme  string
		secrets []string
	}{
		{"Svix", []string{svixA, "whsec_"}},
		{"Svix", []string{svixA, ""}},
		{"Stripe", []string{"whsec_live_secret", "whsec_"}},
		{"Stripe", []string{"whsec_live_secret", ""}},
		{"WorkOS", []string{"sk_live_secret", ""}},
		{"Bearer", []string{"a-long-bearer-token", ""}},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s %q", tt.scheme, tt.secrets[1]), func(t *testing.T) {
			_, err := schemes[tt.scheme](tt.secrets)
			if err == nil || !strings.Contains(err.Error(), "secret 2 of 2") {
				t.Errorf("err = %v, want secret 2 of 2 refused", err)
			}
		})
	}
	for name, build := range schemes {
		if _, err := build([]string{svixA}); err != nil {
			t.Errorf("%s refused a real secret: %v", name, err)
		}
	}
}

func TestSvixRejectsUnusableSecret(t *testing.T) {
	_, err := Svix.Verifier([]string{svixA, "whsec_not base64!"})
	if err == nil || !strings.Contains(err.Error(), "secret 2 of 2") || strings.Contains(err.Error(), "base64!") {
		t.Errorf("err = %v: want secret 2 named, and nothing of it quoted", err)
	}
}

// workOSHeader computes WorkOS's signature independently of WorkOS.Sign.
func workOSHeader(secret string, body []byte, at time.Time) http.Header {
	t := strconv.FormatInt(at.UnixMilli(), 10)
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(t + "." + string(body)))
	return http.Header{"Workos-Signature": {"t=" + t + ", v1=" + hex.EncodeToString(mac.Sum(nil))}}
}

func TestWorkOS(t *testing.T) {
	body := []byte(`{"id":"event_1","event":"user.created"}`)
	now := time.Now()
	check, _ := WorkOS.Verifier([]string{"sk_old", "sk_new"})
	tests := []struct {
		name   string
		header http.Header
		ok     bool
	}{
		{"signed", workOSHeader("sk_new", body, now), true},
		{"old secret during rotation", workOSHeader("sk_old", body, now), true},
		{"WorkOS.Sign agrees", http.Header{"Workos-Signature": {signWorkOS("sk_new", body, now)}}, true},
		{"no header", http.Header{}, false},
		{"malformed", http.Header{"Workos-Signature": {"v1=abcd"}}, false},
		{"seconds, not milliseconds", http.Header{"Workos-Signature": {"t=" + strconv.FormatInt(now.Unix(), 10) + ", v1=00"}}, false},
		{"other secret", workOSHeader("sk_other", body, now), false},
		{"too old", workOSHeader("sk_new", body, now.Add(-Tolerance-time.Minute)), false},
		{"too new", workOSHeader("sk_new", body, now.Add(Tolerance+time.Minute)), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := check(tt.header, body)
			if tt.ok != (err == nil) || (err != nil && !errors.Is(err, ErrSignature)) {
				t.Errorf("err = %v, want ok=%v", err, tt.ok)
			}
		})
	}
	if err := check(workOSHeader("sk_new", body, now), append(body, ' ')); err == nil {
		t.Error("a changed body verified")
	}
}

func TestBearer(t *testing.T) {
	check, _ := Bearer.Verifier([]string{"s3cret-old", "s3cret-new"})
	for auth, ok := range map[string]bool{
		"Bearer s3cret-new": true,
		"Bearer s3cret-old": true,
		"Bearer s3cret":     false,
		"Bearer ":           false,
		"s3cret-new":        false,
		"Basic s3cret-new":  false,
		"":                  false,
	} {
		err := check(http.Header{"Authorization": {auth}}, nil)
		if ok != (err == nil) || (err != nil && !errors.Is(err, ErrSignature)) {
			t.Errorf("Authorization %q: err = %v, want ok=%v", auth, err, ok)
		}
	}
	none, _ := Bearer.Verifier(nil)
	if err := none(http.Header{"Authorization": {"Bearer "}}, nil); !errors.Is(err, ErrSignature) {
		t.Errorf("no secrets: err = %v, want ErrSignature", err)
	}
}
