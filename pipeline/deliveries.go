package pipeline

import (
	"container/list"
	"sync"
	"time"

	"github.com/getreditus/reditus-bridge/outcome"
)

// deliveries remembers recent deliveries by key (provider and event id), so
// that a sender's re-send of an event that is still in flight, or that was
// acknowledged moments ago, gets the same answer without a second call to
// Reditus. Reditus's 409 is the guarantee against double counting; this only
// spares it the calls. Memory is bounded: at most max acknowledged answers are
// kept, each for ttl; in-flight entries are bounded by concurrent requests.
type deliveries struct {
	max int
	ttl time.Duration
	now func() time.Time

	mu       sync.Mutex
	byKey    map[string]*delivery
	finished *list.List // of *delivery, oldest first
}

type delivery struct {
	key  string
	done chan struct{} // closed once ans is set
	ans  Result
	at   time.Time // when it was acknowledged
}

func newDeliveries(max int, ttl time.Duration) *deliveries {
	return &deliveries{
		max:      max,
		ttl:      ttl,
		now:      time.Now,
		byKey:    make(map[string]*delivery),
		finished: list.New(),
	}
}

// do runs deliver once for key, or returns the answer of the delivery already
// in flight or recently acknowledged for it, marked Repeat. A
// delivery that was not acknowledged is forgotten as soon as it ends, so the
// sender's retry runs deliver again.
func (d *deliveries) do(key string, deliver func() Result) Result {
	d.mu.Lock()
	d.evict()
	if prev, ok := d.byKey[key]; ok {
		d.mu.Unlock()
		<-prev.done // bounded: deliver is bounded by the Reditus client's budget
		ans := prev.ans
		ans.Repeat = true
		return ans
	}
	cur := &delivery{key: key, done: make(chan struct{})}
	d.byKey[key] = cur
	d.mu.Unlock()

	defer func() {
		d.mu.Lock()
		if cur.ans.Acknowledged() {
			cur.at = d.now()
			d.finished.PushBack(cur)
			d.evict()
		} else {
			delete(d.byKey, key)
		}
		d.mu.Unlock()
		close(cur.done)
	}()
	// What waiters see if deliver panics: a retry, never an acknowledgement.
	cur.ans = result(outcome.Unavailable, "delivery did not finish")
	cur.ans = deliver()
	return cur.ans
}

// evict drops the oldest acknowledged deliveries past ttl or past max. The
// caller holds d.mu.
func (d *deliveries) evict() {
	cutoff := d.now().Add(-d.ttl)
	for e := d.finished.Front(); e != nil; e = d.finished.Front() {
		old := e.Value.(*delivery)
		if d.finished.Len() <= d.max && old.at.After(cutoff) {
			return
		}
		d.finished.Remove(e)
		delete(d.byKey, old.key)
	}
}
