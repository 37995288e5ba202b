package pipeline

import (
	"context"
	"errors"
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

// A journal that stalls holds no webhook past the pipeline's bound on a
// journal call (storeWait): the webhook goes on as without a journal, and
// what the stalled write does when it lands later is harmless.

// stalling is a journal whose Begin or Finish is not written until the
// test releases it, or SQLite's busy timeout (10 s) passes: SQLite behind
// another process's write lock, or inside an fsync on a frozen volume. Like
// journal.DB's writer there, the call returns at its context's end; the
// write it began lands once released, the harder case (journal.DB's writer
// gives it up when every caller in its transaction has gone, unless it has
// committed).
type stalling struct {
	webhooktest.Store
	begin, finish *gate // nil: not stalled
	// ahead stalls the order check, a read the writer does not carry,
	// deaf to its context: SQLite inside a read from a frozen volume.
	ahead *gate
}

func (s *stalling) Ahead(ctx context.Context, r journal.Record) (journal.Record, bool, error) {
	if s.ahead != nil {
		<-s.ahead.open
	}
	return s.Store.Ahead(ctx, r)
}

type gate struct {
	once sync.Once
	open chan struct{}
}

func newGate() *gate {
	g := &gate{open: make(chan struct{})}
	time.AfterFunc(10*time.Second, g.release)
	return g
}

func (g *gate) release() { g.once.Do(func() { close(g.open) }) }

// stall makes write once g is released, and returns its answer, or ctx's
// error if ctx ends first.
func stall[T any](ctx context.Context, g *gate, write func(context.Context) (T, error)) (T, error) {
	if g == nil {
		return write(ctx)
	}
	type answer struct {
		v   T
		err error
	}
	done := make(chan answer, 1)
	go func() {
		<-g.open
		v, err := write(context.WithoutCancel(ctx))
		done <- answer{v, err}
	}()
	select {
	case a := <-done:
		return a.v, a.err
	case <-ctx.Done():
		var zero T
		return zero, ctx.Err()
	}
}

func (s *stalling) Begin(ctx context.Context, r journal.Record, lease time.Duration) (journal.Record, bool, error) {
	type claim struct {
		rec  journal.Record
		mine bool
	}
	c, err := stall(ctx, s.begin, func(ctx context.Context) (claim, error) {
		rec, mine, err := s.Store.Begin(ctx, r, lease)
		return claim{rec, mine}, err
	})
	return c.rec, c.mine, err
}

func (s *stalling) Finish(ctx context.Context, id int64, f journal.Finish) error {
	_, err := stall(ctx, s.finish, func(ctx context.Context) (struct{}, error) {
		return struct{}{}, s.Store.Finish(ctx, id, f)
	})
	return err
}

// answeredWithin runs w through b and fails t unless it is answered want
// within the bound and a second.
func answeredWithin(t *testing.T, b *bridge, w webhook, status int, want string) {
	t.Helper()
	start := time.Now()
	b.do(t, w).Is(t, status, want)
	if took := time.Since(start); took > storeWait+time.Second {
		t.Errorf("answered after %v, want within %v", took.Round(time.Millisecond), storeWait+time.Second)
	}
}

// A claim that cannot be written in time: the webhook is forwarded as
// without a journal (or answered 503 when Reditus fails, never 202), within
// the bound. The claim lands later as a pending record, which the worker
// takes when its lease ends: Reditus answers it 409, and holds the
// conversion once.
func TestAStalledClaimHoldsNoWebhookPastTheBound(t *testing.T) {
	ctx := context.Background()
	store := webhooktest.OpenStore(t, journal.Options{DataDir: t.TempDir()})
	stalled := &stalling{Store: store, begin: newGate()}
	defer stalled.begin.release()
	red := fakereditus.New(t, fakereditus.WithKey(apiKey), fakereditus.Conflicts())
	b := journaledBridge(t, red, stalled, nil)

	answeredWithin(t, b, stripeWebhook(customerCreated("evt_stall_up", "up@example.com"), stripeSecret, time.Now()), http.StatusOK, "forwarded")
	red.Respond(reditus.CallTrack, fakereditus.Status(http.StatusServiceUnavailable, ``))
	answeredWithin(t, b, stripeWebhook(customerCreated("evt_stall_down", "down@example.com"), stripeSecret, time.Now()), http.StatusServiceUnavailable, "retry")
	red.Respond(reditus.CallTrack, nil)

	stalled.begin.release()
	var recs []journal.Record
	for deadline := time.Now().Add(5 * time.Second); len(recs) < 2; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the stalled claims never landed: %+v", recs)
		}
		recs, _ = store.List(ctx, journal.Filter{Outcome: journal.Pending})
	}
	due, err := store.Due(ctx, time.Now().Add(lease+time.Second), time.Minute, 10)
	if err != nil || len(due) != 2 {
		t.Fatalf("Due after the lease: %d records, %v; want the 2 late claims", len(due), err)
	}
	for _, rec := range due {
		f := b.pipeline.Redeliver(ctx, rec)
		if f.Outcome != "duplicate" && f.Outcome != "forwarded" {
			t.Errorf("%s redelivered: %+v, want duplicate or forwarded", rec.DeliveryID, f)
		}
	}
	for _, email := range []string{"up@example.com", "down@example.com"} {
		n := 0
		for _, c := range red.Created() {
			if c.Email == email {
				n++
			}
		}
		if n != 1 {
			t.Errorf("%s: Reditus holds %d conversions, want 1", email, n)
		}
	}
}

