package journal_test

import (
	"context"
	"testing"

	"github.com/getreditus/reditus-bridge/journal"
)

// testOrder is what keeps a customer's money events in order (Ahead), what
// says how many events wait (Waiting), in the suite both stores pass.
func testOrder(t *testing.T, b backend) {
	ctx := context.Background()
	// about begins a delivery about customer uid or email, paying or
	// refunding key.
	about := func(t *testing.T, s *journal.DB, id, uid, email, key string) journal.Record {
		t.Helper()
		r := delivery(id)
		r.UID, r.Email, r.PaymentKey = uid, email, key
		rec, _ := begin(t, s, r)
		if rec.UID != uid || rec.PaymentKey != key {
			t.Fatalf("Begin kept uid %q, key %q; want %q, %q", rec.UID, rec.PaymentKey, uid, key)
		}
		return rec
	}
	ahead := func(t *testing.T, s *journal.DB, r journal.Record) string {
		t.Helper()
		rec, found, err := s.Ahead(ctx, r)
		if err != nil {
			t.Fatalf("Ahead(%s): %v", r.DeliveryID, err)
		}
		if !found {
			return ""
		}
		return rec.DeliveryID
	}

	t.Run("Ahead is the earliest unfinished earlier record of the customer or the payment", func(t *testing.T) {
		s := open(t, b.fresh(t), newClock())
		signup := about(t, s, "signup", "usr_1", "ann@example.com", "")
		pay := about(t, s, "pay", "cus_9", "", "lemonsqueezy:order:1")
		done := about(t, s, "done", "usr_2", "bob@example.com", "")
		finish(t, s, done.ID, journal.Finish{Outcome: "forwarded"})
		finish(t, s, signup.ID, journal.Finish{Outcome: journal.Queued, NextAttemptAt: t0})
		refund := about(t, s, "refund", "", "", "lemonsqueezy:order:1")
		for _, tc := range []struct {
			r    journal.Record
			want string
		}{
			{refund, "pay"}, // its payment, pending
			{about(t, s, "renewal", "usr_1", "", "lemonsqueezy:order:2"), "signup"}, // the uid's conversion, queued
			{about(t, s, "by-email", "", "ANN@Example.com", ""), "signup"},          // the email, in any case
			{about(t, s, "bob-again", "usr_2", "bob@example.com", ""), ""},          // bob's earlier one is done
			{about(t, s, "stranger", "usr_3", "carl@example.com", "lemonsqueezy:order:4"), ""},
			{about(t, s, "nobody", "", "", ""), ""}, // empty values match nothing
			{signup, ""},                            // nothing is ahead of the first
		} {
			if got := ahead(t, s, tc.r); got != tc.want {
				t.Errorf("ahead of %s: %q, want %q", tc.r.DeliveryID, got, tc.want)
			}
		}
		// Once the payment is in Reditus, its refund goes.
		finish(t, s, pay.ID, journal.Finish{Outcome: "forwarded"})
		if got := ahead(t, s, refund); got != "" {
			t.Errorf("ahead of the refund once its payment is forwarded: %q, want none", got)
		}
	})

	t.Run("Finish fills in the customer and the payment a record lacked", func(t *testing.T) {
		s := open(t, b.fresh(t), newClock())
		rec := about(t, s, "late", "", "", "")
		finish(t, s, rec.ID, journal.Finish{Outcome: journal.Queued, UID: "usr_7", PaymentKey: "polar:order:7"})
		if got := get(t, s, rec.ID); got.UID != "usr_7" || got.PaymentKey != "polar:order:7" {
			t.Errorf("after Finish: uid %q, key %q; want usr_7, polar:order:7", got.UID, got.PaymentKey)
		}
		finish(t, s, rec.ID, journal.Finish{Outcome: "forwarded"}) // empty: kept
		if got := get(t, s, rec.ID); got.UID != "usr_7" || got.PaymentKey != "polar:order:7" {
			t.Errorf("after a Finish without them: uid %q, key %q; want them kept", got.UID, got.PaymentKey)
		}
	})

	t.Run("Waiting counts the queued and pending records", func(t *testing.T) {
		s := open(t, b.fresh(t), newClock())
		if q, p, err := s.Waiting(ctx); err != nil || q != 0 || p != 0 {
			t.Fatalf("Waiting on an empty journal: %d, %d, %v", q, p, err)
		}
		queue(t, s, "q1", t0)
		queue(t, s, "q2", t0)
		begin(t, s, delivery("p1"))
		done, _ := begin(t, s, delivery("f1"))
		finish(t, s, done.ID, journal.Finish{Outcome: "forwarded"})
		if q, p, err := s.Waiting(ctx); err != nil || q != 2 || p != 1 {
			t.Errorf("Waiting: %d queued, %d pending, %v; want 2, 1", q, p, err)
		}
	})
}
