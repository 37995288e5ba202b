package replay

import (
	"time"

	"github.com/getreditus/reditus-bridge/stripeapi"
)

// NewLister returns the Stripe client that backfill and recover read history
// with. Unlike the webhook path's, it may take its time: it is paced at 20
// calls a second, under Stripe's limits (100 a second live, 25 in test
// mode), and it waits out a 429 and retries it, which stripe-go would not.
func NewLister(key, baseURL string) *stripeapi.Client {
	return stripeapi.New(stripeapi.Options{
		Key: key, BaseURL: baseURL,
		Timeout: 20 * time.Second, Retries: 2, PerSecond: 20,
		// Up to 8 retries, 1 s doubling to 30 s: about two minutes of
		// rate limiting before the run stops and asks to be run again.
		RateLimit: stripeapi.RateLimitRetry{Retries: 8, Backoff: time.Second, MaxWait: 30 * time.Second},
	})
}
