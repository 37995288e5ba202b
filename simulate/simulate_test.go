package simulate

import (
	"testing"
	"time"

	"github.com/getreditus/reditus-bridge/mapping"
)

// Every sample converts, with the referral and email it was given, so that
// `simulate` always shows the path a real event takes.
func TestSamplesConvert(t *testing.T) {
	for _, e := range senders["stripe"].events {
		t.Run(e.name, func(t *testing.T) {
			body, err := render(e, "ana@example.com", SampleCookie, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			ev, err := mapping.FromStripe(body, mapping.StripeOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if ev.Skip != "" || ev.Type != e.name {
				t.Fatalf("%s: type %q, skipped %q", e.name, ev.Type, ev.Skip)
			}
			c := ev.Conversion
			if c.AffiliateSlug != "john" || c.GrID != "9b2f6c1e-7d4a-4e8b-a3c5-0f1e2d3c4b5a" {
				t.Errorf("conversion %+v: want the sample cookie's slug and click id", c)
			}
			if e.name != "customer.subscription.created" && c.Email != "ana@example.com" {
				t.Errorf("email %q, want ana@example.com", c.Email)
			}
		})
	}
}

func TestSampleWithoutReferralSkips(t *testing.T) {
	body, err := render(senders["stripe"].events[0], "ana@example.com", "", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if ev, err := mapping.FromStripe(body, mapping.StripeOptions{}); err != nil || ev.Skip == "" {
		t.Errorf("FromStripe = %+v, %v; want a skip", ev, err)
	}
}
