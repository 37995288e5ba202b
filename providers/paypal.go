package providers

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"path"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/getreditus/reditus-bridge/mapping"
	"github.com/getreditus/reditus-bridge/outcome"
	"github.com/getreditus/reditus-bridge/verify"
)

// PayPal: a subscription that is activated converts, its sales pay, a
// one-off order's capture converts and pays, a refund that empties a capture
// or sale refunds it, a subscription cancelled or expired churns
// (docs/providers/paypal.md). Deliveries are verified offline against
// PayPal's certificate (verify.PayPal), for the webhook id in
// PAYPAL_WEBHOOK_ID. The referral is in custom_id. PayPal's refunds do not
// say whether they emptied what they refund: with PAYPAL_API_CREDENTIALS the
// bridge reads the capture or sale from PayPal's API (resolvePayPal); without,
// it cannot tell, and sends no refund.
func init() {
	Register(Provider{
		Name:           "paypal",
		Title:          "PayPal",
		Scheme:         verify.PayPal,
		SecretVariable: "PAYPAL_WEBHOOK_ID",
		API: &API{
			Variable: "PAYPAL_API_CREDENTIALS",
			URL:      "https://api-m.paypal.com",
			Check:    checkPayPalCredentials,
			Resolve:  resolvePayPal,
		},
		Map:        mapPayPal,
		Events:     payPalEvents,
		TestEvents: true,
		Retries:    "up to 25 times over 3 days after a non-2xx",
		Samples: []Sample{
			sample("BILLING.SUBSCRIPTION.ACTIVATED", "paypal/BILLING.SUBSCRIPTION.ACTIVATED.json"),
			sample("PAYMENT.SALE.COMPLETED", "paypal/PAYMENT.SALE.COMPLETED.json"),
			sample("PAYMENT.CAPTURE.COMPLETED", "paypal/PAYMENT.CAPTURE.COMPLETED.json"),
			sample("PAYMENT.CAPTURE.REFUNDED", "paypal/PAYMENT.CAPTURE.REFUNDED.json"),
			sample("PAYMENT.SALE.REFUNDED", "paypal/PAYMENT.SALE.REFUNDED.json"),
			sample("BILLING.SUBSCRIPTION.CANCELLED", "paypal/BILLING.SUBSCRIPTION.CANCELLED.json"),
			sample("BILLING.SUBSCRIPTION.EXPIRED", "paypal/BILLING.SUBSCRIPTION.EXPIRED.json"),
		},
	})
}

// payPalEvents are the event types the bridge handles, as
// docs/providers/paypal.md says to subscribe to them.
var payPalEvents = []string{
	"BILLING.SUBSCRIPTION.ACTIVATED",
	"PAYMENT.SALE.COMPLETED",
	"PAYMENT.CAPTURE.COMPLETED",
	"PAYMENT.CAPTURE.REFUNDED",
	"PAYMENT.SALE.REFUNDED",
	"BILLING.SUBSCRIPTION.CANCELLED",
	"BILLING.SUBSCRIPTION.EXPIRED",
}

// payPalEvent is the envelope of every PayPal webhook (notifications API,
// "event"), and what resolvePayPal read, under _embedded.
type payPalEvent struct {
	ID        string          `json:"id"`
	EventType string          `json:"event_type"`
	Resource  json.RawMessage `json:"resource"`
	Links     []payPalLink    `json:"links"`
	Embedded  struct {
		// Refunded is the capture or sale a refund refunds, as PayPal's API
		// returns it.
		Refunded *payPalResource `json:"refunded"`
	} `json:"_embedded"`
}

type payPalLink struct {
	Href string `json:"href"`
	Rel  string `json:"rel"`
}

// payPalResource is what the bridge reads of the resources the handled
// events carry: a subscription (billing v1), a sale or its refund
// (payments v1), a capture or its refund (payments v2).
type payPalResource struct {
	ID       string `json:"id"`
	Status   string `json:"status"` // v2 captures and refunds, subscriptions
	State    string `json:"state"`  // v1 sales and refunds
	CustomID string `json:"custom_id"`
	Custom   string `json:"custom"` // v1 sales: the subscription's custom_id, when PayPal copies it
	// Subscriber is the subscription's payer: the only email PayPal's
	// webhooks carry.
	Subscriber *struct {
		EmailAddress string `json:"email_address"`
	} `json:"subscriber"`
	Amount             json.RawMessage `json:"amount"` // v1 {total, currency}, v2 {currency_code, value}
	BillingAgreementID string          `json:"billing_agreement_id"`
	SaleID             string          `json:"sale_id"`
	SupplementaryData  *struct {
		RelatedIDs struct {
			OrderID string `json:"order_id"`
		} `json:"related_ids"`
	} `json:"supplementary_data"`
	Links []payPalLink `json:"links"`
}

