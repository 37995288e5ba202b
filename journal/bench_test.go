package journal_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/getreditus/reditus-bridge/journal"
	"github.com/getreditus/reditus-bridge/outcome"
)

// BenchmarkBeginFinish journals webhooks as the pipeline does, Begin then
// Finish, from 16 goroutines a CPU at once, on SQLite in a temp dir, and
// reports journaled webhooks/s.
//
//	go test ./journal -run '^$' -bench BeginFinish -benchtime 3000x -count 5
func BenchmarkBeginFinish(b *testing.B) {
	benchmarkBeginFinish(b, 0, nil)
}

// BenchmarkBeginFinishWithDetail is BenchmarkBeginFinish with what the
// pipeline now hands Finish for /admin's event page: what was found and
// sent, and the one attempt of a conversion Reditus took.
func BenchmarkBeginFinishWithDetail(b *testing.B) {
	benchmarkBeginFinish(b, 0, func(f *journal.Finish) {
		f.AffiliateSlug = "john"
		f.Found = []journal.Field{{Name: "affiliate_slug", Value: "john", From: "red in customer metadata"}, {Name: "email", Value: "ann@example.com", From: "one of the customer's email and id"}}
		f.Sent = []journal.Sent{{Call: "track", Body: []byte(`{"affiliate_slug":"john","email":"ann@example.com","uid":"cus_1"}`)}}
		f.AttemptLog = []journal.Attempt{{At: time.Now(), Call: "track", Status: 201, Outcome: "forwarded", Reason: `{"data":{"id":"ref_1","type":"referral"}}`, Latency: time.Millisecond}}
	})
}

// BenchmarkBeginFinishWithReaders is the same while 4 goroutines search the
// journal nonstop, as a hammered /admin would: the searches must not starve
// the webhooks. It reports both rates.
func BenchmarkBeginFinishWithReaders(b *testing.B) {
	benchmarkBeginFinish(b, 4, nil)
}

// benchmarkBeginFinish runs the benchmark; detail, when set, adds to each
// Finish.
func benchmarkBeginFinish(b *testing.B, readers int, detail func(*journal.Finish)) {
	s, err := journal.Open(context.Background(), journal.Options{DataDir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	body := []byte(`{"id":"evt_1","type":"customer.created","data":{"object":{"email":"ann@example.com","metadata":{"gr_id":"x"}}}}`)

	var lists atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range readers {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := s.List(context.Background(), journal.Filter{Email: "ann@example.com", Limit: 50}); err != nil {
					b.Error(err)
					return
				}
				lists.Add(1)
			}
		})
	}

	var n atomic.Int64
	b.SetParallelism(16)
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		ctx := context.Background()
		for pb.Next() {
			r := journal.Record{Provider: "stripe", DeliveryID: fmt.Sprintf("evt_%d", n.Add(1)),
				EventType: "customer.created", Email: "ann@example.com", Body: body}
			rec, _, err := s.Begin(ctx, r, time.Minute)
			if err != nil {
				b.Error(err)
				return
			}
			f := journal.Finish{Outcome: "forwarded", ReferralID: "ref", Attempts: 1}
			if detail != nil {
				detail(&f)
			}
			if err := s.Finish(ctx, rec.ID, f); err != nil {
				b.Error(err)
				return
			}
		}
	})
	elapsed := time.Since(start).Seconds()
	close(stop)
	wg.Wait()
	b.ReportMetric(float64(b.N)/elapsed, "webhooks/s")
	if readers > 0 {
		b.ReportMetric(float64(lists.Load())/elapsed, "searches/s")
	}
}

