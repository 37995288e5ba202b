package doctor

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/getreditus/reditus-bridge/config"
	"github.com/getreditus/reditus-bridge/connect"
	"github.com/getreditus/reditus-bridge/internal/fakeapi"
	"github.com/getreditus/reditus-bridge/internal/fakereditus"
	"github.com/getreditus/reditus-bridge/journal"
	"github.com/getreditus/reditus-bridge/outcome"
	"github.com/getreditus/reditus-bridge/reditus"
)

const publicURL = "https://bridge.example.com"

// fakeJournal is a Journal whose answers the test sets.
type fakeJournal struct {
	status   func() (journal.Status, error)
	writable func() error
	summary  func(since time.Time) (journal.Summary, error)
}

func (j fakeJournal) Status(context.Context) (journal.Status, error) { return j.status() }
func (j fakeJournal) Writable(context.Context) error                 { return j.writable() }
func (j fakeJournal) Summary(_ context.Context, since time.Time) (journal.Summary, error) {
	return j.summary(since)
}

// healthy is a journal with nothing wrong: Stripe's last day, nothing
// queued or failed.
func healthy() fakeJournal {
	return fakeJournal{
		status: func() (journal.Status, error) {
			return journal.Status{Kind: "sqlite", Where: "/data/bridge.db", Version: 3, Latest: 3}, nil
		},
		writable: func() error { return nil },
		summary: func(time.Time) (journal.Summary, error) {
			return journal.Summary{Outcomes: map[string]map[outcome.Word]int{"stripe": {"forwarded": 2, "skipped": 1}}}, nil
		},
	}
}

// world is a bridge whose chain works: a fake Reditus that takes its key,
// and Stripe and Polar with endpoints connect made, whose secrets the
// bridge holds.
type world struct {
	red           *fakereditus.Server
	stripe, polar *fakeapi.Server
	deps          Deps
}

func newWorld(t *testing.T) *world {
	t.Helper()
	w := &world{red: fakereditus.New(t), stripe: fakeapi.Stripe(t, "sk_test_doctor"), polar: fakeapi.Polar(t, "polar_oat_doctor")}
	cfg := config.Config{
		ReditusAPIKey: fakereditus.Key, ReditusAPIURL: w.red.BaseURL, Webhooks: map[string]config.Webhook{},
		StripeAPIKey: config.Secret(w.stripe.Key), StripeAPIURL: w.stripe.BaseURL,
		APIs: config.APIs{PublicURL: publicURL, PolarAccessToken: config.Secret(w.polar.Key), PolarAPIURL: w.polar.BaseURL},
	}
	for _, name := range []string{"stripe", "polar"} {
		var out bytes.Buffer
		if err := connect.Run(context.Background(), cfg, []string{name}, &out); err != nil {
			t.Fatal(err)
		}
		secret := out.String()[strings.LastIndex(out.String(), "=")+1:]
		cfg.Webhooks[name] = config.Webhook{Secrets: config.Secrets{config.Secret(strings.TrimSpace(secret))}}
	}
	w.deps = Deps{
		Config: cfg, Journal: healthy(), HTTP: &http.Client{Timeout: 5 * time.Second},
		Reditus: reditus.New(reditus.Options{BaseURL: w.red.BaseURL, APIKey: fakereditus.Key}),
	}
	return w
}

// find returns the report's checks of area with status s whose message
// holds text.
func find(r Report, area string, s Status, text string) bool {
	for _, c := range r.Checks {
		if c.Area == area && c.Status == s && strings.Contains(c.Message, text) {
			return true
		}
	}
	return false
}

