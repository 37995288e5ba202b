package simulate

import (
	"testing"
	"time"

	"github.com/getreditus/reditus-bridge/mapping"
	"github.com/getreditus/reditus-bridge/providers"
	"github.com/getreditus/reditus-bridge/reditus"
)

// Every sample converts, with the referral and email it was given, or, for a
// refund or a churn, reports it for that email, so that `simulate` always
// shows the path a real event takes.
func TestSamplesConvert(t *testing.T) {
	// The events whose object carries no email: their conversion (and
	// payment) has a uid.
	noEmail := map[string]bool{"customer.subscription.created": true, "transaction.completed": true,
		"PAYMENT.SALE.COMPLETED": true, "PAYMENT.CAPTURE.COMPLETED": true}
	for _, p := range providers.All() {
		for _, e := range p.Samples {
			t.Run(p.Name+"/"+e.Event, func(t *testing.T) {
				body, err := Render(e, "ana@example.com", SampleCookie, time.Now())
				if err != nil {
					t.Fatal(err)
				}
				ev, err := p.Map(body, mapping.Options{})
				if err != nil {
					t.Fatal(err)
				}
				if ev.Skip != "" {
					t.Fatalf("skipped: %s", ev.Skip)
				}
				switch {
				case ev.Refund != nil:
					return // names a payment, not a person
				case ev.Churn != nil:
					if ev.Churn.ReferralEmail != "ana@example.com" {
						t.Errorf("churn %+v: want ana@example.com", *ev.Churn)
					}
					return
				case ev.Payment != nil && !noEmail[e.Event] && ev.Payment.ReferralEmail != "ana@example.com":
					t.Errorf("payment %+v: want ana@example.com", *ev.Payment)
				}
				c := ev.Conversion
				if c.AffiliateSlug != "john" || c.GrID != "9b2f6c1e-7d4a-4e8b-a3c5-0f1e2d3c4b5a" {
					t.Errorf("conversion %+v: want the sample cookie's slug and click id", c)
				}
				if !noEmail[e.Event] && c.Email != "ana@example.com" {
					t.Errorf("email %q, want ana@example.com", c.Email)
				}
			})
		}
	}
}

// Without a referral, the default sample sends no conversion: it is skipped,
// or (a payment) reported without one.
func TestSampleWithoutReferralSkips(t *testing.T) {
	for _, p := range providers.All() {
		body, err := Render(p.Samples[0], "ana@example.com", "", time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if ev, err := p.Map(body, mapping.Options{}); err != nil || (ev.Skip == "" && ev.Conversion != (reditus.Conversion{})) {
			t.Errorf("%s: %+v, %v; want a skip, or no conversion", p.Name, ev, err)
		}
	}
}

// Two simulated events are two events, not one re-sent.
func TestSamplesAreDistinct(t *testing.T) {
	for _, p := range providers.All() {
		a, _ := Render(p.Samples[0], "a@example.com", SampleCookie, time.Now())
		b, _ := Render(p.Samples[0], "a@example.com", SampleCookie, time.Now())
		ea, _ := p.Map(a, mapping.Options{})
		eb, _ := p.Map(b, mapping.Options{})
		if ea.ID != "" && ea.ID == eb.ID {
			t.Errorf("%s: two samples share the id %q", p.Name, ea.ID)
		}
	}
}
