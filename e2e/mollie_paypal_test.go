package e2e

import (
	"bytes"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/getreditus/reditus-bridge/config"
	"github.com/getreditus/reditus-bridge/internal/fakemollie"
	"github.com/getreditus/reditus-bridge/internal/fakereditus"
	"github.com/getreditus/reditus-bridge/internal/paypaltest"
	"github.com/getreditus/reditus-bridge/reditus"
)

// providerFixture reads a file of providers/testdata.
func providerFixture(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "providers", "testdata", path))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

const (
	mollieKey     = "live_e2eMollieKey0000000000000000"
	mollieSecret  = "e2e-mollie-nextgen-secret-000"
	payPalWebhook = "5GP028458E2496506"
)

// classicMollie posts a classic Mollie webhook, as Mollie does: the
// payment's id, form-encoded, unsigned.
func (p *bridge) classicMollie(t *testing.T, id string) answer {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, p.base+"/webhooks/mollie", strings.NewReader("id="+id))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return answerTo(t, req)
}

// Mollie end to end, through the binary, against a fake Mollie API and a
// Reditus that holds referrals: a first payment converts and pays, a
// recurring one pays with its subscription's interval, a refund takes the
// first back, a failed payment of a canceled subscription churns. Classic
// webhooks, each made authentic by the read from the API; and a next-gen
// refund event, signed.
func TestMollieConvertsPaysRefundsAndChurns(t *testing.T) {
	api := fakemollie.New(t, mollieKey)
	for _, f := range []string{"payment_first_paid", "payment_recurring_paid", "payment_recurring_failed_subscription_canceled"} {
		api.AddResolved(t, providerFixture(t, "mollie/"+f+".json"))
	}
	red := newReditus(t, fakereditus.Conflicts(), fakereditus.NeedsReferral())
	p := start(t, "REDITUS_API_KEY="+apiKey, "REDITUS_API_URL="+red.BaseURL,
		"MOLLIE_API_KEY="+mollieKey, "MOLLIE_API_URL="+api.URL, "MOLLIE_WEBHOOK_SECRET="+mollieSecret)
	for _, id := range []string{"tr_WDqYK6vllg", "tr_7UhSN1zuXS"} {
		if a := p.classicMollie(t, id); a.String() != "200 forwarded" {
			t.Errorf("classic %s: %s (%s)", id, a, a.Reason)
		}
	}
	// Later, Mollie refunds the first payment: next-gen says so, and the
	// payment, read again, is empty.
	api.AddResolved(t, providerFixture(t, "mollie/payment_first_refunded.json"))
	if a := p.post(t, "mollie", mollieSecret, "", providerFixture(t, "mollie/event_refund_refunded.json")); a.String() != "200 forwarded" {
		t.Errorf("refund.refunded: %s (%s)", a, a.Reason)
	}
	if a := p.classicMollie(t, "tr_Fq1nG8pS3d"); a.String() != "200 forwarded" {
		t.Errorf("failed payment of a canceled subscription: %s (%s)", a, a.Reason)
	}
	p.stop(t)

	want := reditus.Conversion{AffiliateSlug: "john", GrID: "0f8fad5b-d9cb-469f-a165-70867728950e", Email: "john.doe@example.com", UID: "cst_8wmqcHMN4U"}
	if got := red.Created(); len(got) != 1 || got[0] != want {
		t.Errorf("Reditus created %+v, want [%+v]", got, want)
	}
	paid := red.Paid()
	if len(paid) != 2 || paid[0].IdempotencyKey != "mollie:payment:tr_WDqYK6vllg" || paid[0].Amount != 2500 || paid[0].Currency != "eur" ||
		paid[1].IdempotencyKey != "mollie:payment:tr_7UhSN1zuXS" || paid[1].SubscriptionID != "sub_rVKGtNd6s3" || paid[1].Interval != "month" || paid[1].IntervalCount != 3 {
		t.Errorf("Reditus holds payments %+v, want the first (2500 eur) and the recurring one (every 3 months)", paid)
	}
	if got := red.Refunded(); len(got) != 1 || got[0].PaymentID != "mollie:payment:tr_WDqYK6vllg" {
		t.Errorf("Reditus holds refunds %+v, want the first payment's", got)
	}
	if got := red.Churned(); len(got) != 1 || got[0].ReferralUID != "cst_8wmqcHMN4U" {
		t.Errorf("Reditus churned %+v, want cst_8wmqcHMN4U", got)
	}
}

