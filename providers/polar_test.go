package providers_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/getreditus/reditus-bridge/reditus"
)

// polarSecret is in Polar's current form: "whsec_" and 32 bytes of base64.
const polarSecret = "whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="

// polarHeader signs as Polar does for a secret of the current form, computed
// here rather than by the scheme: Standard Webhooks, keyed with the bytes
// the base64 after "whsec_" decodes to.
func polarHeader(t *testing.T, secret, id string, body []byte, at time.Time) http.Header {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil {
		t.Fatal(err)
	}
	ts := strconv.FormatInt(at.Unix(), 10)
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id + "." + ts + "." + string(body)))
	h := http.Header{}
	h.Set("webhook-id", id)
	h.Set("webhook-timestamp", ts)
	h.Set("webhook-signature", "v1,"+base64.StdEncoding.EncodeToString(mac.Sum(nil)))
	return h
}

// What the Polar testdata says: customer usr_1337 (its external_id), a
// monthly subscription, 20.00 EUR + 3.80 tax.
const (
	polarOrder        = "b3f7d1a9-5c2e-4a8b-9e6d-0f2c4a6e8b15"
	polarSubscription = "c4e8a2f6-1b3d-4f9a-8e7c-6d0b2a4f8e13"
	polarCustomer     = "992fae2a-2a17-4b7a-8d9e-e287cf90131b"
)

var (
	polarConversion = reditus.Conversion{AffiliateSlug: "john", GrID: clickID, Email: testEmail, UID: "usr_1337"}
	polarPaid       = reditus.Payment{Amount: 2000, Currency: "eur", IdempotencyKey: "polar:order:" + polarOrder, ReferralUID: "usr_1337", ReferralEmail: testEmail,
		SubscriptionID: polarSubscription, Interval: "month", IntervalCount: 1}
	polarChurn = reditus.Churn{ReferralUID: "usr_1337", ReferralEmail: testEmail}
)

// polarPaidIn is order_paid.json's payment of amount in currency.
func polarPaidIn(amount int64, currency string) *reditus.Payment {
	p := polarPaid
	p.Amount, p.Currency = amount, currency
	return &p
}