// An outcome that cannot be written in time is never answered 202 queued:
// queued promises a record that is committed. The sender is answered 503
// within the bound; the write lands later, and the sender's retry is then
// answered from the record, queued, without a call to Reditus.
func TestAStalledFinishNeverAnswersQueued(t *testing.T) {
	store := webhooktest.OpenStore(t, journal.Options{DataDir: t.TempDir()})
	stalled := &stalling{Store: store, finish: newGate()}
	defer stalled.finish.release()
	red := fakereditus.New(t, fakereditus.WithKey(apiKey))
	red.Respond(reditus.CallTrack, fakereditus.Status(http.StatusServiceUnavailable, ``))
	b := journaledBridge(t, red, stalled, nil)
	body := customerCreated("evt_stall_finish", "finish@example.com")

	answeredWithin(t, b, stripeWebhook(body, stripeSecret, time.Now()), http.StatusServiceUnavailable, "retry")
	stalled.finish.release()
	for deadline := time.Now().Add(5 * time.Second); webhooktest.RecordOf(t, store, "evt_stall_finish").Outcome != journal.Queued; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the stalled outcome never landed")
		}
	}
	calls := red.Calls(reditus.CallTrack)
	b.do(t, stripeWebhook(body, stripeSecret, time.Now())).Is(t, http.StatusAccepted, "queued")
	if n := red.Calls(reditus.CallTrack) - calls; n != 0 {
		t.Errorf("the retry made %d Reditus calls, want 0: the worker owns the record", n)
	}
}

// A read the journal's writer does not carry (a money event's order check)
// that SQLite cannot be interrupted in holds no webhook past the bound: the
// payment goes on as if nothing were ahead of it.
func TestAStalledOrderCheckHoldsNoWebhookPastTheBound(t *testing.T) {
	store := webhooktest.OpenStore(t, journal.Options{DataDir: t.TempDir()})
	stalled := &stalling{Store: store, ahead: newGate()}
	defer stalled.ahead.release()
	red := fakereditus.New(t, fakereditus.WithKey(apiKey))
	b := journaledBridge(t, red, stalled, nil)
	answeredWithin(t, b, signedAs(t, "lemonsqueezy", "", webhooktest.Fixture(t, "lemonsqueezy/order_created.json")), http.StatusOK, "forwarded")
}

// A journal call whose caller leaves first (the sender hung up) reports
// the caller's context, not a journal that did not answer in time: the log
// line and the alert say which.
func TestACallerWhoLeavesIsNotAStalledJournal(t *testing.T) {
	for name, call := range map[string]func(context.Context, func(context.Context) (int, error)) (int, error){
		"bounded": bounded[int], "detached": detached[int],
	} {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			time.AfterFunc(20*time.Millisecond, cancel)
			_, err := call(ctx, func(ctx context.Context) (int, error) {
				<-ctx.Done()
				return 0, ctx.Err()
			})
			if !errors.Is(err, context.Canceled) || errors.Is(err, errStalled) {
				t.Errorf("err = %v, want the caller's context.Canceled", err)
			}
		})
	}
}

// A sender who hangs up while its claim waits for a stalled journal is not
// the journal failing: nothing reports journal_unavailable, and no journal
// error is counted, while a claim that runs out the bound is both.
func TestASenderWhoHangsUpRaisesNoJournalAlert(t *testing.T) {
	for _, tt := range []struct {
		name   string
		hangUp bool
		alerts int
	}{{"the sender hangs up", true, 0}, {"the bound passes", false, 1}} {
		t.Run(tt.name, func(t *testing.T) {
			store := webhooktest.OpenStore(t, journal.Options{DataDir: t.TempDir()})
			stalled := &stalling{Store: store, begin: newGate()}
			defer stalled.begin.release()
			heard := &reports{}
			b := &bridge{reditus: fakereditus.New(t, fakereditus.WithKey(apiKey)), metrics: metrics.New()}
			b.start(t, nil, Deps{Alerter: heard, Journal: stalled})
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if tt.hangUp {
				time.AfterFunc(50*time.Millisecond, cancel)
			}
			w := stripeWebhook(customerCreated("evt_hangup", "hangup@example.com"), stripeSecret, time.Now())
			b.doWithin(ctx, w)
			n := 0
			for _, k := range heard.kinds() {
				if k == string(alert.JournalUnavailable) {
					n++
				}
			}
			counted := strings.Contains(scrape(t, b), `reditus_bridge_journal_errors_total{op="begin"} 1`)
			if n != tt.alerts || counted != (tt.alerts > 0) {
				t.Errorf("journal_unavailable reported %d times, begin error counted: %v; want %d and %v\n%s",
					n, counted, tt.alerts, tt.alerts > 0, b.logText())
			}
		})
	}
}
