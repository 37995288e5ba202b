package replay

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getreditus/reditus-bridge/config"
	"github.com/getreditus/reditus-bridge/handlers"
	"github.com/getreditus/reditus-bridge/internal/fakestripe"
	"github.com/getreditus/reditus-bridge/reditus"
	"github.com/getreditus/reditus-bridge/stripeapi"
)

const cookie = "1732492800:0f8fad5b-d9cb-469f-a165-70867728950e::pk_live_3x:::john:::s_81c2:affiliate"

// reditusFake creates each referral once and answers 409 after, as Reditus
// does; fail, when set, answers every call with that status.
type reditusFake struct {
	mu      sync.Mutex
	created map[string]reditus.Conversion
	calls   int
	fail    int
}

func (f *reditusFake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var c reditus.Conversion
	_ = json.NewDecoder(r.Body).Decode(&c)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	switch key := c.Email + "|" + c.UID; {
	case f.fail != 0:
		w.WriteHeader(f.fail)
	case f.created[key] != (reditus.Conversion{}):
		w.WriteHeader(http.StatusConflict)
	default:
		f.created[key] = c
		w.WriteHeader(http.StatusCreated)
		_, _ = io.WriteString(w, `{"data":{"id":"ref_1"}}`)
	}
}

type world struct {
	stripe  *fakestripe.Server
	reditus *reditusFake
	lister  *stripeapi.Client
	open    Open
}

func newWorld(t *testing.T) *world {
	t.Helper()
	w := &world{stripe: fakestripe.New(t), reditus: &reditusFake{created: map[string]reditus.Conversion{}}}
	red := httptest.NewServer(w.reditus)
	t.Cleanup(red.Close)
	w.lister = stripeapi.New(stripeapi.Options{Key: fakestripe.Key, BaseURL: w.stripe.URL, Timeout: time.Second})
	w.open = func(dryRun bool) (Processor, error) {
		cfg := config.Config{ReditusAPIKey: "rk_live_replay", ReditusAPIURL: red.URL + "/api", StripeWebhookSecret: config.Secrets{"whsec_x"}}
		if dryRun {
			cfg.ReditusAPIKey = ""
		}
		tracker := reditus.New(reditus.Options{BaseURL: cfg.ReditusAPIURL, APIKey: cfg.ReditusAPIKey.Reveal(), Budget: time.Second, Backoff: time.Millisecond})
		return handlers.New(cfg, handlers.Deps{Tracker: tracker, Stripe: w.lister})
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
	if _, ok := w.reditus.created["old@example.com|cus_old"]; ok {
		t.Error("a customer created before --since was sent")
	}
	if c := w.reditus.created["b@example.com|cus_b"]; c.AdvocateSlug != "jwe512" {
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

func TestBackfillDryRunSendsNothing(t *testing.T) {
	w := newWorld(t)
	var out bytes.Buffer
	if err := Backfill(context.Background(), []string{"stripe", "--since", "2026-01-01", "--dry-run"}, w.lister, w.open, &out); err != nil {
		t.Fatal(err)
	}
	if w.reditus.calls != 0 || !strings.Contains(out.String(), "dry_run:   3") || !strings.Contains(out.String(), "(dry run: nothing is sent)") {
		t.Errorf("%d Reditus calls; summary:\n%s", w.reditus.calls, out.String())
	}
}

func TestBackfillReportsWhatWasNotDelivered(t *testing.T) {
	w := newWorld(t)
	w.reditus.fail = http.StatusServiceUnavailable
	var out bytes.Buffer
	err := Backfill(context.Background(), []string{"stripe", "--since", "2026-01-01"}, w.lister, w.open, &out)
	if !errors.Is(err, ErrNotDone) {
		t.Fatalf("err = %v, want ErrNotDone", err)
	}
	if !strings.Contains(out.String(), "retry:     3") || strings.Count(out.String(), "not delivered: backfill_") != 3 {
		t.Errorf("summary:\n%s", out.String())
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
	if len(w.reditus.created) != 2 {
		t.Errorf("Reditus created %v", w.reditus.created)
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