func TestDoctorPassesAWorkingChain(t *testing.T) {
	w := newWorld(t)
	r := Run(context.Background(), w.deps)
	var text bytes.Buffer
	r.WriteText(&text)
	if !r.OK() {
		t.Fatalf("got a failure in a working chain:\n%s", text.String())
	}
	for _, want := range []struct {
		area, text string
	}{
		{"configuration", "live: conversions are sent to"},
		{"journal", "sqlite at /data/bridge.db, writable"},
		{"journal", "nothing queued"},
		{"reditus", "REDITUS_API_KEY accepted (GET " + w.red.BaseURL + "/v1/partners?per_page=1&page=1 answered 200)"},
		{"reditus", "breaker: closed while Reditus answers"},
		{"stripe", "endpoint we_"},
		{"stripe", "last 24 h: 2 forwarded, 1 skipped"},
		{"polar", "subscribed to every event the bridge handles"},
		{"polar", "no events in the last 24 h"},
	} {
		if !find(r, want.area, OK, want.text) {
			t.Errorf("no ok %s line saying %q:\n%s", want.area, want.text, text.String())
		}
	}
	// connect's creates are the providers' one write each.
	if w.red.Probes() != 1 || len(w.red.Created()) != 0 || w.stripe.Writes() != 1 || w.polar.Writes() != 1 {
		t.Errorf("got %d probes, %d conversions, %d and %d provider writes; want one probe and nothing written by doctor",
			w.red.Probes(), len(w.red.Created()), w.stripe.Writes()-1, w.polar.Writes()-1)
	}
}

// Each break in the chain is a fail line that names its cause and the fix.
func TestDoctorFailsNamingTheCause(t *testing.T) {
	tests := []struct {
		name   string
		breaks func(w *world)
		area   string
		want   string
	}{
		{"no endpoint", func(w *world) { w.stripe.Delete(w.stripe.Endpoints()[0].ID) }, "stripe",
			"no endpoint at " + publicURL + "/webhooks/stripe: run reditus-bridge connect stripe"},
		{"disabled", func(w *world) { w.polar.Disable(w.polar.Endpoints()[0].ID) }, "polar", "is disabled: run reditus-bridge connect polar"},
		{"an event missing", func(w *world) {
			w.stripe.SetEvents(w.stripe.Endpoints()[0].ID, "customer.created", "customer.updated", "checkout.session.completed", "customer.subscription.created")
		}, "stripe", "is not subscribed to checkout.session.async_payment_succeeded, whose events are lost"},
		{"no secret", func(w *world) { delete(w.deps.Config.Webhooks, "stripe") }, "stripe", "STRIPE_WEBHOOK_SECRET is not set: its deliveries are answered 404"},
		{"another secret", func(w *world) {
			w.deps.Config.Webhooks["polar"] = config.Webhook{Secrets: config.Secrets{"polar_whs_another"}}
		}, "polar", "POLAR_WEBHOOK_SECRET does not hold the signing secret"},
		{"key refused", func(w *world) {
			w.deps.Reditus = reditus.New(reditus.Options{BaseURL: w.red.BaseURL, APIKey: "rk_wrong"})
		}, "reditus",
			"refused REDITUS_API_KEY (GET " + "{red}" + "/v1/partners?per_page=1&page=1 answered 401)"},
		{"Reditus down", func(w *world) { w.red.ProbeAnswers(503) }, "reditus", "unavailable"},
		{"Reditus unreachable", func(w *world) { w.red.Close() }, "reditus", "unreachable"},
		{"no journal", func(w *world) {
			w.deps.Journal, w.deps.JournalErr = nil, errors.New("open /data/bridge.db: permission denied")
		}, "journal",
			"cannot be opened: open /data/bridge.db: permission denied"},
		{"journal read-only", func(w *world) {
			j := healthy()
			j.writable = func() error { return errors.New("attempt to write a readonly database") }
			w.deps.Journal = j
		}, "journal", "cannot be written: attempt to write a readonly database"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t)
			tt.breaks(w)
			r := Run(context.Background(), w.deps)
			want := strings.ReplaceAll(tt.want, "{red}", w.red.BaseURL)
			if r.OK() || !find(r, tt.area, Fail, want) {
				var text bytes.Buffer
				r.WriteText(&text)
				t.Errorf("want a fail %s line saying %q:\n%s", tt.area, want, text.String())
			}
		})
	}
}

