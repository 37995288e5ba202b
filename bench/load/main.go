// Command load drives the built bridge with signed, distinct Stripe and Clerk
// webhooks through vegeta, against a fake Reditus on loopback, and prints
// start-to-ready time, idle and peak RSS, latency at fixed rates and the
// highest throughput. Every phase has a fixed duration: it stops by itself.
// bench/load.sh builds what it needs and runs it; BENCHMARKS.md has results.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/stripe/stripe-go/v76/webhook"

	"github.com/getreditus/reditus-bridge/verify"
)

const (
	stripeSecret = "whsec_load_test_stripe"
	clerkSecret  = "whsec_bG9hZC10ZXN0LWNsZXJr"
)

func main() {
	bridge := flag.String("bridge", "", "the built bridge binary")
	vegeta := flag.String("vegeta", "vegeta", "the vegeta binary")
	duration := flag.Duration("duration", 10*time.Second, "length of each load phase")
	flag.Parse()
	if err := run(*bridge, *vegeta, *duration); err != nil {
		fmt.Fprintln(os.Stderr, "load:", err)
		os.Exit(1)
	}
}

func run(bridgePath, vegetaPath string, duration time.Duration) error {
	if bridgePath == "" {
		return errors.New("-bridge is required")
	}
	// The fake Reditus creates every conversion at once.
	var received atomic.Int64
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	fake := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		received.Add(1)
		w.WriteHeader(http.StatusCreated)
		_, _ = io.WriteString(w, `{"data":{"id":"ref_load","attributes":{"state":"lead"}}}`)
	})}
	go func() { _ = fake.Serve(ln) }()
	defer fake.Close()

	b, err := startBridge(bridgePath, "http://"+ln.Addr().String()+"/api")
	if err != nil {
		return err
	}
	defer b.stop()
	fmt.Printf("start-to-ready:            %.1f ms (exec to the first 200 from /healthz)\n", ms(b.ready))

	time.Sleep(time.Second)
	idle := b.status("VmRSS")
	fmt.Printf("idle RSS:                  %.1f MiB\n", mib(idle))

	gen := newGenerator(b.base)
	for _, phase := range []struct {
		name string
		rate int // 0: as fast as the workers go
	}{{"1000/s", 1000}, {"2000/s", 2000}, {"max", 0}} {
		before := received.Load()
		rep, err := attack(vegetaPath, gen, phase.rate, duration)
		if err != nil {
			return fmt.Errorf("phase %s: %w", phase.name, err)
		}
		forwarded := received.Load() - before
		fmt.Printf("%-6s requests %6d  2xx %6.2f%%  forwarded %6d (%.0f/s)  p50 %6.3f ms  p99 %6.3f ms  max %7.3f ms  peak RSS so far %.1f MiB\n",
			phase.name, rep.Requests, 100*rep.Success, forwarded, float64(forwarded)/rep.Duration.Seconds(),
			ms(rep.Latencies.P50), ms(rep.Latencies.P99), ms(rep.Latencies.Max), mib(b.status("VmHWM")))
		if len(rep.Errors) > 0 {
			fmt.Printf("       errors: %v\n", rep.Errors[:min(3, len(rep.Errors))])
		}
	}
	return nil
}

// bridge is the running bridge process.
type bridge struct {
	cmd   *exec.Cmd
	base  string
	ready time.Duration
}

func startBridge(path, reditusURL string) (*bridge, error) {
	cmd := exec.Command(path)
	cmd.Env = []string{
		"PORT=0", "REDITUS_API_KEY=rk_load_test", "REDITUS_API_URL=" + reditusURL,
		"STRIPE_WEBHOOK_SECRET=" + stripeSecret, "CLERK_WEBHOOK_SECRET=" + clerkSecret,
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	b := &bridge{cmd: cmd}
	// The listening line gives the port; every later line (one per
	// webhook, at info level as in production) is read and dropped.
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		var line struct{ Msg, Addr string }
		if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "listening" {
			b.base = "http://127.0.0.1:" + line.Addr[strings.LastIndex(line.Addr, ":")+1:]
			break
		}
	}
	go func() { _, _ = io.Copy(io.Discard, stdout) }()
	if b.base == "" {
		return nil, errors.New("the bridge did not log its address")
	}
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Microsecond) {
		if resp, err := http.Get(b.base + "/healthz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				b.ready = time.Since(start)
				return b, nil
			}
		}
	}
	return nil, errors.New("the bridge was not ready within 5 s")
}

