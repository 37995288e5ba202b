package replay

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getreditus/reditus-bridge/config"
	"github.com/getreditus/reditus-bridge/internal/fakereditus"
	"github.com/getreditus/reditus-bridge/internal/fakestripe"
	"github.com/getreditus/reditus-bridge/journal"
	"github.com/getreditus/reditus-bridge/pipeline"
	"github.com/getreditus/reditus-bridge/reditus"
	"github.com/getreditus/reditus-bridge/stripeapi"
)

const cookie = "1732492800:0f8fad5b-d9cb-469f-a165-70867728950e::pk_live_3x:::john:::s_81c2:affiliate"

type world struct {
	stripe *fakestripe.Server
	// reditus creates each referral once and answers 409 after, as Reditus
	// does.
	reditus *fakereditus.Server
	lister  *stripeapi.Client
	open    Open
	// journal, when set, is the journal a live run keeps, as the backfill
	// command's.
	journal pipeline.Journal
}

// created returns the conversion Reditus created for email, if any.
func (w *world) created(email string) (reditus.Conversion, bool) {
	for _, c := range w.reditus.Created() {
		if c.Email == email {
			return c, true
		}
	}
	return reditus.Conversion{}, false
}

// failReditus makes Reditus answer every conversion with status.
func (w *world) failReditus(status int) {
	if status != 0 {
		w.reditus.Respond(reditus.CallTrack, fakereditus.Status(status, ""))
	}
}

func newWorld(t *testing.T) *world {
	t.Helper()
	const key = "rk_live_replay"
	w := &world{stripe: fakestripe.New(t), reditus: fakereditus.New(t, fakereditus.WithKey(key), fakereditus.Conflicts())}
	w.lister = stripeapi.New(stripeapi.Options{Key: fakestripe.Key, BaseURL: w.stripe.URL, Timeout: time.Second})
	w.open = func(dryRun bool) (Processor, error) {
		cfg := config.Config{ReditusAPIKey: key, ReditusAPIURL: w.reditus.BaseURL, Webhooks: map[string]config.Webhook{"stripe": {Secrets: config.Secrets{"whsec_x"}}}}
		if dryRun {
			cfg.ReditusAPIKey = ""
		}
		tracker := reditus.New(reditus.Options{BaseURL: cfg.ReditusAPIURL, APIKey: cfg.ReditusAPIKey.Reveal(), Budget: time.Second, Backoff: time.Millisecond})
		deps := pipeline.Deps{Reditus: tracker, Stripe: w.lister}
		if w.journal != nil && !dryRun {
			deps.Journal = w.journal
		}
		return pipeline.New(cfg, deps)
	}
	// Created inside the window: a referred customer, a customer whose
	// referral is on its subscription, one not referred, and a Checkout
	// Session carrying the cookie in client_reference_id.
	in, out := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC).Unix(), time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC).Unix()
	w.stripe.Customers["cus_a"] = fakestripe.Customer("cus_a", "a@example.com", in, map[string]string{"gr_id": cookie})
	w.stripe.Customers["cus_b"] = fakestripe.Customer("cus_b", "b@example.com", in+1, nil)
	w.stripe.Subscriptions["sub_b"] = fakestripe.Subscription("sub_b", "cus_b", map[string]string{"refby": "jwe512"})
	w.stripe.Customers["cus_c"] = fakestripe.Customer("cus_c", "c@example.com", in+2, nil)
	w.stripe.Customers["cus_old"] = fakestripe.Customer("cus_old", "old@example.com", out, map[string]string{"gr_id": cookie})
	w.stripe.Customers["cus_d"] = fakestripe.Customer("cus_d", "d@example.com", in+3, nil)
	w.stripe.Sessions["cs_d"] = fakestripe.Session("cs_d", "cus_d", "", "d@example.com", in+4, nil, "gr_"+"cmw6MGY4ZmFkNWItZDljYi00NjlmLWExNjUtNzA4Njc3Mjg5NTBlOjpwazo6OmFubmE6OjpzaWQ6YWZmaWxpYXRl")
	return w
}

