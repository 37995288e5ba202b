package pipeline

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/getreditus/reditus-bridge/outcome"
)

func TestDeliveriesSharesInFlight(t *testing.T) {
	d := newDeliveries(10, time.Minute)
	var calls atomic.Int32
	started, release := make(chan struct{}), make(chan struct{})
	deliver := func() Result {
		if calls.Add(1) == 1 {
			close(started)
			<-release
		}
		return result(outcome.Forwarded, "")
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); d.do("k", deliver) }()
	<-started // the key is registered before deliver runs
	var shared bool
	wg.Add(1)
	go func() { defer wg.Done(); shared = d.do("k", deliver).Repeat }()
	close(release)
	wg.Wait()
	if calls.Load() != 1 || !shared {
		t.Errorf("deliver ran %d times, shared %v; want once, shared", calls.Load(), shared)
	}
}

func TestDeliveriesForgetsFailures(t *testing.T) {
	d := newDeliveries(10, time.Minute)
	var calls int
	for range 2 {
		d.do("k", func() Result { calls++; return result(outcome.Unavailable, "") })
	}
	if calls != 2 {
		t.Errorf("deliver ran %d times, want 2: a failure must be retried", calls)
	}
}

func TestDeliveriesPanicIsNotAcknowledged(t *testing.T) {
	d := newDeliveries(10, time.Minute)
	func() {
		defer func() { _ = recover() }()
		d.do("k", func() Result { panic("boom") })
	}()
	ans := d.do("k", func() Result { return result(outcome.Forwarded, "") })
	if ans.Repeat || ans.Code != outcome.Forwarded {
		t.Errorf("after a panic: %+v; want a fresh delivery", ans)
	}
}

func TestDeliveriesBounded(t *testing.T) {
	d := newDeliveries(3, time.Minute)
	now := time.Unix(0, 0)
	d.now = func() time.Time { return now }
	ok := func() Result { return result(outcome.Forwarded, "") }
	for _, k := range []string{"a", "b", "c", "d"} {
		d.do(k, ok)
	}
	if len(d.byKey) != 3 || d.finished.Len() != 3 {
		t.Fatalf("%d keys, %d finished; want 3", len(d.byKey), d.finished.Len())
	}
	if d.do("a", ok).Repeat {
		t.Error("the oldest key should have been evicted")
	}
	now = now.Add(2 * time.Minute)
	if d.do("d", ok).Repeat {
		t.Error("an expired key should be delivered again")
	}
	if len(d.byKey) != 1 {
		t.Errorf("%d keys after expiry, want 1", len(d.byKey))
	}
}
