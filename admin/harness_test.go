package admin_test

import (
	"cmp"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getreditus/reditus-bridge/admin"
	"github.com/getreditus/reditus-bridge/journal"
	"github.com/getreditus/reditus-bridge/outcome"
)

// now is the tests' clock: the journal's and the page's.
var now = time.Date(2025, 3, 4, 12, 0, 0, 0, time.UTC)

const token = "correct-horse-battery-staple"

// event is one journaled event of a fixture: what arrived, and how it ended.
type event struct {
	provider, deliveryID, eventType, email string
	ago                                    time.Duration // received this long before now
	outcome                                outcome.Word
	reason, referralID                     string
	attempts                               int
	// pending leaves it as Begin made it: being delivered, under a lease.
	pending bool
	// detail, when set, is what the pipeline found, sent and tried, as it
	// hands them to the journal with the outcome; body replaces {}.
	detail *journal.Finish
	body   string
}

// fixture is a journal of events of different emails, providers and
// outcomes, newest (smallest ago) first in the ids' reverse order.
var fixture = []event{
	{provider: "stripe", deliveryID: "evt_jane_1", eventType: "customer.created", email: "jane@example.com", ago: 50 * time.Hour,
		outcome: "forwarded", referralID: "ref_jane", attempts: 1},
	{provider: "clerk", deliveryID: "msg_bob_1", eventType: "user.created", email: "bob@example.com", ago: 30 * time.Hour,
		outcome: "skipped", reason: "no referral data: no gr_id, affiliate_slug or advocate_slug in unsafe_metadata, public_metadata or private_metadata"},
	{provider: "supabase", deliveryID: "ins_jane_2", eventType: "INSERT", email: "Jane@Example.COM", ago: 5 * time.Hour,
		outcome: "queued", reason: "Reditus answered 503 Service Unavailable", attempts: 3},
	{provider: "stripe", deliveryID: "evt_eve_1", eventType: "checkout.session.completed", email: "eve@example.com", ago: 2 * time.Hour,
		outcome: "rejected", reason: "affiliate_slug: no affiliate with this slug", attempts: 1},
	{provider: "generic", deliveryID: "msg_x_1", eventType: "user.created", email: "x@example.com", ago: 90 * time.Minute,
		outcome: "failed", reason: "Reditus answered 401: the API key is wrong", attempts: 2},
	{provider: "stripe", deliveryID: "evt_x_2", eventType: "customer.created", email: "x@example.com", ago: 10 * time.Minute,
		outcome: "duplicate", reason: "Reditus already has this referral", attempts: 1},
}

// ids are the fixture's record ids, in fixture order (Begin numbers them
// from 1 in a fresh journal).
func ids(n ...int) []int64 {
	out := make([]int64, len(n))
	for i, v := range n {
		out[i] = int64(v)
	}
	return out
}

// openJournal opens a fresh SQLite journal in a temporary directory, with
// the tests' clock, and records evs in it.
func openJournal(t *testing.T, evs ...event) *journal.DB {
	t.Helper()
	ctx := context.Background()
	store, err := journal.Open(ctx, journal.Options{DataDir: t.TempDir(), Now: func() time.Time { return now }})
	if err != nil {
		t.Fatalf("journal.Open: %v", err)
	}
	t.Cleanup(func() {
		if err := store.Close(); err != nil {
			t.Errorf("close the journal: %v", err)
		}
	})
	for _, ev := range evs {
		rec, claimed, err := store.Begin(ctx, journal.Record{
			Provider: ev.provider, DeliveryID: ev.deliveryID, EventType: ev.eventType,
			Email: ev.email, ReceivedAt: now.Add(-ev.ago), Body: []byte(cmp.Or(ev.body, `{}`)),
		}, time.Hour)
		if err != nil || !claimed {
			t.Fatalf("Begin %s: claimed %v, %v", ev.deliveryID, claimed, err)
		}
		if ev.pending {
			continue
		}
		f := journal.Finish{Outcome: ev.outcome, Reason: ev.reason, ReferralID: ev.referralID, Attempts: ev.attempts}
		if d := ev.detail; d != nil {
			f.AffiliateSlug, f.AdvocateSlug, f.Found, f.Sent, f.AttemptLog = d.AffiliateSlug, d.AdvocateSlug, d.Found, d.Sent, d.AttemptLog
		}
		if err := store.Finish(ctx, rec.ID, f); err != nil {
			t.Fatalf("Finish %s: %v", ev.deliveryID, err)
		}
	}
	return store
}

