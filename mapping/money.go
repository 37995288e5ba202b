package mapping

import (
	"fmt"
	"strings"

	"github.com/getreditus/reditus-bridge/reditus"
)

// The money providers' vocabulary (DESIGN.md section 1): the payment, refund
// or churn an event reports, on top of Convert.

// NotHandled skips an event of a type the bridge has no use for, naming the
// ones it handles, so that a person can narrow the webhook's selection.
func NotHandled(ev Event, handled ...string) Event {
	ev.Skip = "event type " + ev.Type + " is not handled; the bridge handles " + strings.Join(handled, ", ")
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

// Pay adds to ev (mapped by Convert) the payment of amount cents, net of
// tax, in currency, that key names, by who. A payment with nothing paid, or
// by nobody the event names, is not sent, and Note (or Skip, when the
// conversion is not sent either) says so. sub sets the subscription fields,
// or is nil for a one-off payment.
func Pay(ev Event, who Who, key string, amount int64, currency string, sub func(*reditus.Payment)) (Event, error) {
	currency = strings.ToLower(strings.TrimSpace(currency))
	switch {
	case amount < 0:
		return Event{}, Invalid("%s has a negative amount", ev.Type)
	case currency == "":
		return Event{}, Invalid("%s has no currency", ev.Type)
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
// out: the payment still counts, as a one-off (DESIGN.md section 1). A count
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

// Refund makes ev report the refund of the payment that paymentKey named.
func Refund(ev Event, paymentKey string) Event {
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
