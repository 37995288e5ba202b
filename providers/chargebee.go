package providers

import (
	"cmp"
	"encoding/json"
	"math"
	"slices"
	"strings"

	"github.com/getreditus/reditus-bridge/mapping"
	"github.com/getreditus/reditus-bridge/verify"
)

// Chargebee: a new customer converts, each successful payment pays, a
// refund takes the payment's commission back, a cancelled subscription
// churns (README.md, "Chargebee"; providers/testdata/RESEARCH.md).
// Chargebee authenticates with HTTP basic auth, and the event id dedupes.
func init() {
	Register(Provider{
		Name:    "chargebee",
		Title:   "Chargebee",
		Scheme:  verify.Basic,
		Map:     mapChargebee,
		Events:  chargebeeEvents,
		Retries: "every non-2xx, 7 more times over about 3 days (2 min, 6 min, 30 min, 1 h, 5 h, 1 day, 2 days apart)",
		Samples: []Sample{
			sample("customer_created", "chargebee/customer_created.json"),
			sample("payment_succeeded", "chargebee/payment_succeeded.json"),
			sample("payment_refunded", "chargebee/payment_refunded.json"),
			sample("subscription_cancelled", "chargebee/subscription_cancelled.json"),
		},
	})
}

// chargebeeEvents are the events the bridge handles, as the README says to
// select them.
var chargebeeEvents = []string{"customer_created", "payment_succeeded", "payment_refunded", "subscription_cancelled"}

// chargebeeContent is what the bridge reads of an event's content. Amounts
// are integers in the currency's smallest unit, tax included.
type chargebeeContent struct {
	Customer     mapping.Metadata `json:"customer"`     // read as a map: custom fields are cf_* keys
	Subscription mapping.Metadata `json:"subscription"` // the same
	Transaction  *struct {
		ID                     string `json:"id"`
		Amount                 int64  `json:"amount"`
		CurrencyCode           string `json:"currency_code"`
		CustomerID             string `json:"customer_id"`
		SubscriptionID         string `json:"subscription_id"`
		RefundedTxnID          string `json:"refunded_txn_id"`          // a refund's payment
		ReferenceTransactionID string `json:"reference_transaction_id"` // an offline payment's refund
		LinkedInvoices         []struct {
			InvoiceID     string `json:"invoice_id"`
			AppliedAmount int64  `json:"applied_amount"`
		} `json:"linked_invoices"`
	} `json:"transaction"`
	Invoice *struct {
		ID             string `json:"id"`
		Total          int64  `json:"total"`
		Tax            int64  `json:"tax"`
		LinkedPayments []struct {
			TxnID     string `json:"txn_id"`
			TxnAmount int64  `json:"txn_amount"`
		} `json:"linked_payments"`
		IssuedCreditNotes []struct {
			Total  int64  `json:"cn_total"`
			Status string `json:"cn_status"`
		} `json:"issued_credit_notes"`
	} `json:"invoice"`
}

// mapChargebee maps a Chargebee event, {id, event_type, content}. The
// referral is in the customer's meta_data (set through the API), or in
// custom fields named like the metadata keys with a cf_ prefix (cf_gr_id,
// which hosted checkout can fill), and the same on the subscription. uid is
// a user_id (or cf_user_id) there when the site set one, else the Chargebee
// customer id.
func mapChargebee(body []byte, _ mapping.Options) (mapping.Event, error) {
	var e struct {
		ID        string          `json:"id"`
		EventType string          `json:"event_type"`
		Content   json.RawMessage `json:"content"`
	}
	if err := mapping.Decode(body, &e, "a Chargebee event"); err != nil {
		return mapping.Event{}, err
	}
	if e.ID == "" || e.EventType == "" {
		return mapping.Event{}, mapping.Invalid("not a Chargebee event: no id or event_type")
	}
	ev := mapping.Event{ID: e.ID, Type: e.EventType}
	if !slices.Contains(chargebeeEvents, e.EventType) {
		return mapping.NotHandled(ev, chargebeeEvents...), nil
	}
	// The content is decoded only for the events handled, so that another
	// event's objects are never refused for their shape.
	var c chargebeeContent
	if err := json.Unmarshal(e.Content, &c); err != nil {
		return mapping.Event{}, mapping.Invalid("%s event: content: %v", e.EventType, err)
	}
	customer, subscription := chargebeeObject(c.Customer), chargebeeObject(c.Subscription)
	places := []mapping.Place{
		{Name: "customer meta_data", Meta: customer.meta},
		{Name: "customer cf_ fields", Meta: customer.cf},
		{Name: "subscription meta_data", Meta: subscription.meta},
		{Name: "subscription cf_ fields", Meta: subscription.cf},
	}
	// The user id is read from the customer alone, which every event
	// carries, so that a payment names the customer as its conversion did.
	who := mapping.Who{
		Email:  customer.email,
		UID:    cmp.Or(customer.meta.Get(mapping.KeysUserID), customer.cf.Get(mapping.KeysUserID), customer.id, c.Subscription.Get([]string{"customer_id"})),
		Looked: "content.customer's email, user_id in its meta_data or cf_user_id, and its id",
	}
	tx := c.Transaction

	switch e.EventType {
	case "customer_created":
		return mapping.Convert(ev, who, places[:2]...), nil

	case "payment_succeeded":
		if tx == nil || tx.ID == "" {
			return mapping.Event{}, mapping.Invalid("payment_succeeded event has no content.transaction")
		}
		if who.UID == "" {
			who.UID = tx.CustomerID
		}
		ev = mapping.Convert(ev, who, places...)
		sub := mapping.Subscription(cmp.Or(tx.SubscriptionID, subscription.id), subscription.periodUnit, subscription.period)
		return mapping.Pay(ev, who, "chargebee:transaction:"+tx.ID, chargebeePaid(c), sub)

	case "payment_refunded":
		return chargebeeRefund(ev, who, c)

	default: // subscription_cancelled
		return mapping.Churn(ev, who), nil
	}
}