// The hostile and the broken, through the binary: a payment id Mollie does
// not know is refused with nothing sent; Mollie's API down answers 503 with
// nothing sent, and Mollie's retry, once the API is back, is forwarded:
// nothing lost. An unsigned body that is not a classic webhook never reaches
// Mollie's API at all.
func TestMollieForgedIDsAndOutages(t *testing.T) {
	api := fakemollie.New(t, mollieKey)
	api.AddResolved(t, providerFixture(t, "mollie/payment_first_paid.json"))
	red := newReditus(t, fakereditus.Conflicts(), fakereditus.NeedsReferral())
	p := start(t, "REDITUS_API_KEY="+apiKey, "REDITUS_API_URL="+red.BaseURL, "MOLLIE_API_KEY="+mollieKey, "MOLLIE_API_URL="+api.URL)

	if a := p.classicMollie(t, "tr_Forged12345"); a.String() != "400 invalid_signature" || !strings.Contains(a.Reason, "Mollie has no payment") {
		t.Errorf("a forged id: %s (%s), want 400 invalid_signature", a, a.Reason)
	}
	status, _, _ := p.send(t, http.MethodPost, "/webhooks/mollie", http.Header{"Content-Type": {"application/json"}}, []byte(`{"id":"tr_WDqYK6vllg"}`))
	if status != http.StatusBadRequest {
		t.Errorf("unsigned JSON: %d, want 400", status)
	}
	api.Down(true)
	if a := p.classicMollie(t, "tr_WDqYK6vllg"); a.String() != "503 retry" {
		t.Errorf("Mollie's API down: %s (%s), want 503 retry", a, a.Reason)
	}
	if n := red.Requests(); n != 0 {
		t.Errorf("%d requests reached Reditus while nothing was authentic or readable", n)
	}
	api.Down(false)
	if a := p.classicMollie(t, "tr_WDqYK6vllg"); a.String() != "200 forwarded" {
		t.Errorf("Mollie's retry, the API back: %s (%s), want 200 forwarded", a, a.Reason)
	}
	p.stop(t)
	if len(red.Created()) != 1 || len(red.Paid()) != 1 {
		t.Errorf("Reditus holds %d referrals and %d payments, want 1 and 1", len(red.Created()), len(red.Paid()))
	}
	reads := api.Requests()
	want := []string{"GET /v2/payments/tr_Forged12345", "GET /v2/payments/tr_WDqYK6vllg", "GET /v2/payments/tr_WDqYK6vllg", "GET /v2/customers/cst_8wmqcHMN4U"}
	if !slices.Equal(reads, want) {
		t.Errorf("Mollie API requests %v, want %v: the forged id read, the payment while down, then the payment and its customer once back; nothing for the unsigned JSON", reads, want)
	}
}

