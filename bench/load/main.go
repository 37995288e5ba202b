// Command load drives the built bridge with signed, distinct Stripe and Clerk
// webhooks through vegeta, against a fake Reditus on loopback, and prints
// start-to-ready time, idle and peak RSS, latency at fixed rates and the
// highest throughput. With -journal both it measures the same binary with its
// journal off and on SQLite, side by side, and prints the journal's cost as
// ratios. Every phase has a fixed duration: it stops by itself.
// bench/load.sh builds what it needs and runs it; BENCHMARKS.md has results.
package main

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/stripe/stripe-go/v76/webhook"
	_ "modernc.org/sqlite" // to count what the bridge journaled

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
	mode := flag.String("journal", "sqlite", "the bridge's journal: sqlite (as deployed, in a fresh DATA_DIR), off, or both (side by side, taking turns phase by phase; then the ratios)")
	rounds := flag.Int("rounds", 1, "how many rounds to measure, each with fresh bridges and DATA_DIRs")
	flag.Parse()
	if err := run(*bridge, *vegeta, *mode, *rounds, *duration); err != nil {
		fmt.Fprintln(os.Stderr, "load:", err)
		os.Exit(1)
	}
}

// setting is one way of running the same binary.
type setting struct {
	journal string // "off" or "sqlite"
}