func TestMapPolar(t *testing.T) {
	const paid = "polar/order_paid.json"
	oneOff := reditus.Payment{Amount: 2000, Currency: "eur", IdempotencyKey: "polar:order:f2a4c6e8-0b1d-4f3a-8c5e-7b9d1f3a5c06", ReferralUID: "usr_1337", ReferralEmail: testEmail}
	withInterval := func(interval string, count int) *reditus.Payment {
		p := polarPaid
		p.Interval, p.IntervalCount = interval, count
		if interval == "" {
			p.SubscriptionID = ""
		}
		return &p
	}
	runMapCases(t, "polar", []mapCase{
		{fixture: paid, id: "order.paid:" + polarOrder, typ: "order.paid", conversion: polarConversion, payment: &polarPaid},
		// The cookie in checkout customer_metadata, on the customer only; a
		// one-time purchase, so no subscription fields.
		{fixture: "polar/order_paid_customer_metadata.json", id: "order.paid:f2a4c6e8-0b1d-4f3a-8c5e-7b9d1f3a5c06", typ: "order.paid", conversion: polarConversion, payment: &oneOff},
		// No metadata and no external_id: the Polar customer id is the uid.
		{fixture: "polar/order_paid_no_referral.json", id: "order.paid:0c2e4a6b-8d1f-4b3c-a5e7-9f1b3d5a7c28", typ: "order.paid",
			note:    "no conversion: no Reditus referral data: looked for gr_id/affiliate_slug/advocate_slug in order metadata, subscription metadata and customer metadata",
			payment: &reditus.Payment{Amount: 2000, Currency: "eur", IdempotencyKey: "polar:order:0c2e4a6b-8d1f-4b3c-a5e7-9f1b3d5a7c28", ReferralUID: polarCustomer, ReferralEmail: testEmail}},
		{fixture: paid, label: "user_id in the metadata, no external_id", patch: map[string]any{"data.customer.external_id": nil, "data.metadata.user_id": "usr_42"},
			id: "order.paid:" + polarOrder, typ: "order.paid",
			conversion: reditus.Conversion{AffiliateSlug: "john", GrID: clickID, Email: testEmail, UID: "usr_42"},
			payment: &reditus.Payment{Amount: 2000, Currency: "eur", IdempotencyKey: "polar:order:" + polarOrder, ReferralUID: "usr_42", ReferralEmail: testEmail,
				SubscriptionID: polarSubscription, Interval: "month", IntervalCount: 1}},
		{fixture: paid, label: "yearly", patch: map[string]any{"data.subscription.recurring_interval": "year"},
			id: "order.paid:" + polarOrder, typ: "order.paid", conversion: polarConversion, payment: withInterval("year", 1)},
		{fixture: paid, label: "every 3 months", patch: map[string]any{"data.subscription.recurring_interval_count": 3},
			id: "order.paid:" + polarOrder, typ: "order.paid", conversion: polarConversion, payment: withInterval("month", 3)},
		// Reditus takes month or year only: a weekly payment goes as a one-off.
		{fixture: paid, label: "weekly", patch: map[string]any{"data.subscription.recurring_interval": "week"},
			id: "order.paid:" + polarOrder, typ: "order.paid", conversion: polarConversion, payment: withInterval("", 0)},
		{fixture: paid, label: "no subscription object: the product's interval", patch: map[string]any{"data.subscription": nil},
			id: "order.paid:" + polarOrder, typ: "order.paid", conversion: polarConversion, payment: &polarPaid},
		{fixture: paid, label: "an older API version's amount", patch: map[string]any{"data.net_amount": deleted, "data.amount": 1500},
			id: "order.paid:" + polarOrder, typ: "order.paid", conversion: polarConversion, payment: func() *reditus.Payment { p := polarPaid; p.Amount = 1500; return &p }()},
		{fixture: "polar/order_refunded.json", id: "order.refunded:" + polarOrder, typ: "order.refunded", refund: &reditus.Refund{PaymentID: "polar:order:" + polarOrder}, customer: [2]string{"john.doe@example.com", "usr_1337"}},
		{fixture: "polar/order_refunded.json", label: "partial", patch: map[string]any{"data.status": "partially_refunded", "data.refunded_amount": 500},
			id: "order.refunded:" + polarOrder, typ: "order.refunded", skip: "partial refund (500 of 2000"},
		{fixture: "polar/subscription_revoked.json", id: "subscription.revoked:" + polarSubscription, typ: "subscription.revoked", churn: &polarChurn},
		{fixture: "polar/subscription_revoked.json", label: "no external_id", patch: map[string]any{"data.customer.external_id": nil},
			id: "subscription.revoked:" + polarSubscription, typ: "subscription.revoked", churn: &reditus.Churn{ReferralUID: polarCustomer, ReferralEmail: testEmail}},
		// An unpaid order: order.created must never pay.
		{fixture: "polar/order_created.json", id: "order.created:7e9a1c3d-5f2b-4d6e-8a0c-2b4d6f8a1c39", typ: "order.created",
			skip: "event type order.created is not handled; the bridge handles order.paid, order.refunded, subscription.revoked"},
		{fixture: paid, label: "no amount", patch: map[string]any{"data.net_amount": deleted}, invalid: true},
		{fixture: paid, label: "no id", patch: map[string]any{"data.id": deleted}, invalid: true},
		{fixture: paid, label: "amount as text", patch: map[string]any{"data.net_amount": "20.00"}, invalid: true},
		// Polar's amounts are in Stripe's unit of the currency (RESEARCH.md,
		// "Currencies"): none for its zero-decimal currencies (JPY, KRW,
		// MGA, ...), hundredths for every other, ISK and UGX included,
		// which ISO 4217 gives no decimals. Each goes in ISO's minor unit.
		{fixture: paid, label: "JPY", patch: map[string]any{"data.currency": "jpy", "data.net_amount": 2000},
			id: "order.paid:" + polarOrder, typ: "order.paid", conversion: polarConversion, payment: polarPaidIn(2000, "jpy")},
		{fixture: paid, label: "KRW", patch: map[string]any{"data.currency": "krw", "data.net_amount": 11000},
			id: "order.paid:" + polarOrder, typ: "order.paid", conversion: polarConversion, payment: polarPaidIn(11000, "krw")},
		{fixture: paid, label: "ISK in hundredths", patch: map[string]any{"data.currency": "isk", "data.net_amount": 700000},
			id: "order.paid:" + polarOrder, typ: "order.paid", conversion: polarConversion, payment: polarPaidIn(7000, "isk")},
		{fixture: paid, label: "UGX in hundredths", patch: map[string]any{"data.currency": "ugx", "data.net_amount": 200000},
			id: "order.paid:" + polarOrder, typ: "order.paid", conversion: polarConversion, payment: polarPaidIn(2000, "ugx")},
		{fixture: paid, label: "MGA without decimals", patch: map[string]any{"data.currency": "mga", "data.net_amount": 3000},
			id: "order.paid:" + polarOrder, typ: "order.paid", conversion: polarConversion, payment: polarPaidIn(300000, "mga")},
		// Half a krona has no ISO minor unit: refused, not rounded.
		{fixture: paid, label: "ISK with a fraction", patch: map[string]any{"data.currency": "isk", "data.net_amount": 700050}, invalid: true},
		// Polar sells in no three-decimal currency, and its hundredths
		// would disagree with the thousandths Stripe charges them in.
		{fixture: paid, label: "KWD", patch: map[string]any{"data.currency": "kwd", "data.net_amount": 1234}, invalid: true},
		{fixture: paid, label: "BHD", patch: map[string]any{"data.currency": "bhd", "data.net_amount": 1234}, invalid: true},
		{fixture: paid, label: "amount as a float", patch: map[string]any{"data.net_amount": json.Number("2000.0")}, invalid: true},
		{fixture: paid, label: "amount over int64", patch: map[string]any{"data.net_amount": json.Number("9223372036854775808")}, invalid: true},
		{fixture: "polar/subscription_revoked.json", label: "data not an object", patch: map[string]any{"data": "sub"}, invalid: true},
		{body: `{"data":{}}`, invalid: true},
		{body: `{"type":"order.paid"}`, invalid: true},
	})
}

