package e2e

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/getreditus/reditus-bridge/internal/testenv"
	"github.com/getreditus/reditus-bridge/internal/webhooktest"
	"github.com/getreditus/reditus-bridge/journal"
	"github.com/getreditus/reditus-bridge/reditus"
)

// Several bridges on one journal share its dedupe and its queue: whichever
// instance a delivery reaches, and however many, Reditus hears of it once.

// Two bridges on one Postgres, as two Fly machines behind one address: a
// delivery that reaches both at the same moment makes one Reditus call and
// is answered 200 by both; events queued on either during an outage are
// each delivered once, with both workers taking part.
func TestInstancesOnOnePostgresSendEachEventOnce(t *testing.T) {
	url := testenv.Postgres(t)
	red := newReditus(t)
	env := liveEnv(red, "DATABASE_URL="+url)
	one, two := start(t, env...), start(t, env...)
	for _, p := range []*bridge{one, two} {
		if !slices.ContainsFunc(p.lines(), func(l map[string]any) bool {
			kind, _ := l["journal"].(string)
			return l["msg"] == "listening" && strings.HasPrefix(kind, "postgres")
		}) {
			t.Fatalf("a bridge does not keep its journal in Postgres: %v", p.lines())
		}
	}
	both := func(i int) *bridge { return []*bridge{one, two}[i%2] }

	// Each call takes long enough that the twin arrives while the first copy
	// is inside Reditus.
	red.delay.Store(int64(100 * time.Millisecond))
	const rounds = 20
	var twins []delivery
	for i := range rounds {
		d := stripeSignup(fmt.Sprintf("twin-%02d", i))
		twins = append(twins, d)
		// The same delivery to both instances at the same moment.
		deliverAll(t, []delivery{d, d}, both, "200 forwarded")
	}
	if n := red.Calls(reditus.CallTrack); n != rounds {
		t.Errorf("%d deliveries, each sent to both instances at once: %d Reditus calls, want %d", rounds, n, rounds)
	}
	red.createdOnce(t, twins)

	// An outage: 20 events queued, half on each instance.
	red.set(down)
	var queued []delivery
	for i := range 20 {
		queued = append(queued, stripeSignup(fmt.Sprintf("queued-%02d", i)))
	}
	deliverAll(t, queued, both, "202 queued")
	// Back, but slow: a worker's batch takes long enough that the other's
	// poll comes while it is held, and both take part.
	red.delay.Store(int64(time.Second))
	red.set(up)

	store := webhooktest.OpenStore(t, journal.Options{DatabaseURL: url})
	took := waitFor(t, 45*time.Second, "the queued events delivered", func() bool {
		return outcomes(t, store)["forwarded"] == rounds+len(queued)
	})
	one.stop(t)
	two.stop(t)
	red.createdOnce(t, append(twins, queued...))
	t.Logf("%d twin deliveries: %d Reditus calls; %d queued across both instances: delivered %v after Reditus came back, each created once, by the workers %d and %d",
		rounds, rounds, len(queued), took.Round(100*time.Millisecond), redelivered(one), redelivered(two))
}

// redelivered counts the queued events p's worker delivered: their second
// log line, the first being the webhook's queued.
func redelivered(p *bridge) int {
	n := 0
	for _, l := range p.lines() {
		if id, _ := l["event_id"].(string); l["msg"] == "webhook" && l["outcome"] == "forwarded" && strings.HasPrefix(id, "evt_queued-") {
			n++
		}
	}
	return n
}

// Two bridges on one SQLite file (a second process on the same volume):
// SQLite's locks make them share dedupe and queue as Postgres does. The
// same delivery sent to both at once reaches Reditus once, and queued
// events are each delivered once; the events command reads the journal
// meanwhile.
func TestInstancesOnOneSQLiteFileSendEachEventOnce(t *testing.T) {
	red := newReditus(t)
	red.delay.Store(int64(100 * time.Millisecond))
	dir := t.TempDir()
	a := start(t, liveEnv(red, "DATA_DIR="+dir)...)
	b := start(t, liveEnv(red, "DATA_DIR="+dir)...)
	either := func(i int) *bridge { return []*bridge{a, b}[i%2] }

	red.set(down)
	queued := signups("queued", 10)
	deliverAll(t, queued, either, "202 queued")
	red.set(up)
	twins := signups("both", 10)
	for _, d := range twins {
		deliverAll(t, []delivery{d, d}, either, "200 forwarded")
	}
	waitFor(t, 30*time.Second, "the queued events delivered", func() bool { return len(red.Created()) == 20 })
	stdout, stderr, code := runCommand(t, []string{"DATA_DIR=" + dir}, "events", "--limit", "1000")
	if code != 0 || strings.Count(stdout, "generic ") != 20 {
		t.Errorf("events beside two bridges: exit %d, %d events\n%s%s", code, strings.Count(stdout, "generic "), stdout, stderr)
	}
	a.stop(t)
	b.stop(t)
	red.createdOnce(t, append(queued, twins...))
}
