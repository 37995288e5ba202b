package e2e

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/getreditus/reditus-bridge/internal/fakereditus"
	"github.com/getreditus/reditus-bridge/internal/webhooktest"
	"github.com/getreditus/reditus-bridge/journal"
	"github.com/getreditus/reditus-bridge/reditus"
)

// A crash, a restart and SIGTERM: what the bridge answered, it keeps; what
// it queued, it delivers once; what is in flight at SIGTERM gets its answer.

// Reditus is down while 50 signups arrive (25 from Stripe, 25 from Supabase,
// whose sender never retries); each is answered 202 queued. The bridge is
// killed with SIGKILL, Reditus comes back, and the bridge is started again
// on the same DATA_DIR: each of the 50 reaches Reditus exactly once.
func TestQueuedEventsSurviveAKill(t *testing.T) {
	red := newReditus(t)
	red.set(down)
	dataDir := t.TempDir()
	var ds []delivery
	for i := range 25 {
		ds = append(ds, stripeSignup(fmt.Sprintf("crash-stripe-%02d", i)), supabaseSignup(i, fmt.Sprintf("crash-supabase-%02d", i)))
	}

	first := start(t, liveEnv(red, "DATA_DIR="+dataDir)...)
	deliverAll(t, ds, func(int) *bridge { return first }, "202 queued")
	first.kill(t)

	// What the dead bridge left: every event, queued. A record pending
	// instead was being redelivered (Reditus still down) at the kill, and is
	// due again when its lease ends. The restart waits until every record
	// is due, so that it is the worker's first poll, at start, that finds
	// them all.
	store := webhooktest.OpenStore(t, journal.Options{DataDir: dataDir})
	left, due := map[string]int{}, time.Time{}
	for _, r := range records(t, store) {
		left[string(r.Outcome)]++
		if r.NextAttemptAt.After(due) {
			due = r.NextAttemptAt
		}
	}
	if left["queued"]+left["pending"] != len(ds) || len(left) > 2 {
		t.Fatalf("after kill -9 the journal holds %v, want %d queued", left, len(ds))
	}
	if left["pending"] > 0 {
		t.Logf("%d records were held by the killed bridge's worker; waiting out their lease", left["pending"])
	}
	_ = store.Close()
	time.Sleep(time.Until(due))

	red.set(up)
	callsBefore := red.Requests()
	second := first.restart(t)
	took := waitFor(t, 30*time.Second, "all 50 delivered after the restart", func() bool { return len(red.Created()) >= len(ds) })
	second.stop(t) // the worker finishes what it has begun; nothing is left to send
	red.createdOnce(t, ds)

	store = webhooktest.OpenStore(t, journal.Options{DataDir: dataDir})
	if got := outcomes(t, store); got["forwarded"] != len(ds) || len(got) != 1 {
		t.Errorf("the journal holds %v, want %d forwarded", got, len(ds))
	}
	t.Logf("%d events queued, killed, restarted once all were due: all delivered %v after the restart, in %d Reditus calls, each created once",
		len(ds), took.Round(100*time.Millisecond), red.Requests()-callsBefore)
}

