package handlers

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestDeliveriesSharesInFlight(t *testing.T) {
	d := newDeliveries(10, time.Minute)
	var calls atomic.Int32
	started, release := make(chan struct{}), make(chan struct{})
	deliver := func() answer {
		if calls.Add(1) == 1 {
			close(started)
			<-release
		}
		return newAnswer(codeForwarded, "")
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); d.do("k", deliver) }()
	<-started // the key is registered before deliver runs
	var shared bool
	wg.Add(1)
	go func() { defer wg.Done(); _, shared = d.do("k", deliver) }()
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
		d.do("k", func() answer { calls++; return newAnswer(codeUnavailable, "") })
	}
	if calls != 2 {
		t.Errorf("deliver ran %d times, want 2: a failure must be retried", calls)
	}
}

func TestDeliveriesPanicIsNotAcknowledged(t *testing.T) {
	d := newDeliveries(10, time.Minute)
	func() {
		defer func() { _ = recover() }()
		d.do("k", func() answer { panic("boom") })
	}()
	ans, shared := d.do("k", func() answer { return newAnswer(codeForwarded, "") })
	if shared || ans.code != codeForwarded {
		t.Errorf("after a panic: %+v shared %v; want a fresh delivery", ans, shared)
	}
}

func TestDeliveriesBounded(t *testing.T) {
	d := newDeliveries(3, time.Minute)
	now := time.Unix(0, 0)
	d.now = func() time.Time { return now }
	ok := func() answer { return newAnswer(codeForwarded, "") }
	for _, k := range []string{"a", "b", "c", "d"} {
		d.do(k, ok)
	}
	if len(d.byKey) != 3 || d.finished.Len() != 3 {
		t.Fatalf("%d keys, %d finished; want 3", len(d.byKey), d.finished.Len())
	}
	if _, shared := d.do("a", ok); shared {
		t.Error("the oldest key should have been evicted")
	}
	now = now.Add(2 * time.Minute)
	if _, shared := d.do("d", ok); shared {
		t.Error("an expired key should be delivered again")
	}
	if len(d.byKey) != 1 {
		t.Errorf("%d keys after expiry, want 1", len(d.byKey))
	}
}
