package verify

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Fuzz targets for the money providers' schemes. Each states, without the
// code under test, which headers carry a MAC (or credentials) made with a
// configured secret, and checks the verifier's verdict against it both ways
// where the scheme is simple enough to state: it accepts exactly those.

// hmacSHA256 is the oracle's own HMAC.
func hmacSHA256(key, msg []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write(msg)
	return m.Sum(nil)
}

// twoWay fails unless the verifier accepted exactly when it should have,
// and every refusal wraps ErrSignature.
func twoWay(t *testing.T, err error, want bool) {
	t.Helper()
	checkVerdict(t, err, want)
	if want && err != nil {
		t.Fatalf("refused a header that carries a valid signature: %v", err)
	}
}

func FuzzLemonSqueezy(f *testing.F) {
	body := []byte(`{"meta":{"event_name":"order_created"}}`)
	f.Add(hex.EncodeToString(hmacSHA256([]byte(fuzzSecrets[1]), body)), body)
	f.Add(strings.ToUpper(hex.EncodeToString(hmacSHA256([]byte(fuzzSecrets[0]), body))), body)
	f.Add("", []byte(nil))
	f.Add("zz", []byte{0xff})
	check, err := LemonSqueezy.Verifier(fuzzSecrets)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, header string, body []byte) {
		var carries bool
		for _, s := range fuzzSecrets {
			carries = carries || strings.EqualFold(header, hex.EncodeToString(hmacSHA256([]byte(s), body)))
		}
		twoWay(t, check(http.Header{"X-Signature": {header}}, body), carries)
		signed, _ := LemonSqueezy.Sign(fuzzSecrets[1], "", body, time.Time{})
		twoWay(t, check(signed, body), true)
	})
}

// polarFuzzSecrets are one secret of each form: "whsec_" and base64 (tried
// both ways), and the older "polar_whs_" (UTF-8 only).
var polarFuzzSecrets = []string{fuzzSecrets[1], "polar_whs_ZnV6ei1sZWdhY3ktdG9rZW4tZm9yLXRlc3Rz"}

func FuzzPolar(f *testing.F) {
	now := time.Unix(1790590443, 0)
	ts := strconv.FormatInt(now.Unix(), 10)
	body := []byte(`{"type":"order.paid"}`)
	for _, s := range polarFuzzSecrets {
		h, _ := Polar.Sign(s, "msg_1", body, now)
		f.Add("msg_1", ts, h.Get("webhook-signature"), body)
	}
	utf8Key := "v1," + base64.StdEncoding.EncodeToString(hmacSHA256([]byte(fuzzSecrets[1]), []byte("msg_1."+ts+"."+string(body))))
	f.Add("msg_1", ts, "v2,x "+utf8Key, body)
	f.Add("", "", "", []byte(nil))
	f.Add("msg_1", "99999999999999999999", "v1, v1,,", []byte(`{}`))
	var keys [][]byte
	for _, s := range polarFuzzSecrets {
		keys = append(keys, polarKeys(s)...)
	}
	// The oracle's keys: each secret's UTF-8 bytes, and the base64 after
	// "whsec_" (RESEARCH.md: Polar's SDKs try both).
	oracleKeys := [][]byte{[]byte(polarFuzzSecrets[0]), []byte(polarFuzzSecrets[1])}
	decoded, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(polarFuzzSecrets[0], "whsec_"))
	oracleKeys = append(oracleKeys, decoded)
	f.Fuzz(func(t *testing.T, id, timestamp, signature string, body []byte) {
		h := http.Header{}
		h.Set("webhook-id", id)
		h.Set("webhook-timestamp", timestamp)
		h.Set("webhook-signature", signature)
		unix, err := strconv.ParseInt(timestamp, 10, 64)
		fresh := err == nil && unix >= now.Unix()-int64(Tolerance/time.Second) && unix <= now.Unix()+int64(Tolerance/time.Second)
		var carries bool
		for _, key := range oracleKeys {
			want := "v1," + base64.StdEncoding.EncodeToString(hmacSHA256(key, []byte(id+"."+timestamp+"."+string(body))))
			for _, entry := range strings.Fields(signature) {
				carries = carries || entry == want
			}
		}
		twoWay(t, polarVerify(keys, h, body, now), id != "" && fresh && carries)

		signed, _ := Polar.Sign(polarFuzzSecrets[0], "msg_fuzz", body, now)
		twoWay(t, polarVerify(keys, signed, body, now), true)
	})
}