// kill -9 while a delivery is inside Reditus: its record stays pending
// under its lease. After a restart the worker delivers it once the lease
// has run out (a minute; the test moves the lease's end instead of waiting),
// and the sender's own re-send is answered from the record.
func TestADeliveryCutByAKillIsDeliveredOnceAfterARestart(t *testing.T) {
	red := newReditus(t, fakereditus.Conflicts())
	gate := fakereditus.NewGate(1, red.Reditus)
	red.Respond(reditus.CallTrack, gate.Respond)
	defer gate.Release()
	dir := t.TempDir()
	p := start(t, liveEnv(red, "DATA_DIR="+dir)...)
	kill := signup("kill")
	req := p.signed(t, kill.provider, genericSecret, kill.id, kill.body, time.Now())
	go func() { // its answer never comes
		if resp, err := client.Do(req); err == nil {
			resp.Body.Close()
		}
	}()
	select {
	case <-gate.Held():
	case <-time.After(20 * time.Second):
		t.Fatal("the delivery never reached Reditus")
	}
	p.kill(t)
	// Not released: the held call's client is gone, and the gate drops it
	// once Reditus notices. Releasing it here could let it through first,
	// and the worker's delivery would then be the duplicate.

	db := journalDB(t, dir)
	var outcome, next string
	if err := db.QueryRow(`SELECT outcome, next_attempt_at FROM journal WHERE delivery_id = 'msg_kill'`).Scan(&outcome, &next); err != nil {
		t.Fatal(err)
	}
	leaseEnd, err := time.Parse(sqliteTime, next)
	if outcome != "pending" || err != nil || time.Until(leaseEnd) < 30*time.Second {
		t.Fatalf("after kill -9 the record is %s until %s (%v), want pending under a lease of about a minute", outcome, next, err)
	}
	if _, err := db.Exec(`UPDATE journal SET next_attempt_at = ? WHERE delivery_id = 'msg_kill'`, time.Now().Add(-time.Second).UTC().Format(sqliteTime)); err != nil {
		t.Fatal(err)
	}

	p = p.restart(t)
	waitFor(t, 10*time.Second, "the worker delivers the crashed delivery", func() bool { return red.created(kill.email) == 1 })
	expect(t, p, kill, "200 forwarded") // the sender's re-send, from the record
	p.stop(t)                           // the worker's deliveries end with it
	if got, want := red.Calls(reditus.CallTrack), 2; got != want {
		t.Errorf("Reditus got %d calls, want %d: the one cut by kill -9, and the worker's", got, want)
	}
	if got := len(red.Created()); got != 1 {
		t.Errorf("Reditus created %d conversions, want 1", got)
	}
}

// A restart in dry run leaves the queue alone: 10 signups answered 202
// queued while Reditus is down wait, still queued, through a DRY_RUN=true
// run that lasts past its first poll (their senders were told 202 and will
// not re-send them), and a re-sent one is answered from its record. Back
// live, each reaches Reditus once.
func TestADryRunRestartLeavesTheQueueForALiveStart(t *testing.T) {
	red := newReditus(t, fakereditus.Conflicts())
	red.set(down)
	dir := t.TempDir()
	ds := signups("dry", 10)
	live := start(t, liveEnv(red, "DATA_DIR="+dir)...)
	deliverAll(t, ds, func(int) *bridge { return live }, "202 queued")
	live.stop(t)
	calls := red.Requests()

	red.set(up)
	dry := start(t, liveEnv(red, "DATA_DIR="+dir, "DRY_RUN=true")...)
	// Past the first retry (journal.FirstRetry) and a poll (2 s) after it:
	// a worker would have taken every one by now.
	time.Sleep(journal.FirstRetry + 3*time.Second)
	expect(t, dry, ds[0], "202 queued") // a re-send, answered from its record
	if got := dry.events(t, "limit=1000"); len(got) != len(ds) || countOutcome(got, "queued") != len(ds) {
		t.Errorf("after the dry run's first polls the journal holds %v, want %d queued", got, len(ds))
	}
	// check says how many wait, and that a dry run delivers none of them.
	if stdout, stderr, code := runCommand(t, dry.env, "check"); code != 0 ||
		!strings.Contains(stdout, "queue:     10 events wait (10 queued, 0 pending): in dry run nothing delivers them; they wait for a live start") {
		t.Errorf("check: exit %d, want it to say 10 events wait for a live start:\n%s%s", code, stdout, stderr)
	}
	dry.stop(t)
	if n := red.Requests() - calls; n != 0 {
		t.Errorf("Reditus got %d requests during the dry run, want 0", n)
	}
	var worker any
	for _, line := range dry.lines() {
		if line["msg"] == "listening" {
			worker = line["worker"]
		}
	}
	if w, _ := worker.(string); !strings.Contains(w, "off") || !strings.Contains(w, "dry run") {
		t.Errorf("the dry run's listening line says worker %v, want it off for the dry run", worker)
	}

	again := start(t, liveEnv(red, "DATA_DIR="+dir)...)
	waitFor(t, 30*time.Second, "the queue delivered after the live start", func() bool { return len(red.Created()) >= len(ds) })
	again.stop(t)
	red.createdOnce(t, ds)
}

