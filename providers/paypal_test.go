package providers_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/getreditus/reditus-bridge/config"
	"github.com/getreditus/reditus-bridge/internal/paypaltest"
	"github.com/getreditus/reditus-bridge/providers"
	"github.com/getreditus/reditus-bridge/reditus"
	"github.com/getreditus/reditus-bridge/verify"
)

// payPalWebhookID is the tests' PAYPAL_WEBHOOK_ID.
const payPalWebhookID = "96605875FF6516633"

// What the PayPal testdata says: subscription I-BW452GLLEP1G (john.doe, the
// cookie in custom_id), its sale of 21.00 USD with 1.30 tax; a one-off
// order's capture of 49.00 EUR by usr_1337, the referral in custom_id's
// query form.
var (
	payPalConversion        = reditus.Conversion{AffiliateSlug: "john", GrID: clickID, Email: testEmail, UID: "I-BW452GLLEP1G"}
	payPalSale              = reditus.Payment{Amount: 1970, Currency: "usd", IdempotencyKey: "paypal:sale:80F85758S3080410K", ReferralUID: "I-BW452GLLEP1G"}
	payPalCaptureConversion = reditus.Conversion{AffiliateSlug: "john", GrID: clickID, UID: "usr_1337"}
	payPalCapture           = reditus.Payment{Amount: 4900, Currency: "eur", IdempotencyKey: "paypal:capture:42311647XV020574X", ReferralUID: "usr_1337"}
	payPalChurn             = reditus.Churn{ReferralUID: "I-BW452GLLEP1G", ReferralEmail: testEmail}
)

// payPalCaptureIn is the capture's payment of amount in currency.
func payPalCaptureIn(amount int64, currency string) *reditus.Payment {
	p := payPalCapture
	p.Amount, p.Currency = amount, currency
	return &p
}

func TestMapPayPal(t *testing.T) {
	const (
		activated = "paypal/BILLING.SUBSCRIPTION.ACTIVATED.json"
		capture   = "paypal/PAYMENT.CAPTURE.COMPLETED.json"
		sale      = "paypal/PAYMENT.SALE.COMPLETED.json"
	)
	cases := []mapCase{
		{fixture: activated, id: "WH-77687562XN25889J8-8Y6T55435R66168T6", typ: "BILLING.SUBSCRIPTION.ACTIVATED", conversion: payPalConversion},
		{fixture: "paypal/BILLING.SUBSCRIPTION.ACTIVATED.no_referral.json", id: "WH-4M0448861G563140B-9EX36365822141321", typ: "BILLING.SUBSCRIPTION.ACTIVATED",
			skip: "no Reditus referral data: looked for gr_id/affiliate_slug/advocate_slug in custom_id"},
		{fixture: "paypal/BILLING.SUBSCRIPTION.CANCELLED.json", id: "WH-55TG7562XN2588878-8YH955435R661687G", typ: "BILLING.SUBSCRIPTION.CANCELLED", churn: &payPalChurn},
		{fixture: "paypal/BILLING.SUBSCRIPTION.EXPIRED.json", id: "WH-2L1S47R2R0912312E-9TU70934Y4211484S", typ: "BILLING.SUBSCRIPTION.EXPIRED", churn: &payPalChurn},
		// A sale pays, by the subscription's id; its custom is empty here.
		{fixture: sale, id: "WH-9UG43882HX7271132-6E0871324L7949614", typ: "PAYMENT.SALE.COMPLETED",
			note: "no conversion: no Reditus referral data: looked for gr_id/affiliate_slug/advocate_slug in custom", payment: &payPalSale},
		// PayPal's own sample, from its sandbox.
		{fixture: "paypal/PAYMENT.SALE.COMPLETED.sandbox.json", id: "WH-9UG43882HX7271132-6E0871324L7949614", typ: "PAYMENT.SALE.COMPLETED",
			skip: "set PAYPAL_ACCEPT_TEST_EVENTS=true"},
		{fixture: "paypal/PAYMENT.SALE.COMPLETED.sandbox.json", label: "sandbox events accepted", accept: true, id: "WH-9UG43882HX7271132-6E0871324L7949614", typ: "PAYMENT.SALE.COMPLETED",
			skip: "no payment: no email or customer id; looked at billing_agreement_id"},
		{fixture: capture, id: "WH-58D329510W468432D-8HN650336L201105X", typ: "PAYMENT.CAPTURE.COMPLETED", conversion: payPalCaptureConversion, payment: &payPalCapture},
		// No custom_id: the order's id stands for the customer.
		{fixture: "paypal/PAYMENT.CAPTURE.COMPLETED.no_referral.json", id: "WH-0KT7432CR1356523H-4RK81733P8613391C", typ: "PAYMENT.CAPTURE.COMPLETED",
			note:    "no conversion: no Reditus referral data: looked for gr_id/affiliate_slug/advocate_slug in custom_id",
			payment: &reditus.Payment{Amount: 4900, Currency: "eur", IdempotencyKey: "paypal:capture:7TK53561YB803214N", ReferralUID: "5O190127TN364715T"}},
		// As PayPal sends them, refunds cannot be judged: the bridge reads
		// what they refund (resolvePayPal), with PAYPAL_API_CREDENTIALS.
		{fixture: "paypal/PAYMENT.CAPTURE.REFUNDED.json", id: "WH-1GE84257G0350133W-6RW800890C634293G", typ: "PAYMENT.CAPTURE.REFUNDED", skip: "without PAYPAL_API_CREDENTIALS"},
		{fixture: "paypal/PAYMENT.SALE.REFUNDED.json", id: "WH-6F207351SC284371F-0KX52201050121307", typ: "PAYMENT.SALE.REFUNDED", skip: "without PAYPAL_API_CREDENTIALS"},
		// PayPal's Java SDK test event: not a type the bridge handles.
		{fixture: "paypal/BILLING.PLAN.CREATED.json", id: "WH-2MW4820926242972J-6SG447389E205703U", typ: "BILLING.PLAN.CREATED", skip: "event type BILLING.PLAN.CREATED is not handled"},
	}
	cases = append(cases, payPalVariantCases(activated, capture, sale)...)
	cases = append(cases, payPalMoneyCases(capture, sale)...)
	runMapCases(t, "paypal", cases)
}

