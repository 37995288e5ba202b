package verify

import (
	"encoding/base64"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The vectors below are providers/testdata/RESEARCH.md's, each named with its
// source; the expected signatures were computed outside Go (openssl, and the
// provider's own SDK where one exists), never with the code under test.

// checkErr fails unless err is nil when ok, and wraps ErrSignature when not.
func checkErr(t *testing.T, err error, ok bool) {
	t.Helper()
	if ok != (err == nil) || (err != nil && !errors.Is(err, ErrSignature)) {
		t.Errorf("err = %v, want ok=%v", err, ok)
	}
}

func TestLemonSqueezy(t *testing.T) {
	// L1: computed with openssl and Node's crypto.createHmac (Lemon Squeezy
	// ships no verifier, so no SDK vector exists).
	const (
		secret = "lsq-signing-secret-6f1e2d"
		body   = `{"meta":{"event_name":"order_created","webhook_id":"7f4c2a9e-3b1d-4e8f-9a6c-5d2e1f0b8c47"},"data":{"type":"orders","id":"2384851"}}`
		sig    = "688986e0a4dd018870fec135cab4c51900421d9a34fe7024f28672005862afca"
	)
	check, err := LemonSqueezy.Verifier([]string{"lsq-old-secret-0000", secret})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		sig  string
		body string
		ok   bool
	}{
		{"L1", sig, body, true},
		{"L1 in upper case", strings.ToUpper(sig), body, true},
		{"L1, body changed", sig, body + " ", false},
		{"L1, one digit changed", "7" + sig[1:], body, false},
		{"truncated", sig[:62], body, false},
		{"not hex", strings.Repeat("z", 64), body, false},
		{"missing", "", body, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			if tt.sig != "" {
				h.Set("X-Signature", tt.sig)
			}
			checkErr(t, check(h, []byte(tt.body)), tt.ok)
		})
	}
	if h, _ := LemonSqueezy.Sign(secret, "", []byte(body), time.Time{}); h.Get("X-Signature") != sig {
		t.Errorf("Sign = %q, want L1's %q", h.Get("X-Signature"), sig)
	}
	other, _ := LemonSqueezy.Verifier([]string{"another-secret-of-16"})
	checkErr(t, other(http.Header{"X-Signature": {sig}}, []byte(body)), false)
}

