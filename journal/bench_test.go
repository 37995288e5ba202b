package journal_test

import (
	"context"
	"fmt"
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
