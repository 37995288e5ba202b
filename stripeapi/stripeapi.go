// Package stripeapi reads Stripe's API with stripe-go's client: the related
// objects an event's referral data may sit on, and the history that the
// backfill and recover commands replay. It is used only with STRIPE_API_KEY.
package stripeapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	stripe "github.com/stripe/stripe-go/v76"
	checkoutsession "github.com/stripe/stripe-go/v76/checkout/session"
	"github.com/stripe/stripe-go/v76/customer"
	"github.com/stripe/stripe-go/v76/event"
	"github.com/stripe/stripe-go/v76/subscription"

	"github.com/getreditus/reditus-bridge/mapping"
	"github.com/getreditus/reditus-bridge/outcome"
)

// Failures are classified like Reditus's, so that the same status table
// answers the webhook's sender.
var (
	// ErrUnavailable wraps failures that may pass: 429, 5xx, timeouts,
	// connection errors. The sender retries.
	ErrUnavailable = outcome.New(outcome.Unavailable, "stripe api unavailable")
	// ErrMisconfigured wraps a refused key (401, 403): retried once fixed.
	ErrMisconfigured = outcome.New(outcome.Misconfigured, "stripe api refused STRIPE_API_KEY")
)

// Options configures a Client.
type Options struct {
	Key     string
	BaseURL string // https://api.stripe.com, or a fake or stripe-mock

	// Timeout bounds one call. In the webhook path it keeps the look-ups
	// inside the webhook's 10-second answer, beside Reditus's budget.
	Timeout time.Duration
	// Retries is how often stripe-go retries a failed call itself. The
	// webhook path leaves it 0: the sender's own retries are the better ones.
	Retries int64
	// PerSecond, when set, paces calls, to stay under Stripe's rate limits
	// during a backfill or a recovery (100 reads per second in live mode).
	// Every HTTP request waits its turn, retries included.
	PerSecond int
	// RateLimit retries the calls that Stripe answers 429, which stripe-go
	// does not (see RateLimitRetry). The zero value never retries.
	RateLimit RateLimitRetry
}

// Client reads Stripe's API. It is safe for concurrent use. It holds the four
// resource clients it uses rather than stripe-go's client.API, which would
// build (and link) one for every Stripe resource.
type Client struct {
	customers     *customer.Client
	subscriptions *subscription.Client
	sessions      *checkoutsession.Client
	events        *event.Client
	timeout       time.Duration
}

// New returns a Client. stripe-go's own logging is off: it would print
// request errors in its own format, outside the bridge's JSON log.
func New(opts Options) *Client {
	var pace <-chan time.Time
	if opts.PerSecond > 0 {
		pace = time.Tick(time.Second / time.Duration(opts.PerSecond))
	}
	backend := stripe.GetBackendWithConfig(stripe.APIBackend, &stripe.BackendConfig{
		URL:               stripe.String(opts.BaseURL),
		HTTPClient:        &http.Client{Transport: newTransport(pace, opts.RateLimit)},
		MaxNetworkRetries: stripe.Int64(opts.Retries),
		LeveledLogger:     &stripe.LeveledLogger{Level: stripe.LevelNull},
	})
	return &Client{
		customers:     &customer.Client{B: backend, Key: opts.Key},
		subscriptions: &subscription.Client{B: backend, Key: opts.Key},
		sessions:      &checkoutsession.Client{B: backend, Key: opts.Key},
		events:        &event.Client{B: backend, Key: opts.Key},
		timeout:       opts.Timeout,
	}
}

// Fetch fetches the objects an event names, in order, and returns each as a
// place to look for referral data. An object that no longer exists is
// reported as looked at and empty. Other failures stop the fetch and wrap
// ErrUnavailable or ErrMisconfigured.
func (c *Client) Fetch(ctx context.Context, lookups []mapping.StripeLookup) ([]mapping.Related, error) {
	var related []mapping.Related
	for _, l := range lookups {
		r, err := c.fetch(ctx, l)
		if err != nil {
			return nil, err
		}
		related = append(related, r...)
	}
	return related, nil
}

