package verify

import (
	"encoding/hex"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stripe/stripe-go/v76/webhook"
)

// Every verifier, fed any header and body: it never panics, rejects with
// ErrSignature, and accepts only a header that carries a MAC made with a
// configured secret over its own timestamp and this body. Each target also
// signs the fuzzed body properly and checks that it passes, so a verifier
// that rejected everything would fail too.

var fuzzSecrets = []string{"whsec_b3RoZXItc2VjcmV0", "whsec_ZnV6ei1zZWNyZXQtZm9yLXRlc3Rz"}

func checkVerdict(t *testing.T, err error, carriesMAC bool) {
	t.Helper()
	if err != nil && !errors.Is(err, ErrSignature) {
		t.Fatalf("error %v is not ErrSignature", err)
	}
	if err == nil && !carriesMAC {
		t.Fatal("accepted a header that carries no MAC made with a configured secret")
	}
}

// lastValue is the last "key=value" of key in a comma-separated header, as
// the Stripe and WorkOS parsers read it.
func lastValue(header, key string) string {
	var v string
	for _, part := range strings.Split(header, ",") {
		if k, val, _ := strings.Cut(strings.TrimSpace(part), "="); k == key {
			v = val
		}
	}
	return v
}

// carriesHexMAC reports whether header holds, in any case, the hex of a MAC
// that mac computes with one of the secrets.
func carriesHexMAC(header string, mac func(secret string) []byte) bool {
	for _, s := range fuzzSecrets {
		if strings.Contains(strings.ToLower(header), hex.EncodeToString(mac(s))) {
			return true
		}
	}
	return false
}

func FuzzStripe(f *testing.F) {
	now := time.Now()
	f.Add("t=1,v1=00", []byte(`{"id":"evt_1"}`))
	f.Add(webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: []byte(`{}`), Secret: fuzzSecrets[1], Timestamp: now}).Header, []byte(`{}`))
	f.Add("t=,v1=,v1=zz,,=", []byte{0xff})
	check, _ := Stripe.Verifier(fuzzSecrets)
	f.Fuzz(func(t *testing.T, header string, body []byte) {
		ts, _ := strconv.ParseInt(lastValue(header, "t"), 10, 64)
		carries := carriesHexMAC(header, func(s string) []byte { return webhook.ComputeSignature(time.Unix(ts, 0), body, s) })
		checkVerdict(t, check(http.Header{"Stripe-Signature": {header}}, body), carries)

		signed := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: body, Secret: fuzzSecrets[1], Timestamp: now}).Header
		if err := check(http.Header{"Stripe-Signature": {signed}}, body); err != nil {
			t.Fatalf("rejected a proper signature: %v", err)
		}
	})
}

func FuzzSvix(f *testing.F) {
	now := time.Now()
	f.Add("msg_1", "1", "v1,AAAA", []byte(`{}`))
	f.Add("", "", "", []byte(nil))
	f.Add("msg_1", "99999999999999999999", "v1, v2,x v1,", []byte(`{"a":1}`))
	check, err := Svix.Verifier(fuzzSecrets)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, id, timestamp, signature string, body []byte) {
		h := http.Header{}
		h.Set("svix-id", id)
		h.Set("svix-timestamp", timestamp)
		h.Set("svix-signature", signature)
		ts, _ := strconv.ParseInt(h.Get("svix-timestamp"), 10, 64)
		var carries bool
		for _, s := range fuzzSecrets {
			proper, err := SignSvix("svix", s, h.Get("svix-id"), body, time.Unix(ts, 0))
			if err != nil {
				t.Fatal(err)
			}
			_, mac, _ := strings.Cut(proper.Get("svix-signature"), ",")
			carries = carries || strings.Contains(h.Get("svix-signature"), mac)
		}
		checkVerdict(t, check(h, body), carries)

		if proper, _ := SignSvix("svix", fuzzSecrets[1], "msg_fuzz", body, now); check(proper, body) != nil {
			t.Fatalf("rejected a proper signature: %v", check(proper, body))
		}
	})
}

func FuzzWorkOS(f *testing.F) {
	now := time.Now()
	f.Add("t=1, v1=00", []byte(`{}`))
	f.Add(signWorkOS(fuzzSecrets[1], []byte(`{}`), now), []byte(`{}`))
	f.Add(",,,=,t==,v1", []byte{})
	check, _ := WorkOS.Verifier(fuzzSecrets)
	f.Fuzz(func(t *testing.T, header string, body []byte) {
		ts := lastValue(header, "t")
		carries := carriesHexMAC(header, func(s string) []byte { return workOSMAC(s, ts, body) })
		checkVerdict(t, check(http.Header{"Workos-Signature": {header}}, body), carries)
		if err := check(http.Header{"Workos-Signature": {signWorkOS(fuzzSecrets[1], body, now)}}, body); err != nil {
			t.Fatalf("rejected a proper signature: %v", err)
		}
	})
}

func FuzzBearer(f *testing.F) {
	f.Add("Bearer " + fuzzSecrets[1])
	f.Add("Bearer")
	f.Add("bearer " + fuzzSecrets[1])
	check, _ := Bearer.Verifier(fuzzSecrets)
	f.Fuzz(func(t *testing.T, auth string) {
		token, ok := strings.CutPrefix(auth, "Bearer ")
		token = strings.TrimSpace(token)
		checkVerdict(t, check(http.Header{"Authorization": {auth}}, nil), ok && (token == fuzzSecrets[0] || token == fuzzSecrets[1]))
	})
}
