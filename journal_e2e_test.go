package main

import (
	"github.com/getreditus/reditus-bridge/outcome"

	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stripe/stripe-go/v76/webhook"

	"github.com/getreditus/reditus-bridge/internal/fakereditus"
	"github.com/getreditus/reditus-bridge/internal/testenv"
	"github.com/getreditus/reditus-bridge/journal"
	"github.com/getreditus/reditus-bridge/reditus"
	"github.com/getreditus/reditus-bridge/verify"
)

// The journal end to end (DESIGN.md sections 5 and 7, issue 11): the built
// binary queues what Reditus cannot take, keeps it through kill -9, delivers
// it once Reditus is back, and two binaries on one Postgres share dedupe and
// queue.

const (
	journalAPIKey        = "rk_live_journal_e2e"
	journalStripeSecret  = "whsec_journal_e2e_stripe"
	journalSupabaseToken = "journal-e2e-supabase-bearer-token"
)

// journalEnv configures a live bridge on Stripe and Supabase against red.
func journalEnv(red *fakereditus.Server, more ...string) []string {
	return append([]string{
		"REDITUS_API_KEY=" + journalAPIKey, "REDITUS_API_URL=" + red.BaseURL,
		"STRIPE_WEBHOOK_SECRET=" + journalStripeSecret, "SUPABASE_WEBHOOK_SECRET=" + journalSupabaseToken,
	}, more...)
}

// outage is a fake Reditus that the test takes down and brings back. Down,
// it answers every call 503 at once, with Retry-After: 0 so that the
// client's in-request retries cost no waiting: a webhook is answered in
// milliseconds, and a delivery is never in flight for long when the test
// kills the bridge.
type outage struct {
	*fakereditus.Server
	down atomic.Bool
	// slow, when set, is how long each call takes once Reditus is back.
	slow atomic.Int64
}

func newOutage(t *testing.T) *outage {
	o := &outage{Server: fakereditus.New(t, fakereditus.WithKey(journalAPIKey))}
	unavailable := fakereditus.Status(http.StatusServiceUnavailable, ``, "Retry-After", "0")
	o.RespondAll(func(w http.ResponseWriter, r *fakereditus.Request) {
		if o.down.Load() {
			unavailable(w, r)
			return
		}
		time.Sleep(time.Duration(o.slow.Load()))
		o.Reditus(w, r)
	})
	return o
}

// created counts the conversions Reditus created, by email.
func (o *outage) created() map[string]int {
	n := map[string]int{}
	for _, c := range o.Created() {
		n[c.Email]++
	}
	return n
}

// signedDelivery is one webhook as its provider sends it.
type signedDelivery struct {
	route string
	email string
	body  []byte
}

// stripeSignup is a distinct Stripe customer.created delivery, referred.
func stripeSignup(name string) signedDelivery {
	email := name + "@example.com"
	return signedDelivery{"/webhooks/stripe", email, []byte(fmt.Sprintf(
		`{"id":"evt_%s","object":"event","type":"customer.created","livemode":true,
		"data":{"object":{"id":"cus_%s","object":"customer","email":%q,"livemode":true,"metadata":{"red":"john"}}}}`,
		name, name, email))}
}

// supabaseSignup is a distinct Supabase INSERT into auth.users, referred by
// the cookie the sign-up form copied into the user's metadata.
func supabaseSignup(i int, name string) signedDelivery {
	email := name + "@example.com"
	return signedDelivery{"/webhooks/supabase", email, []byte(fmt.Sprintf(
		`{"type":"INSERT","table":"users","schema":"auth","old_record":null,
		"record":{"id":"5d0c8f3e-2a1b-4c9d-8e7f-%012d","email":%q,"raw_app_meta_data":{"provider":"email"},
		"raw_user_meta_data":{"gr_id":"1732492800:0f8fad5b-d9cb-469f-a165-70867728950e::pk_live_3x:::john:::s_81c2:affiliate"}}}`,
		i, email))}
}

// post sends d to base, signed at this moment, and returns the answer.
func (d signedDelivery) post(base string) (status int, outcome string, err error) {
	req, err := http.NewRequest(http.MethodPost, base+d.route, bytes.NewReader(d.body))
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Content-Type", "application/json")
	if d.route == "/webhooks/stripe" {
		signed := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: d.body, Secret: journalStripeSecret})
		req.Header.Set("Stripe-Signature", signed.Header)
	} else {
		h, err := verify.Bearer.Sign(journalSupabaseToken, "", d.body, time.Now())
		if err != nil {
			return 0, "", err
		}
		for k, v := range h {
			req.Header[k] = v
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	var a struct{ Outcome string }
	if err := json.NewDecoder(resp.Body).Decode(&a); err != nil {
		return resp.StatusCode, "", fmt.Errorf("answer %d is not JSON: %w", resp.StatusCode, err)
	}
	return resp.StatusCode, a.Outcome, nil
}

// postAll sends every delivery to the base its index picks, all at once, and
// fails t unless each is answered status and outcome.
func postAll(t *testing.T, ds []signedDelivery, base func(i int) string, status int, outcome string) {
	t.Helper()
	errs := make([]string, len(ds))
	var wg sync.WaitGroup
	for i, d := range ds {
		wg.Go(func() {
			got, out, err := d.post(base(i))
			if err != nil || got != status || out != outcome {
				errs[i] = fmt.Sprintf("%s (%s): %d %q, %v; want %d %q", d.route, d.email, got, out, err, status, outcome)
			}
		})
	}
	wg.Wait()
	for _, e := range errs {
		if e != "" {
			t.Error(e)
		}
	}
	if t.Failed() {
		t.FailNow()
	}
}

// kill ends the bridge with SIGKILL, as a crash or an OOM kill would: no
// shutdown, no flush.
func (p *process) kill(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		t.Fatal("the bridge did not die within 10s of SIGKILL")
	}
}

