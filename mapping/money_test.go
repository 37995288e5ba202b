package mapping

import (
	"errors"
	"math"
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
	paid := func(amount int64, currency string) *reditus.Payment {
		return &reditus.Payment{Amount: amount, Currency: currency, IdempotencyKey: "p:order:1", ReferralUID: "cus_1", ReferralEmail: "ada@example.com"}
	}
	usd := func(amount int64) Money { return Money{Currency: "usd", Paid: amount} }
	ada := Who{Email: "ada@example.com", UID: "cus_1"}
	tests := []struct {
		name       string
		ev         Event
		who        Who
		money      Money
		payment    *reditus.Payment
		skip, note string
		invalid    bool
	}{
		{"pays, lower-case currency", converted, ada, Money{Currency: " USD", Paid: 999}, paid(999, "usd"), "", "", false},
		{"pays without referral data in the event", unreferred, ada, usd(999), paid(999, "usd"), "", "no conversion: no Reditus referral data", false},
		// What a conversion could not carry is left out of the payment too.
		{"a malformed email is left out", converted, Who{Email: "not an email", UID: "cus_1"}, usd(999),
			&reditus.Payment{Amount: 999, Currency: "usd", IdempotencyKey: "p:order:1", ReferralUID: "cus_1"}, "", "", false},
		{"nothing paid", converted, Who{Email: "ada@example.com"}, usd(0), nil, "", "no payment: nothing was paid", false},
		{"nothing paid and no referral", unreferred, Who{Email: "ada@example.com"}, usd(0), nil, "no Reditus referral data", "", false},
		{"nobody named", converted, Who{UID: "\x00", Looked: "customer"}, usd(999), nil, "", "no payment: no email or customer id; looked at customer", false},
		{"negative", converted, Who{Email: "ada@example.com"}, usd(-1), nil, "", "", true},
		{"no currency", converted, Who{Email: "ada@example.com"}, Money{Currency: " ", Paid: 999}, nil, "", "", true},

		// Net of tax: the whole tax off the whole total, its share off a part.
		{"tax off the total", converted, ada, Money{Currency: "usd", Paid: 1199, Total: 1199, Tax: 200}, paid(999, "usd"), "", "", false},
		{"tax share off a part, rounded half up", converted, ada, Money{Currency: "usd", Paid: 600, Total: 1200, Tax: 201}, paid(499, "usd"), "", "", false},
		{"all tax", converted, ada, Money{Currency: "usd", Paid: 200, Total: 200, Tax: 200}, nil, "", "no payment: nothing was paid", false},
		{"more than the total", converted, ada, Money{Currency: "usd", Paid: 1500, Total: 1200, Tax: 200}, paid(1300, "usd"), "", "", false},
		// Issue 16, item 3: each of these was sent.
		{"total -2^63, tax 1", converted, ada, Money{Currency: "usd", Paid: math.MinInt64, Total: math.MinInt64, Tax: 1}, nil, "", "", true},
		{"negative tax", converted, ada, Money{Currency: "usd", Paid: 100, Total: 100, Tax: -900}, nil, "", "", true},
		{"tax over the total", converted, ada, Money{Currency: "usd", Paid: 100, Total: 100, Tax: 101}, nil, "", "", true},
		{"tax on a total of nothing", converted, ada, Money{Currency: "usd", Paid: 100, Tax: 1}, nil, "", "", true},
		{"negative total", converted, ada, Money{Currency: "usd", Paid: 100, Total: -1}, nil, "", "", true},
		{"currency with a zero-width space", converted, ada, Money{Currency: "usd\u200b", Paid: 999}, nil, "", "", true},
		{"Cyrillic currency", converted, ada, Money{Currency: "\u0443sd", Paid: 999}, nil, "", "", true},
		{"currency of 300 characters", converted, ada, Money{Currency: strings.Repeat("usd", 100), Paid: 999}, nil, "", "", true},
		{"currency with a NUL", converted, ada, Money{Currency: "us\x00", Paid: 999}, nil, "", "", true},
		{"currency not in ISO 4217", converted, ada, Money{Currency: "abc", Paid: 999}, nil, "", "", true},
		{"no payment by an unreferred nobody with bad money", unreferred, Who{}, Money{Currency: "usd", Paid: -5}, nil, "", "", true},

		// The provider's unit, rescaled exactly to the ISO minor unit.
		{"hundredths of a krona to krónur", converted, ada, Money{Currency: "ISK", Paid: 700000, Units: decimals(2)}, paid(7000, "isk"), "", "", false},
		{"hundredths of a dinar to fils", converted, ada, Money{Currency: "KWD", Paid: 1250, Units: decimals(2)}, paid(12500, "kwd"), "", "", false},
		{"whole ariary to iraimbilanja", converted, ada, Money{Currency: "MGA", Paid: 3000, Units: decimals(0)}, paid(300000, "mga"), "", "", false},
		{"half a krona", converted, ada, Money{Currency: "ISK", Paid: 700050, Units: decimals(2)}, nil, "", "", true},
		{"rescaled past int64", converted, ada, Money{Currency: "KWD", Paid: math.MaxInt64 / 5, Units: decimals(2)}, nil, "", "", true},
		{"a unit the provider does not document", converted, ada, Money{Currency: "CLP", Paid: 5000, Units: func(string) (int, bool) { return 0, false }}, nil, "", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev, err := Pay(tt.ev, tt.who, "p:order:1", tt.money, nil)
			if tt.invalid {
				if !errors.Is(err, ErrInvalidPayload) {
					t.Fatalf("got %+v, %v; want ErrInvalidPayload", ev, err)
				}
				if ev.Conversion != (reditus.Conversion{}) || ev.Payment != nil {
					t.Errorf("a refused payment's event still sends something: %+v", ev)
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

// decimals is a provider's Units that counts every currency at n decimals.
func decimals(n int) func(string) (int, bool) {
	return func(string) (int, bool) { return n, true }
}

// The share of the tax in a part payment is exact where float64 is not: on
// amounts under Chargebee's largest (2^53-1 cents), math.Round of the float
// quotient was one cent off for each of these.
func TestTaxShareIsExact(t *testing.T) {
	tests := []struct{ paid, total, tax, want int64 }{
		{600, 1200, 200, 500},
		{1, 3, 1, 1}, // a third of a cent of tax: none
		{1, 2, 1, 0}, // half a cent of tax: rounded up
		{0, 1200, 200, 0},
		{4730883005544688, 4869704443482550, 2959909934814202, 1855351693311453},
		{4729871118508266, 6838494013162553, 5503136238240850, 923605425451952},
		{2954588584843526, 6818744820567334, 2843479017137752, 1722498095119307},
		{math.MaxInt64 - 1, math.MaxInt64, math.MaxInt64, 0},
		{math.MaxInt64 - 1, math.MaxInt64, 1, math.MaxInt64 - 2},
	}
	for _, tt := range tests {
		m := Money{Currency: "usd", Paid: tt.paid, Total: tt.total, Tax: tt.tax}
		if got, why := m.net(); got != tt.want || why != "" {
			t.Errorf("%d of %d with tax %d: net %d (%s), want %d", tt.paid, tt.total, tt.tax, got, why, tt.want)
		}
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
	ev = Refund(Event{Type: "refunded"}, Who{Email: " ada@example.com ", UID: "cus_1"}, "p:order:1")
	if ev.Refund == nil || ev.Refund.PaymentID != "p:order:1" || ev.Payment != nil || ev.Churn != nil {
		t.Errorf("refund %+v", ev)
	}
	// Reditus needs only the key; the journal keeps whom it refunds.
	if ev.Email() != "ada@example.com" || ev.UID() != "cus_1" || ev.PaymentKey() != "p:order:1" {
		t.Errorf("refund of %q %q, key %q; want ada@example.com, cus_1, p:order:1", ev.Email(), ev.UID(), ev.PaymentKey())
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