// PayPal end to end, through the binary, against a Reditus that holds
// referrals and a fake PayPal API for the refunds: a subscription converts,
// its sale pays, a one-off capture converts and pays, both are refunded in
// full, the subscription is cancelled. Signed with the development
// certificate, which the e2e build trusts for the configured webhook id.
func TestPayPalConvertsPaysRefundsAndChurns(t *testing.T) {
	ppAPI := paypaltest.NewAPI(t, "AeE2eClientID", "EE2eClientSecret")
	ppAPI.Put("/v2/payments/captures/42311647XV020574X", []byte(`{"id":"42311647XV020574X","status":"REFUNDED","amount":{"currency_code":"EUR","value":"49.00"}}`))
	ppAPI.Put("/v1/payments/sale/80F85758S3080410K", []byte(`{"id":"80F85758S3080410K","state":"refunded","amount":{"total":"21.00","currency":"USD"}}`))
	red := newReditus(t, fakereditus.Conflicts(), fakereditus.NeedsReferral())
	p := start(t, "REDITUS_API_KEY="+apiKey, "REDITUS_API_URL="+red.BaseURL, "PAYPAL_WEBHOOK_ID="+payPalWebhook,
		"PAYPAL_API_CREDENTIALS="+ppAPI.Credentials(), "PAYPAL_API_URL="+ppAPI.URL)
	for _, f := range []string{
		"BILLING.SUBSCRIPTION.ACTIVATED", "PAYMENT.SALE.COMPLETED", "PAYMENT.CAPTURE.COMPLETED",
		"PAYMENT.CAPTURE.REFUNDED", "PAYMENT.SALE.REFUNDED", "BILLING.SUBSCRIPTION.CANCELLED",
	} {
		if a := p.post(t, "paypal", payPalWebhook, "", providerFixture(t, "paypal/"+f+".json")); a.String() != "200 forwarded" {
			t.Errorf("%s: %s (%s)", f, a, a.Reason)
		}
	}
	p.stop(t)

	var created []string
	for _, c := range red.Created() {
		created = append(created, c.UID+" "+c.Email)
	}
	if want := []string{"I-BW452GLLEP1G john.doe@example.com", "usr_1337 "}; !slices.Equal(created, want) {
		t.Errorf("Reditus created %q, want %q", created, want)
	}
	var paid []string
	for _, pay := range red.Paid() {
		paid = append(paid, pay.IdempotencyKey+" "+pay.Currency+" "+pay.ReferralUID)
	}
	if want := []string{"paypal:sale:80F85758S3080410K usd I-BW452GLLEP1G", "paypal:capture:42311647XV020574X eur usr_1337"}; !slices.Equal(paid, want) {
		t.Errorf("Reditus holds payments %q, want %q", paid, want)
	}
	if got := red.Refunded(); len(got) != 2 {
		t.Errorf("Reditus holds refunds %+v, want the capture's and the sale's", got)
	}
	if got := red.Churned(); len(got) != 1 || got[0].ReferralUID != "I-BW452GLLEP1G" {
		t.Errorf("Reditus churned %+v, want the subscription", got)
	}
}

// The hostile PayPal deliveries, through the binary: a certificate URL on a
// host that is not PayPal's (a listener on loopback, which must see no
// connection) or over http, a replayed transmission, a body changed after
// signing, and another webhook's signature are refused, and nothing reaches
// Reditus. Expired and self-signed certificates need a certificate host the
// binary would fetch from, which only a test's own scheme has: they are
// refused in verify's and providers' tests, nothing sent.
func TestPayPalHostileDeliveriesAreRefused(t *testing.T) {
	var connections atomic.Int64
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			connections.Add(1)
			c.Close()
		}
	}()
	red := newReditus(t)
	p := start(t, "REDITUS_API_KEY="+apiKey, "REDITUS_API_URL="+red.BaseURL, "PAYPAL_WEBHOOK_ID="+payPalWebhook)
	body := providerFixture(t, "paypal/BILLING.SUBSCRIPTION.ACTIVATED.json")
	withCert := func(url string) func(*http.Request) {
		return func(r *http.Request) { r.Header.Set("PAYPAL-CERT-URL", url) }
	}
	tests := []struct {
		name   string
		at     time.Time
		change func(*http.Request)
		body   []byte
		id     string
	}{
		{"certificate URL on another host", time.Now(), withCert("https://" + ln.Addr().String() + "/v1/notifications/certs/CERT-1"), body, payPalWebhook},
		{"certificate URL on a look-alike host", time.Now(), withCert("https://api.paypal.com.evil.example/v1/notifications/certs/CERT-1"), body, payPalWebhook},
		{"certificate URL over http", time.Now(), withCert("http://api.paypal.com/v1/notifications/certs/CERT-1"), body, payPalWebhook},
		{"a replayed transmission, an hour old", time.Now().Add(-time.Hour), nil, body, payPalWebhook},
		{"the body changed after signing", time.Now(), nil, bytes.Replace(body, []byte("john.doe@"), []byte("eve@"), 1), payPalWebhook},
		{"signed for another webhook", time.Now(), nil, body, "WH0THER00000000000"},
	}
	for _, tt := range tests {
		signed := p.signed(t, "paypal", tt.id, "", body, tt.at) // over the original body
		req, _ := http.NewRequest(http.MethodPost, signed.URL.String(), bytes.NewReader(tt.body))
		req.Header = signed.Header
		if tt.change != nil {
			tt.change(req)
		}
		if a := answerTo(t, req); a.String() != "400 invalid_signature" {
			t.Errorf("%s: %s (%s), want 400 invalid_signature", tt.name, a, a.Reason)
		}
	}
	p.stop(t)
	if n := red.Requests(); n != 0 {
		t.Errorf("%d requests reached Reditus", n)
	}
	if n := connections.Load(); n != 0 {
		t.Errorf("%d connections reached the other host", n)
	}
}