// chargebeePaid is what a transaction paid: its share of the invoice in the
// same event, which states the tax (Pay takes the same share of the tax off),
// or the amount charged when there is no invoice.
func chargebeePaid(c chargebeeContent) mapping.Money {
	tx, inv := c.Transaction, c.Invoice
	paid := mapping.Money{Currency: tx.CurrencyCode, Paid: tx.Amount, Units: chargebeeDecimals}
	if inv == nil {
		return paid
	}
	for _, l := range tx.LinkedInvoices {
		if l.InvoiceID == inv.ID {
			paid.Paid = l.AppliedAmount
		}
	}
	paid.Total, paid.Tax = inv.Total, inv.Tax
	return paid
}

// chargebeeZeroDecimal are the currencies Chargebee's API counts in whole
// units (apidocs.chargebee.com/docs/api/currencies, "Handling currency
// units": "Chargebee currently supports below zero-decimal currencies").
var chargebeeZeroDecimal = map[string]bool{"jpy": true, "krw": true, "xaf": true, "xof": true}

// chargebeeDecimals is how many decimals Chargebee's integers carry in
// currency: none in its zero-decimal currencies, and two in every other
// ("values up to two decimal places ... multiplied by 100"), the
// three-decimal dinars too, so that 12.50 KWD is 1250 and is sent as 12500
// fils. For a currency ISO 4217 gives no decimals that Chargebee does not
// name as zero-decimal (CLP, ISK, VND), whole units and hundredths are both
// possible readings, a hundredfold apart: it is refused rather than guessed.
func chargebeeDecimals(currency string) (decimals int, ok bool) {
	if chargebeeZeroDecimal[currency] {
		return 0, true
	}
	if iso, _ := mapping.Exponent(currency); iso == 0 {
		return 0, false
	}
	return 2, true
}

// chargebeeRefund maps payment_refunded: the refund of the payment it names,
// when it took back the whole of it.
func chargebeeRefund(ev mapping.Event, who mapping.Who, c chargebeeContent) (mapping.Event, error) {
	tx := c.Transaction
	if tx == nil || tx.ID == "" {
		return mapping.Event{}, mapping.Invalid("payment_refunded event has no content.transaction")
	}
	payment := cmp.Or(tx.RefundedTxnID, tx.ReferenceTransactionID)
	if payment == "" {
		ev.Skip = "the refund names no refunded payment: looked at content.transaction.refunded_txn_id and reference_transaction_id"
		return ev, nil
	}
	paid, refunded, err := chargebeeRefunded(c, payment)
	if err != nil {
		return mapping.Event{}, err
	}
	if refunded < paid {
		return mapping.PartialRefund(ev, refunded, paid, "refunds on the invoice of the payment's txn_amount"), nil
	}
	return mapping.Refund(ev, who, "chargebee:transaction:"+payment), nil
}

// chargebeeRefunded returns what the refunded payment paid and how much of
// it is refunded by now, as far as the event tells: this refund, or every
// refunded credit note on the invoice when they add up to more (the refund
// that completes a series of partial ones). paid is 0 when the event does
// not say, and the refund then counts as full. Credit notes whose totals are
// negative or add up past int64 are refused: a sum that wrapped would turn a
// full refund into a partial one, which is not sent.
func chargebeeRefunded(c chargebeeContent, payment string) (paid, refunded int64, err error) {
	refunded = c.Transaction.Amount
	if c.Invoice == nil {
		return 0, refunded, nil
	}
	for _, p := range c.Invoice.LinkedPayments {
		if p.TxnID == payment {
			paid = p.TxnAmount
		}
	}
	var credited int64
	for _, cn := range c.Invoice.IssuedCreditNotes {
		if cn.Status != "refunded" {
			continue
		}
		if cn.Total < 0 || credited > math.MaxInt64-cn.Total {
			return 0, 0, mapping.Invalid("payment_refunded: the refunded credit notes' cn_total are negative or add up past int64")
		}
		credited += cn.Total
	}
	return paid, max(refunded, credited), nil
}

// chargebeeObj is what the bridge reads of a customer or a subscription.
type chargebeeObj struct {
	id, email  string
	meta, cf   mapping.Metadata
	periodUnit string // a subscription's billing_period_unit: day, week, month, year
	period     int    // its billing_period
}

// chargebeeObject reads a customer or a subscription: its meta_data (a JSON
// object, or a string holding one, as older API versions send it), and its
// custom fields, the cf_* keys, under their names without cf_, so that
// cf_gr_id is read as gr_id and cf_affiliate_slug as affiliate_slug.
func chargebeeObject(o mapping.Metadata) chargebeeObj {
	obj := chargebeeObj{
		id:         o.Get([]string{"id"}),
		email:      o.Get([]string{"email"}),
		periodUnit: o.Get([]string{"billing_period_unit"}),
	}
	if n, ok := o["billing_period"].(float64); ok && n >= 1 && n <= math.MaxInt32 {
		obj.period = int(n)
	}
	switch m := o["meta_data"].(type) {
	case map[string]any:
		obj.meta = m
	case string:
		_ = json.Unmarshal([]byte(m), &obj.meta) // not an object: no metadata
	}
	for k, v := range o {
		if name, ok := strings.CutPrefix(k, "cf_"); ok && name != "" {
			if obj.cf == nil {
				obj.cf = mapping.Metadata{}
			}
			obj.cf[name] = v
		}
	}
	return obj
}
