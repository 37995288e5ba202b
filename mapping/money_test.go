package mapping

import (
	"errors"
	"strings"
	"testing"

	"github.com/getreditus/reditus-bridge/reditus"
)

func TestSubscription(t *testing.T) {
	tests := []struct {
		id, interval string
		count        int
		want         reditus.Payment
	}{
		{"sub_1", "month", 1, reditus.Payment{SubscriptionID: "sub_1", Interval: "month", IntervalCount: 1}},
		{"sub_1", " Year ", 2, reditus.Payment{SubscriptionID: "sub_1", Interval: "year", IntervalCount: 2}},
		{"sub_1", "month", 0, reditus.Payment{SubscriptionID: "sub_1", Interval: "month", IntervalCount: 1}},
		// Reditus takes month and year only: the rest go as one-offs.
		{"sub_1", "week", 1, reditus.Payment{}},
		{"sub_1", "day", 7, reditus.Payment{}},
		{"sub_1", "", 1, reditus.Payment{}},
		{"", "month", 1, reditus.Payment{}},
	}
	for _, tt := range tests {
		var got reditus.Payment
		Subscription(tt.id, tt.interval, tt.count)(&got)
		if got != tt.want {
			t.Errorf("Subscription(%q, %q, %d): got %+v, want %+v", tt.id, tt.interval, tt.count, got, tt.want)
		}
	}
}

func TestPay(t *testing.T) {
	converted := Convert(Event{ID: "evt_1", Type: "order"}, Who{Email: "ada@example.com", UID: "cus_1"}, Place{"metadata", Metadata{"affiliate_slug": "john"}})
	unreferred := Convert(Event{ID: "evt_1", Type: "order"}, Who{Email: "ada@example.com", UID: "cus_1"}, Place{"metadata", nil})
	tests := []struct {
		name       string
		ev         Event
		who        Who
		amount     int64
		currency   string
		payment    *reditus.Payment
		skip, note string
		invalid    bool
	}{
		{"pays, lower-case currency", converted, Who{Email: "ada@example.com", UID: "cus_1"}, 999, " USD",
			&reditus.Payment{Amount: 999, Currency: "usd", IdempotencyKey: "p:order:1", ReferralUID: "cus_1", ReferralEmail: "ada@example.com"}, "", "", false},
		{"pays without referral data in the event", unreferred, Who{Email: "ada@example.com", UID: "cus_1"}, 999, "usd",
			&reditus.Payment{Amount: 999, Currency: "usd", IdempotencyKey: "p:order:1", ReferralUID: "cus_1", ReferralEmail: "ada@example.com"}, "", "no conversion: no Reditus referral data", false},
		// What a conversion could not carry is left out of the payment too.
		{"a malformed email is left out", converted, Who{Email: "not an email", UID: "cus_1"}, 999, "usd",
			&reditus.Payment{Amount: 999, Currency: "usd", IdempotencyKey: "p:order:1", ReferralUID: "cus_1"}, "", "", false},
		{"nothing paid", converted, Who{Email: "ada@example.com"}, 0, "usd", nil, "", "no payment: nothing was paid", false},
		{"nothing paid and no referral", unreferred, Who{Email: "ada@example.com"}, 0, "usd", nil, "no Reditus referral data", "", false},
		{"nobody named", converted, Who{UID: "\x00", Looked: "customer"}, 999, "usd", nil, "", "no payment: no email or customer id; looked at customer", false},
		{"negative", converted, Who{Email: "ada@example.com"}, -1, "usd", nil, "", "", true},
		{"no currency", converted, Who{Email: "ada@example.com"}, 999, " ", nil, "", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev, err := Pay(tt.ev, tt.who, "p:order:1", tt.amount, tt.currency, nil)
			if tt.invalid {
				if !errors.Is(err, ErrInvalidPayload) {
					t.Fatalf("got %v, want ErrInvalidPayload", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case (ev.Payment == nil) != (tt.payment == nil):
				t.Errorf("payment %+v, want %+v", ev.Payment, tt.payment)
			case ev.Payment != nil && *ev.Payment != *tt.payment:
				t.Errorf("payment %+v, want %+v", *ev.Payment, *tt.payment)
			}
			if (tt.skip == "") != (ev.Skip == "") || !strings.Contains(ev.Skip, tt.skip) {
				t.Errorf("skip %q, want %q", ev.Skip, tt.skip)
			}
			if (tt.note == "") != (ev.Note == "") || !strings.Contains(ev.Note, tt.note) {
				t.Errorf("note %q, want %q", ev.Note, tt.note)
			}
		})
	}
}

func TestChurnAndRefund(t *testing.T) {
	ev := Churn(Event{Type: "expired"}, Who{Email: " ada@example.com ", UID: "cus_1"})
	if ev.Churn == nil || *ev.Churn != (reditus.Churn{ReferralUID: "cus_1", ReferralEmail: "ada@example.com"}) || ev.Skip != "" {
		t.Errorf("churn %+v", ev)
	}
	ev = Churn(Event{Type: "expired"}, Who{Looked: "the subscription's customer"})
	if ev.Churn != nil || ev.Skip != "no email or customer id to churn: looked at the subscription's customer" {
		t.Errorf("churn of nobody: %+v", ev)
	}
	ev = Refund(Event{Type: "refunded"}, "p:order:1")
	if ev.Refund == nil || ev.Refund.PaymentID != "p:order:1" || ev.Payment != nil || ev.Churn != nil {
		t.Errorf("refund %+v", ev)
	}
	ev = PartialRefund(Event{Type: "refunded"}, 100, 1199, "refunded_amount of total")
	if ev.Refund != nil || !strings.Contains(ev.Skip, "partial refund (100 of 1199, refunded_amount of total)") {
		t.Errorf("partial refund %+v", ev)
	}
	ev = NotHandled(Event{Type: "order.created"}, "order.paid", "order.refunded")
	if ev.Skip != "event type order.created is not handled; the bridge handles order.paid, order.refunded" {
		t.Errorf("not handled: %q", ev.Skip)
	}
}
