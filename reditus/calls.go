package reditus

import "fmt"

// Call names one of the Reditus endpoints that a Client posts to. The zero
// Call is CallTrack.
type Call int

// The calls, one per endpoint under Options.BaseURL.
const (
	CallTrack  Call = iota // POST /v2/tracking/conversion: Track
	CallPay                // POST /v1/payments: Pay
	CallRefund             // POST /v1/refunds: Refund
	CallChurn              // POST /v1/referrals/churn: Churn
)

var callNames = [...]struct{ name, path string }{
	CallTrack:  {"track", "/v2/tracking/conversion"},
	CallPay:    {"payment", "/v1/payments"},
	CallRefund: {"refund", "/v1/refunds"},
	CallChurn:  {"churn", "/v1/referrals/churn"},
}

// Calls returns every Call, in the order above.
func Calls() []Call { return []Call{CallTrack, CallPay, CallRefund, CallChurn} }

func (c Call) valid() bool { return c >= 0 && int(c) < len(callNames) }

// String is the call's short name ("track", "payment", "refund", "churn"),
// as errors print it.
func (c Call) String() string {
	if !c.valid() {
		return fmt.Sprintf("Call(%d)", int(c))
	}
	return callNames[c].name
}

// Path is the call's endpoint below the API base URL, for example
// "/v1/payments"; "" for a Call that is none of the constants.
func (c Call) Path() string {
	if !c.valid() {
		return ""
	}
	return callNames[c].path
}
