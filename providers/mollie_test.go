package providers_test

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/getreditus/reditus-bridge/config"
	"github.com/getreditus/reditus-bridge/internal/fakemollie"
	"github.com/getreditus/reditus-bridge/reditus"
)

// The secret of the tests' next-gen webhook, and the API key the fake Mollie
// API takes.
const (
	mollieSecret = "mollie-nextgen-webhook-secret-5b2c"
	mollieKey    = "live_dHar4XY7LxsDOtmnkVtjNVWXLSlXsM"
)

// mollieHeader signs a next-gen webhook as Mollie does, computed here
// rather than by the scheme: hex HMAC-SHA256 of the body (Mollie's
// docs, hash_hmac('sha256', $payload, $secret)).
var mollieHeader = hexBodyMAC("X-Mollie-Signature")

// What the Mollie testdata says: customer cst_8wmqcHMN4U (john.doe, the
// referral in its metadata), its subscription sub_rVKGtNd6s3 every 3 months,
// 25.00 EUR; a one-off payment of 20.00 EUR by usr_1337, the referral in
// the payment's metadata.
var (
	mollieConversion = reditus.Conversion{AffiliateSlug: "john", GrID: clickID, Email: testEmail, UID: "cst_8wmqcHMN4U"}
	mollieFirstPaid  = reditus.Payment{Amount: 2500, Currency: "eur", IdempotencyKey: "mollie:payment:tr_WDqYK6vllg", ReferralUID: "cst_8wmqcHMN4U", ReferralEmail: testEmail}
	mollieRecurring  = reditus.Payment{Amount: 2500, Currency: "eur", IdempotencyKey: "mollie:payment:tr_7UhSN1zuXS", ReferralUID: "cst_8wmqcHMN4U", ReferralEmail: testEmail,
		SubscriptionID: "sub_rVKGtNd6s3", Interval: "month", IntervalCount: 3}
	mollieOneOffConversion = reditus.Conversion{AffiliateSlug: "john", GrID: clickID, Email: testEmail, UID: "usr_1337"}
	mollieOneOffPaid       = reditus.Payment{Amount: 2000, Currency: "eur", IdempotencyKey: "mollie:payment:tr_44aKxzEbr8", ReferralUID: "usr_1337", ReferralEmail: testEmail}
	mollieChurn            = reditus.Churn{ReferralUID: "cst_8wmqcHMN4U", ReferralEmail: testEmail}
)

// mollieFirstIn is the first payment of amount in currency.
func mollieFirstIn(amount int64, currency string) *reditus.Payment {
	p := mollieFirstPaid
	p.Amount, p.Currency = amount, currency
	return &p
}

// mollieRecurringEvery is the recurring payment with interval fields.
func mollieRecurringEvery(interval string, count int) *reditus.Payment {
	p := mollieRecurring
	p.Interval, p.IntervalCount = interval, count
	if interval == "" {
		p.SubscriptionID = ""
	}
	return &p
}