func TestBackfill(t *testing.T) {
	w := newWorld(t)
	var out bytes.Buffer
	err := Backfill(context.Background(), []string{"stripe", "--since", "2026-01-01", "--until", "2026-12-31"}, w.lister, w.open, &out)
	if err != nil {
		t.Fatalf("Backfill: %v\n%s", err, out.String())
	}
	for _, want := range []string{
		"read:      1 checkout sessions, 4 customers",
		"forwarded: 3", // cus_a, cus_b (through its subscription), cs_d
		"skipped:   2", // cus_c has no referral; cus_d alone has none either
		"no Reditus referral data",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, out.String())
		}
	}
	if _, ok := w.created("old@example.com"); ok {
		t.Error("a customer created before --since was sent")
	}
	if c, _ := w.created("b@example.com"); c.AdvocateSlug != "jwe512" || c.UID != "cus_b" {
		t.Errorf("cus_b sent as %+v, want its subscription's advocate", c)
	}

	// Run twice: Reditus has them all, and a 409 is success.
	out.Reset()
	if err := Backfill(context.Background(), []string{"stripe", "--since", "2026-01-01"}, w.lister, w.open, &out); err != nil {
		t.Fatalf("second Backfill: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "duplicate: 3") || !strings.Contains(out.String(), "forwarded: 0") {
		t.Errorf("second run:\n%s", out.String())
	}
}