// payPalVariantCases are the testdata with a field or two changed: the
// forms of custom_id, the states, and the refunds as resolvePayPal
// completes them.
func payPalVariantCases(activated, capture, sale string) []mapCase {
	const id, typ = "WH-77687562XN25889J8-8Y6T55435R66168T6", "BILLING.SUBSCRIPTION.ACTIVATED"
	custom := func(label, value string) mapCase {
		return mapCase{fixture: activated, label: label, patch: map[string]any{"resource.custom_id": value}, id: id, typ: typ}
	}
	refunded := func(fixture, label string, obj map[string]any) mapCase {
		return mapCase{fixture: fixture, label: label, patch: map[string]any{"_embedded": map[string]any{"refunded": obj}}}
	}
	withConv := func(c mapCase, conv reditus.Conversion) mapCase { c.conversion = conv; return c }
	withSkip := func(c mapCase, skip string) mapCase { c.skip = skip; return c }
	withRefund := func(c mapCase, id, typ, key string) mapCase {
		c.id, c.typ, c.refund = id, typ, &reditus.Refund{PaymentID: key}
		return c
	}
	withEvent := func(c mapCase, id, typ, skip string) mapCase { c.id, c.typ, c.skip = id, typ, skip; return c }
	// A refund names its customer as the refunded payment did: PayPal's carry no email.
	withCustomer := func(c mapCase, uid string) mapCase { c.customer = [2]string{"", uid}; return c }
	const capRefund, saleRefund = "paypal/PAYMENT.CAPTURE.REFUNDED.json", "paypal/PAYMENT.SALE.REFUNDED.json"
	const capID, saleID = "WH-1GE84257G0350133W-6RW800890C634293G", "WH-6F207351SC284371F-0KX52201050121307"
	return []mapCase{
		withConv(custom("custom_id in query form", "gr_id=0f8fad5b-d9cb-469f-a165-70867728950e&red=john"), payPalConversion),
		withConv(custom("an advocate in query form", "gr_id=0f8fad5b-d9cb-469f-a165-70867728950e&refby=jwe512"),
			reditus.Conversion{AdvocateSlug: "jwe512", GrID: clickID, Email: testEmail, UID: "I-BW452GLLEP1G"}),
		withConv(custom("a slug alone", "red=john"), reditus.Conversion{AffiliateSlug: "john", Email: testEmail, UID: "I-BW452GLLEP1G"}),
		withSkip(custom("a bare click id", clickID), "bare click id"),
		withSkip(custom("the site's own id", "invoice-2024-0042"), "not a Reditus _gr_id cookie"),
		{fixture: capture, label: "pending", patch: map[string]any{"resource.status": "PENDING"},
			id: "WH-58D329510W468432D-8HN650336L201105X", typ: "PAYMENT.CAPTURE.COMPLETED", skip: "the capture is pending, not completed"},
		{fixture: sale, label: "custom carries the subscription's custom_id", patch: map[string]any{"resource.custom": "gr_id=0f8fad5b-d9cb-469f-a165-70867728950e&red=john"},
			id: "WH-9UG43882HX7271132-6E0871324L7949614", typ: "PAYMENT.SALE.COMPLETED",
			conversion: reditus.Conversion{AffiliateSlug: "john", GrID: clickID, UID: "I-BW452GLLEP1G"}, payment: &payPalSale},
		withCustomer(withRefund(refunded(capRefund, "the capture refunded", map[string]any{"id": "42311647XV020574X", "status": "REFUNDED", "custom_id": "user_id=usr_42"}), capID, "PAYMENT.CAPTURE.REFUNDED", "paypal:capture:42311647XV020574X"), "usr_42"),
		withEvent(refunded(capRefund, "the capture partly refunded", map[string]any{"id": "42311647XV020574X", "status": "PARTIALLY_REFUNDED"}), capID, "PAYMENT.CAPTURE.REFUNDED", "partial refund"),
		withCustomer(withRefund(refunded(saleRefund, "the sale refunded", map[string]any{"id": "80F85758S3080410K", "state": "refunded", "billing_agreement_id": "I-BW452GLLEP1G"}), saleID, "PAYMENT.SALE.REFUNDED", "paypal:sale:80F85758S3080410K"), "I-BW452GLLEP1G"),
		withEvent(refunded(saleRefund, "the sale partly refunded", map[string]any{"id": "80F85758S3080410K", "state": "partially_refunded"}), saleID, "PAYMENT.SALE.REFUNDED", "partial refund"),
		{fixture: capRefund, label: "the refund pending", patch: map[string]any{"resource.status": "PENDING"}, id: capID, typ: "PAYMENT.CAPTURE.REFUNDED", skip: "the refund is pending"},
		{fixture: capRefund, label: "no capture named", patch: map[string]any{"resource.links": []any{}}, invalid: true},
		{fixture: activated, label: "no resource id", patch: map[string]any{"resource.id": deleted}, invalid: true},
		{body: `{"id":"WH-1","event_type":"PAYMENT.CAPTURE.COMPLETED","resource":"x"}`, invalid: true},
		{body: `{"event_type":"PAYMENT.CAPTURE.COMPLETED"}`, invalid: true},
	}
}