// The Polar vectors, checked with @polar-sh/sdk 1.0.1 validateWebhook.
var polarVectors = []struct {
	name, secret, id, ts, body, sig string
}{
	// P1: the Standard Webhooks reference vector ("sign function works",
	// standard-webhooks libraries/javascript/src/webhook.test.ts): key =
	// the decoded base64, the form of secrets made since 2026-09-08.
	{"P1 decoded key", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_p5jXN8AQM9LWM0D4loKWxJek", "1614265330", `{"test": 2432232314}`, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="},
	// P1b: the same secret keyed with its UTF-8 bytes, as Polar signs with a
	// secret made before the cutoff.
	{"P1b UTF-8 key", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_p5jXN8AQM9LWM0D4loKWxJek", "1614265330", `{"test": 2432232314}`, "v1,TcxlhK9b6UD6iVI1ZU2tTqp8PEVfYRseNNfa6b+LcUg="},
	// P2: Polar's own test secret (server test_polar_token_before_cutoff),
	// valid base64 yet signed with its UTF-8 bytes.
	{"P2 legacy whsec_ that is base64", "whsec_legacyPolarToken", "msg_1", "1790590443", `{"foo":"bar"}`, "v1,uhCcEaWre+EssZF9MV0+mDhRPjyoGKZIfU9QTW6pFYo="},
	{"P2b its decoded 12 bytes", "whsec_legacyPolarToken", "msg_1", "1790590443", `{"foo":"bar"}`, "v1,6pNSPDtOKZDHruF+IUD4RK9YhYEhCmH1MqqDMilow80="},
	// P3: the older polar_whs_ prefix, not base64: UTF-8 only.
	{"P3 polar_whs_", "polar_whs_yMnKy8zNzs_Q0dLT1NXW19jZ2tvc3d7f4OHi4-Tl5uc", "3f9c2b7e-1a4d-4e8b-9c6f-0d2a5b8e1c47", "1790590443", `{"type":"order.paid","data":{"id":"b3f7d1a9-5c2e-4a8b-9e6d-0f2c4a6e8b15"}}`, "v1,VlXKOvRPy1h9n+HQ7OdwrHqOU2tfNd/2ZNSAA5R8RKk="},
	// P4: the current form, 32 bytes 00..1f (also what standardwebhooks'
	// sign returns).
	{"P4 current form", "whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=", "3f9c2b7e-1a4d-4e8b-9c6f-0d2a5b8e1c47", "1790590443", `{"type":"order.paid","data":{"id":"b3f7d1a9-5c2e-4a8b-9e6d-0f2c4a6e8b15"}}`, "v1,wm/yEStRIPPtOvjPogha1OegZwPWavVkwikcl6H/big="},
}

func polarHeader(id, ts, sig string) http.Header {
	h := http.Header{}
	h.Set("webhook-id", id)
	h.Set("webhook-timestamp", ts)
	h.Set("webhook-signature", sig)
	return h
}

func TestPolarVectors(t *testing.T) {
	for _, v := range polarVectors {
		t.Run(v.name, func(t *testing.T) {
			unix, _ := strconv.ParseInt(v.ts, 10, 64)
			at := time.Unix(unix, 0).Add(time.Second)
			keys := polarKeys(v.secret)
			checkErr(t, polarVerify(keys, polarHeader(v.id, v.ts, v.sig), []byte(v.body), at), true)
			checkErr(t, polarVerify(keys, polarHeader(v.id, v.ts, v.sig), []byte(v.body+" "), at), false)
			checkErr(t, polarVerify(keys, polarHeader(v.id+"x", v.ts, v.sig), []byte(v.body), at), false)
			checkErr(t, polarVerify(keys, polarHeader(v.id, v.ts, v.sig), []byte(v.body), at.Add(Tolerance)), false)
		})
	}
	// P4 with P3's signature first: the second entry matches. P4 with only
	// P3's (made with another secret) fails.
	p3, p4 := polarVectors[4], polarVectors[5]
	at := time.Unix(1790590444, 0)
	checkErr(t, polarVerify(polarKeys(p4.secret), polarHeader(p4.id, p4.ts, p3.sig+" "+p4.sig), []byte(p4.body), at), true)
	checkErr(t, polarVerify(polarKeys(p4.secret), polarHeader(p4.id, p4.ts, p3.sig), []byte(p4.body), at), false)
}

func TestPolar(t *testing.T) {
	const current, legacy = "whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=", "polar_whs_yMnKy8zNzs_Q0dLT1NXW19jZ2tvc3d7f4OHi4-Tl5uc"
	body := []byte(`{"type":"order.paid"}`)
	now := time.Now()
	check, err := Polar.Verifier([]string{legacy, current})
	if err != nil {
		t.Fatal(err)
	}
	sign := func(secret, id string, at time.Time) http.Header {
		h, err := Polar.Sign(secret, id, body, at)
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	// svixHeader signs with the svix library: a Standard Webhooks signer
	// independent of Polar.Sign, under the webhook-* names.
	tests := []struct {
		name   string
		header http.Header
		ok     bool
	}{
		{"current secret, svix library's signature", svixHeader(t, "webhook", current, "msg_1", body, now), true},
		{"current secret", sign(current, "msg_1", now), true},
		{"legacy secret, during a rotation", sign(legacy, "msg_1", now), true},
		{"svix-* names: not what Polar sends", svixHeader(t, "svix", current, "msg_1", body, now), false},
		{"no headers", http.Header{}, false},
		{"other secret", sign("whsec_"+base64.StdEncoding.EncodeToString([]byte("another polar key, 32 bytes long")), "msg_1", now), false},
		{"too old", sign(current, "msg_1", now.Add(-Tolerance-time.Minute)), false},
		{"too new", sign(current, "msg_1", now.Add(Tolerance+time.Minute)), false},
		{"timestamp not a number", func() http.Header { h := sign(current, "msg_1", now); h.Set("webhook-timestamp", "soon"); return h }(), false},
		{"id swapped after signing", func() http.Header { h := sign(current, "msg_1", now); h.Set("webhook-id", "msg_2"); return h }(), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { checkErr(t, check(tt.header, body), tt.ok) })
	}
	if got := PolarID(sign(current, "msg_7", now)); got != "msg_7" {
		t.Errorf("PolarID = %q, want msg_7", got)
	}
}

func TestPolarSecrets(t *testing.T) {
	for _, secret := range []string{"", "whsec_", "polar_whs_"} {
		if _, err := Polar.Verifier([]string{"whsec_legacyPolarToken", secret}); err == nil || !strings.Contains(err.Error(), "secret 2 of 2") {
			t.Errorf("secret %q: err = %v, want secret 2 of 2 refused", secret, err)
		}
	}
	tests := []struct {
		secret string
		key    int // length of Key
	}{
		{"whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=", 32},
		{"whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8", 32}, // unpadded
		{"whsec_legacyPolarToken", 12},
		{"polar_whs_yMnKy8zNzs_Q0dLT1NXW19jZ2tvc3d7f4OHi4-Tl5uc", 43},
		{"whsec_", 0},
	}
	for _, tt := range tests {
		if got := len(Polar.Key(tt.secret)); got != tt.key {
			t.Errorf("Key(%q) has %d bytes, want %d", tt.secret, got, tt.key)
		}
	}
	if s := Polar.NewSecret(); len(Polar.Key(s)) != 32 || !strings.HasPrefix(s, "whsec_") {
		t.Errorf("NewSecret %q is not whsec_ and 32 bytes of base64", s)
	}
}

func TestPaddleVectors(t *testing.T) {
	// D1: Paddle's own vector, the examplePayload, exampleSecretKey and
	// exampleSignature constants of PaddleHQ/paddle-go-sdk
	// example_webhook_verifier_test.go.
	const d1Body = `{"data":{"id":"pri_01hsdn96k2hxjzsq5yerecdj9j","name":null,"status":"active","quantity":{"maximum":999999,"minimum":1},"tax_mode":"account_setting","product_id":"pro_01hsdn8qp7yydry3x1yeg6a9rv","unit_price":{"amount":"1000","currency_code":"USD"},"custom_data":null,"description":"testing","import_meta":null,"trial_period":null,"billing_cycle":{"interval":"month","frequency":1},"unit_price_overrides":[]},"event_id":"evt_01hsdn97563968dy0szkmgjwh3","event_type":"price.created","occurred_at":"2024-03-20T10:07:35.590857Z","notification_id":"ntf_01hsdn977e920kbgzt6r6c9rqc"}`
	// D2, D2b: computed with openssl; the Node SDK agrees on D2 (on D2b it
	// reads only the last h1, and says no).
	const (
		d2Secret = "pdl_ntfset_01hv6xz3k2m9q8r7w5t4y1b0cd_Z9yX8wV7uT6sR5qP4oN3mL2kJ1iH0gFe"
		d2Body   = `{"event_id":"evt_01hv8x2a5dgakcqhk4m5tx2jan","event_type":"transaction.completed","data":{"id":"txn_01hv8wptq8987qeep44cyrewp9"}}`
		d2MAC    = "f7e0a16e1b08865815587c29ce5bd36862f1f6356a1bd41719286a5972cc7260"
	)
	zeros := strings.Repeat("0", 64)
	tests := []struct {
		name, secret, header, body string
		at                         int64
		ok                         bool
	}{
		{"D1", "pdl_ntfset_01hsdn8d43dt7mezr1ef2jtbaw_hKkRiCGyyRhbFwIUuqiTBgI7gnWoV0Gr",
			"ts=1710929255;h1=6c05ef8fa83c44d751be6d259ec955ce5638e2c54095bf128e408e2fce1589c8", d1Body, 1710929255, true},
		{"D1 five minutes and a second late", "pdl_ntfset_01hsdn8d43dt7mezr1ef2jtbaw_hKkRiCGyyRhbFwIUuqiTBgI7gnWoV0Gr",
			"ts=1710929255;h1=6c05ef8fa83c44d751be6d259ec955ce5638e2c54095bf128e408e2fce1589c8", d1Body, 1710929255 + 301, false},
		{"D2", d2Secret, "ts=1790590443;h1=" + d2MAC, d2Body, 1790590443, true},
		{"D2b, the matching h1 first", d2Secret, "ts=1790590443;h1=" + d2MAC + ";h1=" + zeros, d2Body, 1790590443, true},
		{"D2b reversed", d2Secret, "ts=1790590443;h1=" + zeros + ";h1=" + d2MAC, d2Body, 1790590443, true},
		{"D2, other body", d2Secret, "ts=1790590443;h1=" + d2MAC, d2Body + " ", 1790590443, false},
		{"D2, other timestamp", d2Secret, "ts=1790590444;h1=" + d2MAC, d2Body, 1790590443, false},
		{"D2, two timestamps", d2Secret, "ts=1790590443;ts=1790590444;h1=" + d2MAC, d2Body, 1790590443, false},
		{"D2, WorkOS's separator", d2Secret, "ts=1790590443, h1=" + d2MAC, d2Body, 1790590443, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{"Paddle-Signature": {tt.header}}
			checkErr(t, Paddle.verify([]string{tt.secret}, h, []byte(tt.body), time.Unix(tt.at, 0)), tt.ok)
		})
	}
	if h, _ := Paddle.Sign(d2Secret, "", []byte(d2Body), time.Unix(1790590443, 0)); h.Get("Paddle-Signature") != "ts=1790590443;h1="+d2MAC {
		t.Errorf("Sign = %q, want D2's header", h.Get("Paddle-Signature"))
	}
	// Through Verifier, at the real clock.
	check, _ := Paddle.Verifier([]string{d2Secret})
	h, _ := Paddle.Sign(d2Secret, "", []byte(d2Body), time.Now())
	checkErr(t, check(h, []byte(d2Body)), true)
}

func TestBasic(t *testing.T) {
	const long = "reditus:s3cr3t:with:colons-2026"
	tests := []struct {
		name, secret, auth string
		ok                 bool
	}{
		// C1: chargebee-node test/webhook.test.ts.
		{"C1", "testuser:testpass", "Basic dGVzdHVzZXI6dGVzdHBhc3M=", true},
		{"C1, scheme in lower case", "testuser:testpass", "basic dGVzdHVzZXI6dGVzdHBhc3M=", true},
		{"C1, wrong password", "testuser:testpasS", "Basic dGVzdHVzZXI6dGVzdHBhc3M=", false},
		{"C1, wrong user", "testusex:testpass", "Basic dGVzdHVzZXI6dGVzdHBhc3M=", false},
		// C2: a password with colons, split at the first as the Chargebee
		// SDK's basicAuthValidator splits it (computed with base64(1)).
		{"C2", long, "Basic cmVkaXR1czpzM2NyM3Q6d2l0aDpjb2xvbnMtMjAyNg==", true},
		{"C2 split at the last colon", "reditus:s3cr3t:with:colons-2026x", "Basic cmVkaXR1czpzM2NyM3Q6d2l0aDpjb2xvbnMtMjAyNg==", false},
		{"C2 unpadded", long, "Basic cmVkaXR1czpzM2NyM3Q6d2l0aDpjb2xvbnMtMjAyNg", false},
		{"bearer", long, "Bearer cmVkaXR1czpzM2NyM3Q6d2l0aDpjb2xvbnMtMjAyNg==", false},
		{"no colon in the credentials", long, "Basic " + base64.StdEncoding.EncodeToString([]byte("reditus")), false},
		{"none", long, "", false},
		// A secret without a colon is the password of the user "reditus":
		// the development secret's form.
		{"password alone", "a-password-of-16+", "Basic " + base64.StdEncoding.EncodeToString([]byte("reditus:a-password-of-16+")), true},
		{"password alone, another user", "a-password-of-16+", "Basic " + base64.StdEncoding.EncodeToString([]byte("admin:a-password-of-16+")), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			check := basicVerifier([]string{"another:password-of-sixteen", tt.secret})
			checkErr(t, check(http.Header{"Authorization": {tt.auth}}, nil), tt.ok)
		})
	}
	if h, _ := Basic.Sign(long, "", nil, time.Time{}); h.Get("Authorization") != "Basic cmVkaXR1czpzM2NyM3Q6d2l0aDpjb2xvbnMtMjAyNg==" {
		t.Errorf("Sign = %q, want C2's header", h.Get("Authorization"))
	}
}

