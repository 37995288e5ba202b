package providers_test

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// refusedMoney is a paying fixture patched so that its money must be
// refused (mapping.Pay): reason is a part of the answer's reason.
type refusedMoney struct {
	label  string
	patch  map[string]any
	reason string
}

// runRefusedMoney delivers each patched fixture, signed, to a bridge with
// provider name on. A payment whose amount or currency is wrong is a signed
// but invalid payload: it is answered 400 invalid_payload, and nothing at all
// reaches Reditus, not even the conversion the fixture carries, so that the
// event stays whole (answered as a failure the provider shows and re-sends)
// rather than half sent with its money dropped.
func runRefusedMoney(t *testing.T, name, secret, fixture string, cases []refusedMoney) {
	for _, c := range cases {
		t.Run(c.label, func(t *testing.T) {
			red := newRecorder(t)
			body := patched(t, fixture, c.patch)
			a := post(t, moneyBridge(t, name, secret, false, red), name, schemeSigner(name)(t, secret, "msg_refused", body, time.Now()), body)
			a.is(t, http.StatusBadRequest, "invalid_payload")
			if !strings.Contains(a.Reason, c.reason) {
				t.Errorf("reason %q, want %q in it", a.Reason, c.reason)
			}
			if n := red.Requests(); n != 0 {
				t.Errorf("a refused payment made %d requests to Reditus (%v), want none", n, red.calls())
			}
		})
	}
}

// refusedCurrencies are the currencies a payment must never carry: every
// one is refused, whoever sends it. None is three ASCII letters of ISO 4217,
// though each looks like one in a log.
func refusedCurrencies(at string) []refusedMoney {
	return []refusedMoney{
		{"currency with a zero-width space", map[string]any{at: "USD\u200b"}, "currency"},
		{"currency with a Cyrillic u", map[string]any{at: "\u0443SD"}, "currency"},
		{"currency of 300 characters", map[string]any{at: strings.Repeat("USD", 100)}, "currency"},
		{"currency of two letters", map[string]any{at: "US"}, "currency"},
		{"currency not in ISO 4217", map[string]any{at: "XYZ"}, "currency"},
		{"no currency", map[string]any{at: deleted}, "currency"},
	}
}
