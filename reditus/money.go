package reditus

import (
	"context"
	"fmt"
	"strings"
)

// Payment is one payment by a referred customer, as POST /v1/payments takes
// it (https://docs.getreditus.com/referral-program-api/v1/payments/create).
// Reditus finds the referral by ReferralUID, ReferralID or ReferralEmail (at
// least one is required) and records a payment once per IdempotencyKey. A
// one-off payment leaves SubscriptionID, Interval and IntervalCount empty.
// Empty fields are left out of the request, except the required Amount,
// Currency and IdempotencyKey.
//
// Reditus answers 202 when it accepts the payment, 400 for a validation
// error, a rejected or expired referral or a terminated partnership, and 404
// when it has no such referral: the customer was not referred.
type Payment struct {
	Amount         int64  `json:"amount"`          // in cents: the currency's minor unit
	Currency       string `json:"currency"`        // ISO 4217; Pay sends it lowercase
	IdempotencyKey string `json:"idempotency_key"` // names the payment: <provider>:<object>:<id>
	ReferralUID    string `json:"referral_uid,omitempty"`
	ReferralEmail  string `json:"referral_email,omitempty"`
	ReferralID     string `json:"referral_id,omitempty"` // Reditus's id of the referral (Result.ReferralID)
	SubscriptionID string `json:"subscription_id,omitempty"`
	Interval       string `json:"interval,omitempty"`       // "month" or "year"
	IntervalCount  int    `json:"interval_count,omitempty"` // Reditus's default is 1
}

// Refund takes back the commission on a refunded payment, as POST /v1/refunds
// takes it (https://docs.getreditus.com/referral-program-api/v1/refunds/create).
// Reditus answers 200 {"message":"ok"}, 400 for a missing or invalid
// payment_id, and 404 when it has no payment under PaymentID, which is what
// a payment for a customer who was not referred leaves behind.
type Refund struct {
	PaymentID string `json:"payment_id"` // the IdempotencyKey of the refunded Payment
}

// Churn marks a referral as churned: it no longer counts as an active paying
// referral, until a new payment reactivates it. As POST /v1/referrals/churn
// takes it (https://docs.getreditus.com/affiliate-program-api/v1/referrals/churn):
// at least one identifier, matched in the order uid, id, email. Reditus
// answers 200 with the referral, and 400 when no identifier is given. Empty
// fields are left out.
type Churn struct {
	ReferralUID   string `json:"referral_uid,omitempty"`
	ReferralEmail string `json:"referral_email,omitempty"`
	ReferralID    string `json:"referral_id,omitempty"`
}

// Pay reports a payment to Reditus, with Track's retries and budget. A JSON
// 404 is a NotReferred error: the customer was not referred. A 409 is a
// Duplicate error: the payment is recorded already. A payment that Reditus
// could not take (no idempotency key, no referral, an interval other than
// month or year) is a Rejected error and is not sent.
func (c *Client) Pay(ctx context.Context, p Payment) error {
	p.Currency = strings.ToLower(p.Currency)
	p.Interval = strings.ToLower(p.Interval)
	if err := p.check(); err != "" {
		return &Error{Call: CallPay, Kind: Rejected, Message: "invalid payment: " + err}
	}
	_, err := c.post(ctx, CallPay, p)
	return err
}

// Refund reports a refunded payment to Reditus, with Track's retries and
// budget. A JSON 404 is a NotReferred error: Reditus has no such payment.
func (c *Client) Refund(ctx context.Context, r Refund) error {
	if r.PaymentID == "" {
		return &Error{Call: CallRefund, Kind: Rejected, Message: "invalid refund: no payment_id"}
	}
	_, err := c.post(ctx, CallRefund, r)
	return err
}

// Churn reports to Reditus that a referral cancelled, with Track's retries
// and budget. A JSON 404 is a NotReferred error: the customer was not
// referred.
func (c *Client) Churn(ctx context.Context, ch Churn) error {
	if ch.ReferralUID == "" && ch.ReferralEmail == "" && ch.ReferralID == "" {
		return &Error{Call: CallChurn, Kind: Rejected, Message: "invalid churn: no referral_uid, referral_email or referral_id"}
	}
	_, err := c.post(ctx, CallChurn, ch)
	return err
}

// check says what makes p a payment Reditus could not take, or "". These are
// refused before sending because a payment without its key could be counted
// twice, and because a mapping that let through a weekly interval must show
// up as rejected (docs/money.md sends those without the subscription
// fields), not as a payment recorded as something it is not.
func (p Payment) check() string {
	switch {
	case p.IdempotencyKey == "":
		return "no idempotency_key"
	case p.Currency == "":
		return "no currency"
	case p.Amount < 0:
		return "negative amount"
	case p.ReferralUID == "" && p.ReferralEmail == "" && p.ReferralID == "":
		return "no referral_uid, referral_email or referral_id"
	case p.Interval != "" && p.Interval != "month" && p.Interval != "year":
		return fmt.Sprintf("interval %q is neither month nor year", p.Interval)
	case p.IntervalCount < 0:
		return "negative interval_count"
	}
	return ""
}