// A second run over the same window, with the journal a live run keeps,
// sends nothing: the journal answers each event. Its summary says so
// (already delivered), rather than repeat the first run's "forwarded".
func TestBackfillRerunSaysAlreadyDelivered(t *testing.T) {
	w := newWorld(t)
	store, err := journal.Open(context.Background(), journal.Options{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	w.journal = store
	// One more customer, whose affiliate Reditus does not know.
	w.stripe.Customers["cus_n"] = fakestripe.Customer("cus_n", "n@example.com", time.Date(2026, 6, 2, 0, 0, 0, 0, time.UTC).Unix(), map[string]string{"red": "nobody"})
	w.reditus.Respond(reditus.CallTrack, func(rw http.ResponseWriter, r *fakereditus.Request) {
		if r.Conversion.AffiliateSlug == "nobody" {
			fakereditus.Status(http.StatusBadRequest, `{"errors":[{"detail":"affiliate not found"}]}`)(rw, r)
			return
		}
		w.reditus.Reditus(rw, r)
	})
	args := []string{"stripe", "--since", "2026-01-01", "--until", "2026-12-31"}
	var first, second bytes.Buffer
	if err := Backfill(context.Background(), args, w.lister, w.open, &first); err != nil {
		t.Fatalf("Backfill: %v\n%s", err, first.String())
	}
	calls := w.reditus.Requests()
	if err := Backfill(context.Background(), args, w.lister, w.open, &second); err != nil {
		t.Fatalf("second Backfill: %v\n%s", err, second.String())
	}
	if !strings.Contains(first.String(), "forwarded: 3") {
		t.Errorf("first run:\n%s", first.String())
	}
	if !strings.Contains(first.String(), "rejected:  1\n") {
		t.Errorf("first run:\n%s", first.String())
	}
	want := "forwarded: 0\nalready delivered: 3\nalready rejected: 1\n       1  affiliate not found\nskipped:   2\n"
	if !strings.Contains(second.String(), want) {
		t.Errorf("second run lacks\n%s\nin\n%s", want, second.String())
	}
	for _, want := range []string{"forwarded: 0\n", "already delivered: 3\n", "skipped:   2\n"} {
		if !strings.Contains(second.String(), want) {
			t.Errorf("second run lacks %q:\n%s", want, second.String())
		}
	}
	if strings.Contains(second.String(), "duplicate:") {
		t.Errorf("second run counts duplicates, but it called no one:\n%s", second.String())
	}
	if n := w.reditus.Requests(); n != calls {
		t.Errorf("the second run made %d Reditus calls, want none", n-calls)
	}
}

func TestBackfillDryRunSendsNothing(t *testing.T) {
	w := newWorld(t)
	var out bytes.Buffer
	if err := Backfill(context.Background(), []string{"stripe", "--since", "2026-01-01", "--dry-run"}, w.lister, w.open, &out); err != nil {
		t.Fatal(err)
	}
	if w.reditus.Requests() != 0 || !strings.Contains(out.String(), "dry_run:   3") || !strings.Contains(out.String(), "(dry run: nothing is sent)") {
		t.Errorf("%d Reditus calls; summary:\n%s", w.reditus.Requests(), out.String())
	}
}

func TestBackfillReportsWhatWasNotDelivered(t *testing.T) {
	w := newWorld(t)
	w.failReditus(http.StatusServiceUnavailable)
	var out bytes.Buffer
	err := Backfill(context.Background(), []string{"stripe", "--since", "2026-01-01"}, w.lister, w.open, &out)
	if !errors.Is(err, ErrNotDone) {
		t.Fatalf("err = %v, want ErrNotDone", err)
	}
	// One line for the three events that failed alike, not one each.
	want := "not delivered: 3\n       3  reditus: retryable (HTTP 503): Service Unavailable\n"
	if !strings.HasSuffix(out.String(), want) {
		t.Errorf("summary ends\n%s\nwant it to end\n%s", out.String(), want)
	}
}

func TestBackfillProgressAndInterrupt(t *testing.T) {
	w := newWorld(t)
	for i := range 150 {
		id := fmt.Sprintf("cus_many_%03d", i)
		w.stripe.Customers[id] = fakestripe.Customer(id, id+"@example.com", time.Date(2026, 3, 1, 0, 0, i, 0, time.UTC).Unix(), nil)
	}
	defer func(d time.Duration) { progressEvery = d }(progressEvery)
	progressEvery = 0 // a progress line after every item

	ctx, cancel := context.WithCancel(context.Background())
	out := &cancelAfter{lines: 20, cancel: cancel}
	err := Backfill(ctx, []string{"stripe", "--since", "2026-01-01"}, w.lister, w.open, out)
	if !errors.Is(err, ErrNotDone) || !strings.Contains(out.String(), "interrupted") {
		t.Fatalf("err = %v; output:\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "... read ") || !strings.Contains(out.String(), "read:      ") {
		t.Errorf("no progress line or no summary:\n%s", out.String())
	}
	if strings.Contains(out.String(), "150 customers") {
		t.Error("the interrupted run went on to the end")
	}
}

// cancelAfter is the terminal of a person who presses Ctrl-C after some
// progress lines.
type cancelAfter struct {
	bytes.Buffer
	lines  int
	cancel func()
}

func (c *cancelAfter) Write(p []byte) (int, error) {
	if bytes.HasPrefix(p, []byte("... ")) {
		if c.lines--; c.lines == 0 {
			c.cancel()
		}
	}
	return c.Buffer.Write(p)
}

func TestRecover(t *testing.T) {
	w := newWorld(t)
	now := time.Now().Unix()
	w.stripe.Events["evt_1"] = fakestripe.Event("evt_1", "customer.created", now-3600, w.stripe.Customers["cus_a"])
	w.stripe.Events["evt_2"] = fakestripe.Event("evt_2", "checkout.session.completed", now-7200, w.stripe.Sessions["cs_d"])
	w.stripe.Events["evt_old"] = fakestripe.Event("evt_old", "customer.created", now-10*24*3600, w.stripe.Customers["cus_old"])
	var out bytes.Buffer
	if err := Recover(context.Background(), []string{"stripe", "--since", "3d"}, w.lister, w.open, &out); err != nil {
		t.Fatalf("Recover: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "read:      2 events") || !strings.Contains(out.String(), "forwarded: 2") {
		t.Errorf("summary:\n%s", out.String())
	}
	if got := w.reditus.Created(); len(got) != 2 {
		t.Errorf("Reditus created %v", got)
	}
}

func TestUsage(t *testing.T) {
	w := newWorld(t)
	for _, args := range [][]string{nil, {"paddle"}, {"stripe"}, {"stripe", "--since", "yesterday"}, {"stripe", "--since", "2026-01-01", "--until", "soon"}} {
		if err := Backfill(context.Background(), args, w.lister, w.open, io.Discard); err == nil || !strings.Contains(err.Error(), "usage: backfill stripe") {
			t.Errorf("Backfill %q: %v", args, err)
		}
	}
	for _, args := range [][]string{nil, {"stripe", "--since", "forever"}, {"stripe", "--since", "-3d"}} {
		if err := Recover(context.Background(), args, w.lister, w.open, io.Discard); err == nil || !strings.Contains(err.Error(), "usage: recover stripe") {
			t.Errorf("Recover %q: %v", args, err)
		}
	}
}

// The progress line and the summary count the same outcomes under the same
// words, in a dry run too.
func TestProgressAndSummaryAgree(t *testing.T) {
	defer func(d time.Duration) { progressEvery = d }(progressEvery)
	progressEvery = 0 // a progress line after every item
	for _, tt := range []struct {
		name    string
		args    []string
		fail    int
		want    string // the last progress line's counts
		notWant string
	}{
		{"live", []string{"stripe", "--since", "2026-01-01"}, 0, "forwarded 3, skipped 2, not delivered 0", "dry_run"},
		{"dry run", []string{"stripe", "--since", "2026-01-01", "--dry-run"}, 0, "dry_run 3, skipped 2, not delivered 0", "forwarded"},
		{"Reditus down", []string{"stripe", "--since", "2026-01-01"}, http.StatusServiceUnavailable, "forwarded 0, skipped 2, not delivered 3", "retry"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t)
			w.failReditus(tt.fail)
			var out bytes.Buffer
			_ = Backfill(context.Background(), tt.args, w.lister, w.open, &out)

			var progress string
			summary := map[string]string{}
			for _, line := range strings.Split(out.String(), "\n") {
				if p, ok := strings.CutPrefix(line, "... "); ok {
					progress = p
				} else if label, n, ok := strings.Cut(line, ":"); ok && !strings.HasPrefix(line, " ") && !strings.HasPrefix(line, "backfill") && label != "read" && label != "would send" {
					summary[label] = strings.TrimSpace(n)
				}
			}
			_, counts, _ := strings.Cut(progress, "; ")
			if counts != tt.want {
				t.Errorf("last progress line counts %q, want %q\n%s", counts, tt.want, out.String())
			}
			fromProgress := map[string]string{}
			for _, c := range strings.Split(counts, ", ") {
				i := strings.LastIndex(c, " ")
				fromProgress[c[:i]] = c[i+1:]
			}
			if fmt.Sprint(fromProgress) != fmt.Sprint(summary) {
				t.Errorf("progress says %v, summary says %v\n%s", fromProgress, summary, out.String())
			}
			if _, ok := summary[tt.notWant]; ok || strings.Contains(progress, tt.notWant+" ") {
				t.Errorf("output counts %q:\n%s", tt.notWant, out.String())
			}
		})
	}
}

// A dry run shows each conversion it would send, with the email masked.
func TestDryRunPrintsEachConversion(t *testing.T) {
	w := newWorld(t)
	w.stripe.Customers["cus_e"] = fakestripe.Customer("cus_e", "e@example.com", time.Date(2026, 6, 2, 0, 0, 0, 0, time.UTC).Unix(),
		map[string]string{"red": "mia", "user_id": "erin@example.org"})
	var out bytes.Buffer
	if err := Backfill(context.Background(), []string{"stripe", "--since", "2026-01-01", "--dry-run"}, w.lister, w.open, &out); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"would send: backfill_cus_a  affiliate_slug=john gr_id=0f8fad5b-d9cb-469f-a165-70867728950e email=a***@example.com uid=cus_a\n",
		"would send: backfill_cus_b  advocate_slug=jwe512 email=b***@example.com uid=cus_b\n",
		"would send: backfill_cs_d  affiliate_slug=anna gr_id=0f8fad5b-d9cb-469f-a165-70867728950e email=d***@example.com uid=cus_d\n",
		"would send: backfill_cus_e  affiliate_slug=mia email=e***@example.com uid=e***@example.org\n", // a uid that is an email is masked too
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	if n := strings.Count(out.String(), "would send: "); n != 4 {
		t.Errorf("%d would-send lines, want 4 (one per dry_run)", n)
	}
	for _, email := range []string{"a@example.com", "b@example.com", "d@example.com", "e@example.com", "erin@example.org"} {
		if strings.Contains(out.String(), email) {
			t.Errorf("output contains the full email %s", email)
		}
	}
	if n := w.reditus.Requests(); n != 0 {
		t.Errorf("%d Reditus calls in a dry run", n)
	}
}

// Skip reasons are grouped, and printed whole: the part that says what to
// do is what the operator needs.
func TestSummaryPrintsReasonsWhole(t *testing.T) {
	w := newWorld(t)
	in := time.Date(2026, 6, 3, 0, 0, 0, 0, time.UTC).Unix()
	for _, id := range []string{"cus_t1", "cus_t2"} {
		c := fakestripe.Customer(id, id+"@example.com", in, map[string]string{"gr_id": cookie})
		c["livemode"] = false
		w.stripe.Customers[id] = c
	}
	unpaid := fakestripe.Session("cs_unpaid", "cus_c", "", "c@example.com", in, map[string]string{"gr_id": cookie}, "")
	unpaid["payment_status"] = "unpaid"
	w.stripe.Sessions["cs_unpaid"] = unpaid
	var out bytes.Buffer
	if err := Backfill(context.Background(), []string{"stripe", "--since", "2026-01-01"}, w.lister, w.open, &out); err != nil {
		t.Fatalf("Backfill: %v\n%s", err, out.String())
	}
	for _, want := range []string{
		"       2  no Reditus referral data: looked for gr_id/affiliate_slug/advocate_slug in customer metadata and subscriptions of customer cus_... (none)\n",
		"       2  test-mode event (livemode: false); set STRIPE_ACCEPT_TEST_EVENTS=true to forward test events\n",
		"       1  checkout session is unpaid (a delayed payment method); it converts on checkout.session.async_payment_succeeded\n",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, out.String())
		}
	}
}

