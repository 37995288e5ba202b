package reditus_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getreditus/reditus-bridge/internal/fakereditus"
	"github.com/getreditus/reditus-bridge/reditus"
)

// send makes call with a valid request of its kind.
func send(ctx context.Context, c *reditus.Client, call reditus.Call) error {
	switch call {
	case reditus.CallTrack:
		_, err := c.Track(ctx, reditus.Conversion{AffiliateSlug: "john", Email: "jane.doe@example.com"})
		return err
	case reditus.CallPay:
		return c.Pay(ctx, reditus.Payment{Amount: 1999, Currency: "usd", IdempotencyKey: "polar:order:o_1", ReferralEmail: "jane.doe@example.com"})
	case reditus.CallRefund:
		return c.Refund(ctx, reditus.Refund{PaymentID: "polar:order:o_1"})
	default:
		return c.Churn(ctx, reditus.Churn{ReferralEmail: "jane.doe@example.com"})
	}
}

// Each money call posts its own path with the key, and a body with the
// documented field names: amounts as integers, currencies and intervals in
// lowercase, empty fields left out (the amount is required, so a zero one is
// sent), and a 2xx is success.
func TestMoneyCallsSend(t *testing.T) {
	tests := []struct {
		name   string
		call   reditus.Call
		send   func(context.Context, *reditus.Client) error
		answer fakereditus.Responder // nil: the fake's Reditus-like answer
		path   string
		body   string
	}{
		{"subscription payment", reditus.CallPay, func(ctx context.Context, c *reditus.Client) error {
			return c.Pay(ctx, reditus.Payment{Amount: 1999, Currency: "USD", IdempotencyKey: "lemonsqueezy:invoice:42",
				ReferralUID: "usr_1", ReferralEmail: "jane@example.com", SubscriptionID: "sub_1", Interval: "Month", IntervalCount: 1})
		}, nil, "/api/v1/payments",
			`{"amount":1999,"currency":"usd","idempotency_key":"lemonsqueezy:invoice:42","referral_uid":"usr_1","referral_email":"jane@example.com","subscription_id":"sub_1","interval":"month","interval_count":1}`},
		{"one-off payment by email", reditus.CallPay, func(ctx context.Context, c *reditus.Client) error {
			return c.Pay(ctx, reditus.Payment{Amount: 4900, Currency: "eur", IdempotencyKey: "polar:order:o_1", ReferralEmail: "jane@example.com"})
		}, nil, "/api/v1/payments",
			`{"amount":4900,"currency":"eur","idempotency_key":"polar:order:o_1","referral_email":"jane@example.com"}`},
		{"free payment keeps its amount", reditus.CallPay, func(ctx context.Context, c *reditus.Client) error {
			return c.Pay(ctx, reditus.Payment{Amount: 0, Currency: "gbp", IdempotencyKey: "chargebee:transaction:t_1", ReferralID: "ref_9"})
		}, nil, "/api/v1/payments",
			`{"amount":0,"currency":"gbp","idempotency_key":"chargebee:transaction:t_1","referral_id":"ref_9"}`},
		{"payment answered 200", reditus.CallPay, func(ctx context.Context, c *reditus.Client) error {
			return c.Pay(ctx, reditus.Payment{Amount: 100, Currency: "usd", IdempotencyKey: "k", ReferralUID: "u"})
		}, fakereditus.Status(200, `{}`), "/api/v1/payments",
			`{"amount":100,"currency":"usd","idempotency_key":"k","referral_uid":"u"}`},
		{"refund", reditus.CallRefund, func(ctx context.Context, c *reditus.Client) error {
			return c.Refund(ctx, reditus.Refund{PaymentID: "lemonsqueezy:order:42"})
		}, nil, "/api/v1/refunds", `{"payment_id":"lemonsqueezy:order:42"}`},
		{"refund answered 204", reditus.CallRefund, func(ctx context.Context, c *reditus.Client) error {
			return c.Refund(ctx, reditus.Refund{PaymentID: "polar:order:o_1"})
		}, fakereditus.Status(204, ``), "/api/v1/refunds", `{"payment_id":"polar:order:o_1"}`},
		{"churn by uid", reditus.CallChurn, func(ctx context.Context, c *reditus.Client) error {
			return c.Churn(ctx, reditus.Churn{ReferralUID: "usr_1"})
		}, nil, "/api/v1/referrals/churn", `{"referral_uid":"usr_1"}`},
		{"churn by email", reditus.CallChurn, func(ctx context.Context, c *reditus.Client) error {
			return c.Churn(ctx, reditus.Churn{ReferralEmail: "jane@example.com"})
		}, nil, "/api/v1/referrals/churn", `{"referral_email":"jane@example.com"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			red := fakereditus.New(t, fakereditus.WithKey(testKey))
			answer := tt.answer
			if answer == nil {
				answer = red.Reditus
			}
			var path, auth, contentType string
			red.Respond(tt.call, func(w http.ResponseWriter, r *fakereditus.Request) {
				path, auth, contentType = r.HTTP.URL.Path, r.HTTP.Header.Get("Authorization"), r.HTTP.Header.Get("Content-Type")
				answer(w, r)
			})
			if err := tt.send(context.Background(), newClient(red)); err != nil {
				t.Fatalf("got %v, want success", err)
			}
			if path != tt.path {
				t.Errorf("got path %q, want %q", path, tt.path)
			}
			if auth != "Bearer "+testKey || contentType != "application/json" {
				t.Errorf("got Authorization %q, Content-Type %q", auth, contentType)
			}
			bodies := red.Bodies(tt.call)
			if len(bodies) != 1 || string(bodies[0]) != tt.body {
				t.Errorf("got bodies %q, want [%s]", bodies, tt.body)
			}
			if n := red.Requests(); n != 1 {
				t.Errorf("got %d requests, want 1", n)
			}
		})
	}
}

// Every call, Track included, classifies Reditus's answers in one way; they
// differ only in what a JSON 404 means. For the money calls it is Reditus
// saying that it has no such referral (or payment): the customer was not
// referred. Track has no documented 404, so there it means a wrong URL, as
// does a 404 that is not JSON from any call.
func TestEveryCallClassifies(t *testing.T) {
	const email = "jane.doe@example.com"
	tests := []struct {
		name    string
		answer  fakereditus.Responder
		kind    reditus.Kind // 0: success
		track   reditus.Kind // Track's kind, when it differs
		message string
		calls   int // 0: not counted (the timeout's attempts depend on the machine)
	}{
		{"202", fakereditus.Status(202, `{"data":{"id":"p_1"}}`), 0, 0, "", 1},
		{"400", fakereditus.Status(400, `{"errors":[{"detail":"Referral `+email+` expired"}]}`), reditus.Rejected, 0, "Referral j***@example.com expired", 1},
		{"422", fakereditus.Status(422, `{"error":"currency is invalid"}`), reditus.Rejected, 0, "currency is invalid", 1},
		{"404 JSON", fakereditus.Status(404, `{"error":"Referral not found"}`), reditus.NotReferred, reditus.Misconfigured, "Referral not found", 1},
		{"404 JSON:API", fakereditus.Status(404, `{"errors":[{"detail":"Payment transaction not found"}]}`), reditus.NotReferred, reditus.Misconfigured, "Payment transaction not found", 1},
		{"404 HTML", fakereditus.Status(404, `<html>Not Found</html>`), reditus.Misconfigured, 0, "Not Found", 1},
		{"404 empty", fakereditus.Status(404, ``), reditus.Misconfigured, 0, "Not Found", 1},
		{"409", fakereditus.Status(409, `{"errors":[{"detail":"already recorded"}]}`), reditus.Duplicate, 0, "already recorded", 1},
		{"401", fakereditus.Status(401, `{"message":"Unauthenticated."}`), reditus.Misconfigured, 0, "Unauthenticated.", 1},
		{"403", fakereditus.Status(403, ``), reditus.Misconfigured, 0, "Forbidden", 1},
		{"302", fakereditus.Redirect(302, "https://example.com/login"), reditus.Misconfigured, 0, "REDITUS_API_URL redirects to example.com", 1},
		{"307", fakereditus.Redirect(307, "https://example.net/api"), reditus.Misconfigured, 0, "REDITUS_API_URL redirects to example.net", 1},
		{"429", fakereditus.Status(429, ``, "Retry-After", "0"), reditus.Retryable, 0, "Too Many Requests", reditus.DefaultMaxAttempts},
		{"500", fakereditus.Status(500, `{"error":{"message":"boom"}}`), reditus.Retryable, 0, "boom", reditus.DefaultMaxAttempts},
		{"503", fakereditus.Status(503, ``), reditus.Retryable, 0, "Service Unavailable", reditus.DefaultMaxAttempts},
		{"timeout", fakereditus.Hang, reditus.Retryable, 0, "no answer", 0},
	}
	for _, call := range reditus.Calls() {
		for _, tt := range tests {
			t.Run(call.String()+"/"+tt.name, func(t *testing.T) {
				red := newFake(t, call, tt.answer)
				c := reditus.New(reditus.Options{BaseURL: red.BaseURL, APIKey: testKey,
					AttemptTimeout: 100 * time.Millisecond, Budget: time.Second, Backoff: 5 * time.Millisecond})
				err := send(context.Background(), c, call)
				want := tt.kind
				if call == reditus.CallTrack && tt.track != 0 {
					want = tt.track
				}
				if got := reditus.KindOf(err); got != want || (want == 0) != (err == nil) {
					t.Fatalf("got %v (kind %v), want kind %v", err, got, want)
				}
				if n := red.Calls(call); n < 1 || (tt.calls != 0 && n != tt.calls) {
					t.Errorf("got %d calls, want %d", n, tt.calls)
				}
				if err == nil {
					return
				}
				prefix := "reditus " + call.String() + ": "
				if call == reditus.CallTrack {
					prefix = "reditus: "
				}
				if !strings.HasPrefix(err.Error(), prefix) || !strings.Contains(err.Error(), tt.message) {
					t.Errorf("got error %q, want it to start %q and carry %q", err, prefix, tt.message)
				}
				var e *reditus.Error
				if !errors.As(err, &e) || e.Call != call {
					t.Errorf("got %#v, want an *Error for %v", err, call)
				}
				for _, leak := range []string{email, testKey} {
					if strings.Contains(err.Error(), leak) {
						t.Errorf("error %q carries %q", err, leak)
					}
				}
			})
		}
	}
}

// A call Reditus could not take is refused before it is sent: above all a
// payment without its idempotency key, which could be counted twice.
func TestMoneyCallsRefuseWhatReditusCannotTake(t *testing.T) {
	valid := reditus.Payment{Amount: 1999, Currency: "usd", IdempotencyKey: "polar:order:o_1", ReferralUID: "usr_1"}
	with := func(change func(*reditus.Payment)) reditus.Payment {
		p := valid
		change(&p)
		return p
	}
	tests := []struct {
		name    string
		call    reditus.Call
		send    func(context.Context, *reditus.Client) error
		message string
	}{
		{"no idempotency key", reditus.CallPay, func(ctx context.Context, c *reditus.Client) error {
			return c.Pay(ctx, with(func(p *reditus.Payment) { p.IdempotencyKey = "" }))
		}, "invalid payment: no idempotency_key"},
		{"no currency", reditus.CallPay, func(ctx context.Context, c *reditus.Client) error {
			return c.Pay(ctx, with(func(p *reditus.Payment) { p.Currency = "" }))
		}, "invalid payment: no currency"},
		{"negative amount", reditus.CallPay, func(ctx context.Context, c *reditus.Client) error {
			return c.Pay(ctx, with(func(p *reditus.Payment) { p.Amount = -5 }))
		}, "invalid payment: negative amount"},
		{"no referral", reditus.CallPay, func(ctx context.Context, c *reditus.Client) error {
			return c.Pay(ctx, with(func(p *reditus.Payment) { p.ReferralUID = "" }))
		}, "invalid payment: no referral_uid, referral_email or referral_id"},
		{"weekly interval", reditus.CallPay, func(ctx context.Context, c *reditus.Client) error {
			return c.Pay(ctx, with(func(p *reditus.Payment) { p.SubscriptionID, p.Interval = "sub_1", "week" }))
		}, `invalid payment: interval "week" is neither month nor year`},
		{"negative interval count", reditus.CallPay, func(ctx context.Context, c *reditus.Client) error {
			return c.Pay(ctx, with(func(p *reditus.Payment) { p.Interval, p.IntervalCount = "month", -1 }))
		}, "invalid payment: negative interval_count"},
		{"refund without payment id", reditus.CallRefund, func(ctx context.Context, c *reditus.Client) error {
			return c.Refund(ctx, reditus.Refund{})
		}, "invalid refund: no payment_id"},
		{"churn without referral", reditus.CallChurn, func(ctx context.Context, c *reditus.Client) error {
			return c.Churn(ctx, reditus.Churn{})
		}, "invalid churn: no referral_uid, referral_email or referral_id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			red := fakereditus.New(t, fakereditus.WithKey(testKey))
			err := tt.send(context.Background(), newClient(red))
			var e *reditus.Error
			if !errors.As(err, &e) || e.Kind != reditus.Rejected || e.Call != tt.call || e.Status != 0 {
				t.Fatalf("got %#v, want a rejected %v *Error with no status", err, tt.call)
			}
			if e.Message != tt.message {
				t.Errorf("got message %q, want %q", e.Message, tt.message)
			}
			if n := red.Requests(); n != 0 {
				t.Errorf("got %d requests to Reditus, want 0", n)
			}
		})
	}
}

// The money calls' attempts reach OnAttempt as Track's do, so that the
// bridge's metrics count them.
func TestMoneyCallsReportAttempts(t *testing.T) {
	red := newFake(t, reditus.CallPay, fakereditus.FailFirst(2, 503, fakereditus.Status(202, `{}`)))
	var mu sync.Mutex
	var statuses []int
	var retries int
	c := reditus.New(reditus.Options{BaseURL: red.BaseURL, APIKey: testKey, Backoff: time.Millisecond,
		OnAttempt: func(status int, _ time.Duration, retry bool) {
			mu.Lock()
			defer mu.Unlock()
			statuses = append(statuses, status)
			if retry {
				retries++
			}
		}})
	if err := send(context.Background(), c, reditus.CallPay); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(statuses) != 3 || statuses[0] != 503 || statuses[2] != 202 || retries != 2 {
		t.Errorf("got attempts %v with %d retries, want [503 503 202] with 2", statuses, retries)
	}
}

func TestErrorSaysWhichCall(t *testing.T) {
	tests := []struct {
		err  *reditus.Error
		want string
	}{
		{&reditus.Error{Kind: reditus.Rejected, Status: 400, Message: "bad slug"}, "reditus: rejected (HTTP 400): bad slug"},
		{&reditus.Error{Call: reditus.CallPay, Kind: reditus.NotReferred, Status: 404, Message: "Referral not found"}, "reditus payment: not referred (HTTP 404): Referral not found"},
		{&reditus.Error{Call: reditus.CallRefund, Kind: reditus.Duplicate, Status: 409, Message: "done"}, "reditus refund: duplicate (HTTP 409): done"},
		{&reditus.Error{Call: reditus.CallChurn, Kind: reditus.Retryable, Message: "no answer"}, "reditus churn: retryable: no answer"},
	}
	for _, tt := range tests {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("got %q, want %q", got, tt.want)
		}
	}
}
