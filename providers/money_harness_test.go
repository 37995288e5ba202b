package providers_test

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getreditus/reditus-bridge/config"
	"github.com/getreditus/reditus-bridge/handlers"
	"github.com/getreditus/reditus-bridge/internal/fakereditus"
	"github.com/getreditus/reditus-bridge/mapping"
	"github.com/getreditus/reditus-bridge/pipeline"
	"github.com/getreditus/reditus-bridge/providers"
	"github.com/getreditus/reditus-bridge/reditus"
)

// The harness the money providers' tests share: their testdata, a bridge
// built by handlers.New with one provider on and a fake Reditus, and the
// checks every provider must pass (docs/design.md, "Reditus" and "Answers").

// The cookie every testdata file carries (testdata/README.md), decoded.
const (
	clickID   = "0f8fad5b-d9cb-469f-a165-70867728950e"
	testEmail = "john.doe@example.com"
)

// provider returns the registered provider called name.
func provider(t testing.TB, name string) providers.Provider {
	t.Helper()
	p, err := providers.Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// testdata reads a file under testdata/.
func testdata(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", path))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// mapCase is one row of a provider's mapping table: a testdata file (or a
// body), and the event it must map to. Fields left zero must be zero.
type mapCase struct {
	fixture    string // under testdata/; or body
	body       string
	label      string         // names a patched fixture
	patch      map[string]any // dotted path: value (or deleted) set in the fixture
	accept     bool           // {NAME}_ACCEPT_TEST_EVENTS=true
	id, typ    string
	skip       string // a part of Skip; "" when nothing is skipped
	note       string // a part of Note
	conversion reditus.Conversion
	payment    *reditus.Payment
	refund     *reditus.Refund
	churn      *reditus.Churn
	invalid    bool // mapping fails with ErrInvalidPayload
	// customer is whom a refund refunds (its Email and UID), which Reditus
	// does not need and the journal keeps: /admin?email= finds the refund.
	customer [2]string
}

func (c mapCase) name() string {
	switch {
	case c.label != "":
		return c.fixture + ", " + c.label
	case c.fixture != "":
		return c.fixture
	}
	return c.body
}

// deleted, as a patch value, removes the key.
var deleted = &struct{}{}

// patched is the fixture at path with each dotted path in patch set to its
// value: a variant of a documented sample that differs where the row says.
func patched(t *testing.T, path string, patch map[string]any) []byte {
	t.Helper()
	if len(patch) == 0 {
		return testdata(t, path) // the bytes as they are
	}
	var obj map[string]any
	if err := json.Unmarshal(testdata(t, path), &obj); err != nil {
		t.Fatal(err)
	}
	for at, v := range patch {
		keys := strings.Split(at, ".")
		m := obj
		for _, k := range keys[:len(keys)-1] {
			next, ok := m[k].(map[string]any)
			if !ok {
				t.Fatalf("%s: no object at %s", path, at)
			}
			m = next
		}
		if v == deleted {
			delete(m, keys[len(keys)-1])
		} else {
			m[keys[len(keys)-1]] = v
		}
	}
	b, err := json.Marshal(obj)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// runMapCases checks provider name's mapping against the table, and that the
// table covers every testdata file of the provider.
func runMapCases(t *testing.T, name string, cases []mapCase) {
	p := provider(t, name)
	for _, c := range cases {
		t.Run(c.name(), func(t *testing.T) {
			body := []byte(c.body)
			if c.fixture != "" {
				body = patched(t, c.fixture, c.patch)
			}
			ev, err := p.Map(body, mapping.Options{AcceptTestEvents: c.accept})
			if c.invalid {
				if !errors.Is(err, mapping.ErrInvalidPayload) {
					t.Fatalf("got %+v, %v; want ErrInvalidPayload", ev, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if ev.ID != c.id || ev.Type != c.typ {
				t.Errorf("id %q, type %q; want %q, %q", ev.ID, ev.Type, c.id, c.typ)
			}
			if (c.skip == "") != (ev.Skip == "") || !strings.Contains(ev.Skip, c.skip) {
				t.Errorf("skip %q, want %q", ev.Skip, c.skip)
			}
			if (c.note == "") != (ev.Note == "") || !strings.Contains(ev.Note, c.note) {
				t.Errorf("note %q, want %q", ev.Note, c.note)
			}
			if ev.Conversion != c.conversion {
				t.Errorf("conversion %+v, want %+v", ev.Conversion, c.conversion)
			}
			samePtr(t, "payment", ev.Payment, c.payment)
			samePtr(t, "refund", ev.Refund, c.refund)
			samePtr(t, "churn", ev.Churn, c.churn)
			if got := [2]string{ev.Email(), ev.UID()}; c.refund != nil && got != c.customer {
				t.Errorf("the refund is of %q, want %q", got, c.customer)
			}
		})
	}
	files, _ := filepath.Glob(filepath.Join("testdata", name, "*.json"))
	for _, f := range files {
		rel := filepath.ToSlash(strings.TrimPrefix(f, "testdata"+string(filepath.Separator)))
		if !slices.ContainsFunc(cases, func(c mapCase) bool { return c.fixture == rel && c.label == "" }) {
			t.Errorf("testdata/%s is in no row of the mapping table", rel)
		}
	}
}

func samePtr[T comparable](t *testing.T, what string, got, want *T) {
	t.Helper()
	switch {
	case got == nil && want == nil:
	case got == nil || want == nil:
		t.Errorf("%s %s, want %s", what, show(got), show(want))
	case *got != *want:
		t.Errorf("%s %+v, want %+v", what, *got, *want)
	}
}

func show[T any](v *T) string {
	if v == nil {
		return "none"
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// fuzzMap fuzzes provider name's mapping, seeded from its testdata: it never
// panics, fails only with ErrInvalidPayload, sends only conversions that
// CheckConversion passes, and reports at most one of a payment, a refund
// and a churn, each of which Reditus could take.
func fuzzMap(f *testing.F, name string) {
	p := provider(f, name)
	files, _ := filepath.Glob(filepath.Join("testdata", name, "*.json"))
	if len(files) == 0 {
		f.Fatalf("no seeds in testdata/%s", name)
	}
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, false)
	}
	f.Add([]byte(`{}`), true)
	f.Add([]byte(`null`), false)
	f.Fuzz(func(t *testing.T, body []byte, accept bool) {
		ev, err := p.Map(body, mapping.Options{AcceptTestEvents: accept})
		if err != nil {
			if !errors.Is(err, mapping.ErrInvalidPayload) {
				t.Fatalf("error %v is not ErrInvalidPayload", err)
			}
			return
		}
		if ev.ID == "" || ev.Type == "" {
			t.Fatalf("mapped without an id or a type: %+v", ev)
		}
		if ev.Skip != "" {
			return
		}
		if c := ev.Conversion; c != (reditus.Conversion{}) {
			if c.AffiliateSlug == "" && c.AdvocateSlug == "" {
				t.Fatalf("converted without a slug: %+v", c)
			}
			if c.Email == "" && c.UID == "" {
				t.Fatalf("converted without email or uid: %+v", c)
			}
			if field, why := mapping.CheckConversion(c); field != "" {
				t.Fatalf("converted with an invalid %s (%s): %+v", field, why, c)
			}
		}
		var money int
		if pay := ev.Payment; pay != nil {
			money++
			switch {
			case pay.Amount <= 0 || pay.Currency == "" || pay.Currency != strings.ToLower(pay.Currency) || !isoCurrency(pay.Currency):
				t.Fatalf("payment amount or currency Reditus refuses: %+v", *pay)
			case !strings.HasPrefix(pay.IdempotencyKey, name+":"):
				t.Fatalf("payment key %q does not name the provider", pay.IdempotencyKey)
			case pay.ReferralUID == "" && pay.ReferralEmail == "":
				t.Fatalf("payment names no referral: %+v", *pay)
			case pay.Interval != "" && pay.Interval != "month" && pay.Interval != "year":
				t.Fatalf("payment interval %q", pay.Interval)
			case (pay.Interval == "") != (pay.SubscriptionID == "") || (pay.Interval == "") != (pay.IntervalCount == 0):
				t.Fatalf("subscription fields sent in part: %+v", *pay)
			}
			if field, why := mapping.CheckConversion(reditus.Conversion{UID: pay.ReferralUID, Email: pay.ReferralEmail}); field != "" {
				t.Fatalf("payment with an invalid %s (%s)", field, why)
			}
		}
		if r := ev.Refund; r != nil {
			money++
			if !strings.HasPrefix(r.PaymentID, name+":") {
				t.Fatalf("refund of %q, not a payment key of the provider", r.PaymentID)
			}
		}
		if c := ev.Churn; c != nil {
			money++
			if c.ReferralUID == "" && c.ReferralEmail == "" {
				t.Fatalf("churn names no referral: %+v", *c)
			}
		}
		if money > 1 {
			t.Fatalf("reports %d of payment, refund and churn, want at most one", money)
		}
		if money == 0 && ev.Conversion == (reditus.Conversion{}) {
			t.Fatalf("neither skipped nor sending anything: %+v", ev)
		}
	})
}

// isoCurrency reports whether s is a currency code of ISO 4217 (in any case).
func isoCurrency(s string) bool {
	_, ok := mapping.Exponent(s)
	return ok
}

// signer makes the headers a provider sends for body: id is the delivery id
// where the provider puts one in its headers.
type signer func(t *testing.T, secret, id string, body []byte, at time.Time) http.Header

// hexBodyMAC signs as a provider that puts the hex HMAC-SHA256 of the body,
// keyed with the secret string, in header does (Lemon Squeezy, Mollie's
// next-gen webhooks), computed here rather than by a scheme.
func hexBodyMAC(header string) signer {
	return func(_ *testing.T, secret, _ string, body []byte, _ time.Time) http.Header {
		mac := hmac.New(sha256.New, []byte(secret))
		mac.Write(body)
		return http.Header{header: {hex.EncodeToString(mac.Sum(nil))}}
	}
}

// schemeSigner signs with the provider's own Scheme.Sign.
func schemeSigner(name string) signer {
	return func(t *testing.T, secret, id string, body []byte, at time.Time) http.Header {
		t.Helper()
		h, err := provider(t, name).Scheme.Sign(secret, id, body, at)
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
}

// recorder is a fake Reditus that also keeps the order of the calls.
type recorder struct {
	*fakereditus.Server
	mu    sync.Mutex
	order []reditus.Call
}

func newRecorder(t *testing.T, opts ...fakereditus.Option) *recorder {
	r := &recorder{Server: fakereditus.New(t, opts...)}
	r.RespondAll(r.record(nil))
	return r
}

// record answers as then does (the fake's Reditus when nil), after noting
// the call.
func (r *recorder) record(then fakereditus.Responder) fakereditus.Responder {
	if then == nil {
		then = r.Reditus
	}
	return func(w http.ResponseWriter, req *fakereditus.Request) {
		r.mu.Lock()
		r.order = append(r.order, req.Call)
		r.mu.Unlock()
		then(w, req)
	}
}

func (r *recorder) calls() []reditus.Call {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.order)
}

// moneyBridge is handlers.New with provider name on (its secret secret, and
// test events as accept says), a key, and red as Reditus. A provider that
// its API key turns on (Mollie) gets a key, and an API base where nothing
// answers: a delivery that made it call its API fails.
func moneyBridge(t *testing.T, name, secret string, accept bool, red *recorder) http.Handler {
	t.Helper()
	w := config.Webhook{Secrets: config.Secrets{config.Secret(secret)}, AcceptTestEvents: accept}
	if api := provider(t, name).API; api != nil && api.TurnsOn {
		w.APIKey, w.APIURL = "test_moneybridge_key", "http://127.0.0.1:1"
	}
	return bridgeWith(t, name, w, red)
}

// bridgeWith is handlers.New with provider name configured as w, a key, and
// red as Reditus.
func bridgeWith(t *testing.T, name string, w config.Webhook, red *recorder) http.Handler {
	t.Helper()
	cfg := config.Config{
		ReditusAPIKey: fakereditus.Key,
		ReditusAPIURL: red.BaseURL,
		Webhooks:      map[string]config.Webhook{name: w},
	}
	client := reditus.New(reditus.Options{
		BaseURL:        cfg.ReditusAPIURL,
		APIKey:         cfg.ReditusAPIKey.Reveal(),
		AttemptTimeout: 500 * time.Millisecond,
		Budget:         2 * time.Second,
		Backoff:        5 * time.Millisecond,
	})
	p, err := pipeline.New(cfg, pipeline.Deps{Reditus: client})
	if err != nil {
		t.Fatalf("pipeline.New: %v", err)
	}
	return handlers.New(cfg, handlers.Deps{Pipeline: p})
}

// answer is a decoded webhook answer.
type answer struct {
	Status  int
	Outcome string `json:"outcome"`
	Reason  string `json:"reason"`
	EventID string `json:"event_id"`
}

func (a answer) is(t *testing.T, status int, outcome string) {
	t.Helper()
	if a.Status != status || a.Outcome != outcome {
		t.Fatalf("answer %d %q (reason %q), want %d %q", a.Status, a.Outcome, a.Reason, status, outcome)
	}
}

// post delivers body to provider name's route with header.
func post(t *testing.T, b http.Handler, name string, header http.Header, body []byte) answer {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, "/webhooks/"+name, bytes.NewReader(body))
	for k, v := range header {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	b.ServeHTTP(rec, req)
	var a answer
	if err := json.Unmarshal(rec.Body.Bytes(), &a); err != nil {
		t.Fatalf("answer %d is not JSON: %q", rec.Code, rec.Body.String())
	}
	a.Status = rec.Code
	return a
}

// deliveryCase is one signed delivery through the whole pipeline, and what
// Reditus must receive, in order. Fields left zero must not be received.
type deliveryCase struct {
	fixture    string
	accept     bool
	sign       signer // nil: the Scheme's Sign
	outcome    string // the answer is 200 with it
	reason     string // a part of the answer's reason
	calls      []reditus.Call
	conversion *reditus.Conversion
	payment    *reditus.Payment
	refund     *reditus.Refund
	churn      *reditus.Churn
}

// runDeliveries sends each case to a fresh bridge and fake Reditus.
func runDeliveries(t *testing.T, name, secret string, cases []deliveryCase) {
	for _, c := range cases {
		t.Run(c.fixture, func(t *testing.T) {
			red := newRecorder(t)
			b := moneyBridge(t, name, secret, c.accept, red)
			sign := c.sign
			if sign == nil {
				sign = schemeSigner(name)
			}
			body := testdata(t, c.fixture)
			a := post(t, b, name, sign(t, secret, "msg_delivery", body, time.Now()), body)
			a.is(t, http.StatusOK, c.outcome)
			if !strings.Contains(a.Reason, c.reason) {
				t.Errorf("reason %q, want %q in it", a.Reason, c.reason)
			}
			if got := red.calls(); !slices.Equal(got, c.calls) {
				t.Errorf("Reditus calls %v, want %v", got, c.calls)
			}
			received(t, "conversion", red.Conversions(), c.conversion)
			received(t, "payment", red.Payments(), c.payment)
			received(t, "refund", red.Refunds(), c.refund)
			received(t, "churn", red.Churns(), c.churn)
		})
	}
}

// received checks that Reditus received want alone, or nothing when nil.
func received[T comparable](t *testing.T, what string, got []T, want *T) {
	t.Helper()
	switch {
	case want == nil && len(got) != 0:
		t.Errorf("Reditus received %s %+v, want none", what, got)
	case want != nil && (len(got) != 1 || got[0] != *want):
		t.Errorf("Reditus received %s %+v, want [%+v]", what, got, *want)
	}
}

// runSignatures checks that the provider's route accepts the header made by
// independent and refuses a wrong secret, a changed body (when the scheme
// signs the body: basic auth does not) and no header, with nothing sent to
// Reditus for a refused one.
func runSignatures(t *testing.T, name, secret, otherSecret, fixture string, independent signer) {
	signsBody := name != "chargebee"
	body := testdata(t, fixture)
	now := time.Now()
	tests := []struct {
		name    string
		header  http.Header
		body    []byte
		outcome string
		status  int
	}{
		{"signed independently of the bridge", independent(t, secret, "msg_sig", body, now), body, "", http.StatusOK},
		{"another secret", schemeSigner(name)(t, otherSecret, "msg_sig", body, now), body, "invalid_signature", http.StatusBadRequest},
		{"the body changed after signing", independent(t, secret, "msg_sig", body, now), append(slices.Clone(body), ' '), "invalid_signature", http.StatusBadRequest},
		{"no signature", http.Header{}, body, "invalid_signature", http.StatusBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !signsBody && tt.name == "the body changed after signing" {
				t.Skip("basic auth does not cover the body")
			}
			red := newRecorder(t)
			a := post(t, moneyBridge(t, name, secret, false, red), name, tt.header, tt.body)
			if a.Status != tt.status || (tt.outcome != "" && a.Outcome != tt.outcome) || (tt.outcome == "" && a.Outcome == "invalid_signature") {
				t.Fatalf("answer %d %q (%s), want %d %q", a.Status, a.Outcome, a.Reason, tt.status, tt.outcome)
			}
			if tt.status != http.StatusOK && red.Requests() != 0 {
				t.Errorf("a refused delivery made %d requests to Reditus", red.Requests())
			}
			if tt.status == http.StatusOK && red.Requests() == 0 {
				t.Error("an accepted delivery reached nothing in Reditus")
			}
		})
	}
}

// runPaymentAnswers sends a fixture that converts and pays, with Reditus
// answering the payment each way docs/design.md, "Answers", lists.
func runPaymentAnswers(t *testing.T, name, secret, fixture string) {
	tests := []struct {
		name    string
		answer  fakereditus.Responder
		status  int
		outcome string
		reason  string
	}{
		{"202 accepted", nil, http.StatusOK, "forwarded", ""},
		{"400 rejected", fakereditus.Status(400, `{"errors":[{"detail":"Partnership terminated"}]}`), http.StatusOK, "rejected", "Partnership terminated"},
		{"404 not referred", fakereditus.Status(404, `{"error":"Referral not found"}`), http.StatusOK, "skipped", "Referral not found"},
		{"503 every attempt", fakereditus.Status(503, `{"error":"down"}`), http.StatusServiceUnavailable, "retry", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			red := newRecorder(t)
			if tt.answer != nil {
				red.Respond(reditus.CallPay, red.record(tt.answer))
			}
			body := testdata(t, fixture)
			a := post(t, moneyBridge(t, name, secret, false, red), name, schemeSigner(name)(t, secret, "msg_answers", body, time.Now()), body)
			a.is(t, tt.status, tt.outcome)
			if !strings.Contains(a.Reason, tt.reason) {
				t.Errorf("reason %q, want %q in it", a.Reason, tt.reason)
			}
			if calls := red.calls(); len(calls) < 2 || calls[0] != reditus.CallTrack || calls[1] != reditus.CallPay {
				t.Errorf("Reditus calls %v, want the conversion, then the payment", calls)
			}
		})
	}
}

// runResentPaysOnce delivers a paying fixture twice to one bridge, and once
// more to a second bridge (a restart, or another instance: no memory of the
// first), and checks that Reditus holds one payment.
func runResentPaysOnce(t *testing.T, name, secret, fixture string) {
	red := newRecorder(t)
	body := testdata(t, fixture)
	sign := schemeSigner(name)
	first := moneyBridge(t, name, secret, false, red)
	for i := range 2 {
		a := post(t, first, name, sign(t, secret, "msg_resent", body, time.Now()), body)
		a.is(t, http.StatusOK, "forwarded")
		if n := red.Calls(reditus.CallPay); n != 1 {
			t.Errorf("delivery %d: %d payment calls, want 1 (the re-send answered from memory)", i+1, n)
		}
	}
	post(t, moneyBridge(t, name, secret, false, red), name, sign(t, secret, "msg_resent", body, time.Now()), body).is(t, http.StatusOK, "forwarded")
	if n := red.Calls(reditus.CallPay); n != 2 {
		t.Errorf("%d payment calls after the second bridge, want 2", n)
	}
	paid := red.Paid()
	if len(paid) != 1 {
		t.Fatalf("Reditus holds %d payments, want 1: %+v", len(paid), paid)
	}
	if p := red.Payments(); p[0] != p[1] {
		t.Errorf("the re-sent payment differs: %+v then %+v", p[0], p[1])
	}
}