// paddleTS is the last ts= of a Paddle-Signature header.
func paddleTS(header string) string {
	var ts string
	for _, part := range strings.Split(header, ";") {
		if k, v, _ := strings.Cut(strings.TrimSpace(part), "="); k == "ts" {
			ts = v
		}
	}
	return ts
}

func FuzzPaddle(f *testing.F) {
	now := time.Unix(1790590443, 0)
	body := []byte(`{"event_type":"transaction.completed"}`)
	signed, _ := Paddle.Sign(fuzzSecrets[1], "", body, now)
	f.Add(signed.Get("Paddle-Signature"), body)
	f.Add("ts=1;h1=00", []byte(`{}`))
	f.Add(";;;=;ts==;h1", []byte{})
	f.Add("ts=1790590443;h1=zz;h1="+strings.Repeat("0", 64), body)
	f.Fuzz(func(t *testing.T, header string, body []byte) {
		ts := paddleTS(header)
		carries := carriesHexMAC(header, func(s string) []byte { return hmacSHA256([]byte(s), []byte(ts+":"+string(body))) })
		checkVerdict(t, Paddle.verify(fuzzSecrets, http.Header{"Paddle-Signature": {header}}, body, now), carries)

		proper, _ := Paddle.Sign(fuzzSecrets[1], "", body, now)
		twoWay(t, Paddle.verify(fuzzSecrets, proper, body, now), true)
	})
}

func FuzzBasic(f *testing.F) {
	secrets := []string{"reditus:fuzz-password-0001", "user:pass:with:colons-fuzz", "password-alone-for-reditus"}
	for _, s := range secrets {
		h, _ := Basic.Sign(s, "", nil, time.Time{})
		f.Add(h.Get("Authorization"))
	}
	f.Add("Basic")
	f.Add("basic cmVkaXR1czpmdXp6LXBhc3N3b3JkLTAwMDE")
	f.Add("Bearer reditus:fuzz-password-0001")
	check, err := Basic.Verifier(secrets)
	if err != nil {
		f.Fatal(err)
	}
	// What each secret's sender puts after "Basic ".
	credentials := []string{"reditus:fuzz-password-0001", "user:pass:with:colons-fuzz", "reditus:password-alone-for-reditus"}
	f.Fuzz(func(t *testing.T, auth string) {
		scheme, token, _ := strings.Cut(auth, " ")
		// Decoded as the verifier does: strictly, so that a token whose
		// padding bits are not zero (which no client sends) carries
		// nothing; Go's decoder still skips \r and \n, as RFC 2045
		// allows, so a token broken by a newline carries the credentials
		// (and net/http never lets a header value hold one).
		decoded, err := base64.StdEncoding.Strict().DecodeString(token)
		var carries bool
		for _, c := range credentials {
			carries = carries || (strings.EqualFold(scheme, "Basic") && err == nil && string(decoded) == c)
		}
		twoWay(t, check(http.Header{"Authorization": {auth}}, nil), carries)
	})
}

// FuzzMollie: a next-gen header (bare hex or "sha256=", any case) is
// accepted exactly when it carries the MAC of the body with a configured
// secret; without the header, exactly the classic form id=tr_... is let
// through (for the API step to read), and nothing else.
func FuzzMollie(f *testing.F) {
	body := []byte(`{"resource":"event","type":"payment.paid"}`)
	f.Add(hex.EncodeToString(hmacSHA256([]byte(fuzzSecrets[0]), body)), body)
	f.Add("sha256="+hex.EncodeToString(hmacSHA256([]byte(fuzzSecrets[1]), body)), body)
	f.Add("", []byte("id=tr_WDqYK6vllg"))
	f.Add("", []byte("id=tr_a&id=tr_b"))
	f.Add("sha256=", []byte{0xff})
	check, err := Mollie.Verifier(fuzzSecrets)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, header string, body []byte) {
		h := http.Header{}
		if header != "" {
			h.Set(MollieSignature, header)
		}
		hexMAC := strings.TrimPrefix(strings.TrimSpace(h.Get(MollieSignature)), "sha256=")
		var want bool
		for _, s := range fuzzSecrets {
			want = want || strings.EqualFold(hexMAC, hex.EncodeToString(hmacSHA256([]byte(s), body)))
		}
		if h.Get(MollieSignature) == "" {
			_, want = ClassicMollieID(body)
			if id, ok := ClassicMollieID(body); ok && (!strings.HasPrefix(id, "tr_") || strings.ContainsAny(id, "/%?#&=")) {
				t.Fatalf("classic id %q let through", id)
			}
		}
		twoWay(t, check(h, body), want)
		signed, _ := Mollie.Sign(fuzzSecrets[1], "", body, time.Time{})
		twoWay(t, check(signed, body), true)
	})
}