// With Reditus down, doctor says what a running bridge's breaker does about
// it, beside the fail line for Reditus itself.
func TestDoctorSaysTheBreakerHoldsReditusOff(t *testing.T) {
	w := newWorld(t)
	w.red.ProbeAnswers(503)
	r := Run(context.Background(), w.deps)
	if !find(r, "reditus", Warn, "breaker: a running bridge's opens once Reditus has failed 10 times in a row: webhooks are queued at once") {
		var text bytes.Buffer
		r.WriteText(&text)
		t.Errorf("want a warn reditus line about the breaker:\n%s", text.String())
	}
}

// What needs a look but does not break the chain, or could not be
// checked, is a warning: doctor still passes.
func TestDoctorWarns(t *testing.T) {
	tests := []struct {
		name string
		warn func(w *world)
		area string
		want string
	}{
		{"probe path unknown", func(w *world) { w.red.ProbeAnswers(404) }, "reditus", "reachable, key not checked: GET"},
		{"queued for long", func(w *world) {
			j := healthy()
			j.summary = func(time.Time) (journal.Summary, error) {
				return journal.Summary{Queued: 3, OldestQueued: time.Now().Add(-2 * time.Hour)}, nil
			}
			w.deps.Journal = j
		}, "journal", "3 queued, the oldest for 2h0m0s"},
		{"given up", func(w *world) {
			j := healthy()
			j.summary = func(time.Time) (journal.Summary, error) { return journal.Summary{Failed: 2}, nil }
			w.deps.Journal = j
		}, "journal", "2 given up in the last 24 h"},
		{"provider API down", func(w *world) { w.polar.Fail(503, "") }, "polar", "endpoint not checked: Polar's API failed (HTTP 503)"},
		{"no PUBLIC_URL", func(w *world) { w.deps.Config.PublicURL = "" }, "stripe", "endpoint not checked: PUBLIC_URL is not set"},
		{"no API key", func(w *world) { w.deps.Config.StripeAPIKey = "" }, "stripe", "on, but its endpoint is not checked: set STRIPE_API_KEY"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t)
			tt.warn(w)
			r := Run(context.Background(), w.deps)
			if !r.OK() || !find(r, tt.area, Warn, tt.want) {
				var text bytes.Buffer
				r.WriteText(&text)
				t.Errorf("want a warn %s line saying %q, and no failure:\n%s", tt.area, tt.want, text.String())
			}
		})
	}
}

// A configuration the bridge would refuse is the one check: nothing else
// can be trusted.
func TestDoctorStopsAtAnInvalidConfiguration(t *testing.T) {
	r := Run(context.Background(), Deps{ConfigErr: errors.New("PORT: \"abc\" is not a port number (0-65535)")})
	if r.OK() || len(r.Checks) != 1 || !find(r, "configuration", Fail, "PORT") {
		t.Errorf("got %+v, want one failed configuration check", r.Checks)
	}
}

func TestDoctorJSON(t *testing.T) {
	w := newWorld(t)
	w.stripe.Delete(w.stripe.Endpoints()[0].ID)
	var out bytes.Buffer
	if err := Run(context.Background(), w.deps).WriteJSON(&out); err != nil {
		t.Fatal(err)
	}
	var got struct {
		OK       bool
		Failed   int
		Warnings int
		Checks   []Check
	}
	if err := json.Unmarshal(out.Bytes(), &got); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out.String())
	}
	if got.OK || got.Failed != 1 || len(got.Checks) == 0 || got.Checks[0].Area != "configuration" {
		t.Errorf("got %+v, want ok false, one failure, and every check", got)
	}
	for _, key := range []string{"sk_test_doctor", "polar_oat_doctor", fakereditus.Key} {
		if strings.Contains(out.String(), key) {
			t.Errorf("the report holds the key %s", key)
		}
	}
}
