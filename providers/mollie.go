package providers

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/getreditus/reditus-bridge/mapping"
	"github.com/getreditus/reditus-bridge/reditus"
	"github.com/getreditus/reditus-bridge/verify"
)

// Mollie: a first or one-off payment that is paid converts and pays, a
// subscription's recurring payment pays, a refund or chargeback that empties
// a payment refunds it (docs/providers/mollie.md). Both of Mollie's webhook
// systems come to one route: classic webhooks (a payment's id, unsigned,
// made authentic by reading the payment from Mollie's API) and next-gen ones
// (signed events). MOLLIE_API_KEY turns the route on; every delivery is
// judged by the payment it concerns, as Mollie's API returns it, with its
// customer (where the email is) and subscription, which resolveMollie reads.
func init() {
	Register(Provider{
		Name:   "mollie",
		Title:  "Mollie",
		Scheme: verify.Mollie,
		API: &API{
			Variable: "MOLLIE_API_KEY",
			TurnsOn:  true,
			URL:      "https://api.mollie.com",
			Resolve:  resolveMollie,
		},
		Map:        mapMollie,
		TestEvents: true,
		Retries:    "classic webhooks 10 more times over 26 hours (1, 2, 4, 8, 16, 29 minutes, 1, 2, 22 hours apart); next-gen webhooks again after a failed or 15 s answer",
		Samples: []Sample{
			sample("payment.paid", "mollie/payment.paid.json"),
			sample("payment.refunded", "mollie/payment.refunded.json"),
		},
	})
}

// mollieEvents are the next-gen event types the bridge handles, as
// docs/providers/mollie.md says to subscribe to them. Classic webhooks have
// no type: Mollie calls them for each of these changes of a payment.
var mollieEvents = []string{
	"payment.paid",
	"payment.failed",
	"payment.canceled",
	"payment.expired",
	"refund.refunded",
	"chargeback.received",
}

// mollieAmount is Mollie's money: the currency and a decimal string in its
// unit ("10.00" EUR, "1000" JPY). A number in place of the string is not
// Mollie's and fails the decode.
type mollieAmount struct {
	Currency string `json:"currency"`
	Value    string `json:"value"`
}

// molliePayment is what the bridge reads of a payment (GET
// /v2/payments/{id}), and of the customer and subscription resolveMollie
// embeds in it, under _embedded as Mollie's API embeds related objects.
type molliePayment struct {
	Resource          string         `json:"resource"`
	ID                string         `json:"id"`
	Mode              string         `json:"mode"`   // live or test
	Status            string         `json:"status"` // open, pending, authorized, paid, canceled, expired, failed
	Amount            *mollieAmount  `json:"amount"`
	AmountRefunded    *mollieAmount  `json:"amountRefunded"`
	AmountChargedBack *mollieAmount  `json:"amountChargedBack"`
	Metadata          mollieMetadata `json:"metadata"`
	SequenceType      string         `json:"sequenceType"` // oneoff, first, recurring
	CustomerID        string         `json:"customerId"`
	SubscriptionID    string         `json:"subscriptionId"`
	Embedded          struct {
		Customer *struct {
			Email    string         `json:"email"`
			Metadata mollieMetadata `json:"metadata"`
		} `json:"customer"`
		Subscription *struct {
			ID       string         `json:"id"`
			Status   string         `json:"status"`   // pending, active, canceled, suspended, completed
			Interval string         `json:"interval"` // "1 month", "3 months", "14 days"
			Metadata mollieMetadata `json:"metadata"`
		} `json:"subscription"`
	} `json:"_embedded"`
}

// mollieMetadata is Mollie's metadata, which is "mixed": an object, a
// string (the site's own, or a JSON object as text), or null. Only an
// object, or a string that holds one, can carry the referral.
type mollieMetadata mapping.Metadata

// UnmarshalJSON reads any of Mollie's metadata forms, and never fails.
func (m *mollieMetadata) UnmarshalJSON(b []byte) error {
	var obj mapping.Metadata
	if json.Unmarshal(b, &obj) != nil {
		var s string
		if json.Unmarshal(b, &s) == nil {
			_ = json.Unmarshal([]byte(s), &obj) // not JSON: the site's own text
		}
	}
	*m = mollieMetadata(obj)
	return nil
}

// mollieEvent is a next-gen webhook's body: the event, with the entity it
// names embedded in full payloads.
type mollieEvent struct {
	Resource string `json:"resource"`
	ID       string `json:"id"`
	Type     string `json:"type"`
	EntityID string `json:"entityId"`
	Embedded struct {
		Entity json.RawMessage `json:"entity"`
	} `json:"_embedded"`
}

