package mapping

import (
	"fmt"
	"math/bits"
	"strings"

	"github.com/getreditus/reditus-bridge/reditus"
)

// The money providers' vocabulary (docs/money.md): the payment, refund
// or churn an event reports, on top of Convert.

// NotHandled skips an event of a type the bridge has no use for, naming the
// ones it handles, so that a person can narrow the webhook's selection.
func NotHandled(ev Event, handled ...string) Event {
	ev.Skip = "event type " + ev.Type + " is not handled; the bridge handles " + strings.Join(handled, ", ")
	ev.Unhandled = true
	return ev
}

// referral returns who's uid and email as a payment or churn names the
// referral: trimmed, and each left out when a conversion could not carry it
// (CheckConversion), so that what reaches Reditus is clean whichever call
// carries it.
func referral(who Who) (uid, email string) {
	uid, email = strings.TrimSpace(who.UID), strings.TrimSpace(who.Email)
	if field, _ := CheckConversion(reditus.Conversion{UID: uid}); field != "" {
		uid = ""
	}
	if field, _ := CheckConversion(reditus.Conversion{Email: email}); field != "" {
		email = ""
	}
	return uid, email
}

// Money is what a payment event says was paid, as the provider states it:
// integers in the provider's unit of the currency.
type Money struct {
	Currency string // ISO 4217, in any case

	// Paid is what the customer paid. Where the provider states tax apart,
	// Tax is the tax of the order or invoice that Paid pays towards and
	// Total its total, tax included, and the payment is Paid less its share
	// of Tax (all of it when Paid is the whole Total). Where Paid is net of
	// tax already, both are 0.
	Paid, Total, Tax int64

	// Units says how many decimals the provider's integers carry in a
	// currency, when that is not the currency's ISO 4217 minor unit
	// (Stripe-based providers count Icelandic krónur in hundredths; ISO
	// gives them none), and ok is false for a currency whose unit the
	// provider does not document. Nil means the ISO minor unit.
	Units func(currency string) (decimals int, ok bool)
}

// Pay adds to ev (mapped by Convert) the payment that m states, net of tax,
// that key names, by who. It is the one gate of every provider's money: the
// amount is refused (ErrInvalidPayload) when it, its total or its tax is
// negative, when the tax is more than the total, when the currency is not
// three ASCII letters of ISO 4217, and when it cannot be stated exactly in
// the currency's minor unit as an int64; nothing of the event is then sent,
// its conversion neither, so that the event stays whole for the provider to
// show as failed and to send again. A payment with nothing paid, or by nobody
// the event names, is not sent, and Note (or Skip, when the conversion is not
// sent either) says so. sub sets the subscription fields, or is nil for a
// one-off payment.
func Pay(ev Event, who Who, key string, m Money, sub func(*reditus.Payment)) (Event, error) {
	amount, currency, why := m.minor()
	if why != "" {
		return Event{}, Invalid("%s: %s", ev.Type, why)
	}
	uid, email := referral(who)
	switch {
	case amount == 0:
		return withoutMoney(ev, "no payment: nothing was paid (amount 0)"), nil
	case uid == "" && email == "":
		return withoutMoney(ev, "no payment: no email or customer id; looked at "+who.Looked), nil
	}
	p := &reditus.Payment{Amount: amount, Currency: currency, IdempotencyKey: key, ReferralUID: uid, ReferralEmail: email}
	if sub != nil {
		sub(p)
	}
	return ev.WithMoney(p, nil, nil), nil
}

// minor returns the payment m states, net of tax, in its currency's ISO 4217
// minor unit, and the currency as Reditus takes it; or why there is none.
func (m Money) minor() (amount int64, currency, why string) {
	currency, why = currencyCode(m.Currency)
	if why != "" {
		return 0, "", "currency: " + why
	}
	net, why := m.net()
	if why != "" {
		return 0, "", why
	}
	iso := isoExponent[currency]
	from := iso
	if m.Units != nil {
		var ok bool
		if from, ok = m.Units(currency); !ok {
			return 0, "", fmt.Sprintf("the provider documents no unit for amounts in %s", currency)
		}
	}
	if amount, why = rescale(net, from, iso); why != "" {
		return 0, "", fmt.Sprintf("amount %d in %s at %d decimals: %s", net, currency, from, why)
	}
	return amount, currency, ""
}