// countOutcome counts the events of evs that ended o.
func countOutcome(evs []adminEvent, o string) int {
	n := 0
	for _, e := range evs {
		if e.Outcome == o {
			n++
		}
	}
	return n
}

// signups are n referred signups to the generic endpoint, prefix0 on.
func signups(prefix string, n int) []delivery {
	var ds []delivery
	for i := range n {
		ds = append(ds, signup(fmt.Sprintf("%s%d", prefix, i)))
	}
	return ds
}

// behindALock starts a bridge and sends it n referred signups; once each
// has reached Reditus (and so its claim is committed), another process takes
// bridge.db's write lock, as a second instance on the volume would, and only
// then are they let through: every outcome waits for the lock. It returns
// the fake Reditus, the bridge, its DATA_DIR, the connection that holds the
// lock (in a transaction), and a channel closed once every signup has been
// answered (200 forwarded, or the test fails).
func behindALock(t *testing.T, prefix string, n int) (*fakeReditus, *bridge, string, *sql.Conn, <-chan struct{}) {
	t.Helper()
	red := newReditus(t, fakereditus.Conflicts())
	gate := fakereditus.NewGate(n, red.Reditus)
	red.Respond(reditus.CallTrack, gate.Respond)
	t.Cleanup(gate.Release)
	dir := t.TempDir()
	p := start(t, liveEnv(red, "DATA_DIR="+dir)...)
	answered := make(chan struct{})
	go func() {
		defer close(answered)
		deliverAll(t, signups(prefix, n), func(int) *bridge { return p }, "200 forwarded")
	}()
	select {
	case <-gate.Held():
	case <-time.After(20 * time.Second):
		t.Fatal("the deliveries never reached Reditus")
	}
	lock, err := journalDB(t, dir).Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lock.ExecContext(context.Background(), `BEGIN IMMEDIATE`); err != nil {
		t.Fatal(err)
	}
	gate.Release()
	return red, p, dir, lock, answered
}