func FuzzMapPolar(f *testing.F) { fuzzMap(f, "polar") }

func TestPolarRefusedMoney(t *testing.T) {
	runRefusedMoney(t, "polar", polarSecret, "polar/order_paid.json", append([]refusedMoney{
		{"negative amount", map[string]any{"data.net_amount": -1}, "negative"},
		{"ISK with a fraction", map[string]any{"data.currency": "isk", "data.net_amount": 700050}, "isk"},
	}, refusedCurrencies("data.currency")...))
}

func TestPolarDeliveries(t *testing.T) {
	refund := reditus.Refund{PaymentID: "polar:order:" + polarOrder}
	runDeliveries(t, "polar", polarSecret, []deliveryCase{
		{fixture: "polar/order_paid.json", sign: polarHeader, outcome: "forwarded",
			calls: []reditus.Call{reditus.CallTrack, reditus.CallPay}, conversion: &polarConversion, payment: &polarPaid},
		{fixture: "polar/order_paid_no_referral.json", outcome: "forwarded", reason: "no conversion",
			calls:   []reditus.Call{reditus.CallPay},
			payment: &reditus.Payment{Amount: 2000, Currency: "eur", IdempotencyKey: "polar:order:0c2e4a6b-8d1f-4b3c-a5e7-9f1b3d5a7c28", ReferralUID: polarCustomer, ReferralEmail: testEmail}},
		{fixture: "polar/order_refunded.json", outcome: "forwarded", calls: []reditus.Call{reditus.CallRefund}, refund: &refund},
		{fixture: "polar/subscription_revoked.json", outcome: "forwarded", calls: []reditus.Call{reditus.CallChurn}, churn: &polarChurn},
		{fixture: "polar/order_created.json", outcome: "skipped", reason: "event type order.created is not handled"},
	})
}

// The delivery id is the signed webhook-id header, even beside a complete
// set of svix-* headers, which Polar does not send and the signature does
// not cover: a replay must not claim another delivery's id with them.
func TestPolarDeliveryID(t *testing.T) {
	red := newRecorder(t)
	b := moneyBridge(t, "polar", polarSecret, false, red)
	body := testdata(t, "polar/order_paid.json")
	plain := polarHeader(t, polarSecret, "msg_2vC9Xh", body, time.Now())
	forged := polarHeader(t, polarSecret, "msg_3wD0Yi", body, time.Now())
	forged.Set("svix-id", "msg_forged")
	forged.Set("svix-timestamp", forged.Get("webhook-timestamp"))
	forged.Set("svix-signature", "v1,AAAA")
	for _, d := range []struct {
		header http.Header
		want   string
	}{{plain, "msg_2vC9Xh"}, {forged, "msg_3wD0Yi"}} {
		a := post(t, b, "polar", d.header, body)
		a.is(t, http.StatusOK, "forwarded")
		if a.EventID != d.want {
			t.Errorf("event_id %q, want the webhook-id %s", a.EventID, d.want)
		}
	}
}

// A secret Polar made before 2026-09-08 signs with its UTF-8 bytes, even
// when it looks like base64 (RESEARCH.md, vector P2).
func TestPolarLegacySecret(t *testing.T) {
	const legacy = "whsec_legacyPolarToken"
	body := testdata(t, "polar/order_paid.json")
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	mac := hmac.New(sha256.New, []byte(legacy))
	mac.Write([]byte("msg_legacy." + ts + "." + string(body)))
	h := http.Header{}
	h.Set("webhook-id", "msg_legacy")
	h.Set("webhook-timestamp", ts)
	h.Set("webhook-signature", "v1,"+base64.StdEncoding.EncodeToString(mac.Sum(nil)))
	red := newRecorder(t)
	post(t, moneyBridge(t, "polar", legacy, false, red), "polar", h, body).is(t, http.StatusOK, "forwarded")
}

func TestPolarSignatures(t *testing.T) {
	runSignatures(t, "polar", polarSecret, "whsec_"+base64.StdEncoding.EncodeToString([]byte("another secret of thirty-two byt")), "polar/order_paid.json", polarHeader)
}

func TestPolarPaymentAnswers(t *testing.T) {
	runPaymentAnswers(t, "polar", polarSecret, "polar/order_paid.json")
}

func TestPolarResentPaysOnce(t *testing.T) {
	runResentPaysOnce(t, "polar", polarSecret, "polar/order_paid.json")
}