// retrier is an operator's retry as the bridge does it: it takes the record
// from the journal (ErrNotFound, ErrBusy) and records a new outcome.
type retrier struct {
	store  *journal.DB
	result admin.Outcome

	mu    sync.Mutex
	calls []int64
}

func (r *retrier) retry(ctx context.Context, id int64, was outcome.Word) (admin.Outcome, error) {
	r.mu.Lock()
	r.calls = append(r.calls, id)
	r.mu.Unlock()
	if _, err := r.store.Retake(ctx, id, time.Minute, was); err != nil {
		return admin.Outcome{}, err
	}
	err := r.store.Finish(ctx, id, journal.Finish{Outcome: r.result.Outcome, Reason: r.result.Reason, ReferralID: r.result.ReferralID, Attempts: 1})
	return r.result, err
}

func (r *retrier) called() []int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]int64(nil), r.calls...)
}

// site is admin.New over a real journal, served on loopback.
type site struct {
	*httptest.Server
	store   *journal.DB
	retrier *retrier
}

func newSite(t *testing.T, evs ...event) *site {
	t.Helper()
	store := openJournal(t, evs...)
	r := &retrier{store: store, result: admin.Outcome{Outcome: "forwarded", ReferralID: "ref_new"}}
	h := admin.New(admin.Options{
		Token: token, Events: store, Retry: r.retry, Providers: []string{"stripe", "clerk", "supabase", "generic"},
		Now: func() time.Time { return now },
	})
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &site{Server: srv, store: store, retrier: r}
}

// noAuth is a header without credentials.
func noAuth() http.Header { return http.Header{"Authorization": nil} }

// do sends a request to the site as the operator, unless header names
// Authorization, and returns the answer with its body read. It does
// not follow redirects.
func (s *site) do(t *testing.T, method, path string, header http.Header) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, s.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	// A header that names Authorization, even with no value, says how the
	// caller authenticates; noAuth sends none.
	if _, set := header["Authorization"]; !set {
		req.SetBasicAuth("admin", token)
	} else if len(header["Authorization"]) == 0 {
		req.Header.Del("Authorization")
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(body)
}

func (s *site) get(t *testing.T, path string) (*http.Response, string) {
	t.Helper()
	return s.do(t, http.MethodGet, path, nil)
}

// sameOrigin is the header a browser sends with the page's own form.
func (s *site) sameOrigin() http.Header {
	return http.Header{"Origin": {s.URL}}
}

var errBoom = errors.New("boom")

// failing is a journal that cannot be read.
type failing struct{}

func (failing) List(context.Context, journal.Filter) ([]journal.Record, error) { return nil, errBoom }
func (failing) Get(context.Context, int64) (journal.Record, error)             { return journal.Record{}, errBoom }
func (failing) Overviews(context.Context, ...time.Time) ([]journal.Overview, error) {
	return nil, errBoom
}
func (failing) Forget(context.Context, string) (int64, error) { return 0, errBoom }

func contains(t *testing.T, what, s string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(s, w) {
			t.Errorf("%s lacks %q:\n%s", what, w, s)
		}
	}
}

func lacks(t *testing.T, what, s string, unwanted ...string) {
	t.Helper()
	for _, w := range unwanted {
		if strings.Contains(s, w) {
			t.Errorf("%s holds %q:\n%s", what, w, s)
		}
	}
}