// openSharedJournal opens the bridges' journal from outside them, for the
// test's own look.
func openSharedJournal(t *testing.T, o journal.Options) *journal.DB {
	t.Helper()
	s, err := journal.Open(context.Background(), o)
	if err != nil {
		t.Fatalf("open the journal: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// outcomes counts the journal's records by outcome.
func outcomes(t *testing.T, s *journal.DB) map[outcome.Word]int {
	t.Helper()
	recs, err := s.List(context.Background(), journal.Filter{Limit: journal.MaxLimit})
	if err != nil {
		t.Fatalf("list the journal: %v", err)
	}
	n := map[outcome.Word]int{}
	for _, r := range recs {
		n[r.Outcome]++
	}
	return n
}

// waitFor polls done until it holds or the deadline passes, and says how
// long it took.
func waitFor(t *testing.T, within time.Duration, what string, done func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for deadline := start.Add(within); !done(); time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, within)
		}
	}
	return time.Since(start)
}

// checkOnce fails t unless Reditus created exactly one conversion for each
// of ds, and nothing else.
func checkOnce(t *testing.T, red *outage, ds []signedDelivery) {
	t.Helper()
	created := red.created()
	for _, d := range ds {
		if n := created[d.email]; n != 1 {
			t.Errorf("%s: %d conversions created, want exactly 1", d.email, n)
		}
	}
	if total := len(red.Created()); total != len(ds) {
		t.Errorf("Reditus created %d conversions, want %d", total, len(ds))
	}
}

// The crash test: Reditus is down while 50 signups arrive (25 from Stripe,
// 25 from Supabase, whose sender never retries); each is answered 202 queued.
// The bridge is killed with SIGKILL, Reditus comes back, and the bridge is
// started again on the same DATA_DIR: each of the 50 reaches Reditus exactly
// once.
func TestJournalSurvivesKill9(t *testing.T) {
	red := newOutage(t)
	red.down.Store(true)
	dataDir := t.TempDir()
	env := journalEnv(red.Server, "DATA_DIR="+dataDir)
	var ds []signedDelivery
	for i := range 25 {
		ds = append(ds, stripeSignup(fmt.Sprintf("crash-stripe-%02d", i)), supabaseSignup(i, fmt.Sprintf("crash-supabase-%02d", i)))
	}

	first := start(t, env...)
	postAll(t, ds, func(int) string { return first.base }, http.StatusAccepted, "queued")
	first.kill(t)

	// What the dead bridge left: every event, queued. A record pending
	// instead was being redelivered (Reditus still down) at the kill, and is
	// due again when its lease ends. The restart waits until every record
	// is due, so that it is the worker's first poll, at start, that finds
	// them all.
	store := openSharedJournal(t, journal.Options{DataDir: dataDir})
	recs, err := store.List(context.Background(), journal.Filter{Limit: journal.MaxLimit})
	if err != nil {
		t.Fatal(err)
	}
	left, due := map[outcome.Word]int{}, time.Time{}
	for _, r := range recs {
		left[r.Outcome]++
		if r.NextAttemptAt.After(due) {
			due = r.NextAttemptAt
		}
	}
	if left[journal.Queued]+left[journal.Pending] != len(ds) || len(left) > 2 {
		t.Fatalf("after kill -9 the journal holds %v, want %d queued", left, len(ds))
	}
	if left[journal.Pending] > 0 {
		t.Logf("%d records were held by the killed bridge's worker; waiting out their lease", left[journal.Pending])
	}
	_ = store.Close()
	time.Sleep(time.Until(due))

	red.down.Store(false)
	callsBefore := red.Requests()
	second := start(t, env...)
	took := waitFor(t, 30*time.Second, "all 50 delivered after the restart", func() bool { return len(red.Created()) >= len(ds) })
	second.stop(t) // the worker finishes what it has begun; nothing is left to send
	checkOnce(t, red, ds)

	store = openSharedJournal(t, journal.Options{DataDir: dataDir})
	if got := outcomes(t, store); got["forwarded"] != len(ds) || len(got) != 1 {
		t.Errorf("the journal holds %v, want %d forwarded", got, len(ds))
	}
	t.Logf("%d events queued, killed, restarted once all were due: all delivered %v after the restart, in %d Reditus calls, each created once",
		len(ds), took.Round(100*time.Millisecond), red.Requests()-callsBefore)
}

