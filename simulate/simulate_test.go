package simulate

import (
	"testing"
	"time"

	"github.com/getreditus/reditus-bridge/config"
	"github.com/getreditus/reditus-bridge/mapping"
)

var parse = map[string]func([]byte) (mapping.Event, error){
	"stripe":   func(b []byte) (mapping.Event, error) { return mapping.FromStripe(b, mapping.StripeOptions{}) },
	"clerk":    mapping.FromClerk,
	"stytch":   mapping.FromStytch,
	"workos":   mapping.FromWorkOS,
	"supabase": mapping.FromSupabase,
	"generic":  mapping.FromGeneric,
}

// Every provider the bridge serves can be simulated.
func TestEveryProviderHasASender(t *testing.T) {
	for _, p := range config.Providers {
		if _, ok := senders[p]; !ok {
			t.Errorf("simulate has no sample for %s", p)
		}
	}
	if len(senders) != len(config.Providers) {
		t.Errorf("%d senders for %d providers", len(senders), len(config.Providers))
	}
}

// Every sample converts, with the referral and email it was given, so that
// `simulate` always shows the path a real event takes.
func TestSamplesConvert(t *testing.T) {
	if len(parse) != len(senders) {
		t.Fatalf("%d providers to simulate, %d tested", len(senders), len(parse))
	}
	for provider, s := range senders {
		for _, e := range s.events {
			t.Run(provider+"/"+e.name, func(t *testing.T) {
				body, err := render(e, "ana@example.com", SampleCookie, time.Now())
				if err != nil {
					t.Fatal(err)
				}
				ev, err := parse[provider](body)
				if err != nil {
					t.Fatal(err)
				}
				if ev.Skip != "" {
					t.Fatalf("skipped: %s", ev.Skip)
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
}

func TestSampleWithoutReferralSkips(t *testing.T) {
	for provider, s := range senders {
		body, err := render(s.events[0], "ana@example.com", "", time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if ev, err := parse[provider](body); err != nil || ev.Skip == "" {
			t.Errorf("%s: %+v, %v; want a skip", provider, ev, err)
		}
	}
}

// Two simulated events are two events, not one re-sent.
func TestSamplesAreDistinct(t *testing.T) {
	for provider, s := range senders {
		a, _ := render(s.events[0], "a@example.com", SampleCookie, time.Now())
		b, _ := render(s.events[0], "a@example.com", SampleCookie, time.Now())
		ea, _ := parse[provider](a)
		eb, _ := parse[provider](b)
		if ea.ID != "" && ea.ID == eb.ID {
			t.Errorf("%s: two samples share the id %q", provider, ea.ID)
		}
	}
}