// A SIGTERM right after a burst of answers: every outcome answered is in the
// journal once the bridge has exited, so that no answered delivery is left
// pending (a pending one would be sent to Reditus again by the next start's
// worker).
func TestEveryAnsweredOutcomeIsJournaledWhenTheBridgeExits(t *testing.T) {
	red := newReditus(t, fakereditus.Conflicts())
	dir := t.TempDir()
	p := start(t, liveEnv(red, "DATA_DIR="+dir)...)
	const n = 200
	deliverAll(t, signups("term", n), func(int) *bridge { return p }, "200 forwarded")
	p.stop(t)

	rows, err := journalDB(t, dir).Query(`SELECT outcome, COUNT(*) FROM journal GROUP BY outcome`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	got := map[string]int{}
	for rows.Next() {
		var o string
		var c int
		if err := rows.Scan(&o, &c); err != nil {
			t.Fatal(err)
		}
		got[o] = c
	}
	if got["forwarded"] != n || len(got) != 1 {
		t.Errorf("after SIGTERM the journal holds %v, want %d forwarded and nothing else", got, n)
	}
}

// kill -9 right after answers whose outcomes could not be written yet (held
// here by a second process on bridge.db that keeps SQLite's write lock, as
// another instance on the same volume would): their records stay pending;
// once the lease ends the next start's worker takes them, Reditus answers
// 409, and each ends duplicate or forwarded: no conversion is created twice,
// and none stays pending.
func TestAKillAfterAnswersCreatesNoConversionTwice(t *testing.T) {
	const n = 20
	red, p, dir, lock, answered := behindALock(t, "crash", n)
	<-answered
	db := journalDB(t, dir)
	ctx := context.Background()
	p.kill(t)
	if _, err := lock.ExecContext(ctx, `ROLLBACK`); err != nil {
		t.Fatal(err)
	}
	lock.Close()

	var pending int
	if err := db.QueryRow(`SELECT COUNT(*) FROM journal WHERE outcome = 'pending'`).Scan(&pending); err != nil {
		t.Fatal(err)
	}
	if pending != n {
		t.Fatalf("kill -9 after %d answers whose outcomes were queued left %d pending, want %d", n, pending, n)
	}
	// The lease of the crashed instance ends now rather than in a minute.
	if _, err := db.Exec(`UPDATE journal SET next_attempt_at = ? WHERE outcome = 'pending'`, time.Now().Add(-time.Second).UTC().Format(sqliteTime)); err != nil {
		t.Fatal(err)
	}
	p = p.restart(t)
	waitFor(t, 30*time.Second, "the worker settles every pending record", func() bool {
		var left int
		if err := db.QueryRow(`SELECT COUNT(*) FROM journal WHERE outcome IN ('pending', 'queued')`).Scan(&left); err != nil {
			t.Fatal(err)
		}
		return left == 0
	})
	p.stop(t)
	for _, d := range signups("crash", n) {
		if got := red.created(d.email); got != 1 {
			t.Errorf("%s: Reditus created %d conversions, want 1", d.email, got)
		}
	}
	rows, err := db.Query(`SELECT delivery_id, outcome FROM journal WHERE outcome NOT IN ('forwarded', 'duplicate')`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var id, o string
		if err := rows.Scan(&id, &o); err != nil {
			t.Fatal(err)
		}
		t.Errorf("%s ends %s, want forwarded or duplicate", id, o)
	}
}

// SIGTERM while outcomes wait for the writer (a second process on bridge.db
// holds its write lock for a moment): the bridge waits for them on its way
// out, every webhook is answered, and every outcome is in the file once it
// exits.
func TestSIGTERMWaitsForOutcomesHeldByAnotherWriter(t *testing.T) {
	const n = 20
	_, p, dir, lock, answered := behindALock(t, "held", n)
	db := journalDB(t, dir)
	ctx := context.Background()
	time.AfterFunc(time.Second, func() {
		_, _ = lock.ExecContext(ctx, `ROLLBACK`)
		lock.Close()
	})
	p.stop(t)
	<-answered

	var forwarded int
	if err := db.QueryRow(`SELECT COUNT(*) FROM journal WHERE outcome = 'forwarded'`).Scan(&forwarded); err != nil {
		t.Fatal(err)
	}
	if forwarded != n {
		t.Errorf("after SIGTERM with %d answered outcomes queued the journal holds %d forwarded, want %d", n, forwarded, n)
	}
}

// SIGTERM under load: every webhook in flight finishes with its real answer,
// new connections are refused, not accepted and dropped, and the bridge
// exits cleanly, its last log line saying so.
func TestSIGTERMFinishesEveryWebhookInFlightAndRefusesNewConnections(t *testing.T) {
	const inFlight = 40
	red := newReditus(t)
	gate := fakereditus.NewGate(inFlight, red.Reditus) // later conversions are answered at once
	red.Respond(reditus.CallTrack, gate.Respond)
	defer gate.Release()
	p := start(t, "REDITUS_API_KEY="+apiKey, "REDITUS_API_URL="+red.BaseURL, "STRIPE_WEBHOOK_SECRET="+stripeSecret)
	// A connection of its own for each webhook, as from many senders.
	noKeepAlive := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 30 * time.Second}
	send := func(i int) (*http.Response, error) {
		body := []byte(fmt.Sprintf(`{"id":"evt_shut_%d","type":"customer.created","livemode":true,
			"data":{"object":{"id":"cus_%d","email":"s%d@example.com","metadata":{"red":"john"}}}}`, i, i, i))
		return noKeepAlive.Do(p.signed(t, "stripe", stripeSecret, "", body, time.Now()))
	}

	type result struct {
		status  int
		outcome string
		err     error
	}
	results := make(chan result, inFlight)
	for i := range inFlight {
		go func() {
			resp, err := send(i)
			if err != nil {
				results <- result{err: err}
				return
			}
			defer resp.Body.Close()
			var a answer
			err = json.NewDecoder(resp.Body).Decode(&a)
			results <- result{resp.StatusCode, a.Outcome, err}
		}()
	}
	select {
	case <-gate.Held(): // every webhook is now inside Reditus
	case <-time.After(20 * time.Second):
		t.Fatal("the webhooks never reached Reditus")
	}

	p.signal(t, syscall.SIGTERM)
	// Once the bridge says it is shutting down, its listener closes: a new
	// connection is refused. One accepted in the instant before must still be
	// answered in full.
	p.shuttingDown(t)
	refused := false
	for probe := inFlight; probe < inFlight+500 && !refused; probe++ {
		resp, err := send(probe)
		switch {
		case errors.Is(err, syscall.ECONNREFUSED) || resetWhileDialing(err):
			refused = true
		case err != nil:
			t.Errorf("a connection after SIGTERM failed half-way: %v", err)
		default:
			if resp.StatusCode != http.StatusOK {
				t.Errorf("a request accepted just before the listener closed got %d", resp.StatusCode)
			}
			resp.Body.Close()
			time.Sleep(5 * time.Millisecond)
		}
	}
	if !refused {
		t.Error("new connections were never refused after SIGTERM")
	}
	gate.Release()

	for range inFlight {
		r := <-results
		if r.err != nil || r.status != http.StatusOK || r.outcome != "forwarded" {
			t.Errorf("in-flight webhook: %d %q, %v; want 200 forwarded", r.status, r.outcome, r.err)
		}
	}
	p.exited(t)
	if _, err := http.Get(p.base + "/healthz"); err == nil {
		t.Error("the bridge still answers after it exited")
	}
	if lines := p.lines(); lines[len(lines)-1]["msg"] != "stopped" {
		t.Errorf("last log line %v, want stopped", lines[len(lines)-1])
	}
}