func TestMapMollie(t *testing.T) {
	const first, recurring, oneOff = "mollie/payment_first_paid.json", "mollie/payment_recurring_paid.json", "mollie/payment_oneoff_paid.json"
	cases := []mapCase{
		{fixture: first, id: "tr_WDqYK6vllg:paid", typ: "payment.paid", conversion: mollieConversion, payment: &mollieFirstPaid},
		// A recurring payment pays; its referral converted with the first.
		{fixture: recurring, id: "tr_7UhSN1zuXS:paid", typ: "payment.paid", payment: &mollieRecurring},
		{fixture: oneOff, id: "tr_44aKxzEbr8:paid", typ: "payment.paid", conversion: mollieOneOffConversion, payment: &mollieOneOffPaid},
		// Neither an email nor a customer nor a referral: nothing to send.
		{fixture: "mollie/payment_oneoff_paid_no_referral.json", id: "tr_Ahn4Xk2Qpa:paid", typ: "payment.paid",
			skip: "no Reditus referral data: looked for gr_id/affiliate_slug/advocate_slug in payment metadata; no payment: no email or customer id"},
		{fixture: "mollie/payment_first_refunded.json", id: "tr_WDqYK6vllg:refunded", typ: "payment.refunded", refund: &reditus.Refund{PaymentID: "mollie:payment:tr_WDqYK6vllg"}, customer: [2]string{"john.doe@example.com", "cst_8wmqcHMN4U"}},
		{fixture: "mollie/payment_recurring_charged_back.json", id: "tr_7UhSN1zuXS:refunded", typ: "payment.refunded", refund: &reditus.Refund{PaymentID: "mollie:payment:tr_7UhSN1zuXS"}, customer: [2]string{"john.doe@example.com", "cst_8wmqcHMN4U"}},
		{fixture: "mollie/payment_recurring_failed_subscription_canceled.json", id: "sub_rVKGtNd6s3:canceled", typ: "subscription.canceled", churn: &mollieChurn},
		// Mollie's own fixture as it is: a test-mode payment, still open.
		{fixture: "mollie/payment_open_sdk.json", id: "tr_7UhSN1zuXS:open", typ: "payment.open", skip: "set MOLLIE_ACCEPT_TEST_EVENTS=true"},
		{fixture: "mollie/payment_open_sdk.json", label: "test payments accepted", accept: true, id: "tr_7UhSN1zuXS:open", typ: "payment.open",
			skip: "payment status open: nothing converts or pays until a payment is paid"},
		// A next-gen event, full payload: the payment it embeds, known by the
		// same id as a classic webhook of the same change.
		{fixture: "mollie/event_payment_paid.json", id: "tr_44aKxzEbr8:paid", typ: "payment.paid", conversion: mollieOneOffConversion, payment: &mollieOneOffPaid},
		{fixture: "mollie/event_refund_refunded.json", id: "event_T3kSx9bWq8mLc2Zd5Nf1A", typ: "refund.refunded", skip: "judged by the payment it concerns"},
		{fixture: "mollie/event_payment_link_paid.json", id: "event_Qz8mTrd71xLkNeP4Hs2Wy", typ: "payment-link.paid", skip: "event type payment-link.paid is not handled"},
		{fixture: "mollie/event_payment_paid.json", label: "a simple payload", patch: map[string]any{"_embedded": deleted},
			id: "event_GvJ8WHrp5isUdRub9CJyH", typ: "payment.paid", skip: "without its details (a simple payload)"},
	}
	cases = append(cases, mollieVariantCases(first, recurring, oneOff)...)
	cases = append(cases, mollieMoneyCases(first)...)
	runMapCases(t, "mollie", cases)
}

