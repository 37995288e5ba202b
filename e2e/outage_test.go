package e2e

import (
	"fmt"
	"sync"
	"testing"
	"time"
)

// A Reditus outage against the running binary: the breaker opens, so that a
// burst of webhooks is journaled and answered 202 queued at once while
// Reditus hears a few calls (the first attempts, which opened it, and one
// probe every few seconds) instead of four per webhook; once Reditus is back,
// a probe closes the breaker and the worker delivers each queued event once.
func TestAnOutageOpensTheBreakerAndRecoveryDeliversEachOnce(t *testing.T) {
	red := newReditus(t)
	red.set(down)
	p := start(t, liveEnv(red)...)
	var ds []delivery
	for i := range 300 {
		ds = append(ds, signup(fmt.Sprintf("outage-%03d", i)))
	}

	began := time.Now()
	sendFrom(t, 16, p, ds, "202 queued")
	calls, took := red.Requests(), time.Since(began)
	// Without the breaker each webhook made 4 attempts: 1,200 calls. With
	// it, the concurrent first attempts open it, and then one probe goes
	// every 2 s.
	if limit := 40 + int(took/(2*time.Second)); calls > limit {
		t.Errorf("%d webhooks in %v during an outage made %d Reditus calls, want at most %d", len(ds), took.Round(time.Millisecond), calls, limit)
	}
	if !p.logged("reditus: breaker open: webhooks are queued without calling Reditus, and one call probes it every few seconds") {
		t.Error("no log line says the breaker opened")
	}
	if open := p.metric(t, `reditus_bridge_reditus_breaker{state="open"}`) + p.metric(t, `reditus_bridge_reditus_breaker{state="half_open"}`); open != 1 {
		t.Errorf("reditus_bridge_reditus_breaker shows open or half_open %d, want 1", open)
	}

	// While it stays down, Reditus hears only the probes: the worker's, one
	// every 2 s once the queued events are due (their first retry, 5 s).
	time.Sleep(8 * time.Second)
	if probes := red.Requests() - calls; probes < 1 || probes > 5 {
		t.Errorf("%d Reditus calls in 8 s of an open breaker, want a probe every 2 s once the queue is due", probes)
	}

	red.set(up)
	back := time.Now()
	waitFor(t, 30*time.Second, "every queued event delivered", func() bool { return len(red.Created()) >= len(ds) })
	drained := time.Since(back)
	time.Sleep(3 * time.Second) // a second copy would be sent within the worker's next polls
	red.createdOnce(t, ds)
	if closed := p.metric(t, `reditus_bridge_reditus_breaker{state="closed"}`); closed != 1 {
		t.Errorf("reditus_bridge_reditus_breaker{state=\"closed\"} %d after recovery, want 1", closed)
	}
	if !p.logged("reditus: breaker closed: Reditus answers again, and the queue drains") {
		t.Error("no log line says the breaker closed")
	}
	expect(t, p, signup("after"), "200 forwarded")
	p.stop(t)
	t.Logf("%d webhooks answered 202 in %v with %d Reditus calls; all delivered %v after Reditus came back",
		len(ds), took.Round(time.Millisecond), calls, drained.Round(100*time.Millisecond))
}

// sendFrom delivers ds to p from senders concurrent senders, and fails t
// unless each is answered want.
func sendFrom(t *testing.T, senders int, p *bridge, ds []delivery, want string) {
	t.Helper()
	next := make(chan delivery)
	var wg sync.WaitGroup
	for range senders {
		wg.Go(func() {
			for d := range next {
				expect(t, p, d, want)
			}
		})
	}
	for _, d := range ds {
		next <- d
	}
	close(next)
	wg.Wait()
}