// mapPayPal maps a PayPal webhook, the referral read from custom_id.
func mapPayPal(body []byte, o mapping.Options) (mapping.Event, error) {
	var e payPalEvent
	if err := mapping.Decode(body, &e, "a PayPal event"); err != nil {
		return mapping.Event{}, err
	}
	if e.ID == "" || e.EventType == "" {
		return mapping.Event{}, mapping.Invalid("not a PayPal event: no id or event_type")
	}
	ev := mapping.Event{ID: e.ID, Type: e.EventType}
	if !slices.Contains(payPalEvents, ev.Type) {
		return mapping.NotHandled(ev, payPalEvents...), nil
	}
	var r payPalResource
	if err := json.Unmarshal(e.Resource, &r); err != nil || r.ID == "" {
		return mapping.Event{}, mapping.Invalid("%s event: resource is not a PayPal resource with an id", ev.Type)
	}
	if payPalSandbox(e, r) && !o.AcceptTestEvents {
		ev.Skip = "sandbox event (its links are on PayPal's sandbox); set PAYPAL_ACCEPT_TEST_EVENTS=true to forward sandbox events"
		return ev, nil
	}
	switch ev.Type {
	case "BILLING.SUBSCRIPTION.ACTIVATED", "BILLING.SUBSCRIPTION.CANCELLED", "BILLING.SUBSCRIPTION.EXPIRED":
		return payPalSubscription(ev, r), nil
	case "PAYMENT.SALE.COMPLETED", "PAYMENT.CAPTURE.COMPLETED":
		return payPalPayment(ev, r)
	}
	return payPalRefund(ev, r, e.Embedded.Refunded)
}

// payPalSandbox reports whether the event comes from PayPal's sandbox: its
// links (and its resource's) point there. PayPal's events carry no other
// test flag; a sandbox webhook has a webhook id of its own.
func payPalSandbox(e payPalEvent, r payPalResource) bool {
	for _, l := range append(slices.Clone(e.Links), r.Links...) {
		if u, err := url.Parse(l.Href); err == nil && strings.HasSuffix(u.Hostname(), ".sandbox.paypal.com") {
			return true
		}
	}
	return false
}

// payPalSubscription maps a subscription's activation (the conversion) and
// its end (churn). The uid is the subscription's id: the one id that every
// event of the subscription carries, the sales that pay it included (as
// billing_agreement_id), since none of them carries the payer's email.
func payPalSubscription(ev mapping.Event, r payPalResource) mapping.Event {
	who := mapping.Who{UID: r.ID, Looked: "the subscriber's email_address and the subscription id"}
	if r.Subscriber != nil {
		who.Email = r.Subscriber.EmailAddress
	}
	if ev.Type != "BILLING.SUBSCRIPTION.ACTIVATED" {
		return mapping.Churn(ev, who)
	}
	// The sales pay; the activation converts.
	return mapping.Convert(ev, who, mapping.Place{Name: "custom_id", Meta: payPalCustom(r.CustomID)})
}

// payPalPayment maps a completed sale (a subscription's payment) and a
// completed capture (a one-off order): the conversion when the event carries
// the referral, then the payment.
func payPalPayment(ev mapping.Event, r payPalResource) (mapping.Event, error) {
	if state := strings.ToLower(r.Status + r.State); state != "completed" {
		ev.Skip = "the " + payPalObject(ev.Type) + " is " + state + ", not completed: nothing pays until it is"
		return ev, nil
	}
	money, err := payPalMoney(ev.Type, r.Amount)
	if err != nil {
		return mapping.Event{}, err
	}
	who, place := payPalPayer(ev.Type, r)
	ev = mapping.Convert(ev, who, place)
	// No interval is in a sale (it is on the plan): the payment goes
	// without subscription fields, as Reditus allows.
	return mapping.Pay(ev, who, "paypal:"+payPalObject(ev.Type)+":"+r.ID, money, nil)
}

