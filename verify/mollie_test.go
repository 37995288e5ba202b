package verify_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/getreditus/reditus-bridge/verify"
)

// mollieHeader signs as Mollie's documentation and PHP SDK do:
// hash_hmac('sha256', $payload, $secret), lowercase hex, computed here and
// not by the scheme.
func mollieHeader(secret, prefix string, body []byte) http.Header {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	h := http.Header{}
	h.Set("X-Mollie-Signature", prefix+hex.EncodeToString(mac.Sum(nil)))
	return h
}

// Both of Mollie's webhook systems on one route: next-gen deliveries signed
// with X-Mollie-Signature (bare or "sha256=", any of several headers, any of
// several secrets), and classic ones, unsigned, accepted only in their one
// form, id=tr_..., which the API step then reads from Mollie.
func TestMollie(t *testing.T) {
	const secret, old = "mollie_whsec_current_0123456789", "mollie_whsec_old_0123456789"
	event := []byte(`{"resource":"event","id":"event_1","type":"payment.paid","entityId":"tr_1"}`)
	twoHeaders := mollieHeader("wrong", "", event)
	twoHeaders.Add("X-Mollie-Signature", mollieHeader(secret, "sha256=", event).Get("X-Mollie-Signature"))
	tests := []struct {
		name    string
		secrets []string
		header  http.Header
		body    []byte
		ok      bool
	}{
		{"next-gen, bare hex", []string{secret}, mollieHeader(secret, "", event), event, true},
		{"next-gen, sha256= prefix", []string{secret}, mollieHeader(secret, "sha256=", event), event, true},
		{"next-gen, the old secret during a rotation", []string{secret, old}, mollieHeader(old, "", event), event, true},
		{"next-gen, two signature headers, one right", []string{secret}, twoHeaders, event, true},
		{"next-gen, another secret", []string{secret}, mollieHeader("another", "", event), event, false},
		{"next-gen, the body changed", []string{secret}, mollieHeader(secret, "", event), append([]byte(" "), event...), false},
		{"next-gen, not hex", []string{secret}, http.Header{"X-Mollie-Signature": {"sha256=zz"}}, event, false},
		{"next-gen without MOLLIE_WEBHOOK_SECRET", nil, mollieHeader(secret, "", event), event, false},
		{"classic", nil, http.Header{}, []byte("id=tr_d0b0E3EA3v"), true},
		{"classic, a secret configured too", []string{secret}, http.Header{}, []byte("id=tr_5B8cwPMGnU6qLbRvo7qEZo"), true},
		{"unsigned JSON", []string{secret}, http.Header{}, event, false},
		{"classic with another field", nil, http.Header{}, []byte("id=tr_d0b0E3EA3v&status=paid"), false},
		{"classic naming an order", nil, http.Header{}, []byte("id=ord_kEn1PlbGa"), false},
		{"classic naming two payments", nil, http.Header{}, []byte("id=tr_a&id=tr_b"), false},
		{"classic with a path in the id", nil, http.Header{}, []byte("id=tr_a%2F..%2Fcustomers"), false},
		{"empty", nil, http.Header{}, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			check, err := verify.Mollie.Verifier(tt.secrets)
			if err != nil {
				t.Fatal(err)
			}
			err = check(tt.header, tt.body)
			if (err == nil) != tt.ok || (err != nil && !errors.Is(err, verify.ErrSignature)) {
				t.Fatalf("got %v, want ok=%v", err, tt.ok)
			}
		})
	}
	// The scheme's own signature is the documented one.
	h, _ := verify.Mollie.Sign(secret, "", event, time.Now())
	if got, want := h.Get("X-Mollie-Signature"), mollieHeader(secret, "", event).Get("X-Mollie-Signature"); got != want {
		t.Errorf("Sign: %q, want %q", got, want)
	}
	if _, err := verify.Mollie.Verifier([]string{secret, ""}); err == nil {
		t.Error("an empty secret in the list: accepted, want refused")
	}
}

func TestClassicMollieID(t *testing.T) {
	if id, ok := verify.ClassicMollieID([]byte("id=tr_WDqYK6vllg")); !ok || id != "tr_WDqYK6vllg" {
		t.Errorf("got %q, %v", id, ok)
	}
}
