// Package bench holds the bridge's performance evidence: benchmarks of the
// per-webhook work of each provider (verify, decode, map) beside a floor that
// only computes the provider's HMAC over the same bytes, and (in load/) the
// load driver. BENCHMARKS.md has the numbers and how to reproduce them.
package bench

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
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
	"github.com/getreditus/reditus-bridge/mapping"
	"github.com/getreditus/reditus-bridge/metrics"
	registry "github.com/getreditus/reditus-bridge/providers"
	"github.com/getreditus/reditus-bridge/reditus"
	"github.com/getreditus/reditus-bridge/verify"
)

const (
	svixSecret  = "whsec_YmVuY2htYXJrLXNlY3JldC1rZXk="
	plainSecret = "whsec_benchmark_secret_key"
)

// provider is one provider's per-webhook work and its HMAC floor.
type provider struct {
	name    string
	fixture string
	header  func(body []byte, at time.Time) http.Header
	verify  verify.Scheme
	secret  string
	parse   func([]byte) (mapping.Event, error)
	floor   func(body []byte, at time.Time) []byte // only the MAC the signature is
}

func hmacSHA256(key []byte, parts ...[]byte) []byte {
	mac := hmac.New(sha256.New, key)
	for _, p := range parts {
		mac.Write(p)
	}
	return mac.Sum(nil)
}

// svixKey is the key svixSecret stands for: base64 after "whsec_".
var svixKey, _ = base64.StdEncoding.DecodeString(strings.TrimPrefix(svixSecret, "whsec_"))

var providers = []provider{
	{
		name: "stripe", fixture: "stripe/customer.created.json", secret: plainSecret, verify: verify.Stripe,
		header: func(body []byte, at time.Time) http.Header {
			return http.Header{"Stripe-Signature": {webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: body, Secret: plainSecret, Timestamp: at}).Header}}
		},
		parse: mapper("stripe"),
		floor: func(body []byte, at time.Time) []byte {
			return hmacSHA256([]byte(plainSecret), []byte(strconv.FormatInt(at.Unix(), 10)), []byte("."), body)
		},
	},
	{
		name: "clerk", fixture: "clerk/user.created.json", secret: svixSecret, verify: verify.Svix,
		header: svixHeader, parse: mapper("clerk"), floor: svixFloor,
	},
	{
		name: "stytch", fixture: "stytch/direct.user.create.json", secret: svixSecret, verify: verify.Svix,
		header: svixHeader, parse: mapper("stytch"), floor: svixFloor,
	},
	{
		name: "workos", fixture: "workos/user.created.json", secret: plainSecret, verify: verify.WorkOS,
		header: func(body []byte, at time.Time) http.Header {
			h, _ := verify.WorkOS.Sign(plainSecret, "", body, at)
			return h
		},
		parse: mapper("workos"),
		floor: func(body []byte, at time.Time) []byte {
			return hmacSHA256([]byte(plainSecret), []byte(strconv.FormatInt(at.UnixMilli(), 10)), []byte("."), body)
		},
	},
	{
		// Supabase signs nothing: its floor is the digest the bearer check
		// computes.
		name: "supabase", fixture: "supabase/insert.json", secret: plainSecret, verify: verify.Bearer,
		header: func([]byte, time.Time) http.Header { return http.Header{"Authorization": {"Bearer " + plainSecret}} },
		parse:  mapper("supabase"),
		floor: func([]byte, time.Time) []byte {
			sum := sha256.Sum256([]byte(plainSecret))
			return sum[:]
		},
	},
	{
		name: "generic", fixture: "generic/conversion.json", secret: svixSecret, verify: verify.Svix,
		header: func(body []byte, at time.Time) http.Header {
			h, _ := verify.SignSvix("webhook", svixSecret, "msg_bench", body, at)
			return h
		},
		parse: mapper("generic"), floor: svixFloor,
	},
}