// mapMollie maps a Mollie payment (what resolveMollie makes of every
// delivery), or a next-gen event as it came (the local default, which has no
// API key to read with).
func mapMollie(body []byte, o mapping.Options) (mapping.Event, error) {
	if _, classic := verify.ClassicMollieID(body); classic {
		return mapping.Event{}, mapping.Invalid("a classic Mollie webhook names a payment and nothing else; the bridge reads the payment from Mollie's API, with MOLLIE_API_KEY, which is not set")
	}
	var head struct{ Resource string }
	if err := mapping.Decode(body, &head, "a Mollie payment or event"); err != nil {
		return mapping.Event{}, err
	}
	switch head.Resource {
	case "payment":
		return mapMolliePayment(body, o)
	case "event":
		var e mollieEvent
		if err := mapping.Decode(body, &e, "a Mollie event"); err != nil {
			return mapping.Event{}, err
		}
		return mapMollieEvent(e, o)
	}
	return mapping.Event{}, mapping.Invalid("not a Mollie payment or event: resource %.40q", head.Resource)
}

// mapMollieEvent maps a next-gen event whose payment was not read: the one
// it embeds, or the reason it cannot be judged.
func mapMollieEvent(e mollieEvent, o mapping.Options) (mapping.Event, error) {
	if e.ID == "" || e.Type == "" {
		return mapping.Event{}, mapping.Invalid("a Mollie event without an id or a type")
	}
	ev := mapping.Event{ID: e.ID, Type: e.Type}
	if isMolliePayment(e.Embedded.Entity) {
		return mapMolliePayment(e.Embedded.Entity, o)
	}
	switch kind, _, _ := strings.Cut(e.Type, "."); {
	case !slices.Contains(mollieEvents, e.Type):
		return mapping.NotHandled(ev, mollieEvents...), nil
	case kind == "payment":
		ev.Skip = fmt.Sprintf("%s names payment %.40s without its details (a simple payload): the bridge reads it from Mollie's API with MOLLIE_API_KEY; or choose full payloads for the webhook", e.Type, e.EntityID)
	default:
		ev.Skip = fmt.Sprintf("%s is judged by the payment it concerns (is it emptied?), which the bridge reads from Mollie's API with MOLLIE_API_KEY", e.Type)
	}
	return ev, nil
}

// isMolliePayment reports whether raw is a payment object.
func isMolliePayment(raw json.RawMessage) bool {
	var head struct{ Resource string }
	return len(raw) > 0 && json.Unmarshal(raw, &head) == nil && head.Resource == "payment"
}

// mapMolliePayment maps a payment by its state: paid (a first or one-off
// payment converts and pays; a recurring one pays), emptied by refunds and
// chargebacks (refund), failed after its subscription was canceled (churn),
// or nothing yet. The event's id is the payment's and its state, so that a
// classic and a next-gen webhook of the same change are one delivery.
func mapMolliePayment(raw []byte, o mapping.Options) (mapping.Event, error) {
	var p molliePayment
	if err := mapping.Decode(raw, &p, "a Mollie payment"); err != nil {
		return mapping.Event{}, err
	}
	if p.ID == "" || p.Status == "" || p.Amount == nil {
		return mapping.Event{}, mapping.Invalid("a Mollie payment without an id, a status or an amount")
	}
	m, err := mollieMoney(p)
	if err != nil {
		return mapping.Event{}, err
	}
	ev := mollieState(p, m)
	if p.Mode == "test" && !o.AcceptTestEvents {
		ev.Skip = "test-mode payment (mode: test); set MOLLIE_ACCEPT_TEST_EVENTS=true to forward test payments"
		return ev, nil
	}
	if ev.Skip != "" {
		return ev, nil
	}
	return mollieCalls(ev, p, m)
}

// mollieMoneyState is a payment's amounts in its currency's minor unit.
type mollieMoneyState struct {
	currency   string
	paid, back int64 // back: refunded and charged back together
}

// mollieMoney converts a payment's amount, and what went back of it, exactly
// (mapping.MinorUnits): a value with more decimals than its currency has,
// or in another currency than the payment, is refused.
func mollieMoney(p molliePayment) (mollieMoneyState, error) {
	m := mollieMoneyState{currency: p.Amount.Currency}
	var err error
	if m.paid, err = mapping.MinorUnits(p.Amount.Currency, p.Amount.Value); err != nil {
		return m, fmt.Errorf("payment %s amount: %w", p.ID, err)
	}
	for _, a := range []*mollieAmount{p.AmountRefunded, p.AmountChargedBack} {
		if a == nil {
			continue
		}
		if !strings.EqualFold(a.Currency, p.Amount.Currency) {
			return m, mapping.Invalid("payment %s: a refund or chargeback in %.3q, the payment in %.3q", p.ID, a.Currency, p.Amount.Currency)
		}
		n, err := mapping.MinorUnits(a.Currency, a.Value)
		if err != nil || n < 0 {
			return m, mapping.Invalid("payment %s: the amount refunded or charged back is not an amount", p.ID)
		}
		m.back += n
	}
	return m, nil
}

