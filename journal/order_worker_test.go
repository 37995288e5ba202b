package journal

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// queueAbout journals a queued delivery about customer uid or email, paying
// or refunding key, due at due.
func queueAbout(t *testing.T, s *DB, id, uid, email, key string, due time.Time) Record {
	t.Helper()
	ctx := context.Background()
	r := Record{Provider: "lemonsqueezy", DeliveryID: id, EventType: "order", UID: uid, Email: email, PaymentKey: key, Body: []byte(`{}`)}
	rec, _, err := s.Begin(ctx, r, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Finish(ctx, rec.ID, Finish{Outcome: Queued, Reason: "reditus: 503", Attempts: 1, NextAttemptAt: due}); err != nil {
		t.Fatal(err)
	}
	return rec
}

func TestChainsKeepACustomersRecordsTogetherInOrder(t *testing.T) {
	rec := func(id int64, uid, email, key string) Record {
		return Record{ID: id, UID: uid, Email: email, PaymentKey: key}
	}
	recs := []Record{
		rec(1, "usr_1", "ann@example.com", ""),  // ann's signup
		rec(2, "", "", "ls:order:9"),            // a payment, by nobody named
		rec(3, "cus_7", "", ""),                 // someone else
		rec(4, "usr_1", "", "ls:order:9"),       // ann's payment: joins 1 and 2
		rec(5, "", "", "ls:order:9"),            // its refund
		rec(6, "", "ANN@example.com", ""),       // ann by email, in another case
		rec(7, "", "", ""),                      // nobody at all
		rec(8, "", "", ""),                      // nobody either: not chained to 7
		rec(9, "cus_7", "cara@example.com", ""), // the someone else again
	}
	var got [][]int64
	for _, c := range chains(recs) {
		var ids []int64
		for _, r := range c {
			ids = append(ids, r.ID)
		}
		got = append(got, ids)
	}
	want := [][]int64{{1, 2, 4, 5, 6}, {3, 9}, {7}, {8}}
	if !slices.EqualFunc(got, want, slices.Equal) {
		t.Errorf("chains = %v, want %v", got, want)
	}
}

// A payment and its refund taken in one batch: the refund is delivered
// after the payment is finished, so that the pipeline's order rule finds
// the payment done and sends the refund at once, while other customers'
// records go beside them.
func TestWorkerDeliversACustomersRecordsInOrder(t *testing.T) {
	clk := &testClock{now: w0}
	s := openTestStore(t, t.TempDir(), clk)
	pay := queueAbout(t, s, "pay", "usr_1", "ann@example.com", "ls:order:1", w0)
	refund := queueAbout(t, s, "refund", "", "", "ls:order:1", w0)
	other := queueAbout(t, s, "other", "usr_2", "bob@example.com", "ls:order:2", w0)
	var mu sync.Mutex
	var order []string
	otherStarted := make(chan struct{})
	w := &Worker{Store: s, Now: clk.Now, Deliver: func(ctx context.Context, r Record) Finish {
		mu.Lock()
		order = append(order, r.DeliveryID)
		mu.Unlock()
		switch r.ID {
		case pay.ID:
			// The other customer's record is delivered beside this one.
			select {
			case <-otherStarted:
			case <-time.After(5 * time.Second):
				t.Error("the other customer's record waited for this one")
			}
		case refund.ID:
			if got := mustGet(t, s, pay.ID); got.Outcome != "forwarded" {
				t.Errorf("the refund was delivered while its payment was %s", got.Outcome)
			}
		case other.ID:
			close(otherStarted)
		}
		return Finish{Outcome: "forwarded", Attempts: 1}
	}}
	w.defaults()
	if n, err := w.poll(context.Background(), w.Batch); n != 3 || err != nil {
		t.Fatalf("poll = %d, %v; want 3", n, err)
	}
	if i, j := slices.Index(order, "pay"), slices.Index(order, "refund"); i < 0 || j < i {
		t.Errorf("delivered in the order %v, want the payment before its refund", order)
	}
}

// A chain that outlasts half a lease: the records not yet begun are put
// back, due at once and untouched, for the next poll to take with a lease of
// their own, rather than delivered late enough for the lease to end mid-way.
func TestWorkerPutsBackAChainsRestPastHalfItsLease(t *testing.T) {
	clk := &testClock{now: w0}
	s := openTestStore(t, t.TempDir(), clk)
	first := queueAbout(t, s, "first", "usr_1", "", "", w0)
	rest := []Record{queueAbout(t, s, "second", "usr_1", "", "", w0), queueAbout(t, s, "third", "usr_1", "", "", w0)}
	var delivered []int64
	w := &Worker{Store: s, Now: clk.Now, Lease: 200 * time.Millisecond, Deliver: func(ctx context.Context, r Record) Finish {
		delivered = append(delivered, r.ID)
		time.Sleep(150 * time.Millisecond)
		return Finish{Outcome: "forwarded", Attempts: 1}
	}}
	w.defaults()
	if n, err := w.poll(context.Background(), w.Batch); n != 3 || err != nil {
		t.Fatalf("poll = %d, %v; want 3 taken", n, err)
	}
	if !slices.Equal(delivered, []int64{first.ID}) {
		t.Errorf("delivered %v, want only the first, %d", delivered, first.ID)
	}
	for _, r := range rest {
		got := mustGet(t, s, r.ID)
		if got.Outcome != Queued || got.Attempts != 1 || got.Reason != "reditus: 503" || got.NextAttemptAt.After(clk.Now()) {
			t.Errorf("%s put back as %s (%q), %d attempts, due %v; want queued as it was, due now", r.DeliveryID, got.Outcome, got.Reason, got.Attempts, got.NextAttemptAt)
		}
	}
}

// A panic in a delivery is a failed attempt of its record: queued again with
// its backoff, logged with the email masked, and the worker goes on; not a
// crash whose restart takes the same record and crashes again.
func TestWorkerRecoversAPanicAsAFailedAttempt(t *testing.T) {
	clk := &testClock{now: w0}
	s := openTestStore(t, t.TempDir(), clk)
	bad := queueOne(t, s, "sb_bad", w0)
	good := queueOne(t, s, "sb_good", w0)
	var logs logBuffer
	w := &Worker{Store: s, Now: clk.Now, Log: logs.Logger(), Deliver: func(ctx context.Context, r Record) Finish {
		if r.ID == bad.ID {
			panic(fmt.Sprintf("index out of range reading %s", "ann@example.com"))
		}
		return Finish{Outcome: "forwarded", Attempts: 1}
	}}
	w.defaults()
	if n, err := w.poll(context.Background(), w.Batch); n != 2 || err != nil {
		t.Fatalf("poll = %d, %v; want 2", n, err)
	}
	got := mustGet(t, s, bad.ID)
	if got.Outcome != Queued || got.Attempts != 5 || !strings.Contains(got.Reason, "panicked") || !got.NextAttemptAt.After(w0.Add(FirstRetry)) {
		t.Errorf("after the panic: %s, %d attempts, %q, due %v; want queued with its second backoff, 5 attempts, the panic as reason",
			got.Outcome, got.Attempts, got.Reason, got.NextAttemptAt)
	}
	if got := mustGet(t, s, good.ID); got.Outcome != "forwarded" {
		t.Errorf("the other record: %s, want forwarded", got.Outcome)
	}
	log := logs.String()
	if !strings.Contains(log, "a delivery panicked") || !strings.Contains(log, "a***@example.com") || strings.Contains(log, "ann@example.com") {
		t.Errorf("the log must say the delivery panicked, with the email masked:\n%s", log)
	}
}