func TestGroupReason(t *testing.T) {
	for _, tt := range []struct{ reason, want string }{
		{"look up related stripe objects: stripe api unavailable: subscriptions of customer cus_R2x8abc: HTTP 500: boom",
			"look up related stripe objects: stripe api unavailable: subscriptions of customer cus_...: HTTP 500: boom"},
		{"in cs_test_a1B2c3 metadata, subscription sub_1Qx metadata, event evt_9 and backfill_cus_1",
			"in cs_... metadata, subscription sub_... metadata, event evt_... and backfill_..."},
		{"slug unknown for jane.doe@example.com (uid ada@example.org)", "slug unknown for <email> (uid <email>)"},
		{"no email or user id: looked at customer_details.email, customer_email", "no email or user id: looked at customer_details.email, customer_email"},
		{"no affiliate or advocate slug: the gr_id in client_reference_id is a bare click id", "no affiliate or advocate slug: the gr_id in client_reference_id is a bare click id"},
	} {
		if got := groupReason(tt.reason); got != tt.want {
			t.Errorf("groupReason(%q)\n got %q\nwant %q", tt.reason, got, tt.want)
		}
	}
}

// Stripe answers plain 429s (which stripe-go does not retry) in the middle
// of the customer listing: the backfill waits them out and completes, and
// every customer reaches Reditus exactly once.
func TestBackfillSurvivesPlain429s(t *testing.T) {
	w := newWorld(t)
	clear(w.stripe.Customers)
	clear(w.stripe.Sessions)
	for i := range 250 {
		id := fmt.Sprintf("cus_many_%03d", i)
		w.stripe.Customers[id] = fakestripe.Customer(id, id+"@example.com", time.Date(2026, 3, 1, 0, 0, i, 0, time.UTC).Unix(), map[string]string{"gr_id": cookie})
	}
	var mu sync.Mutex
	var refused int
	w.stripe.Fail = func(r *http.Request) int {
		mu.Lock()
		defer mu.Unlock()
		// Every page after the first, and the sessions listing, once each.
		if (r.URL.Query().Get("starting_after") != "" || r.URL.Path == "/v1/checkout/sessions") && refused < 3 {
			refused++
			return http.StatusTooManyRequests
		}
		return 0
	}
	w.lister = stripeapi.New(stripeapi.Options{Key: fakestripe.Key, BaseURL: w.stripe.URL, Timeout: time.Second,
		RateLimit: stripeapi.RateLimitRetry{Retries: 4, Backoff: time.Millisecond}})
	var out bytes.Buffer
	if err := Backfill(context.Background(), []string{"stripe", "--since", "2026-01-01"}, w.lister, w.open, &out); err != nil {
		t.Fatalf("Backfill: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "read:      250 customers\n") || !strings.Contains(out.String(), "forwarded: 250\n") {
		t.Errorf("summary:\n%s", out.String())
	}
	if calls, created := w.reditus.Calls(reditus.CallTrack), len(w.reditus.Created()); calls != 250 || created != 250 {
		t.Errorf("Reditus got %d calls for %d referrals, want 250 each once", calls, created)
	}
	mu.Lock()
	defer mu.Unlock()
	if refused != 3 {
		t.Errorf("%d requests refused, want 3: the test did not exercise the 429s", refused)
	}
}

// --help, before or after "stripe", prints the usage with every flag
// described and returns flag.ErrHelp, without opening anything: no
// STRIPE_API_KEY is needed to read it.
func TestHelp(t *testing.T) {
	open := func(bool) (Processor, error) { return nil, errors.New("help opened the pipeline") }
	for _, tt := range []struct {
		run   func(args []string, out io.Writer) error
		args  []string
		flags []string
	}{
		{func(a []string, o io.Writer) error { return Backfill(context.Background(), a, nil, open, o) }, []string{"--help"}, []string{"--since DATE", "--until DATE", "--dry-run"}},
		{func(a []string, o io.Writer) error { return Backfill(context.Background(), a, nil, open, o) }, []string{"-h"}, []string{"--since DATE", "--until DATE", "--dry-run"}},
		{func(a []string, o io.Writer) error { return Backfill(context.Background(), a, nil, open, o) }, []string{"help"}, []string{"--since DATE", "--until DATE", "--dry-run"}},
		{func(a []string, o io.Writer) error { return Backfill(context.Background(), a, nil, open, o) }, []string{"stripe", "--help"}, []string{"--since DATE", "--until DATE", "--dry-run"}},
		{func(a []string, o io.Writer) error { return Backfill(context.Background(), a, nil, open, o) }, []string{"stripe", "--since", "2026-01-01", "-h"}, []string{"--since DATE", "--until DATE", "--dry-run"}},
		{func(a []string, o io.Writer) error { return Recover(context.Background(), a, nil, open, o) }, []string{"--help"}, []string{"--since DURATION"}},
		{func(a []string, o io.Writer) error { return Recover(context.Background(), a, nil, open, o) }, []string{"stripe", "--help"}, []string{"--since DURATION"}},
	} {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			var out bytes.Buffer
			err := tt.run(tt.args, &out)
			if !errors.Is(err, flag.ErrHelp) {
				t.Fatalf("err = %v, want flag.ErrHelp", err)
			}
			if !strings.HasPrefix(out.String(), "usage: ") || !strings.Contains(out.String(), "STRIPE_API_KEY") {
				t.Errorf("no usage:\n%s", out.String())
			}
			// Every flag has a line and a description under it.
			lines := strings.Split(out.String(), "\n")
			for _, f := range tt.flags {
				i := slices.Index(lines, "  "+f)
				if i < 0 || i+1 >= len(lines) || len(strings.TrimSpace(lines[i+1])) < 20 {
					t.Errorf("flag %s is not described:\n%s", f, out.String())
				}
			}
			if n := strings.Count(out.String(), "\n  --"); n != len(tt.flags) {
				t.Errorf("%d flags listed, want %d:\n%s", n, len(tt.flags), out.String())
			}
		})
	}
}