// mollieState names what happened to the payment: the event's type and id,
// and the skip of a state that sends nothing.
func mollieState(p molliePayment, m mollieMoneyState) mapping.Event {
	sub := p.Embedded.Subscription
	switch {
	case p.Status == "paid" && m.back > 0 && m.back >= m.paid:
		return mapping.Event{ID: p.ID + ":refunded", Type: "payment.refunded"}
	case p.Status == "paid" && m.back > 0:
		ev := mapping.Event{ID: p.ID + ":refunded:" + strconv.FormatInt(m.back, 10), Type: "payment.refunded"}
		return mapping.PartialRefund(ev, m.back, m.paid, "amountRefunded and amountChargedBack of amount")
	case p.Status == "paid":
		return mapping.Event{ID: p.ID + ":paid", Type: "payment.paid"}
	case sub != nil && sub.ID != "" && (sub.Status == "canceled" || sub.Status == "suspended") &&
		(p.Status == "failed" || p.Status == "canceled" || p.Status == "expired"):
		// No webhook tells of a subscription's end: a payment of it that
		// failed, once the subscription is canceled, is where it shows.
		return mapping.Event{ID: sub.ID + ":" + sub.Status, Type: "subscription." + sub.Status}
	}
	ev := mapping.Event{ID: p.ID + ":" + p.Status, Type: "payment." + p.Status}
	ev.Skip = "payment status " + p.Status + ": nothing converts or pays until a payment is paid"
	return ev
}

// mollieCalls maps a payment whose state sends something to its calls.
func mollieCalls(ev mapping.Event, p molliePayment, m mollieMoneyState) (mapping.Event, error) {
	key := "mollie:payment:" + p.ID
	who, places := mollieReferral(p)
	switch ev.Type {
	case "payment.refunded":
		return mapping.Refund(ev, who, key), nil
	case "subscription.canceled", "subscription.suspended":
		return mapping.Churn(ev, who), nil
	}
	money := mapping.Money{Currency: m.currency, Paid: m.paid, Total: m.paid}
	if p.SequenceType != "recurring" {
		// A recurring payment's referral converted with the first one.
		ev = mapping.Convert(ev, who, places...)
	}
	return mapping.Pay(ev, who, key, money, mollieSubscription(p))
}

// mollieReferral is who paid and where the referral may be: the payment's
// metadata, then its subscription's, then its customer's. A payment has no
// email: it is the customer's, else an email key in the payment's metadata
// (a one-off payment without a customer). The uid is a user_id in the
// metadata, else the Mollie customer id.
func mollieReferral(p molliePayment) (mapping.Who, []mapping.Place) {
	places := []mapping.Place{{Name: "payment metadata", Meta: mapping.Metadata(p.Metadata)}}
	var email string
	if s := p.Embedded.Subscription; s != nil {
		places = append(places, mapping.Place{Name: "subscription metadata", Meta: mapping.Metadata(s.Metadata)})
	}
	if c := p.Embedded.Customer; c != nil {
		email = c.Email
		places = append(places, mapping.Place{Name: "customer metadata", Meta: mapping.Metadata(c.Metadata)})
	}
	var userID string
	for _, pl := range places {
		userID = cmp.Or(userID, pl.Meta.Get(mapping.KeysUserID))
	}
	return mapping.Who{
		Email:  cmp.Or(email, mapping.Metadata(p.Metadata).Get(mapping.KeysEmail)),
		UID:    cmp.Or(userID, p.CustomerID),
		Looked: "the customer's email, an email in the payment's metadata, user_id in the metadata and customerId",
	}, places
}

// mollieInterval is a subscription's interval: "N months" (Reditus takes
// months and years; weeks and days go without the subscription fields).
var mollieInterval = regexp.MustCompile(`^([1-9][0-9]?) months?$`)

// mollieSubscription sets a payment's subscription fields from the
// subscription resolveMollie read.
func mollieSubscription(p molliePayment) func(*reditus.Payment) {
	s := p.Embedded.Subscription
	if s == nil || p.SubscriptionID == "" {
		return nil
	}
	if m := mollieInterval.FindStringSubmatch(strings.TrimSpace(s.Interval)); m != nil {
		n, _ := strconv.Atoi(m[1])
		return mapping.Subscription(p.SubscriptionID, "month", n)
	}
	return mapping.Subscription(p.SubscriptionID, "", 0)
}

