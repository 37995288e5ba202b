package journal_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/getreditus/reditus-bridge/journal"
	"github.com/getreditus/reditus-bridge/outcome"
)

// attempt is the nth attempt of a test, made at t0 plus n seconds.
func attempt(n int, status int, word outcome.Word) journal.Attempt {
	return journal.Attempt{At: t0.Add(time.Duration(n) * time.Second), Call: "track", Status: status, Outcome: word,
		Reason: fmt.Sprintf("answer %d", n), Latency: time.Duration(n) * time.Millisecond}
}

// attemptRows counts the attempts the database holds, whatever event they
// belong to, from outside the store.
func attemptRows(t *testing.T, o journal.Options) int {
	t.Helper()
	driver, dsn := "pgx", o.DatabaseURL
	if o.DataDir != "" {
		driver, dsn = "sqlite", "file:"+filepath.Join(o.DataDir, "bridge.db")
	}
	db, err := sql.Open(driver, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRow(`SELECT COUNT(*) FROM journal_attempts`).Scan(&n); err != nil {
		t.Fatalf("count the attempts: %v", err)
	}
	return n
}

// testDetail is the suite's part on what /admin reads beyond the records:
// the detail of an event, the summary, needs attention, and erasure.
func testDetail(t *testing.T, b backend) {
	ctx := context.Background()

	t.Run("Finish keeps what was found and sent and every attempt, and Get reads them", func(t *testing.T) {
		s := open(t, b.fresh(t), newClock())
		rec, _ := begin(t, s, delivery("evt_detail"))
		found := []journal.Field{{Name: "affiliate_slug", Value: "john", From: "red in customer metadata"}, {Name: "email", Value: "ann@example.com", From: "the customer's email"}}
		sent := []journal.Sent{{Call: "track", Body: json.RawMessage(`{"affiliate_slug":"john","email":"ann@example.com"}`)}}
		first := []journal.Attempt{attempt(1, 503, "retry"), attempt(2, 0, "retry")}
		finish(t, s, rec.ID, journal.Finish{Outcome: journal.Queued, AffiliateSlug: "john", Found: found, Sent: sent, AttemptLog: first})
		got := get(t, s, rec.ID)
		if !reflect.DeepEqual(got.Found, found) || !reflect.DeepEqual(got.Sent, sent) || !reflect.DeepEqual(got.AttemptLog, first) || got.AffiliateSlug != "john" {
			t.Fatalf("Get = found %+v, sent %s, attempts %+v, slug %q", got.Found, got.Sent, got.AttemptLog, got.AffiliateSlug)
		}
		// The worker's delivery adds its attempt; a Finish without detail
		// keeps what there was.
		taken, err := s.Retake(ctx, rec.ID, lease, journal.Queued)
		if err != nil {
			t.Fatal(err)
		}
		finish(t, s, taken.ID, journal.Finish{Outcome: "forwarded", AttemptLog: []journal.Attempt{attempt(3, 201, "forwarded")}})
		got = get(t, s, rec.ID)
		if len(got.AttemptLog) != 3 || got.AttemptLog[2].Status != 201 || !reflect.DeepEqual(got.Found, found) || got.AffiliateSlug != "john" {
			t.Errorf("after the second Finish: attempts %+v, found %+v, slug %q", got.AttemptLog, got.Found, got.AffiliateSlug)
		}
		list, _ := s.List(ctx, journal.Filter{DeliveryID: "evt_detail"})
		if len(list) != 1 || list[0].AffiliateSlug != "john" || list[0].AttemptLog != nil || list[0].Found != nil {
			t.Errorf("List = %+v, want the slug, without the detail", list)
		}
		// A Finish that found something else replaces the detail, slugs too.
		taken, _ = s.Retake(ctx, rec.ID, lease, "forwarded")
		finish(t, s, taken.ID, journal.Finish{Outcome: "skipped", AdvocateSlug: "jwe512", Found: []journal.Field{{Name: "advocate_slug", Value: "jwe512"}}})
		if got = get(t, s, rec.ID); got.AffiliateSlug != "" || got.AdvocateSlug != "jwe512" || len(got.Sent) != 0 || len(got.Found) != 1 {
			t.Errorf("replaced: slugs %q %q, found %+v, sent %+v", got.AffiliateSlug, got.AdvocateSlug, got.Found, got.Sent)
		}
	})

	t.Run("an event keeps its latest attempts, and a lost lease records none", func(t *testing.T) {
		s := open(t, b.fresh(t), newClock())
		rec, _ := begin(t, s, delivery("evt_many"))
		// Eight deliveries of ten attempts each: a long outage.
		for pass := range 8 {
			var log []journal.Attempt
			for i := range 10 {
				log = append(log, attempt(pass*10+i, 503, "retry"))
			}
			taken := rec
			if pass > 0 {
				var err error
				if taken, err = s.Retake(ctx, rec.ID, lease, journal.Queued); err != nil {
					t.Fatal(err)
				}
			}
			finish(t, s, taken.ID, journal.Finish{Outcome: journal.Queued, Attempts: 1, AttemptLog: log, Lease: taken.NextAttemptAt})
			if n := len(get(t, s, rec.ID).AttemptLog); pass < 5 && n != (pass+1)*10 {
				t.Errorf("after %d deliveries, %d attempts; want all %d", pass+1, n, (pass+1)*10)
			}
		}
		got := get(t, s, rec.ID).AttemptLog
		if len(got) != journal.MaxAttemptLog || got[0].Reason != "answer 30" || got[len(got)-1].Reason != "answer 79" {
			t.Errorf("%d attempts, from %q to %q; want the latest %d, 30 to 79", len(got), got[0].Reason, got[len(got)-1].Reason, journal.MaxAttemptLog)
		}
		err := s.Finish(ctx, rec.ID, journal.Finish{Outcome: "forwarded", AttemptLog: []journal.Attempt{attempt(99, 201, "forwarded")}, Lease: t0.Add(-time.Hour)})
		if err == nil || len(get(t, s, rec.ID).AttemptLog) != journal.MaxAttemptLog || get(t, s, rec.ID).AttemptLog[49].Reason != "answer 79" {
			t.Errorf("a Finish under a lost lease: %v, and it recorded its attempt", err)
		}
	})

	t.Run("Overviews count by outcome, provider, day and window, and what needs attention", func(t *testing.T) {
		clk := newClock()
		s := open(t, b.fresh(t), clk)
		add := func(provider, id string, word outcome.Word, ago time.Duration, reason string) {
			r := journal.Record{Provider: provider, DeliveryID: id, ReceivedAt: t0.Add(-ago), Body: []byte("{}")}
			rec, _ := begin(t, s, r)
			finish(t, s, rec.ID, journal.Finish{Outcome: word, Reason: reason})
		}
		add("stripe", "evt_1", "forwarded", 0, "")
		add("stripe", "evt_2", "forwarded", 6*time.Hour, "") // yesterday: t0 is 05:06 UTC
		add("clerk", "msg_3", "skipped", 7*time.Hour, "no Reditus referral data")
		add("clerk", "msg_4", "skipped", 8*time.Hour, "invalid affiliate_slug (red in public_metadata): it is 101 bytes long")
		add("stripe", "evt_5", journal.Queued, 2*time.Hour, "reditus: 503")
		add("stripe", "evt_6", journal.Queued, 30*time.Minute, "reditus: 503")
		add("generic", "msg_7", "rejected", 49*time.Hour, "affiliate not found")
		add("generic", "msg_8", "failed", 40*24*time.Hour, "too old to count")

		sums, err := s.Overviews(ctx, t0.Add(-72*time.Hour))
		if err != nil || len(sums) != 1 {
			t.Fatal(err)
		}
		sum := sums[0]
		wantCounts := map[outcome.Word]int{"forwarded": 2, "skipped": 2, journal.Queued: 2, "rejected": 1}
		wantProviders := map[string]map[outcome.Word]int{"stripe": {"forwarded": 2, journal.Queued: 2}, "clerk": {"skipped": 2}, "generic": {"rejected": 1}}
		if !reflect.DeepEqual(sum.Counts, wantCounts) || !reflect.DeepEqual(sum.Providers, wantProviders) {
			t.Errorf("counts %v, providers %v; want %v, %v", sum.Counts, sum.Providers, wantCounts, wantProviders)
		}
		// The skip for an invalid field, the one queued for 2 hours, the rejection.
		if sum.NeedsAttention != 3 {
			t.Errorf("needs attention %d, want 3", sum.NeedsAttention)
		}
		var days []string
		for _, d := range sum.Days {
			days = append(days, fmt.Sprintf("%s %v", d.Date.Format(time.DateOnly), d.Counts))
		}
		want := []string{
			"2025-03-01 map[]",
			"2025-03-02 map[rejected:1]",
			"2025-03-03 map[forwarded:1 skipped:2]",
			"2025-03-04 map[forwarded:1 queued:2]",
		}
		if !reflect.DeepEqual(days, want) {
			t.Errorf("days\n%v\nwant\n%v", days, want)
		}
		// Several windows from one pass count as each alone does.
		sinces := []time.Time{t0.Add(-3 * time.Hour), t0.Add(-72 * time.Hour), t0.Add(-7 * time.Hour), t0}
		all, err := s.Overviews(ctx, sinces...)
		if err != nil || len(all) != len(sinces) {
			t.Fatalf("Overviews: %d, %v", len(all), err)
		}
		for i, since := range sinces {
			alone, err := s.Overviews(ctx, since)
			if err != nil || !reflect.DeepEqual(all[i], alone[0]) {
				t.Errorf("Overviews(...)[%d] = %+v\nOverviews(%v) = %+v (%v)", i, all[i], since, alone, err)
			}
		}
		if all[0].Counts[journal.Queued] != 2 || all[0].Counts["forwarded"] != 1 || all[0].NeedsAttention != 1 || all[3].Counts["forwarded"] != 1 || len(all[3].Counts) != 1 {
			t.Errorf("the 3-hour window %v (%d need attention), the one from now %v", all[0].Counts, all[0].NeedsAttention, all[3].Counts)
		}
		recs, err := s.List(ctx, journal.Filter{NeedsAttention: true})
		if err != nil || !reflect.DeepEqual(ids(recs), []string{"evt_5", "msg_4", "msg_7", "msg_8"}) {
			t.Errorf("List(NeedsAttention) = %v, %v; want evt_5, msg_4, msg_7, msg_8", ids(recs), err)
		}
	})

	t.Run("Forget erases a customer's records by exact email, bodies and attempts included", func(t *testing.T) {
		o := b.fresh(t)
		s := open(t, o, newClock())
		add := func(id, email, body string) {
			rec, _ := begin(t, s, journal.Record{Provider: "generic", DeliveryID: id, Email: email, Body: []byte(body)})
			finish(t, s, rec.ID, journal.Finish{Outcome: "forwarded", AttemptLog: []journal.Attempt{attempt(1, 201, "forwarded")}})
		}
		add("own", "Ann@Example.com", `{}`)
		add("named", "", `{"user":{"email":"ANN@example.COM","name":"Ann"}}`)
		add("longer", "", `{"email":"joann@example.com","cc":"ann@example.com.au"}`)
		add("pattern_pct", "a%b@example.com", `{}`)
		add("pattern_us", "a_b@example.com", `{}`)
		add("plain", "axb@example.com", `{"note":"a%b@example.com is someone else"}`)
		for _, tt := range []struct {
			email string
			want  int64
			gone  []string
		}{
			{"%@example.com", 0, nil},
			{"a_b@example.%", 0, nil},
			{"*@*", 0, nil},
			{"ann@example.com", 2, []string{"own", "named"}},
			{"ann@example.com", 0, nil},
			{"a_b@example.com", 1, []string{"pattern_us"}},
			{"A%B@example.com", 2, []string{"pattern_pct", "plain"}}, // plain's body names it
		} {
			n, err := s.Forget(ctx, tt.email)
			if err != nil || n != tt.want {
				t.Errorf("Forget(%q) = %d, %v; want %d", tt.email, n, err, tt.want)
			}
			for _, id := range tt.gone {
				if recs, _ := s.List(ctx, journal.Filter{DeliveryID: id}); len(recs) != 0 {
					t.Errorf("Forget(%q) left %s", tt.email, id)
				}
			}
		}
		left, _ := s.List(ctx, journal.Filter{})
		if !reflect.DeepEqual(ids(left), []string{"longer"}) {
			t.Errorf("left %v, want only longer (joann@, and ann@example.com.au)", ids(left))
		}
		if n := attemptRows(t, o); n != 1 {
			t.Errorf("%d attempts left, want longer's 1", n)
		}
		if _, err := s.Forget(ctx, "  "); err == nil {
			t.Error("Forget of no email erased nothing, and said nothing")
		}
	})

	t.Run("Prune deletes the attempts of what it deletes", func(t *testing.T) {
		o := b.fresh(t)
		s := open(t, o, newClock())
		for i, at := range []time.Duration{40 * 24 * time.Hour, 0} {
			r := delivery(fmt.Sprintf("evt_%d", i))
			r.ReceivedAt = t0.Add(-at)
			rec, _ := begin(t, s, r)
			finish(t, s, rec.ID, journal.Finish{Outcome: "forwarded", AttemptLog: []journal.Attempt{attempt(1, 201, "forwarded"), attempt(2, 201, "forwarded")}})
		}
		if _, err := s.Prune(ctx, t0.Add(-30*24*time.Hour)); err != nil {
			t.Fatal(err)
		}
		if n := attemptRows(t, o); n != 2 {
			t.Errorf("%d attempts after Prune, want the recent event's 2", n)
		}
	})
}