// The binary a deployment runs, built as the Dockerfile builds it, holds no
// trust a test put there: a delivery signed with the development
// certificate, which anybody can sign with, is refused for a live webhook
// id; configuring the development secret as the webhook id stops the bridge;
// and only the local default, which sends nothing, takes it.
func TestPayPalProductionBinaryTrustsOnlyPayPal(t *testing.T) {
	red := newReditus(t)
	env := []string{"REDITUS_API_KEY=" + apiKey, "REDITUS_API_URL=" + red.BaseURL, "PAYPAL_WEBHOOK_ID=" + payPalWebhook}
	p := startBinary(t, productionBinary, env...)
	body := providerFixture(t, "paypal/BILLING.SUBSCRIPTION.ACTIVATED.json")
	if a := p.post(t, "paypal", payPalWebhook, "", body); a.String() != "400 invalid_signature" || !strings.Contains(a.Reason, "development certificate") {
		t.Errorf("the development certificate, a live webhook id: %s (%s), want 400 invalid_signature", a, a.Reason)
	}
	stdout, stderr, code := runBinary(t, productionBinary, env, "simulate", "paypal", "--url", p.base+"/webhooks/paypal")
	if code == 0 || !strings.Contains(stdout+stderr, "only PayPal signs") {
		t.Errorf("simulate paypal, live: exit %d\n%s%s", code, stdout, stderr)
	}
	p.stop(t)
	if n := red.Requests(); n != 0 {
		t.Errorf("%d requests reached Reditus", n)
	}
	_, stderr, code = runBinary(t, productionBinary, []string{"REDITUS_API_KEY=" + apiKey, "PAYPAL_WEBHOOK_ID=" + config.DevelopmentSecret.Reveal()}, "check")
	if code == 0 || !strings.Contains(stderr, "PAYPAL_WEBHOOK_ID") {
		t.Errorf("the development secret as PAYPAL_WEBHOOK_ID: exit %d, %s", code, stderr)
	}

	local := startBinary(t, productionBinary)
	for _, provider := range []string{"paypal", "mollie"} {
		stdout, stderr, code := runBinary(t, productionBinary, nil, "simulate", provider, "--url", local.base+"/webhooks/"+provider)
		if code != 0 || !strings.Contains(stdout, `"outcome": "dry_run"`) || !strings.Contains(stdout, `"affiliate_slug": "john"`) {
			t.Errorf("simulate %s in the local default: exit %d\n%s%s", provider, code, stdout, stderr)
		}
	}
	local.stop(t)
}
