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
)

// BenchmarkBeginFinish journals webhooks as the pipeline does, Begin then
// Finish, from 16 goroutines a CPU at once, on SQLite in a temp dir, and
// reports journaled webhooks/s.
//
//	go test ./journal -run '^$' -bench BeginFinish -benchtime 3000x -count 5
func BenchmarkBeginFinish(b *testing.B) {
	benchmarkBeginFinish(b, 0)
}

// BenchmarkBeginFinishWithReaders is the same while 4 goroutines search the
// journal nonstop, as a hammered /admin would: the searches must not starve
// the webhooks. It reports both rates.
func BenchmarkBeginFinishWithReaders(b *testing.B) {
	benchmarkBeginFinish(b, 4)
}

func benchmarkBeginFinish(b *testing.B, readers int) {
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
			if err := s.Finish(ctx, rec.ID, journal.Finish{Outcome: "forwarded", ReferralID: "ref", Attempts: 1}); err != nil {
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