// mollieVariantCases are the testdata with a field or two changed: where the
// referral and the person are found, and the subscription's interval.
func mollieVariantCases(first, recurring, oneOff string) []mapCase {
	withUser := mollieFirstPaid
	withUser.ReferralUID = "usr_42"
	return []mapCase{
		{fixture: first, label: "user_id in the customer's metadata", patch: map[string]any{"_embedded.customer.metadata.user_id": "usr_42"},
			id: "tr_WDqYK6vllg:paid", typ: "payment.paid", conversion: reditus.Conversion{AffiliateSlug: "john", GrID: clickID, Email: testEmail, UID: "usr_42"}, payment: &withUser},
		// The local default reads no customer: no email, the customer id.
		{fixture: first, label: "no customer read", patch: map[string]any{"_embedded": deleted}, id: "tr_WDqYK6vllg:paid", typ: "payment.paid",
			note:    "no conversion: no Reditus referral data: looked for gr_id/affiliate_slug/advocate_slug in payment metadata",
			payment: &reditus.Payment{Amount: 2500, Currency: "eur", IdempotencyKey: "mollie:payment:tr_WDqYK6vllg", ReferralUID: "cst_8wmqcHMN4U"}},
		{fixture: oneOff, label: "metadata as a JSON string", patch: map[string]any{"metadata": `{"gr_id":"rl:0f8fad5b-d9cb-469f-a165-70867728950e::pk:::john:::sid:affiliate","user_id":"usr_1337","email":"john.doe@example.com"}`},
			id: "tr_44aKxzEbr8:paid", typ: "payment.paid", conversion: mollieOneOffConversion, payment: &mollieOneOffPaid},
		{fixture: oneOff, label: "metadata the site's own text", patch: map[string]any{"metadata": "order 1234"},
			id: "tr_44aKxzEbr8:paid", typ: "payment.paid", skip: "no Reditus referral data"},
		{fixture: recurring, label: "monthly", patch: map[string]any{"_embedded.subscription.interval": "1 month"},
			id: "tr_7UhSN1zuXS:paid", typ: "payment.paid", payment: mollieRecurringEvery("month", 1)},
		{fixture: recurring, label: "every 12 months", patch: map[string]any{"_embedded.subscription.interval": "12 months"},
			id: "tr_7UhSN1zuXS:paid", typ: "payment.paid", payment: mollieRecurringEvery("month", 12)},
		// Reditus takes months and years: every 14 days goes as a one-off.
		{fixture: recurring, label: "every 14 days", patch: map[string]any{"_embedded.subscription.interval": "14 days"},
			id: "tr_7UhSN1zuXS:paid", typ: "payment.paid", payment: mollieRecurringEvery("", 0)},
		{fixture: recurring, label: "the subscription not read", patch: map[string]any{"_embedded.subscription": deleted},
			id: "tr_7UhSN1zuXS:paid", typ: "payment.paid", payment: mollieRecurringEvery("", 0)},
		{fixture: first, label: "partly refunded", patch: map[string]any{"amountRefunded": map[string]any{"currency": "EUR", "value": "10.00"}},
			id: "tr_WDqYK6vllg:refunded:1000", typ: "payment.refunded", skip: "partial refund (1000 of 2500"},
		{fixture: first, label: "refunded and charged back to empty", patch: map[string]any{"amountRefunded": map[string]any{"currency": "EUR", "value": "15.00"}, "amountChargedBack": map[string]any{"currency": "EUR", "value": "10.00"}},
			id: "tr_WDqYK6vllg:refunded", typ: "payment.refunded", refund: &reditus.Refund{PaymentID: "mollie:payment:tr_WDqYK6vllg"}, customer: [2]string{"john.doe@example.com", "cst_8wmqcHMN4U"}},
		{fixture: "mollie/payment_recurring_failed_subscription_canceled.json", label: "the subscription still active", patch: map[string]any{"_embedded.subscription.status": "active"},
			id: "tr_Fq1nG8pS3d:failed", typ: "payment.failed", skip: "payment status failed"},
		{fixture: first, label: "expired", patch: map[string]any{"status": "expired"}, id: "tr_WDqYK6vllg:expired", typ: "payment.expired", skip: "payment status expired"},
		{fixture: first, label: "no id", patch: map[string]any{"id": deleted}, invalid: true},
		{body: `id=tr_WDqYK6vllg`, invalid: true},
		{body: `{"resource":"customer","id":"cst_8wmqcHMN4U"}`, invalid: true},
		{body: `{"resource":"event","type":"payment.paid"}`, invalid: true},
	}
}