// net is the payment m states, less its share of the tax, in the provider's
// unit. Every figure is checked before any arithmetic, so that none wraps:
// with 0 <= Tax <= Total and 0 <= Paid, Paid - Tax cannot overflow.
func (m Money) net() (int64, string) {
	switch {
	case m.Paid < 0:
		return 0, fmt.Sprintf("amount %d is negative", m.Paid)
	case m.Tax < 0:
		return 0, fmt.Sprintf("negative tax (%d)", m.Tax)
	case m.Total < 0:
		return 0, fmt.Sprintf("negative total (%d)", m.Total)
	case m.Tax > m.Total:
		return 0, fmt.Sprintf("tax %d is over the total %d", m.Tax, m.Total)
	case m.Paid >= m.Total:
		return m.Paid - m.Tax, ""
	}
	return m.Paid - taxShare(m.Tax, m.Paid, m.Total), ""
}

// taxShare is tax*paid/total rounded half up, for 0 <= paid < total and
// 0 <= tax <= total: the tax in a payment of part of an invoice. It is
// exact in 128 bits, where float64 rounds a product past 2^53 and was a cent
// off on amounts Chargebee allows. The quotient is under total, so it fits.
func taxShare(tax, paid, total int64) int64 {
	hi, lo := bits.Mul64(uint64(tax), uint64(paid))
	q, r := bits.Div64(hi, lo, uint64(total))
	if 2*r >= uint64(total) {
		q++
	}
	return int64(q)
}

// withoutMoney notes why ev reports no money.
func withoutMoney(ev Event, why string) Event {
	if ev.Skip != "" {
		ev.Skip += "; " + why
	} else {
		ev.Note = why
	}
	return ev
}

// Subscription returns what sets a payment's subscription fields: id, and
// the billing interval when it is month or year, which is all Reditus takes.
// Any other interval (day, week) or none leaves every subscription field
// out: the payment still counts, as a one-off (docs/money.md, "How the bridge decides"). A count
// under 1 is Reditus's default, 1.
func Subscription(id, interval string, count int) func(*reditus.Payment) {
	unit := strings.ToLower(strings.TrimSpace(interval))
	return func(p *reditus.Payment) {
		if id == "" || (unit != "month" && unit != "year") {
			return
		}
		p.SubscriptionID, p.Interval, p.IntervalCount = id, unit, max(count, 1)
	}
}

// Refund makes ev report the refund of the payment that paymentKey named,
// to who: Reditus needs only the key, but the journal keeps the customer, so
// that an operator finds the refund by email, and the bridge holds it behind
// the customer's payment while that one waits to reach Reditus.
func Refund(ev Event, who Who, paymentKey string) Event {
	ev.who.UID, ev.who.Email = referral(who)
	return ev.WithMoney(nil, &reditus.Refund{PaymentID: paymentKey}, nil)
}

// PartialRefund skips the refund of part of a payment: Reditus's refunds
// take back a whole payment's commission, which would be more than the
// customer got back. The refund that completes it is sent.
func PartialRefund(ev Event, refunded, paid int64, where string) Event {
	ev.Skip = fmt.Sprintf("partial refund (%d of %d, %s): Reditus takes back a whole payment's commission, so only a full refund is sent; adjust this one in Reditus by hand if it should count", refunded, paid, where)
	return ev
}

// Churn makes ev report that who churned, or skips it when the event names
// nobody.
func Churn(ev Event, who Who) Event {
	uid, email := referral(who)
	if uid == "" && email == "" {
		ev.Skip = "no email or customer id to churn: looked at " + who.Looked
		return ev
	}
	return ev.WithMoney(nil, nil, &reditus.Churn{ReferralUID: uid, ReferralEmail: email})
}