// SIGTERM while a client trickles a body: the read is cut off with 503 retry,
// a webhook already inside Reditus still gets 200 forwarded, and the process
// exits 0 well within its grace instead of waiting out ReadTimeout.
func TestSIGTERMCutsOffATrickledBodyWithRetry(t *testing.T) {
	red := newReditus(t)
	gate := fakereditus.NewGate(1, red.Reditus)
	red.Respond(reditus.CallTrack, gate.Respond)
	defer gate.Release()
	p := start(t, "REDITUS_API_KEY="+apiKey, "REDITUS_API_URL="+red.BaseURL, "STRIPE_WEBHOOK_SECRET="+stripeSecret)

	trickler := hold(t, strings.TrimPrefix(p.base, "http://"),
		"POST /webhooks/stripe HTTP/1.1\r\nHost: bridge\r\nContent-Length: 4096\r\n\r\n", []byte(`{"id":`))
	go func() {
		<-trickler.written
		for range 4096 {
			if _, err := trickler.conn.Write([]byte(" ")); err != nil {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
	}()
	waitFor(t, 10*time.Second, "the trickled request reaches the webhook handler", func() bool {
		return p.metric(t, "reditus_bridge_webhooks_in_flight") >= 1
	})

	inFlight := make(chan answer, 1)
	go func() { inFlight <- p.deliver(t, stripeSignup("in_flight")) }()
	select {
	case <-gate.Held(): // inside Reditus, while the trickled body is still being read
	case <-time.After(10 * time.Second):
		t.Fatal("the webhook never reached Reditus")
	}

	p.signal(t, syscall.SIGTERM)
	signalled := time.Now()
	grace := p.shuttingDown(t)
	select {
	case a := <-trickler.answer:
		if a.status != http.StatusServiceUnavailable || !strings.Contains(a.body, `"outcome":"retry"`) {
			t.Errorf("trickled body at shutdown: %d %s (%v), want 503 retry", a.status, a.body, a.err)
		}
	case <-time.After(grace/2 - time.Since(signalled)):
		t.Errorf("the trickled body got no answer within %v of SIGTERM", grace/2)
	}
	gate.Release()
	if a := <-inFlight; a.String() != "200 forwarded" {
		t.Errorf("webhook in flight at SIGTERM: %s, want 200 forwarded", a)
	}
	select {
	case err := <-p.done:
		if err != nil {
			t.Errorf("exit after SIGTERM: %v, want 0", err)
		}
		t.Logf("exited %v after SIGTERM", time.Since(signalled).Round(time.Millisecond))
	case <-time.After(grace + 5*time.Second):
		t.Fatal("the bridge did not exit")
	}
}

// resetWhileDialing reports whether err is a connection reset before any
// byte of the request was written: the kernel had completed the handshake
// into the listener's backlog when the listener closed. Like a refusal, the
// sender learns at once that nothing was received, and retries.
func resetWhileDialing(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial" && errors.Is(err, syscall.ECONNRESET)
}