// payPalMoneyCases are the capture and the sale in other currencies and
// forms: PayPal's amounts are decimal strings (v2 value, v1 total), "an
// integer for currencies like JPY", thousandths for currencies like TND,
// converted exactly to the ISO 4217 minor unit.
func payPalMoneyCases(capture, sale string) []mapCase {
	const capID, capTyp = "WH-58D329510W468432D-8HN650336L201105X", "PAYMENT.CAPTURE.COMPLETED"
	amount := func(currency, value any) map[string]any {
		return map[string]any{"resource.amount": map[string]any{"currency_code": currency, "value": value}}
	}
	paid := func(label, currency, value string, minor int64) mapCase {
		return mapCase{fixture: capture, label: label, patch: amount(currency, value), id: capID, typ: capTyp,
			conversion: payPalCaptureConversion, payment: payPalCaptureIn(minor, strings.ToLower(currency))}
	}
	refused := func(label string, currency, value any) mapCase {
		return mapCase{fixture: capture, label: label, patch: amount(currency, value), invalid: true}
	}
	saleIn := reditus.Payment{Amount: 2000, Currency: "jpy", IdempotencyKey: "paypal:sale:80F85758S3080410K", ReferralUID: "I-BW452GLLEP1G"}
	return []mapCase{
		paid("JPY", "JPY", "4900", 4900),
		paid("KRW", "KRW", "65000", 65000),
		paid("KWD", "KWD", "15.125", 15125),
		paid("BHD", "BHD", "18.5", 18500),
		refused("yen with a fraction", "JPY", "49.5"),
		refused("a third decimal of a euro", "EUR", "49.001"),
		refused("the value a number", "EUR", 49.0),
		refused("no currency", "", "49.00"),
		{fixture: sale, label: "a sale in JPY, tax apart", patch: map[string]any{"resource.amount": map[string]any{"total": "2100", "currency": "JPY", "details": map[string]any{"tax": "100"}}},
			id: "WH-9UG43882HX7271132-6E0871324L7949614", typ: "PAYMENT.SALE.COMPLETED", note: "no conversion", payment: &saleIn},
		{fixture: sale, label: "a tax over the total", patch: map[string]any{"resource.amount": map[string]any{"total": "21.00", "currency": "USD", "details": map[string]any{"tax": "30.00"}}}, invalid: true},
		{fixture: sale, label: "the total a number", patch: map[string]any{"resource.amount": map[string]any{"total": 21.0, "currency": "USD"}}, invalid: true},
	}
}