// mollieMoneyCases are the first payment in other currencies and forms:
// Mollie's amounts are decimal strings in the currency's unit, converted
// exactly to the ISO 4217 minor unit (none for JPY and KRW, three decimals
// for KWD and BHD, which Mollie does not sell in but would write so).
func mollieMoneyCases(first string) []mapCase {
	amount := func(currency, value any) map[string]any {
		return map[string]any{"amount": map[string]any{"currency": currency, "value": value}}
	}
	paid := func(label string, currency, value any, minor int64) mapCase {
		return mapCase{fixture: first, label: label, patch: amount(currency, value), id: "tr_WDqYK6vllg:paid", typ: "payment.paid",
			conversion: mollieConversion, payment: mollieFirstIn(minor, strings.ToLower(currency.(string)))}
	}
	refused := func(label string, currency, value any) mapCase {
		return mapCase{fixture: first, label: label, patch: amount(currency, value), invalid: true}
	}
	return []mapCase{
		paid("JPY", "JPY", "1000", 1000),
		paid("KRW", "KRW", "11000", 11000),
		paid("KWD", "KWD", "12.345", 12345),
		paid("BHD with one decimal", "BHD", "1.5", 1500),
		paid("whole euros", "EUR", "25", 2500),
		paid("trailing zeros", "EUR", "25.000", 2500),
		refused("yen with a fraction", "JPY", "10.50"),
		refused("a third decimal of a euro", "EUR", "25.001"),
		refused("the amount a number", "EUR", 25.00),
		refused("the amount an integer", "EUR", 2500),
		refused("a float's exponent", "EUR", "2.5e1"),
		refused("no currency", "", "25.00"),
		refused("not a currency", "XYZ", "25.00"),
		{fixture: first, label: "refunded in another currency", patch: map[string]any{"amountRefunded": map[string]any{"currency": "USD", "value": "25.00"}}, invalid: true},
	}
}

func FuzzMapMollie(f *testing.F) { fuzzMap(f, "mollie") }

func TestMollieRefusedMoney(t *testing.T) {
	runRefusedMoney(t, "mollie", mollieSecret, "mollie/payment_oneoff_paid.json", append([]refusedMoney{
		{"negative amount", map[string]any{"amount.value": "-20.00"}, "negative"},
		{"a float", map[string]any{"amount.value": 20.0}, "amount"},
	}, refusedCurrencies("amount.currency")...))
}

// mollieAPI is a fake Mollie API holding every payment of the testdata, as
// Mollie's API serves them (the payment, its customer, its subscription).
func mollieAPI(t *testing.T, fixtures ...string) *fakemollie.Server {
	api := fakemollie.New(t, mollieKey)
	for _, f := range fixtures {
		api.AddResolved(t, testdata(t, f))
	}
	return api
}

// mollieBridge is a bridge with Mollie on: the key, the fake API, and the
// next-gen secret.
func mollieBridge(t *testing.T, api *fakemollie.Server, key string, red *recorder) http.Handler {
	return bridgeWith(t, "mollie", config.Webhook{Secrets: config.Secrets{mollieSecret}, APIKey: config.Secret(key), APIURL: api.URL}, red)
}

// classic is a classic Mollie webhook: the payment's id and nothing else,
// unsigned, as Mollie posts it (form-encoded: the bridge reads the bytes
// whatever their label).
func classic(t *testing.T, b http.Handler, id string) answer {
	t.Helper()
	return post(t, b, "mollie", http.Header{}, []byte("id="+id))
}