// Windows that cannot be what the user meant are refused, saying why.
func TestRefusesImpossibleWindows(t *testing.T) {
	w := newWorld(t)
	for _, tt := range []struct {
		name string
		cmd  func(context.Context, []string, Lister, Open, io.Writer) error
		args []string
		want string
	}{
		{"until before since", Backfill, []string{"stripe", "--since", "2026-06-01", "--until", "2026-01-01"}, "--until 2026-01-01 is not after --since 2026-06-01: the window is empty"},
		{"until equal to since", Backfill, []string{"stripe", "--since", "2026-06-01", "--until", "2026-06-01T00:00:00Z"}, "the window is empty"},
		{"recover beyond 30 days", Recover, []string{"stripe", "--since", "40d"}, "--since 40d: Stripe keeps events for 30 days"},
		{"recover beyond 30 days in hours", Recover, []string{"stripe", "--since", "721h"}, "Stripe keeps events for 30 days"},
		{"recover a huge number of days", Recover, []string{"stripe", "--since", "999999999999d"}, "is not a number of days"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cmd(context.Background(), tt.args, w.lister, w.open, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "usage: ") {
				t.Errorf("err = %v, want one that says %q, with the usage", err, tt.want)
			}
		})
	}
	if len(w.stripe.Requests()) != 0 {
		t.Errorf("refused commands called Stripe: %q", w.stripe.Requests())
	}
	// The edges are accepted.
	if err := Recover(context.Background(), []string{"stripe", "--since", "30d"}, w.lister, w.open, io.Discard); err != nil {
		t.Errorf("recover --since 30d: %v", err)
	}
	if err := Backfill(context.Background(), []string{"stripe", "--since", "2026-06-01", "--until", "2026-06-02"}, w.lister, w.open, io.Discard); err != nil {
		t.Errorf("a one-day window: %v", err)
	}
}