// A Supabase database webhook is sent once and never retried: during an
// outage the bridge answers it 202 and its own worker delivers it later,
// with no restart and no re-send.
func TestJournalDeliversASupabaseSignupSentDuringAnOutage(t *testing.T) {
	red := newOutage(t)
	red.down.Store(true)
	dataDir := t.TempDir()
	env := journalEnv(red.Server, "DATA_DIR="+dataDir)
	p := start(t, env...)
	signup := supabaseSignup(1, "outage-supabase")
	postAll(t, []signedDelivery{signup}, func(int) string { return p.base }, http.StatusAccepted, "queued")
	calls := red.Requests()

	red.down.Store(false)
	took := waitFor(t, 30*time.Second, "the queued Supabase signup delivered", func() bool { return len(red.Created()) > 0 })
	checkOnce(t, red, []signedDelivery{signup})

	// The operator's view, while the bridge runs: delivered on the second
	// attempt, the email whole.
	cmd := exec.Command(buildBinary(t), "events", "--email", signup.email, "--json")
	cmd.Env = env
	var out struct {
		Events []struct {
			Provider string `json:"provider"`
			Outcome  string `json:"outcome"`
			Attempts int    `json:"attempts"`
			Email    string `json:"email"`
		} `json:"events"`
	}
	raw, err := cmd.Output()
	if err := firstErr(err, json.Unmarshal(raw, &out)); err != nil {
		t.Fatalf("events: %v\n%s", err, raw)
	}
	if len(out.Events) != 1 || out.Events[0].Outcome != "forwarded" || out.Events[0].Attempts != 2 ||
		out.Events[0].Provider != "supabase" || out.Events[0].Email != signup.email {
		t.Errorf("events --email %s: %+v, want one supabase event forwarded on attempt 2", signup.email, out.Events)
	}
	p.stop(t)
	if strings.Contains(fmt.Sprint(p.lines()), signup.email) {
		t.Error("the bridge logged the full email")
	}
	t.Logf("queued during the outage; delivered %v after Reditus came back, in %d calls", took.Round(100*time.Millisecond), red.Requests()-calls)
}

// redelivered counts the queued events p's worker delivered: their second
// log line, the first being the webhook's queued.
func redelivered(p *process) int {
	n := 0
	for _, l := range p.lines() {
		if id, _ := l["event_id"].(string); l["msg"] == "webhook" && l["outcome"] == "forwarded" && strings.HasPrefix(id, "evt_queued-") {
			n++
		}
	}
	return n
}

// firstErr returns the first non-nil of errs.
func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// Two bridges on one Postgres, as two Fly machines behind one address: a
// delivery that reaches both at the same moment makes one Reditus call and
// is answered 200 by both; events queued on either during an outage are
// each delivered once, with both workers running.
func TestJournalTwoInstancesOnOnePostgres(t *testing.T) {
	url := testenv.Postgres(t)
	red := newOutage(t)
	env := journalEnv(red.Server, "DATABASE_URL="+url)
	one, two := start(t, env...), start(t, env...)
	for _, p := range []*process{one, two} {
		if !slices.ContainsFunc(p.lines(), func(l map[string]any) bool {
			kind, _ := l["journal"].(string)
			return l["msg"] == "listening" && strings.HasPrefix(kind, "postgres")
		}) {
			t.Fatalf("a bridge does not keep its journal in Postgres: %v", p.lines())
		}
	}
	both := func(i int) string { return []string{one.base, two.base}[i%2] }

	const rounds = 20
	var twins []signedDelivery
	for i := range rounds {
		d := stripeSignup(fmt.Sprintf("twin-%02d", i))
		twins = append(twins, d)
		// The same delivery to both instances at the same moment.
		postAll(t, []signedDelivery{d, d}, both, http.StatusOK, "forwarded")
	}
	if n := red.Calls(reditus.CallTrack); n != rounds {
		t.Errorf("%d deliveries, each sent to both instances at once: %d Reditus calls, want %d", rounds, n, rounds)
	}
	checkOnce(t, red, twins)

	// An outage: 20 events queued, half on each instance.
	red.down.Store(true)
	var queued []signedDelivery
	for i := range 20 {
		queued = append(queued, stripeSignup(fmt.Sprintf("queued-%02d", i)))
	}
	postAll(t, queued, both, http.StatusAccepted, "queued")
	// Back, but slow: a worker's batch takes long enough that the other's
	// poll comes while it is held, and both take part.
	red.slow.Store(int64(time.Second))
	red.down.Store(false)

	store := openSharedJournal(t, journal.Options{DatabaseURL: url})
	took := waitFor(t, 45*time.Second, "the queued events delivered", func() bool {
		got := outcomes(t, store)
		return got["forwarded"] == rounds+len(queued)
	})
	one.stop(t)
	two.stop(t)
	checkOnce(t, red, append(twins, queued...))
	t.Logf("%d twin deliveries: %d Reditus calls; %d queued across both instances: delivered %v after Reditus came back, each created once, by the workers %d and %d",
		rounds, rounds, len(queued), took.Round(100*time.Millisecond), redelivered(one), redelivered(two))
}