// BenchmarkBeginFinishPaced journals webhooks at 1,000 a second, as a steady
// load does, each Begin then Finish 0.3 ms later (the Reditus call between),
// and reports the median and p99 of the time the two took together: the
// latency the journal adds to a webhook. Run it for a few seconds at least,
// so that the checkpoints are in it:
//
//	go test ./journal -run '^$' -bench BeginFinishPaced -benchtime 8000x -count 3
func BenchmarkBeginFinishPaced(b *testing.B) {
	s, err := journal.Open(context.Background(), journal.Options{DataDir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	body := make([]byte, 1500) // a Stripe or Clerk event's size
	var mu sync.Mutex
	took := make([]time.Duration, 0, b.N)
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	var wg sync.WaitGroup
	b.ResetTimer()
	for i := range b.N {
		<-tick.C
		wg.Go(func() {
			ctx := context.Background()
			email := fmt.Sprintf("u%d@example.com", i)
			start := time.Now()
			rec, _, err := s.Begin(ctx, journal.Record{Provider: "stripe", DeliveryID: fmt.Sprintf("evt_%d", i),
				EventType: "customer.created", Email: email, Body: body}, time.Minute)
			if err != nil {
				b.Error(err)
				return
			}
			begun := time.Since(start)
			time.Sleep(300 * time.Microsecond)
			start = time.Now()
			if err := s.Finish(ctx, rec.ID, journal.Finish{Outcome: "forwarded", ReferralID: "ref", Email: email, Attempts: 1}); err != nil {
				b.Error(err)
				return
			}
			mu.Lock()
			took = append(took, begun+time.Since(start))
			mu.Unlock()
		})
	}
	wg.Wait()
	if len(took) == 0 {
		return
	}
	slices.Sort(took)
	b.ReportMetric(float64(took[len(took)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(took[len(took)*99/100].Microseconds()), "p99-µs")
}

// BenchmarkOverview counts a journal of 100,000 events over 30 days as
// /admin's overview does on each look at the page: the last 24 hours, 7
// days and 30 days.
//
//	go test ./journal -run '^$' -bench 'Overview|Forget' -benchtime 10x
func BenchmarkOverview(b *testing.B) {
	s := fullJournal(b, 100_000)
	b.ResetTimer()
	for range b.N {
		now := time.Now()
		if _, err := s.Overviews(context.Background(), now.Add(-24*time.Hour), now.Add(-7*24*time.Hour), now.Add(-30*24*time.Hour)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkForget erases one customer's events from a journal of 100,000,
// reading every body for their address.
func BenchmarkForget(b *testing.B) {
	s := fullJournal(b, 100_000)
	b.ResetTimer()
	for i := range b.N {
		if _, err := s.Forget(context.Background(), fmt.Sprintf("u%d@example.com", i*7)); err != nil {
			b.Fatal(err)
		}
	}
}

// fullJournal is a SQLite journal of n events spread over 30 days, among
// 5 providers and 6 outcomes, each of one of n/10 customers.
func fullJournal(b *testing.B, n int) *journal.DB {
	ctx := context.Background()
	s, err := journal.Open(ctx, journal.Options{DataDir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	providers := []string{"stripe", "clerk", "paddle", "polar", "generic"}
	words := []outcome.Word{"forwarded", "forwarded", "forwarded", "skipped", "duplicate", "rejected"}
	for i := range n {
		email := fmt.Sprintf("u%d@example.com", i%(n/10))
		r := journal.Record{Provider: providers[i%len(providers)], DeliveryID: fmt.Sprintf("evt_%d", i), Email: email,
			ReceivedAt: time.Now().Add(-time.Duration(i) * 30 * 24 * time.Hour / time.Duration(n)),
			Body:       []byte(`{"id":"evt_` + fmt.Sprint(i) + `","data":{"object":{"email":"` + email + `"}}}`)}
		rec, _, err := s.Begin(ctx, r, time.Minute)
		if err != nil {
			b.Fatal(err)
		}
		if err := s.Finish(ctx, rec.ID, journal.Finish{Outcome: words[i%len(words)]}); err != nil {
			b.Fatal(err)
		}
	}
	return s
}