func TestBasicSecrets(t *testing.T) {
	for _, secret := range []string{"", "user:", "testuser:testpass", "user:fifteen-chars-x", "short"} {
		_, err := Basic.Verifier([]string{"reditus:a-password-of-16+", secret})
		if err == nil || !strings.Contains(err.Error(), "secret 2 of 2") || (len(secret) > 5 && strings.Contains(err.Error(), secret)) {
			t.Errorf("secret %q: err = %v, want secret 2 of 2 refused, unquoted", secret, err)
		}
	}
	if _, err := Basic.Verifier([]string{"reditus:sixteen-chars-ok"}); err != nil {
		t.Errorf("a 16-character password: %v", err)
	}
	for secret, key := range map[string]string{"user:pass:word": "pass:word", "just-a-password": "just-a-password", "user:": ""} {
		if got := string(Basic.Key(secret)); got != key {
			t.Errorf("Key(%q) = %q, want the password %q", secret, got, key)
		}
	}
	s := Basic.NewSecret()
	if _, err := Basic.Verifier([]string{s}); err != nil || !strings.HasPrefix(s, BasicUser+":") {
		t.Errorf("NewSecret %q: %v", s, err)
	}
}

// Every new scheme refuses an empty secret, naming its position.
func TestMoneySchemesRefuseEmpty(t *testing.T) {
	for name, s := range map[string]Scheme{"LemonSqueezy": LemonSqueezy, "Polar": Polar, "Paddle": Paddle, "Basic": Basic} {
		if _, err := s.Verifier([]string{s.NewSecret(), ""}); err == nil || !strings.Contains(err.Error(), "secret 2 of 2") {
			t.Errorf("%s: err = %v, want secret 2 of 2 refused", name, err)
		}
		none, err := s.Verifier(nil)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		h, _ := s.Sign(s.NewSecret(), "msg_1", []byte(`{}`), time.Now())
		checkErr(t, none(h, []byte(`{}`)), false)
	}
}
