// Package bench holds the bridge's performance evidence: benchmarks of the
// per-webhook work of each provider (verify, decode, map) beside a floor that
// only computes the provider's HMAC over the same bytes, and (in load/) the
// load driver. BENCHMARKS.md has the numbers and how to reproduce them.
package bench

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stripe/stripe-go/v76/webhook"

	"github.com/getreditus/reditus-bridge/config"
	"github.com/getreditus/reditus-bridge/handlers"
	"github.com/getreditus/reditus-bridge/journal"
	"github.com/getreditus/reditus-bridge/metrics"
	"github.com/getreditus/reditus-bridge/pipeline"
	"github.com/getreditus/reditus-bridge/reditus"
)

// plainSecret is the Stripe signing secret of BenchmarkPipeline's bridge.
const plainSecret = "whsec_benchmark_secret_key"

func load(b *testing.B, fixture string) []byte {
	body, err := os.ReadFile(filepath.Join("..", "providers", "testdata", fixture))
	if err != nil {
		b.Fatal(err)
	}
	return body
}

// BenchmarkPipeline is one whole webhook through the bridge's handler, as
// the built binary serves it: a signed Stripe customer.created, each with
// its own event id and email, verified, mapped, journaled (or not), sent over loopback
// HTTP to a fake Reditus that creates it, logged at info level, and answered.
// It runs 16 webhooks a CPU at once, since the journal's single SQLite writer
// is shared, and reports webhooks/s. "off" is the bridge without a journal,
// "sqlite" with one in a temp dir; their ratio is the journal's cost (issue
// 11; bench/journal.sh measures it on the built binary).
//
//	go test ./bench -run '^$' -bench Pipeline -count 5
func BenchmarkPipeline(b *testing.B) {
	for _, name := range []string{"off", "sqlite"} {
		b.Run(name, func(b *testing.B) {
			var store pipeline.Journal
			if name == "sqlite" {
				s, err := journal.Open(context.Background(), journal.Options{DataDir: b.TempDir()})
				if err != nil {
					b.Fatal(err)
				}
				defer s.Close()
				store = s
			}
			bridge := bridgeHandler(b, store)
			body := load(b, "stripe/customer.created.json")
			var n atomic.Int64
			b.ReportAllocs()
			b.SetParallelism(16)
			b.ResetTimer()
			start, cpu := time.Now(), cpuTime()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					id := "evt_bench_" + strconv.FormatInt(n.Add(1), 10)
					one := bytes.Replace(body, []byte("evt_1QcustCreated01"), []byte(id), 1)
					one = bytes.Replace(one, []byte("jane.doe@"), []byte(id+"@"), 1)
					req := signedStripe(one)
					rec := httptest.NewRecorder()
					bridge.ServeHTTP(rec, req)
					if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `"forwarded"`) {
						b.Errorf("answer %d %s, want 200 forwarded", rec.Code, rec.Body)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "webhooks/s")
			b.ReportMetric(float64((cpuTime()-cpu).Microseconds())/float64(b.N), "cpu-µs/webhook")
		})
	}
}

// cpuTime is the CPU time this process has used, user and system. On a
// shared machine it varies far less than the wall time of the same work.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// bridgeHandler is the bridge's handler with Stripe on, a fake Reditus on
// loopback that creates every conversion, and store as its journal (none
// when nil).
func bridgeHandler(b *testing.B, store pipeline.Journal) http.Handler {
	fake := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusCreated)
		_, _ = io.WriteString(w, `{"data":{"id":"ref_bench","attributes":{"state":"lead"}}}`)
	}))
	b.Cleanup(fake.Close)
	cfg := config.Config{
		ReditusAPIKey: "rk_bench", ReditusAPIURL: fake.URL + "/api",
		Webhooks: map[string]config.Webhook{"stripe": {Secrets: config.Secrets{plainSecret}}},
	}
	m := metrics.New()
	client := reditus.New(reditus.Options{BaseURL: cfg.ReditusAPIURL, APIKey: cfg.ReditusAPIKey.Reveal(), OnAttempt: m.ReditusAttempt})
	logger := slog.New(slog.NewJSONHandler(io.Discard, nil))
	p, err := pipeline.New(cfg, pipeline.Deps{Reditus: client, Journal: store, Log: logger, Metrics: m})
	if err != nil {
		b.Fatal(err)
	}
	return handlers.New(cfg, handlers.Deps{Pipeline: p, Log: logger, Metrics: m})
}

func signedStripe(body []byte) *http.Request {
	signed := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: body, Secret: plainSecret, Timestamp: time.Now()})
	req := httptest.NewRequest(http.MethodPost, "/webhooks/stripe", bytes.NewReader(body))
	req.Header.Set("Stripe-Signature", signed.Header)
	req.Header.Set("Content-Type", "application/json")
	return req
}