func FuzzMapPayPal(f *testing.F) { fuzzMap(f, "paypal") }

func TestPayPalRefusedMoney(t *testing.T) {
	runRefusedMoney(t, "paypal", payPalWebhookID, "paypal/PAYMENT.CAPTURE.COMPLETED.json", append([]refusedMoney{
		{"negative amount", map[string]any{"resource.amount.value": "-49.00"}, "negative"},
		{"a float", map[string]any{"resource.amount.value": 49.0}, "amount"},
	}, refusedCurrencies("resource.amount.currency_code")...))
}

// Every event through the whole pipeline, signed with the development
// certificate, which a test binary's scheme trusts for the tests' webhook id
// (verify.PayPalScheme); the certificate path itself is
// TestPayPalHostileDeliveriesSendNothing's and verify's.
func TestPayPalDeliveries(t *testing.T) {
	sale := payPalSale
	runDeliveries(t, "paypal", payPalWebhookID, []deliveryCase{
		{fixture: "paypal/BILLING.SUBSCRIPTION.ACTIVATED.json", outcome: "forwarded", calls: []reditus.Call{reditus.CallTrack}, conversion: &payPalConversion},
		{fixture: "paypal/PAYMENT.SALE.COMPLETED.json", outcome: "forwarded", reason: "no conversion", calls: []reditus.Call{reditus.CallPay}, payment: &sale},
		{fixture: "paypal/PAYMENT.CAPTURE.COMPLETED.json", outcome: "forwarded", calls: []reditus.Call{reditus.CallTrack, reditus.CallPay}, conversion: &payPalCaptureConversion, payment: &payPalCapture},
		{fixture: "paypal/BILLING.SUBSCRIPTION.CANCELLED.json", outcome: "forwarded", calls: []reditus.Call{reditus.CallChurn}, churn: &payPalChurn},
		{fixture: "paypal/BILLING.SUBSCRIPTION.EXPIRED.json", outcome: "forwarded", calls: []reditus.Call{reditus.CallChurn}, churn: &payPalChurn},
		{fixture: "paypal/PAYMENT.CAPTURE.REFUNDED.json", outcome: "skipped", reason: "PAYPAL_API_CREDENTIALS"},
		{fixture: "paypal/PAYMENT.SALE.COMPLETED.sandbox.json", outcome: "skipped", reason: "PAYPAL_ACCEPT_TEST_EVENTS"},
	})
}

func TestPayPalSignatures(t *testing.T) {
	// In a test binary the scheme trusts the development certificate for
	// every webhook id (verify.PayPalScheme): its Sign is PayPal's.
	runSignatures(t, "paypal", payPalWebhookID, "WHOTHER0000000000", "paypal/PAYMENT.CAPTURE.COMPLETED.json", schemeSigner("paypal"))
}

func TestPayPalPaymentAnswers(t *testing.T) {
	runPaymentAnswers(t, "paypal", payPalWebhookID, "paypal/PAYMENT.CAPTURE.COMPLETED.json")
}

func TestPayPalResentPaysOnce(t *testing.T) {
	runResentPaysOnce(t, "paypal", payPalWebhookID, "paypal/PAYMENT.CAPTURE.COMPLETED.json")
}

// Refunds, with PAYPAL_API_CREDENTIALS: the bridge reads the capture or sale
// from the fake PayPal API, and sends a refund only when it is wholly
// refunded.
func TestPayPalRefundsReadWhatTheyRefund(t *testing.T) {
	api := paypaltest.NewAPI(t, "AYSq3RDGsmBLJE-otTkBtM", "EGnHDxD_qRPdaLdZz8iCr8N7")
	api.Put("/v2/payments/captures/42311647XV020574X", []byte(`{"id":"42311647XV020574X","status":"REFUNDED","amount":{"currency_code":"EUR","value":"49.00"}}`))
	api.Put("/v1/payments/sale/80F85758S3080410K", []byte(`{"id":"80F85758S3080410K","state":"partially_refunded","amount":{"total":"21.00","currency":"USD"}}`))
	w := config.Webhook{Secrets: config.Secrets{payPalWebhookID}, APIKey: config.Secret(api.Credentials()), APIURL: api.URL}
	red := newRecorder(t)
	b := bridgeWith(t, "paypal", w, red)
	for fixture, outcome := range map[string]string{"paypal/PAYMENT.CAPTURE.REFUNDED.json": "forwarded", "paypal/PAYMENT.SALE.REFUNDED.json": "skipped"} {
		body := testdata(t, fixture)
		post(t, b, "paypal", schemeSigner("paypal")(t, payPalWebhookID, "", body, time.Now()), body).is(t, http.StatusOK, outcome)
	}
	received(t, "refund", red.Refunds(), &reditus.Refund{PaymentID: "paypal:capture:42311647XV020574X"})
	if got := strings.Join(api.Requests(), ", "); !strings.HasPrefix(got, "POST /v1/oauth2/token, GET ") || strings.Count(got, "oauth2") != 1 || strings.Count(got, "GET") != 2 {
		t.Errorf("PayPal API requests: %s; want one token, then the capture and the sale", got)
	}
}