// status reads a size field of /proc/PID/status, in bytes.
func (b *bridge) status(field string) int64 {
	raw, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(b.cmd.Process.Pid), "status"))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

func (b *bridge) stop() {
	_ = b.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = b.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		_ = b.cmd.Process.Kill()
	}
}

// generator makes distinct signed webhooks, Stripe and Clerk in turn, each
// with its own event id and email, signed when it is made.
type generator struct {
	base          string
	n             int
	stripe, clerk []byte
}

func newGenerator(base string) *generator {
	read := func(path string) []byte {
		b, err := os.ReadFile(filepath.Join("providers", "testdata", path))
		if err != nil {
			panic(err) // run from the repository root, as bench/load.sh does
		}
		return b
	}
	return &generator{base: base, stripe: read("stripe/customer.created.json"), clerk: read("clerk/user.created.json")}
}

type target struct {
	Method string              `json:"method"`
	URL    string              `json:"url"`
	Body   string              `json:"body"`
	Header map[string][]string `json:"header"`
}

func (g *generator) next() target {
	g.n++
	now := time.Now()
	id := fmt.Sprintf("load_%d_%d", now.UnixNano(), g.n)
	email := id + "@example.com"
	if g.n%2 == 0 {
		body := bytes.Replace(g.stripe, []byte(`"evt_1QcustCreated01"`), []byte(`"evt_`+id+`"`), 1)
		body = bytes.Replace(body, []byte("jane.doe@example.com"), []byte(email), 1)
		sig := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: body, Secret: stripeSecret, Timestamp: now})
		return target{"POST", g.base + "/webhooks/stripe", base64.StdEncoding.EncodeToString(body),
			map[string][]string{"Stripe-Signature": {sig.Header}, "Content-Type": {"application/json"}}}
	}
	body := bytes.Replace(g.clerk, []byte("ada@example.com"), []byte(email), 1)
	h, err := verify.SignSvix("svix", clerkSecret, "msg_"+id, body, now)
	if err != nil {
		panic(err)
	}
	h.Set("Content-Type", "application/json")
	return target{"POST", g.base + "/webhooks/clerk", base64.StdEncoding.EncodeToString(body), h}
}

// report is what vegeta report -type=json says of a phase.
type report struct {
	Requests  int           `json:"requests"`
	Duration  time.Duration `json:"duration"`
	Success   float64       `json:"success"`
	Latencies struct {
		P50 time.Duration `json:"50th"`
		P99 time.Duration `json:"99th"`
		Max time.Duration `json:"max"`
	} `json:"latencies"`
	Errors []string `json:"errors"`
}

// attack runs one vegeta phase, feeding it targets as it asks for them.
func attack(vegetaPath string, gen *generator, rate int, d time.Duration) (report, error) {
	results, err := os.CreateTemp("", "vegeta-*.bin")
	if err != nil {
		return report{}, err
	}
	defer os.Remove(results.Name())
	results.Close()

	args := []string{"attack", "-format=json", "-lazy", "-duration=" + d.String(), "-output=" + results.Name(), "-timeout=10s"}
	if rate > 0 {
		args = append(args, "-rate="+strconv.Itoa(rate)+"/1s")
	} else {
		args = append(args, "-rate=0", "-max-workers=64")
	}
	ctx, cancel := context.WithTimeout(context.Background(), d+30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, vegetaPath, args...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return report{}, err
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return report{}, fmt.Errorf("start vegeta (bench/load.sh installs it): %w", err)
	}
	go func() {
		w := bufio.NewWriter(stdin)
		enc := json.NewEncoder(w)
		// vegeta closes its end when the phase is over; the write then fails.
		for enc.Encode(gen.next()) == nil {
		}
		stdin.Close()
	}()
	if err := cmd.Wait(); err != nil {
		return report{}, fmt.Errorf("vegeta attack: %w", err)
	}
	out, err := exec.CommandContext(ctx, vegetaPath, "report", "-type=json", results.Name()).Output()
	if err != nil {
		return report{}, fmt.Errorf("vegeta report: %w", err)
	}
	var rep report
	if err := json.Unmarshal(out, &rep); err != nil {
		return report{}, fmt.Errorf("vegeta report: %w", err)
	}
	return rep, nil
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
func mib(b int64) float64        { return float64(b) / (1 << 20) }