// payPalPayer is who paid sale or capture r (an event's of eventType), and
// where its referral may be.
func payPalPayer(eventType string, r payPalResource) (mapping.Who, mapping.Place) {
	if payPalObject(eventType) == "sale" {
		// A sale's referral is its subscription's, whose id was the uid of
		// the conversion; custom, when PayPal copies the subscription's
		// custom_id there, may carry the referral again (Reditus answers 409).
		return mapping.Who{UID: r.BillingAgreementID, Looked: "billing_agreement_id (PayPal's sales carry no email)"},
			mapping.Place{Name: "custom", Meta: payPalCustom(r.Custom)}
	}
	place := mapping.Place{Name: "custom_id", Meta: payPalCustom(r.CustomID)}
	who := mapping.Who{UID: place.Meta.Get(mapping.KeysUserID), Looked: "user_id in custom_id and the order id (PayPal's captures carry no email)"}
	if who.UID == "" && r.SupplementaryData != nil {
		who.UID = r.SupplementaryData.RelatedIDs.OrderID
	}
	return who, place
}

// payPalObject names what an event's payment is: "sale" or "capture".
func payPalObject(eventType string) string {
	if strings.HasPrefix(eventType, "PAYMENT.SALE.") {
		return "sale"
	}
	return "capture"
}

// payPalMoney reads a payment's amount, exactly (mapping.MinorUnits): a
// capture's v2 {currency_code, value}, or a sale's v1 {total, currency},
// whose details state the tax apart, which the payment is net of.
func payPalMoney(eventType string, raw json.RawMessage) (mapping.Money, error) {
	var a struct {
		CurrencyCode string `json:"currency_code"`
		Value        string `json:"value"`
		Currency     string `json:"currency"`
		Total        string `json:"total"`
		Details      *struct {
			Tax string `json:"tax"`
		} `json:"details"`
	}
	if err := json.Unmarshal(raw, &a); err != nil {
		return mapping.Money{}, mapping.Invalid("%s: amount: %v", eventType, err)
	}
	currency, value := a.CurrencyCode, a.Value
	if payPalObject(eventType) == "sale" {
		currency, value = a.Currency, a.Total
	}
	paid, err := mapping.MinorUnits(currency, value)
	if err != nil {
		return mapping.Money{}, fmt.Errorf("%s: amount: %w", eventType, err)
	}
	m := mapping.Money{Currency: currency, Paid: paid, Total: paid}
	if a.Details != nil && a.Details.Tax != "" && payPalObject(eventType) == "sale" {
		if m.Tax, err = mapping.MinorUnits(currency, a.Details.Tax); err != nil {
			return mapping.Money{}, fmt.Errorf("%s: tax: %w", eventType, err)
		}
	}
	return m, nil
}

// payPalRefund maps a refund of a capture or a sale: a refund of the
// payment's idempotency key when the refunded object (what resolvePayPal
// read) is wholly refunded; a partial refund is skipped, and so is one the
// bridge could not read.
func payPalRefund(ev mapping.Event, r payPalResource, refunded *payPalResource) (mapping.Event, error) {
	object, id := payPalObject(ev.Type), r.SaleID
	if object == "capture" {
		id = payPalCaptureOf(r.Links)
	}
	if id == "" {
		return mapping.Event{}, mapping.Invalid("%s event names no %s it refunds", ev.Type, object)
	}
	switch state := strings.ToLower(r.Status + r.State); {
	case state != "completed":
		ev.Skip = "the refund is " + state + ", not completed"
		return ev, nil
	case refunded == nil:
		ev.Skip = fmt.Sprintf("PayPal's refunds do not say whether they empty the %s, so the bridge reads %s %s from PayPal's API, which it cannot without PAYPAL_API_CREDENTIALS: nothing was sent", object, object, id)
		return ev, nil
	}
	switch whole := strings.ToLower(refunded.Status + refunded.State); whole {
	case "refunded":
		// The customer is the refunded payment's, as its payment named it.
		who, _ := payPalPayer(ev.Type, *refunded)
		return mapping.Refund(ev, who, "paypal:"+object+":"+id), nil
	case "partially_refunded":
		ev.Skip = fmt.Sprintf("partial refund (%s %s is partially_refunded): Reditus takes back a whole payment's commission, so only a full refund is sent; adjust this one in Reditus by hand if it should count", object, id)
	default:
		ev.Skip = fmt.Sprintf("%s %s is %s, not refunded", object, id, whole)
	}
	return ev, nil
}

// payPalCaptureOf is the id of the capture a v2 refund refunds: its "up"
// link names it, and nothing else in the refund does.
func payPalCaptureOf(links []payPalLink) string {
	for _, l := range links {
		if u, err := url.Parse(l.Href); err == nil && l.Rel == "up" && strings.HasPrefix(u.Path, "/v2/payments/captures/") {
			return path.Base(u.Path)
		}
	}
	return ""
}