// fetch fetches one look-up. Where each object is, for skip reasons, is
// mapping's to say (StripeLookup.Found and Missing): this package only calls.
func (c *Client) fetch(ctx context.Context, l mapping.StripeLookup) ([]mapping.Related, error) {
	ctx, cancel := c.call(ctx)
	defer cancel()
	switch l.Kind {
	case mapping.LookupCustomer:
		cust, err := c.customers.Get(l.ID, &stripe.CustomerParams{Params: stripe.Params{Context: ctx}})
		if gone(err) {
			return []mapping.Related{l.Missing()}, nil
		}
		if err != nil {
			return nil, classify(err, l.String())
		}
		return []mapping.Related{l.Found(metadata(cust.Metadata), cust.Email)}, nil

	case mapping.LookupSubscription:
		sub, err := c.subscriptions.Get(l.ID, &stripe.SubscriptionParams{Params: stripe.Params{Context: ctx}})
		if gone(err) {
			return []mapping.Related{l.Missing()}, nil
		}
		if err != nil {
			return nil, classify(err, l.String())
		}
		return []mapping.Related{l.Found(metadata(sub.Metadata), "")}, nil

	case mapping.LookupCustomerSubscriptions:
		return c.customerSubscriptions(ctx, l)

	default:
		return nil, fmt.Errorf("stripe api: cannot fetch %s", l)
	}
}

// customerSubscriptions lists a customer's subscriptions. A customer has few;
// three covers the one that Cashier-style apps create at signup.
func (c *Client) customerSubscriptions(ctx context.Context, l mapping.StripeLookup) ([]mapping.Related, error) {
	params := &stripe.SubscriptionListParams{Customer: stripe.String(l.ID), Status: stripe.String("all")}
	params.Context = ctx
	params.Limit = stripe.Int64(3)
	params.Single = true // one page, one call
	it := c.subscriptions.List(params)
	var related []mapping.Related
	for it.Next() {
		sub := it.Subscription()
		found := mapping.StripeLookup{Kind: mapping.LookupSubscription, ID: sub.ID}
		related = append(related, found.Found(metadata(sub.Metadata), ""))
	}
	if err := it.Err(); err != nil && !gone(err) {
		return nil, classify(err, l.String())
	}
	if len(related) == 0 {
		related = append(related, l.Missing())
	}
	return related, nil
}

// call bounds the call with the timeout; the transport paces it.
func (c *Client) call(ctx context.Context) (context.Context, context.CancelFunc) {
	if c.timeout > 0 {
		return context.WithTimeout(ctx, c.timeout)
	}
	return context.WithCancel(ctx)
}

func metadata(m map[string]string) mapping.Metadata {
	out := make(mapping.Metadata, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// gone reports a 404: the object was deleted, or belongs to the other mode.
func gone(err error) bool {
	var se *stripe.Error
	return errors.As(err, &se) && se.HTTPStatusCode == http.StatusNotFound
}

// classify wraps a failed call in ErrMisconfigured or ErrUnavailable. The
// message is Stripe's, which never contains the key.
func classify(err error, what string) error {
	var se *stripe.Error
	if errors.As(err, &se) {
		switch code := se.HTTPStatusCode; {
		case code == http.StatusUnauthorized || code == http.StatusForbidden:
			return fmt.Errorf("%w: %s: %s", ErrMisconfigured, what, se.Msg)
		case code == http.StatusTooManyRequests || code >= 500:
			return fmt.Errorf("%w: %s: HTTP %d: %s", ErrUnavailable, what, code, se.Msg)
		default:
			// Any other 4xx means the bridge asked wrongly; a retry would
			// ask wrongly again, but the event is good: keep it for later.
			return fmt.Errorf("%w: %s: HTTP %d: %s", ErrMisconfigured, what, code, se.Msg)
		}
	}
	return fmt.Errorf("%w: %s: %v", ErrUnavailable, what, err)
}