func run(bridgePath, vegetaPath, mode string, rounds int, duration time.Duration) error {
	if bridgePath == "" {
		return errors.New("-bridge is required")
	}
	var settings []setting
	switch mode {
	case "sqlite", "off":
		settings = []setting{{mode}}
	case "both":
		settings = []setting{{"off"}, {"sqlite"}}
	default:
		return fmt.Errorf("-journal %q: want sqlite, off or both", mode)
	}
	if rounds < 1 {
		return errors.New("-rounds must be at least 1")
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
	reditusURL := "http://" + ln.Addr().String() + "/api"

	results := map[string][]measurement{}
	for round := 1; round <= rounds; round++ {
		if rounds > 1 {
			fmt.Printf("\nround %d of %d\n", round, rounds)
		}
		ms, err := measure(bridgePath, vegetaPath, reditusURL, &received, settings, duration)
		if err != nil {
			return fmt.Errorf("round %d: %w", round, err)
		}
		for i, s := range settings {
			results[s.journal] = append(results[s.journal], ms[i])
		}
	}
	if mode == "both" {
		compare(results["off"], results["sqlite"])
	}
	return nil
}

// measurement is what one run of the bridge showed.
type measurement struct {
	maxRate float64 // forwarded/s in the max phase
	p99     time.Duration
	hwm2000 int64 // peak RSS at the end of the 2000/s phase
}

// instance is a bridge started in one setting, with a DATA_DIR of its own.
type instance struct {
	s       setting
	b       *bridge
	dataDir string
	gen     *generator
	m       measurement
}

// measure starts a bridge in each setting, each with a fresh DATA_DIR, and
// runs the three phases against them. The settings take turns phase by phase,
// so that two numbers compared were measured seconds apart, and the other
// work on a shared machine weighs on both alike; the bridge not under load
// idles meanwhile. It stops the bridges and checks, where the journal was on,
// that every webhook answered forwarded was journaled.
func measure(bridgePath, vegetaPath, reditusURL string, received *atomic.Int64, settings []setting, duration time.Duration) ([]measurement, error) {
	tmp, err := os.MkdirTemp("", "reditus-bridge-load-*")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	label := func(s setting) string {
		if len(settings) == 1 {
			return ""
		}
		return fmt.Sprintf("%-7s", s.journal)
	}
	var all []*instance
	defer func() {
		for _, in := range all {
			in.b.stop()
		}
	}()
	for _, s := range settings {
		in := &instance{s: s, dataDir: filepath.Join(tmp, s.journal, "data")}
		if s.journal == "off" {
			// A data directory that cannot be made: the bridge serves
			// without its journal, as it does when its volume is missing
			// (DESIGN.md section 7). A path under a file fails even for root.
			if err := os.WriteFile(filepath.Join(tmp, "file"), nil, 0o600); err != nil {
				return nil, err
			}
			in.dataDir = filepath.Join(tmp, "file", "data")
		}
		if in.b, err = startBridge(bridgePath, reditusURL, in.dataDir); err != nil {
			return nil, err
		}
		all = append(all, in)
		if got := in.b.journal == "off"; got != (s.journal == "off") {
			return nil, fmt.Errorf("the bridge started with journal %q, want %s", in.b.journal, s.journal)
		}
		fmt.Printf("%sjournal:           %s\n", label(s), in.b.journal)
		fmt.Printf("%sstart-to-ready:    %.1f ms (exec to the first 200 from /healthz)\n", label(s), ms(in.b.ready))
		in.gen = newGenerator(in.b.base)
	}
	time.Sleep(time.Second)
	for _, in := range all {
		fmt.Printf("%sidle RSS:          %.1f MiB\n", label(in.s), mib(in.b.status("VmRSS")))
	}

	for _, phase := range []struct {
		name string
		rate int // 0: as fast as the workers go
	}{{"1000/s", 1000}, {"2000/s", 2000}, {"max", 0}} {
		for _, in := range all {
			before := received.Load()
			rep, err := attack(vegetaPath, in.gen, phase.rate, duration)
			if err != nil {
				return nil, fmt.Errorf("phase %s, journal %s: %w", phase.name, in.s.journal, err)
			}
			forwarded := received.Load() - before
			hwm := in.b.status("VmHWM")
			fmt.Printf("%-6s %srequests %6d  2xx %6.2f%%  forwarded %6d (%.0f/s)  p50 %6.3f ms  p99 %6.3f ms  max %7.3f ms  peak RSS so far %.1f MiB\n",
				phase.name, label(in.s), rep.Requests, 100*rep.Success, forwarded, float64(forwarded)/rep.Duration.Seconds(),
				ms(rep.Latencies.P50), ms(rep.Latencies.P99), ms(rep.Latencies.Max), mib(hwm))
			if len(rep.Errors) > 0 {
				fmt.Printf("       errors: %v\n", rep.Errors[:min(3, len(rep.Errors))])
			}
			switch phase.name {
			case "1000/s":
				in.m.p99 = rep.Latencies.P99
			case "2000/s":
				in.m.hwm2000 = hwm
			case "max":
				in.m.maxRate = float64(forwarded) / rep.Duration.Seconds()
			}
		}
	}

	var ms []measurement
	for _, in := range all {
		ms = append(ms, in.m)
		if in.s.journal == "off" {
			continue
		}
		if err := in.checkJournal(label(in.s)); err != nil {
			return nil, err
		}
	}
	return ms, nil
}

// checkJournal stops the bridge and checks its journal. A journal that failed
// would be skipped silently (the bridge goes on without it) and flatter the
// numbers: none of its operations may have failed, and every webhook answered
// forwarded must be in it.
func (in *instance) checkJournal(label string) error {
	failed, err := in.b.metric("reditus_bridge_journal_errors_total")
	if err != nil {
		return err
	}
	answered, err := in.b.metric(`reditus_bridge_webhooks_total{outcome="forwarded"`)
	if err != nil {
		return err
	}
	in.b.stop()
	journaled, err := countForwarded(filepath.Join(in.dataDir, "bridge.db"))
	if err != nil {
		return err
	}
	fmt.Printf("%sjournaled:         %d forwarded of %d answered forwarded; journal errors %d\n", label, journaled, answered, failed)
	if failed > 0 || journaled != answered {
		return errors.New("the journal missed webhooks: the numbers above are not the journal's")
	}
	return nil
}

// countForwarded counts the records journaled as forwarded in the SQLite
// journal at path, once the bridge has closed it.
func countForwarded(path string) (int64, error) {
	db, err := sql.Open("sqlite", "file:"+(&url.URL{Path: path}).EscapedPath()+"?mode=ro")
	if err != nil {
		return 0, err
	}
	defer db.Close()
	var n int64
	if err := db.QueryRow(`SELECT count(*) FROM journal WHERE outcome = 'forwarded'`).Scan(&n); err != nil {
		return 0, fmt.Errorf("count the journal: %w", err)
	}
	return n, nil
}

// compare prints each setting's medians and the ratios of the journal's
// targets (issue 11), round by round and as medians.
func compare(off, on []measurement) {
	fmt.Println()
	fmt.Println("journal  forwarded/s (max)  p99 at 1000/s  peak RSS at 2000/s")
	for _, row := range []struct {
		name string
		m    []measurement
	}{{"off", off}, {"sqlite", on}} {
		fmt.Printf("%-7s  %17.0f  %10.3f ms  %13.1f MiB   (medians of %d)\n", row.name,
			median(row.m, func(m measurement) float64 { return m.maxRate }),
			median(row.m, func(m measurement) float64 { return ms(m.p99) }),
			median(row.m, func(m measurement) float64 { return mib(m.hwm2000) }), len(row.m))
	}
	var rate, p99, rss []float64
	for i := range min(len(off), len(on)) {
		rate = append(rate, on[i].maxRate/off[i].maxRate)
		p99 = append(p99, float64(on[i].p99)/float64(off[i].p99))
		rss = append(rss, mib(on[i].hwm2000))
	}
	fmt.Printf("sqlite/off throughput  %s  median %.2fx  (target >= 0.6x)\n", list(rate, "%.2f"), middle(rate))
	fmt.Printf("sqlite/off p99 1000/s  %s  median %.2fx  (target <= 2x)\n", list(p99, "%.2f"), middle(p99))
	fmt.Printf("sqlite peak RSS 2000/s %s  median %.1f MiB  (target < 48 MiB)\n", list(rss, "%.1f"), middle(rss))
}

func median(ms []measurement, f func(measurement) float64) float64 {
	var v []float64
	for _, m := range ms {
		v = append(v, f(m))
	}
	return middle(v)
}

// middle is the median of v.
func middle(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	v = slices.Sorted(slices.Values(v))
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

func list(v []float64, format string) string {
	parts := make([]string, len(v))
	for i, x := range v {
		parts[i] = fmt.Sprintf(format, x)
	}
	return "(" + strings.Join(parts, "; ") + ")"
}

// bridge is the running bridge process.
type bridge struct {
	cmd     *exec.Cmd
	base    string
	journal string // as the bridge's startup line names it: "off", or the store
	ready   time.Duration
	stopped bool
}

func startBridge(path, reditusURL, dataDir string) (*bridge, error) {
	cmd := exec.Command(path)
	cmd.Env = []string{
		"PORT=0", "HOST=127.0.0.1", "REDITUS_API_KEY=rk_load_test", "REDITUS_API_URL=" + reditusURL,
		"STRIPE_WEBHOOK_SECRET=" + stripeSecret, "CLERK_WEBHOOK_SECRET=" + clerkSecret,
		"DATA_DIR=" + dataDir,
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
	// The listening line gives the port and the journal; every later line
	// (one per webhook, at info level as in production) is read and dropped.
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		var line struct{ Msg, Addr, Journal string }
		if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "listening" {
			b.base = "http://127.0.0.1:" + line.Addr[strings.LastIndex(line.Addr, ":")+1:]
			b.journal = line.Journal
			break
		}
	}
	go func() { _, _ = io.Copy(io.Discard, stdout) }()
	if b.base == "" {
		b.stop()
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
	b.stop()
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

// metric sums the samples of /metrics whose name and labels start with
// prefix (a sample's labels are sorted by name; provider comes after outcome).
func (b *bridge) metric(prefix string) (int64, error) {
	resp, err := http.Get(b.base + "/metrics")
	if err != nil {
		return 0, fmt.Errorf("read the metrics: %w", err)
	}
	defer resp.Body.Close()
	var n int64
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), " ")
		if ok && strings.HasPrefix(name, prefix) {
			v, _ := strconv.ParseFloat(value, 64)
			n += int64(v)
		}
	}
	return n, sc.Err()
}

// stop ends the bridge as Fly does (SIGTERM), and kills it if it has not
// stopped within 15 s; it waits for it either way.
func (b *bridge) stop() {
	if b.stopped {
		return
	}
	b.stopped = true
	_ = b.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = b.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		_ = b.cmd.Process.Kill()
		<-done
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