// The ids resolveMollie reads: Mollie's prefixes and letters and digits,
// checked before any one becomes a path.
var (
	mollieCustomerID     = regexp.MustCompile(`^cst_[A-Za-z0-9]{1,64}$`)
	mollieSubscriptionID = regexp.MustCompile(`^sub_[A-Za-z0-9]{1,64}$`)
	molliePaymentID      = regexp.MustCompile(`^tr_[A-Za-z0-9]{1,64}$`)
)

// resolveMollie is Mollie's API step (API.Resolve): it turns a verified
// delivery into the payment it concerns, read from Mollie's API with
// MOLLIE_API_KEY, with its customer and subscription embedded. A classic
// webhook's payment that Mollie does not have is a forgery: refused, and
// nothing is sent. Mollie's API down is an outage: 503, Mollie retries.
func resolveMollie(api *APIClient) Resolver {
	return func(ctx context.Context, header http.Header, body []byte) ([]byte, error) {
		payment, err := molliePaymentOf(ctx, api, header, body)
		if err != nil || payment == nil {
			return body, err
		}
		return embedMollieRelated(ctx, api, payment)
	}
}

// molliePaymentOf returns the payment a delivery concerns: read by its id
// (classic webhooks, next-gen simple payloads, and refunds and chargebacks,
// which name their payment), or embedded in a full payload. nil, and no
// error, for an event that concerns no payment: the mapping skips it.
func molliePaymentOf(ctx context.Context, api *APIClient, header http.Header, body []byte) (json.RawMessage, error) {
	if header.Get(verify.MollieSignature) == "" {
		id, _ := verify.ClassicMollieID(body) // the scheme let only this form through
		payment, err := getMolliePayment(ctx, api, id)
		if err != nil && errors.Is(err, ErrNotFound) {
			return nil, fmt.Errorf("%w: Mollie has no payment %s: a forged webhook, or a payment of the other mode than MOLLIE_API_KEY (live_ or test_)", verify.ErrSignature, id)
		}
		return payment, err
	}
	var e mollieEvent
	if json.Unmarshal(body, &e) != nil || e.Resource != "event" {
		return nil, nil
	}
	if isMolliePayment(e.Embedded.Entity) {
		return e.Embedded.Entity, nil
	}
	id := e.EntityID
	if !strings.HasPrefix(e.Type, "payment.") {
		var entity struct {
			PaymentID string `json:"paymentId"`
		}
		_ = json.Unmarshal(e.Embedded.Entity, &entity)
		id = entity.PaymentID
	}
	if !slices.Contains(mollieEvents, e.Type) || !molliePaymentID.MatchString(id) {
		return nil, nil
	}
	return getMolliePayment(ctx, api, id)
}

// getMolliePayment reads payment id, and checks that it is the one asked
// for.
func getMolliePayment(ctx context.Context, api *APIClient, id string) (json.RawMessage, error) {
	var payment json.RawMessage
	if err := mollieGet(ctx, api, "/v2/payments/"+PathEscape(id), &payment); err != nil {
		return nil, err
	}
	var head struct{ Resource, ID string }
	if json.Unmarshal(payment, &head) != nil || head.Resource != "payment" || head.ID != id {
		return nil, fmt.Errorf("mollie API answered GET /v2/payments/%s with something else than that payment", id)
	}
	return payment, nil
}

// embedMollieRelated reads the payment's customer and subscription, at the
// same time, and embeds them in the payment. One that Mollie no longer has
// (a deleted customer) is left out; any other failure fails the delivery,
// which Mollie sends again.
func embedMollieRelated(ctx context.Context, api *APIClient, payment json.RawMessage) ([]byte, error) {
	var p struct{ CustomerID, SubscriptionID string }
	_ = json.Unmarshal(payment, &p)
	paths := map[string]string{}
	if mollieCustomerID.MatchString(p.CustomerID) {
		paths["customer"] = "/v2/customers/" + p.CustomerID
		if mollieSubscriptionID.MatchString(p.SubscriptionID) {
			paths["subscription"] = "/v2/customers/" + p.CustomerID + "/subscriptions/" + p.SubscriptionID
		}
	}
	var (
		mu       sync.Mutex
		wg       sync.WaitGroup
		related  = map[string]json.RawMessage{}
		firstErr error
	)
	for name, path := range paths {
		wg.Go(func() {
			var obj json.RawMessage
			err := mollieGet(ctx, api, path, &obj)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				related[name] = obj
			case !errors.Is(err, ErrNotFound) && firstErr == nil:
				firstErr = err
			}
		})
	}
	wg.Wait()
	if firstErr != nil {
		return nil, firstErr
	}
	return embedRelated(payment, related)
}

// mollieGet reads path from Mollie's API with the key.
func mollieGet(ctx context.Context, api *APIClient, path string, v any) error {
	return api.Do(ctx, http.MethodGet, path, http.Header{"Authorization": {"Bearer " + api.Credentials}}, nil, v)
}
