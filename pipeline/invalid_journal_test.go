package pipeline

import (
	"bytes"
	"context"
	"net/http"
	"testing"

	"github.com/getreditus/reditus-bridge/internal/fakereditus"
	"github.com/getreditus/reditus-bridge/internal/webhooktest"
	"github.com/getreditus/reditus-bridge/journal"
)

// A signed money event the bridge cannot read (an amount as a float, as a
// string, over int64) is journaled with its reason, so that /admin shows
// it: under the delivery id its headers give, or its body's digest. A
// re-send gets the same answer from the record, and Reditus hears nothing.
func TestAnInvalidPayloadIsJournaledWithItsReason(t *testing.T) {
	ctx := context.Background()
	store := webhooktest.OpenStore(t, journal.Options{DataDir: t.TempDir()})
	red := fakereditus.New(t, fakereditus.WithKey(apiKey))
	b := journaledBridge(t, red, store, nil)
	order := webhooktest.Fixture(t, "lemonsqueezy/order_created.json")
	paid := webhooktest.Fixture(t, "polar/order_paid.json")
	for _, tc := range []struct {
		name, provider, id string // id: the delivery id the headers give, if any
		body               []byte
		journaledAs        string // "": the body's digest
		reason             string
	}{
		{"a float", "lemonsqueezy", "", bytes.Replace(order, []byte(`"total": 1199`), []byte(`"total": 11.99`), 1), "", "total"},
		{"a string", "lemonsqueezy", "", bytes.Replace(order, []byte(`"total": 1199`), []byte(`"total": "1199"`), 1), "", "total"},
		{"over int64", "polar", "msg_polar_huge", bytes.Replace(paid, []byte(`"net_amount": 2000`), []byte(`"net_amount": 9223372036854775808`), 1), "msg_polar_huge", "net_amount"},
		{"negative", "lemonsqueezy", "", bytes.Replace(order, []byte(`"total": 1199`), []byte(`"total": -1199`), 1), "", "negative"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if bytes.Equal(tc.body, order) || bytes.Equal(tc.body, paid) {
				t.Fatal("the fixture no longer holds the amount this test replaces")
			}
			first := b.do(t, signedAs(t, tc.provider, tc.id, tc.body))
			first.Is(t, http.StatusBadRequest, "invalid_payload")
			webhooktest.MustContain(t, first.Reason, tc.reason)
			want := tc.journaledAs
			if want == "" {
				want = journalID("", tc.body)
			}
			recs, err := store.List(ctx, journal.Filter{Provider: tc.provider, DeliveryID: want})
			if err != nil || len(recs) != 1 {
				t.Fatalf("the journal holds %+v (%v) under %s; want one record", recs, err, want)
			}
			if r := recs[0]; r.Outcome != "invalid_payload" || r.Reason != first.Reason || r.Attempts != 0 {
				t.Errorf("record: %s %q, %d attempts; want invalid_payload with the answer's reason, 0 attempts", r.Outcome, r.Reason, r.Attempts)
			}
			again := b.do(t, signedAs(t, tc.provider, tc.id, tc.body))
			again.Is(t, http.StatusBadRequest, "invalid_payload")
			if again.Reason != first.Reason {
				t.Errorf("the re-send's reason %q, want the first's %q", again.Reason, first.Reason)
			}
		})
	}
	if n := red.Requests(); n != 0 {
		t.Errorf("Reditus got %d requests, want none", n)
	}
	// A bridge that reads the delivery now (its body as it should have
	// been) sends it: the record of a refusal answers nothing that would
	// now be sent.
	b.do(t, signedAs(t, "polar", "msg_polar_huge", paid)).Is(t, http.StatusOK, "forwarded")
	if len(red.Paid()) != 1 {
		t.Errorf("Reditus holds %d payments, want the one now read", len(red.Paid()))
	}
}