// The hostile deliveries, through the whole pipeline with a fake Reditus,
// against a PayPal provider whose scheme trusts a test CA on 127.0.0.1 (a
// provider registered by the test: verify.PayPal never trusts a test host).
// Each is refused, and nothing reaches Reditus.
func TestPayPalHostileDeliveriesSendNothing(t *testing.T) {
	ca, other := paypaltest.New(t), paypaltest.New(t)
	p := provider(t, "paypal")
	p.Name, p.Scheme = "paypalca", ca.Scheme(nil)
	t.Cleanup(providers.Register(p))
	body := testdata(t, "paypal/PAYMENT.CAPTURE.COMPLETED.json")
	now := time.Now()
	moved := func(base, path string) *paypaltest.Signer {
		return &paypaltest.Signer{Key: ca.Leaf.Key, CertURL: base + path}
	}
	dev, _ := verify.PayPal.Sign(payPalWebhookID, "tx", body, now)
	tests := []struct {
		name   string
		header http.Header
		body   []byte
	}{
		{"the certificate URL on another host", moved(other.Server.URL, paypaltest.CertPath).Sign(t, payPalWebhookID, "tx", body, now), body},
		{"the certificate URL over http", moved("http://"+ca.Host(), paypaltest.CertPath).Sign(t, payPalWebhookID, "tx", body, now), body},
		{"an expired certificate", ca.Expired.Sign(t, payPalWebhookID, "tx", body, now), body},
		{"a self-signed certificate", ca.SelfSigned.Sign(t, payPalWebhookID, "tx", body, now), body},
		{"a replayed transmission", ca.Leaf.Sign(t, payPalWebhookID, "tx", body, now.Add(-time.Hour)), body},
		{"the body changed after signing", ca.Leaf.Sign(t, payPalWebhookID, "tx", body, now), []byte(strings.Replace(string(body), "49.00", "4900.00", 1))},
		{"the development certificate", dev, body},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			red := newRecorder(t)
			b := bridgeWith(t, "paypalca", config.Webhook{Secrets: config.Secrets{payPalWebhookID}}, red)
			post(t, b, "paypalca", tt.header, tt.body).is(t, http.StatusBadRequest, "invalid_signature")
			if red.Requests() != 0 {
				t.Errorf("%d requests reached Reditus", red.Requests())
			}
		})
	}
	if other.Requests() != 0 {
		t.Errorf("%d requests reached the other host", other.Requests())
	}
	red := newRecorder(t)
	b := bridgeWith(t, "paypalca", config.Webhook{Secrets: config.Secrets{payPalWebhookID}}, red)
	post(t, b, "paypalca", ca.Leaf.Sign(t, payPalWebhookID, "tx", body, now), body).is(t, http.StatusOK, "forwarded")
	received(t, "payment", red.Payments(), &payPalCapture)
}

// The samples' custom_id is the cookie; the query form the docs recommend
// fits PayPal's 127 characters with a long slug.
func TestPayPalCustomIDFits(t *testing.T) {
	form := "gr_id=0f8fad5b-d9cb-469f-a165-70867728950e&red=" + strings.Repeat("s", 60) + "&user_id=usr_1337"
	if len(form) > 127 {
		t.Errorf("the documented form is %d characters, over PayPal's 127", len(form))
	}
	var e struct {
		Resource struct {
			CustomID string `json:"custom_id"`
		} `json:"resource"`
	}
	_ = json.Unmarshal(testdata(t, "paypal/PAYMENT.CAPTURE.COMPLETED.json"), &e)
	if e.Resource.CustomID == "" {
		t.Error("the testdata's capture has no custom_id")
	}
}