// Classic webhooks, each naming a payment that the bridge reads from the
// fake Mollie API: every state of the testdata, through the whole pipeline.
func TestMollieClassicWebhooks(t *testing.T) {
	tests := []struct {
		fixture, id string
		calls       []reditus.Call
		conversion  *reditus.Conversion
		payment     *reditus.Payment
		refund      *reditus.Refund
		churn       *reditus.Churn
		reads       []string
	}{
		{"mollie/payment_first_paid.json", "tr_WDqYK6vllg", []reditus.Call{reditus.CallTrack, reditus.CallPay}, &mollieConversion, &mollieFirstPaid, nil, nil,
			[]string{"GET /v2/payments/tr_WDqYK6vllg", "GET /v2/customers/cst_8wmqcHMN4U"}},
		{"mollie/payment_recurring_paid.json", "tr_7UhSN1zuXS", []reditus.Call{reditus.CallPay}, nil, &mollieRecurring, nil, nil,
			[]string{"GET /v2/payments/tr_7UhSN1zuXS", "GET /v2/customers/cst_8wmqcHMN4U", "GET /v2/customers/cst_8wmqcHMN4U/subscriptions/sub_rVKGtNd6s3"}},
		{"mollie/payment_first_refunded.json", "tr_WDqYK6vllg", []reditus.Call{reditus.CallRefund}, nil, nil, &reditus.Refund{PaymentID: "mollie:payment:tr_WDqYK6vllg"}, nil, nil},
		{"mollie/payment_recurring_charged_back.json", "tr_7UhSN1zuXS", []reditus.Call{reditus.CallRefund}, nil, nil, &reditus.Refund{PaymentID: "mollie:payment:tr_7UhSN1zuXS"}, nil, nil},
		{"mollie/payment_recurring_failed_subscription_canceled.json", "tr_Fq1nG8pS3d", []reditus.Call{reditus.CallChurn}, nil, nil, nil, &mollieChurn, nil},
	}
	for _, tt := range tests {
		t.Run(tt.fixture, func(t *testing.T) {
			api, red := mollieAPI(t, tt.fixture), newRecorder(t)
			classic(t, mollieBridge(t, api, mollieKey, red), tt.id).is(t, http.StatusOK, "forwarded")
			if got := red.calls(); !slices.Equal(got, tt.calls) {
				t.Errorf("Reditus calls %v, want %v", got, tt.calls)
			}
			received(t, "conversion", red.Conversions(), tt.conversion)
			received(t, "payment", red.Payments(), tt.payment)
			received(t, "refund", red.Refunds(), tt.refund)
			received(t, "churn", red.Churns(), tt.churn)
			if got := api.Requests(); tt.reads != nil && !sameSet(got, tt.reads) {
				t.Errorf("Mollie API requests %v, want %v", got, tt.reads)
			}
		})
	}
}

// sameSet reports whether a and b hold the same strings, in any order (the
// customer and the subscription are read at once).
func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// The hostile and the broken: an id Mollie does not know is a forgery,
// refused with nothing sent; Mollie's API down is an outage, 503, with
// nothing sent and nothing lost (Mollie's retry is forwarded once the API is
// back); a refused key is our configuration, 500; and what the scheme lets
// through as classic is only a payment's id.
func TestMollieClassicWebhooksRefused(t *testing.T) {
	t.Run("an id Mollie does not know", func(t *testing.T) {
		api, red := mollieAPI(t, "mollie/payment_first_paid.json"), newRecorder(t)
		a := classic(t, mollieBridge(t, api, mollieKey, red), "tr_ForgedByAnyone")
		a.is(t, http.StatusBadRequest, "invalid_signature")
		if !strings.Contains(a.Reason, "Mollie has no payment tr_ForgedByAnyone") {
			t.Errorf("reason %q", a.Reason)
		}
		if red.Requests() != 0 {
			t.Errorf("a forged id made %d requests to Reditus", red.Requests())
		}
	})
	t.Run("Mollie's API down, then back", func(t *testing.T) {
		api, red := mollieAPI(t, "mollie/payment_first_paid.json"), newRecorder(t)
		b := mollieBridge(t, api, mollieKey, red)
		api.Down(true)
		classic(t, b, "tr_WDqYK6vllg").is(t, http.StatusServiceUnavailable, "retry")
		if red.Requests() != 0 {
			t.Errorf("an unread payment made %d requests to Reditus", red.Requests())
		}
		api.Down(false)
		classic(t, b, "tr_WDqYK6vllg").is(t, http.StatusOK, "forwarded")
		received(t, "payment", red.Payments(), &mollieFirstPaid)
	})
	t.Run("the key refused", func(t *testing.T) {
		api, red := mollieAPI(t, "mollie/payment_first_paid.json"), newRecorder(t)
		a := classic(t, mollieBridge(t, api, "live_another0000000000000000000000", red), "tr_WDqYK6vllg")
		a.is(t, http.StatusInternalServerError, "retry")
		if !strings.Contains(a.Reason, "MOLLIE_API_KEY") || red.Requests() != 0 {
			t.Errorf("reason %q, %d Reditus requests; want MOLLIE_API_KEY named and none", a.Reason, red.Requests())
		}
	})
	for _, body := range []string{"id=ord_kEn1PlbGa", "id=tr_a/../../customers/cst_8wmqcHMN4U", `{"id":"tr_WDqYK6vllg"}`} {
		t.Run("unsigned "+body, func(t *testing.T) {
			api, red := mollieAPI(t, "mollie/payment_first_paid.json"), newRecorder(t)
			b := mollieBridge(t, api, mollieKey, red)
			req := httptest.NewRequest(http.MethodPost, "/webhooks/mollie", strings.NewReader(body))
			rec := httptest.NewRecorder()
			b.ServeHTTP(rec, req)
			if rec.Code != http.StatusBadRequest || len(api.Requests()) != 0 || red.Requests() != 0 {
				t.Errorf("got %d, %d API requests, %d Reditus requests; want 400 and none", rec.Code, len(api.Requests()), red.Requests())
			}
		})
	}
}