// payPalCustom reads custom_id (at most 127 characters) as a place that may
// hold the referral: the metadata keys in query form
// ("gr_id=<click id>&red=<slug>", docs/providers/paypal.md), or the _gr_id
// cookie itself, or a bare click id. Anything else is the site's own, and
// holds no referral.
func payPalCustom(s string) mapping.Metadata {
	s = strings.TrimSpace(s)
	switch {
	case s == "":
		return nil
	case !strings.Contains(s, "="):
		return mapping.Metadata{"gr_id": s}
	}
	q, err := url.ParseQuery(s)
	if err != nil {
		return nil
	}
	md := mapping.Metadata{}
	for k, v := range q {
		md[k] = v[0]
	}
	return md
}

// checkPayPalCredentials refuses PAYPAL_API_CREDENTIALS that is not
// CLIENT_ID:SECRET.
func checkPayPalCredentials(credentials string) error {
	id, secret, ok := strings.Cut(credentials, ":")
	if !ok || id == "" || secret == "" {
		return errors.New("want the REST app's CLIENT_ID:SECRET (Apps & Credentials in PayPal's developer dashboard)")
	}
	return nil
}

// payPalID is the form of PayPal's capture and sale ids, checked before one
// becomes a path.
var payPalID = regexp.MustCompile(`^[A-Z0-9]{1,40}$`)

// resolvePayPal is PayPal's API step (API.Resolve): for a refund, it reads
// the capture or sale refunded, whose status says whether the refund
// emptied it, and embeds it in the event. Every other event passes as it
// came.
func resolvePayPal(api *APIClient) Resolver {
	token := &payPalToken{}
	return func(ctx context.Context, _ http.Header, body []byte) ([]byte, error) {
		var e payPalEvent
		var r payPalResource
		if json.Unmarshal(body, &e) != nil || json.Unmarshal(e.Resource, &r) != nil {
			return body, nil
		}
		var read string
		switch e.EventType {
		case "PAYMENT.CAPTURE.REFUNDED":
			read = "/v2/payments/captures/" + payPalCaptureOf(r.Links)
		case "PAYMENT.SALE.REFUNDED":
			read = "/v1/payments/sale/" + r.SaleID
		default:
			return body, nil
		}
		if !payPalID.MatchString(path.Base(read)) {
			return body, nil // the mapping refuses it
		}
		var refunded json.RawMessage
		if err := payPalGet(ctx, api, token, read, &refunded); err != nil {
			return nil, err
		}
		return embedRelated(body, map[string]json.RawMessage{"refunded": refunded})
	}
}

// payPalGet reads path with an OAuth token, fetched once and kept until a
// minute before it expires, or until the API refuses it.
func payPalGet(ctx context.Context, api *APIClient, token *payPalToken, path string, v any) error {
	bearer, err := token.get(ctx, api)
	if err != nil {
		return err
	}
	err = api.Do(ctx, http.MethodGet, path, http.Header{"Authorization": {"Bearer " + bearer}}, nil, v)
	switch {
	case errors.Is(err, ErrNotFound):
		// The refund is PayPal's own (signed): what it refunds exists, in
		// the other environment.
		return outcome.New(outcome.Misconfigured, "PayPal's API has no %s: is PAYPAL_API_URL the API of the webhook's environment (live or sandbox)?", path)
	case err != nil:
		token.drop()
	}
	return err
}

// payPalToken is an OAuth access token of the client credentials.
type payPalToken struct {
	mu    sync.Mutex
	value string
	until time.Time
}

func (t *payPalToken) get(ctx context.Context, api *APIClient) (string, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.value != "" && time.Now().Before(t.until) {
		return t.value, nil
	}
	id, secret, _ := strings.Cut(api.Credentials, ":")
	header := http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}
	header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(id+":"+secret)))
	var answer struct {
		AccessToken string `json:"access_token"`
		ExpiresIn   int64  `json:"expires_in"`
	}
	if err := api.Do(ctx, http.MethodPost, "/v1/oauth2/token", header, strings.NewReader("grant_type=client_credentials"), &answer); err != nil {
		return "", err
	}
	t.value, t.until = answer.AccessToken, time.Now().Add(time.Duration(answer.ExpiresIn)*time.Second-time.Minute)
	return t.value, nil
}

func (t *payPalToken) drop() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.value = ""
}
