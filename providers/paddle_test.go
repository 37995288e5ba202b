package providers_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/getreditus/reditus-bridge/internal/fakereditus"
	"github.com/getreditus/reditus-bridge/reditus"
)

// paddleSecret is a notification destination's secret, in Paddle's form.
const paddleSecret = "pdl_ntfset_01hv6xz3k2m9q8r7w5t4y1b0cd_Z9yX8wV7uT6sR5qP4oN3mL2kJ1iH0gFe"

// paddleHeader signs as Paddle does, computed here rather than by the
// scheme: "ts=<s>;h1=<hex>", HMAC-SHA256 of ts + ":" + body.
func paddleHeader(_ *testing.T, secret, _ string, body []byte, at time.Time) http.Header {
	ts := strconv.FormatInt(at.Unix(), 10)
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(ts + ":" + string(body)))
	return http.Header{"Paddle-Signature": {"ts=" + ts + ";h1=" + hex.EncodeToString(mac.Sum(nil))}}
}

const paddleCustomer = "ctm_01hv6y1jedq4p1n0yqn5ba3ky4"

var (
	paddleCustomerConversion    = reditus.Conversion{AffiliateSlug: "john", GrID: clickID, Email: "jo@example.com", UID: paddleCustomer}
	paddleTransactionConversion = reditus.Conversion{AffiliateSlug: "john", GrID: clickID, UID: paddleCustomer} // a transaction has no email
)

func TestMapPaddle(t *testing.T) {
	const tx = "paddle/transaction_completed.json"
	runMapCases(t, "paddle", []mapCase{
		{fixture: "paddle/customer_created.json", id: "evt_01hv6y1jfk5s3z8mqe2cx0rt4b", typ: "customer.created", conversion: paddleCustomerConversion},
		// Conversion only: Reditus's Paddle connector has the payments.
		{fixture: tx, id: "evt_01hv8x2a5dgakcqhk4m5tx2jan", typ: "transaction.completed", conversion: paddleTransactionConversion},
		{fixture: tx, label: "user_id in custom_data", patch: map[string]any{"data.custom_data.user_id": "usr_42"},
			id: "evt_01hv8x2a5dgakcqhk4m5tx2jan", typ: "transaction.completed", conversion: reditus.Conversion{AffiliateSlug: "john", GrID: clickID, UID: "usr_42"}},
		{fixture: "paddle/transaction_completed_no_referral.json", id: "evt_01hv8x3qzk5m8b2y9c4d6f0e1a", typ: "transaction.completed",
			skip: "no Reditus referral data: looked for gr_id/affiliate_slug/advocate_slug in data.custom_data"},
		{fixture: "paddle/customer_updated.json", id: "evt_01hv6y6c9f2a4b7d0e3g5h8j1k", typ: "customer.updated",
			skip: "event type customer.updated does not convert; the bridge converts customer.created, transaction.completed"},
		{fixture: tx, label: "custom_data not an object", patch: map[string]any{"data.custom_data": "gr_id"}, invalid: true},
		{fixture: tx, label: "no data", patch: map[string]any{"data": deleted}, invalid: true},
		{fixture: tx, label: "no event_id", patch: map[string]any{"event_id": deleted}, invalid: true},
		{body: `{"event_id":"evt_1"}`, invalid: true},
	})
}

func FuzzMapPaddle(f *testing.F) { fuzzMap(f, "paddle") }

func TestPaddleDeliveries(t *testing.T) {
	runDeliveries(t, "paddle", paddleSecret, []deliveryCase{
		{fixture: "paddle/customer_created.json", sign: paddleHeader, outcome: "forwarded", calls: []reditus.Call{reditus.CallTrack}, conversion: &paddleCustomerConversion},
		{fixture: "paddle/transaction_completed.json", outcome: "forwarded", calls: []reditus.Call{reditus.CallTrack}, conversion: &paddleTransactionConversion},
		{fixture: "paddle/transaction_completed_no_referral.json", outcome: "skipped", reason: "in data.custom_data"},
		{fixture: "paddle/customer_updated.json", outcome: "skipped", reason: "does not convert"},
	})
}

// Paddle copies custom_data to every renewal's transaction: the conversion
// comes again, Reditus answers 409, and nothing is paid through the bridge.
func TestPaddleRenewalIsDuplicate(t *testing.T) {
	red := newRecorder(t, fakereditus.Conflicts())
	b := moneyBridge(t, "paddle", paddleSecret, false, red)
	first := testdata(t, "paddle/transaction_completed.json")
	renewal := patched(t, "paddle/transaction_completed.json", map[string]any{"event_id": "evt_01hv9renewal0000000000000", "data.id": "txn_01hv9renewal0000000000000"})
	post(t, b, "paddle", paddleHeader(t, paddleSecret, "", first, time.Now()), first).is(t, http.StatusOK, "forwarded")
	post(t, b, "paddle", paddleHeader(t, paddleSecret, "", renewal, time.Now()), renewal).is(t, http.StatusOK, "duplicate")
	if n := red.Calls(reditus.CallPay); n != 0 {
		t.Errorf("%d payment calls, want none", n)
	}
	if n := len(red.Created()); n != 1 {
		t.Errorf("Reditus holds %d referrals, want 1", n)
	}
}

func TestPaddleSignatures(t *testing.T) {
	runSignatures(t, "paddle", paddleSecret, "pdl_ntfset_01hv6xz3k2m9q8r7w5t4y1b0cd_another0000000000000000000000", "paddle/transaction_completed.json", paddleHeader)
	// A signature older than the tolerance is a replay.
	body := testdata(t, "paddle/customer_created.json")
	red := newRecorder(t)
	a := post(t, moneyBridge(t, "paddle", paddleSecret, false, red), "paddle", paddleHeader(t, paddleSecret, "", body, time.Now().Add(-10*time.Minute)), body)
	a.is(t, http.StatusBadRequest, "invalid_signature")
}