// Next-gen webhooks: a full payload's payment is read from the event (its
// customer and subscription from the API); a refund's payment, which the
// event only names, from the API. A classic webhook of the change a next-gen
// event reported is the same delivery, answered from memory.
func TestMollieNextGenWebhooks(t *testing.T) {
	t.Run("payment.paid, full payload", func(t *testing.T) {
		api, red := mollieAPI(t), newRecorder(t)
		b := mollieBridge(t, api, mollieKey, red)
		body := testdata(t, "mollie/event_payment_paid.json")
		post(t, b, "mollie", mollieHeader(t, mollieSecret, "", body, time.Now()), body).is(t, http.StatusOK, "forwarded")
		received(t, "conversion", red.Conversions(), &mollieOneOffConversion)
		received(t, "payment", red.Payments(), &mollieOneOffPaid)
		if n := len(api.Requests()); n != 0 {
			t.Errorf("%d API requests for a payment without a customer, want none", n)
		}
		api.AddResolved(t, testdata(t, "mollie/payment_oneoff_paid.json"))
		a := classic(t, b, "tr_44aKxzEbr8")
		a.is(t, http.StatusOK, "forwarded")
		if red.Calls(reditus.CallPay) != 1 {
			t.Errorf("the classic webhook of the same payment paid again: %d payments", red.Calls(reditus.CallPay))
		}
	})
	t.Run("refund.refunded", func(t *testing.T) {
		api, red := mollieAPI(t, "mollie/payment_first_refunded.json"), newRecorder(t)
		body := testdata(t, "mollie/event_refund_refunded.json")
		post(t, mollieBridge(t, api, mollieKey, red), "mollie", mollieHeader(t, mollieSecret, "", body, time.Now()), body).is(t, http.StatusOK, "forwarded")
		received(t, "refund", red.Refunds(), &reditus.Refund{PaymentID: "mollie:payment:tr_WDqYK6vllg"})
	})
	t.Run("the body changed after signing", func(t *testing.T) {
		api, red := mollieAPI(t), newRecorder(t)
		body := testdata(t, "mollie/event_payment_paid.json")
		h := mollieHeader(t, mollieSecret, "", body, time.Now())
		post(t, mollieBridge(t, api, mollieKey, red), "mollie", h, bytes.Replace(body, []byte("20.00"), []byte("2000.00"), 1)).is(t, http.StatusBadRequest, "invalid_signature")
		if red.Requests() != 0 || len(api.Requests()) != 0 {
			t.Error("a refused delivery reached Reditus or Mollie")
		}
	})
}

func TestMollieSignatures(t *testing.T) {
	runSignatures(t, "mollie", mollieSecret, "another-mollie-webhook-secret", "mollie/event_payment_paid.json", mollieHeader)
}

func TestMolliePaymentAnswers(t *testing.T) {
	runPaymentAnswers(t, "mollie", mollieSecret, "mollie/event_payment_paid.json")
}

func TestMollieResentPaysOnce(t *testing.T) {
	runResentPaysOnce(t, "mollie", mollieSecret, "mollie/event_payment_paid.json")
}
