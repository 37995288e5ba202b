package pipeline

import (
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getreditus/reditus-bridge/alert"
	"github.com/getreditus/reditus-bridge/internal/fakereditus"
	"github.com/getreditus/reditus-bridge/internal/webhooktest"
	"github.com/getreditus/reditus-bridge/journal"
	"github.com/getreditus/reditus-bridge/metrics"
	"github.com/getreditus/reditus-bridge/reditus"
)

// reports is an Alerter that keeps what it is told.
type reports struct {
	mu  sync.Mutex
	got []alert.Report
}

func (r *reports) Alert(rep alert.Report) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, rep)
}

// kinds are the kinds reported, Resolved ones as "resolved:" and what they
// resolve.
func (r *reports) kinds() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, rep := range r.got {
		k := string(rep.Kind)
		if rep.Kind == alert.Resolved {
			k += ":" + string(rep.Resolves)
		}
		out = append(out, k)
	}
	return out
}

// What a person must hear of, by what Reditus answered: a refused key
// (401, 403, not the other misconfigurations), a rejected event; and a
// wrong signature, whatever Reditus would say.
func TestTheAlerterHearsWhatNeedsAPerson(t *testing.T) {
	tests := []struct {
		name    string
		answer  fakereditus.Responder // nil: Reditus as it is
		secret  string
		want    string // the kind reported; "" for none
		wantWhy string // in its reason
	}{
		{"401", fakereditus.Status(http.StatusUnauthorized, `{"message":"Unauthenticated."}`), stripeSecret, "key_refused", "HTTP 401"},
		{"403", fakereditus.Status(http.StatusForbidden, `{"message":"Forbidden."}`), stripeSecret, "key_refused", "HTTP 403"},
		{"a redirect", fakereditus.Redirect(http.StatusFound, "https://elsewhere.example/"), stripeSecret, "", ""},
		{"400", fakereditus.Status(http.StatusBadRequest, `{"errors":[{"detail":"Affiliate john not found"}]}`), stripeSecret, "event_rejected", "Affiliate john not found"},
		{"201", nil, stripeSecret, "", ""},
		{"a wrong signature", nil, "whsec_not_the_bridges", "signature_failures", "signature"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			heard := &reports{}
			b := &bridge{reditus: fakereditus.New(t, fakereditus.WithKey(apiKey)), metrics: metrics.New()}
			if tt.answer != nil {
				b.reditus.Respond(reditus.CallTrack, tt.answer)
			}
			b.start(t, nil, Deps{Alerter: heard})
			b.do(t, stripeWebhook(customerCreated("evt_a1", "jane@example.com"), tt.secret, time.Now()))
			var got []alert.Report
			for _, r := range heard.got {
				if r.Kind != alert.Resolved {
					got = append(got, r)
				}
			}
			switch {
			case tt.want == "" && len(got) > 0:
				t.Errorf("got %+v, want no report", got)
			case tt.want == "":
			case len(got) != 1 || string(got[0].Kind) != tt.want || got[0].Provider != "stripe" || !strings.Contains(got[0].Reason, tt.wantWhy):
				t.Errorf("got %+v, want one %s on stripe, its reason saying %q", got, tt.want, tt.wantWhy)
			case tt.want != "signature_failures" && got[0].EventID != "evt_a1":
				t.Errorf("got %+v, want the event's id", got[0])
			}
		})
	}
}

// Each journal write is reported: a failure as journal_unavailable, a
// success as the end of one.
func TestTheAlerterHearsTheJournal(t *testing.T) {
	for _, tt := range []struct {
		name  string
		store func(t *testing.T) webhooktest.Store
		want  []string
	}{
		{"down", func(*testing.T) webhooktest.Store { return brokenStore{} }, []string{"journal_unavailable"}},
		{"up", func(t *testing.T) webhooktest.Store {
			return webhooktest.OpenStore(t, journal.Options{DataDir: t.TempDir()})
		}, []string{"resolved:journal_unavailable"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			heard := &reports{}
			b := &bridge{reditus: fakereditus.New(t, fakereditus.WithKey(apiKey)), metrics: metrics.New()}
			b.start(t, nil, Deps{Alerter: heard, Journal: tt.store(t)})
			b.do(t, stripeWebhook(customerCreated("evt_j1", "jane@example.com"), stripeSecret, time.Now()))
			if got := heard.kinds(); len(got) == 0 || got[0] != tt.want[0] {
				t.Errorf("got %v, want first %v", got, tt.want)
			}
		})
	}
}