// mapper is the named provider's mapping as the webhook path runs it, looked
// up once so that the benchmark measures only the mapping.
func mapper(name string) func([]byte) (mapping.Event, error) {
	p, err := registry.Lookup(name)
	if err != nil {
		return func([]byte) (mapping.Event, error) { return mapping.Event{}, err }
	}
	return func(b []byte) (mapping.Event, error) { return p.Map(b, mapping.Options{}) }
}

func svixHeader(body []byte, at time.Time) http.Header {
	h, _ := verify.SignSvix("svix", svixSecret, "msg_bench", body, at)
	return h
}

func svixFloor(body []byte, at time.Time) []byte {
	return hmacSHA256(svixKey, []byte("msg_bench."+strconv.FormatInt(at.Unix(), 10)+"."), body)
}

func load(b *testing.B, fixture string) []byte {
	body, err := os.ReadFile(filepath.Join("..", "providers", "testdata", fixture))
	if err != nil {
		b.Fatal(err)
	}
	return body
}

// BenchmarkWebhook is the per-webhook work of each provider: verify the
// signature over the raw body, decode it, and map it to a conversion.
func BenchmarkWebhook(b *testing.B) {
	for _, p := range providers {
		b.Run(p.name, func(b *testing.B) {
			body := load(b, p.fixture)
			at := time.Now()
			header := p.header(body, at)
			check, err := p.verify.Verifier([]string{p.secret})
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				if err := check(header, body); err != nil {
					b.Fatal(err)
				}
				ev, err := p.parse(body)
				if err != nil || ev.Skip != "" {
					b.Fatalf("%+v %v", ev, err)
				}
			}
		})
	}
}

// BenchmarkFloor computes only the provider's MAC over the same bytes: no
// verifier can be cheaper. The ratio of BenchmarkWebhook to it is the
// bridge's overhead.
func BenchmarkFloor(b *testing.B) {
	for _, p := range providers {
		b.Run(p.name, func(b *testing.B) {
			body := load(b, p.fixture)
			at := time.Now()
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				if len(p.floor(body, at)) != sha256.Size {
					b.Fatal("not a SHA-256 MAC")
				}
			}
		})
	}
}

// The benchmarks must measure real work: every provider's fixture verifies
// and converts.
func TestBenchmarkInputsConvert(t *testing.T) {
	for _, p := range providers {
		body, err := os.ReadFile(filepath.Join("..", "providers", "testdata", p.fixture))
		if err != nil {
			t.Fatal(err)
		}
		check, _ := p.verify.Verifier([]string{p.secret})
		if err := check(p.header(body, time.Now()), body); err != nil {
			t.Errorf("%s: %v", p.name, err)
		}
		if ev, err := p.parse(body); err != nil || ev.Skip != "" {
			t.Errorf("%s: %+v %v", p.name, ev, err)
		}
	}
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
			var store handlers.Journal
			if name == "sqlite" {
				s, err := journal.Open(context.Background(), journal.Options{DataDir: b.TempDir()})
				if err != nil {
					b.Fatal(err)
				}
				defer s.Close()
				store = s
			}
			bridge := pipeline(b, store)
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

// pipeline is the bridge's handler with Stripe on, a fake Reditus on
// loopback that creates every conversion, and store as its journal (none
// when nil).
func pipeline(b *testing.B, store handlers.Journal) http.Handler {
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
	h, err := handlers.New(cfg, handlers.Deps{Reditus: client, Journal: store, Log: logger, Metrics: m})
	if err != nil {
		b.Fatal(err)
	}
	return h
}

func signedStripe(body []byte) *http.Request {
	signed := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: body, Secret: plainSecret, Timestamp: time.Now()})
	req := httptest.NewRequest(http.MethodPost, "/webhooks/stripe", bytes.NewReader(body))
	req.Header.Set("Stripe-Signature", signed.Header)
	req.Header.Set("Content-Type", "application/json")
	return req
}
