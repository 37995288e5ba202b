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
	"time"

	_ "modernc.org/sqlite" // to count what the bridge journaled

	"github.com/getreditus/reditus-bridge/bench/process"
	"github.com/getreditus/reditus-bridge/providers"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "load:", err)
		os.Exit(1)
	}
}

// options are the command's flags.
type options struct {
	bridge, vegeta, mode string
	rounds               int
	duration             time.Duration
}

// parseFlags reads args; flag's own complaints and -h go to stderr.
func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("load", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.bridge, "bridge", "", "the built bridge binary")
	fs.StringVar(&o.vegeta, "vegeta", "vegeta", "the vegeta binary")
	fs.DurationVar(&o.duration, "duration", 10*time.Second, "length of each load phase")
	fs.StringVar(&o.mode, "journal", "sqlite", "the bridge's journal: sqlite (as deployed, in a fresh DATA_DIR), off, or both (side by side, taking turns phase by phase; then the ratios)")
	fs.IntVar(&o.rounds, "rounds", 1, "how many rounds to measure, each with fresh bridges and DATA_DIRs")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if o.bridge == "" {
		return o, errors.New("-bridge is required")
	}
	return o, nil
}

// setting is one way of running the same binary.
type setting struct {
	journal string // "off" or "sqlite"
}

// settingsOf are the settings a -journal mode measures.
func settingsOf(mode string) ([]setting, error) {
	switch mode {
	case "sqlite", "off":
		return []setting{{mode}}, nil
	case "both":
		return []setting{{"off"}, {"sqlite"}}, nil
	}
	return nil, fmt.Errorf("-journal %q: want sqlite, off or both", mode)
}

// run measures the bridge as args say. The report goes to stdout, what
// vegeta and flag have to say to stderr.
func run(args []string, stdout, stderr io.Writer) error {
	o, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	settings, err := settingsOf(o.mode)
	if err != nil {
		return err
	}
	if o.rounds < 1 {
		return errors.New("-rounds must be at least 1")
	}
	sources, err := newSources()
	if err != nil {
		return err
	}
	fake, err := startReditus()
	if err != nil {
		return err
	}
	defer fake.server.Close()
	d := &driver{out: stdout, errs: stderr, bridgePath: o.bridge, vegetaPath: o.vegeta, duration: o.duration, reditus: fake, sources: sources}

	results := map[string][]measurement{}
	for round := 1; round <= o.rounds; round++ {
		if o.rounds > 1 {
			fmt.Fprintf(stdout, "\nround %d of %d\n", round, o.rounds)
		}
		ms, err := d.measure(settings)
		if err != nil {
			return fmt.Errorf("round %d: %w", round, err)
		}
		for i, s := range settings {
			results[s.journal] = append(results[s.journal], ms[i])
		}
	}
	if o.mode == "both" {
		compare(stdout, results["off"], results["sqlite"])
	}
	return nil
}

// fakeReditus is the Reditus the bridges forward to, on loopback: it creates
// every conversion at once, and counts them.
type fakeReditus struct {
	url      string
	server   *http.Server
	received atomic.Int64
}

func startReditus() (*fakeReditus, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	f := &fakeReditus{url: "http://" + ln.Addr().String() + "/api"}
	f.server = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		f.received.Add(1)
		w.WriteHeader(http.StatusCreated)
		_, _ = io.WriteString(w, `{"data":{"id":"ref_load","attributes":{"state":"lead"}}}`)
	})}
	go func() { _ = f.server.Serve(ln) }()
	return f, nil
}

// driver is what every round shares: where it reports, the binaries, the
// fake Reditus and the webhooks' sources.
type driver struct {
	out, errs              io.Writer
	bridgePath, vegetaPath string
	duration               time.Duration
	reditus                *fakeReditus
	sources                []source
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
	label   string // before each of its lines when settings take turns
	b       *process.Bridge
	dataDir string
	gen     *generator
	m       measurement
}

// phase is one fixed-length load phase.
type phase struct {
	name string
	rate int // 0: as fast as the workers go
}

var phases = []phase{{"1000/s", 1000}, {"2000/s", 2000}, {"max", 0}}

// measure starts a bridge in each setting, each with a fresh DATA_DIR, and
// runs the three phases against them. The settings take turns phase by phase,
// so that two numbers compared were measured seconds apart, and the other
// work on a shared machine weighs on both alike; the bridge not under load
// idles meanwhile. It stops the bridges and checks, where the journal was on,
// that every webhook answered forwarded was journaled.
func (d *driver) measure(settings []setting) ([]measurement, error) {
	tmp, err := os.MkdirTemp("", "reditus-bridge-load-*")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	var all []*instance
	defer func() {
		for _, in := range all {
			in.b.Stop()
		}
	}()
	for _, s := range settings {
		in, err := d.start(tmp, s, len(settings) > 1)
		if err != nil {
			return nil, err
		}
		all = append(all, in)
	}
	time.Sleep(time.Second)
	for _, in := range all {
		fmt.Fprintf(d.out, "%sidle RSS:          %.1f MiB\n", in.label, mib(in.b.Status("VmRSS")))
	}
	for _, ph := range phases {
		for _, in := range all {
			if err := d.runPhase(in, ph); err != nil {
				return nil, err
			}
		}
	}
	var ms []measurement
	for _, in := range all {
		ms = append(ms, in.m)
		if in.s.journal == "off" {
			continue
		}
		if err := in.checkJournal(d.out); err != nil {
			return nil, err
		}
	}
	return ms, nil
}

// start starts a bridge in setting s with a DATA_DIR under tmp, and reports
// how it started; labelled names the setting on each line, for when several
// take turns.
func (d *driver) start(tmp string, s setting, labelled bool) (*instance, error) {
	in := &instance{s: s, dataDir: filepath.Join(tmp, s.journal, "data")}
	if labelled {
		in.label = fmt.Sprintf("%-7s", s.journal)
	}
	if s.journal == "off" {
		// A data directory that cannot be made: the bridge serves without
		// its journal, as it does when its volume is missing. A path under
		// a file fails even for root.
		if err := os.WriteFile(filepath.Join(tmp, "file"), nil, 0o600); err != nil {
			return nil, err
		}
		in.dataDir = filepath.Join(tmp, "file", "data")
	}
	b, err := startBridge(d.bridgePath, d.reditus.url, in.dataDir, d.sources)
	if err != nil {
		return nil, err
	}
	if got := b.Journal == "off"; got != (s.journal == "off") {
		b.Stop()
		return nil, fmt.Errorf("the bridge started with journal %q, want %s", b.Journal, s.journal)
	}
	in.b = b
	fmt.Fprintf(d.out, "%sjournal:           %s\n", in.label, b.Journal)
	fmt.Fprintf(d.out, "%sstart-to-ready:    %.1f ms (exec to the first 200 from /healthz)\n", in.label, ms(b.Ready))
	in.gen = &generator{base: b.Base, sources: d.sources}
	return in, nil
}

// runPhase runs phase ph against in, reports it, and keeps what the
// comparison of settings reads from it.
func (d *driver) runPhase(in *instance, ph phase) error {
	before := d.reditus.received.Load()
	rep, err := attack(d.vegetaPath, in.gen, ph.rate, d.duration, d.errs)
	if err != nil {
		return fmt.Errorf("phase %s, journal %s: %w", ph.name, in.s.journal, err)
	}
	forwarded := d.reditus.received.Load() - before
	hwm := in.b.Status("VmHWM")
	fmt.Fprintf(d.out, "%-6s %srequests %6d  2xx %6.2f%%  forwarded %6d (%.0f/s)  p50 %6.3f ms  p99 %6.3f ms  max %7.3f ms  peak RSS so far %.1f MiB\n",
		ph.name, in.label, rep.Requests, 100*rep.Success, forwarded, float64(forwarded)/rep.Duration.Seconds(),
		ms(rep.Latencies.P50), ms(rep.Latencies.P99), ms(rep.Latencies.Max), mib(hwm))
	if len(rep.Errors) > 0 {
		fmt.Fprintf(d.out, "       errors: %v\n", rep.Errors[:min(3, len(rep.Errors))])
	}
	switch ph.name {
	case "1000/s":
		in.m.p99 = rep.Latencies.P99
	case "2000/s":
		in.m.hwm2000 = hwm
	case "max":
		in.m.maxRate = float64(forwarded) / rep.Duration.Seconds()
	}
	return nil
}

// checkJournal stops the bridge and checks its journal. A journal that failed
// would be skipped silently (the bridge goes on without it) and flatter the
// numbers: none of its operations may have failed, and every webhook answered
// forwarded must be in it.
func (in *instance) checkJournal(w io.Writer) error {
	failed, err := in.b.Metric("reditus_bridge_journal_errors_total")
	if err != nil {
		return err
	}
	answered, err := in.b.Metric(`reditus_bridge_webhooks_total{outcome="forwarded"`)
	if err != nil {
		return err
	}
	in.b.Stop()
	journaled, err := countForwarded(filepath.Join(in.dataDir, "bridge.db"))
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "%sjournaled:         %d forwarded of %d answered forwarded; journal errors %d\n", in.label, journaled, answered, failed)
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
// targets (issue 11), round by round and as medians, to w.
func compare(w io.Writer, off, on []measurement) {
	fmt.Fprintln(w)
	fmt.Fprintln(w, "journal  forwarded/s (max)  p99 at 1000/s  peak RSS at 2000/s")
	for _, row := range []struct {
		name string
		m    []measurement
	}{{"off", off}, {"sqlite", on}} {
		fmt.Fprintf(w, "%-7s  %17.0f  %10.3f ms  %13.1f MiB   (medians of %d)\n", row.name,
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
	fmt.Fprintf(w, "sqlite/off throughput  %s  median %.2fx  (target >= 0.6x)\n", list(rate, "%.2f"), middle(rate))
	fmt.Fprintf(w, "sqlite/off p99 1000/s  %s  median %.2fx  (target <= 2x)\n", list(p99, "%.2f"), middle(p99))
	fmt.Fprintf(w, "sqlite peak RSS 2000/s %s  median %.1f MiB  (target < 48 MiB)\n", list(rss, "%.1f"), middle(rss))
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

// startBridge starts the bridge at path with the secrets of sources, and
// waits until it is ready.
func startBridge(path, reditusURL, dataDir string, sources []source) (*process.Bridge, error) {
	env := []string{"REDITUS_API_KEY=rk_load_test", "REDITUS_API_URL=" + reditusURL, "DATA_DIR=" + dataDir}
	for _, s := range sources {
		env = append(env, s.p.SecretVar()+"="+s.secret)
	}
	return process.Start(path, env...)
}

// mix is what the load sends, in turn: a Stripe customer.created, whose
// event carries the id the bridge recognises it by, and a Clerk user.created,
// signed by Svix with the delivery id in its headers. It stays the same from
// round to round so that the numbers in BENCHMARKS.md compare; the rest of
// what the two are (secret variable, route, signature) is the registry's.
var mix = []struct{ provider, fixture, eventID, email string }{
	{"stripe", "stripe/customer.created.json", "evt_1QcustCreated01", "jane.doe@example.com"},
	{"clerk", "clerk/user.created.json", "", "ada@example.com"},
}

// source is one provider of the mix, with a fresh secret and its fixture.
type source struct {
	p       providers.Provider
	secret  string
	body    []byte
	eventID string // the fixture's event id, made new for each webhook; "" when the headers carry the id
	email   string // the fixture's email, made new for each webhook
}

func newSources() ([]source, error) {
	var sources []source
	for _, m := range mix {
		p, err := providers.Lookup(m.provider)
		if err != nil {
			return nil, err
		}
		body, err := os.ReadFile(filepath.Join("providers", "testdata", m.fixture))
		if err != nil {
			return nil, fmt.Errorf("%w (run from the repository root, as bench/load.sh does)", err)
		}
		// Were a value gone from the fixture, every webhook would repeat one
		// event, and the bridge answer all but the first as duplicates.
		if !bytes.Contains(body, []byte(m.email)) || m.eventID != "" && !bytes.Contains(body, []byte(`"`+m.eventID+`"`)) {
			return nil, fmt.Errorf("%s no longer holds %q or %q, which each webhook replaces", m.fixture, m.email, m.eventID)
		}
		sources = append(sources, source{p: p, secret: p.Scheme.NewSecret(), body: body, eventID: m.eventID, email: m.email})
	}
	return sources, nil
}

// generator makes distinct signed webhooks from each source in turn, each
// with its own event or delivery id and email, signed when it is made.
type generator struct {
	base    string
	n       int
	sources []source
}

type target struct {
	Method string              `json:"method"`
	URL    string              `json:"url"`
	Body   string              `json:"body"`
	Header map[string][]string `json:"header"`
}

func (g *generator) next() (target, error) {
	g.n++
	now := time.Now()
	id := fmt.Sprintf("load_%d_%d", now.UnixNano(), g.n)
	s := g.sources[g.n%len(g.sources)]
	body := s.body
	if s.eventID != "" {
		body = bytes.Replace(body, []byte(`"`+s.eventID+`"`), []byte(`"evt_`+id+`"`), 1)
	}
	body = bytes.Replace(body, []byte(s.email), []byte(id+"@example.com"), 1)
	h, err := s.p.Scheme.Sign(s.secret, "msg_"+id, body, now)
	if err != nil {
		return target{}, fmt.Errorf("sign a %s webhook: %w", s.p.Name, err)
	}
	h.Set("Content-Type", "application/json")
	return target{"POST", g.base + s.p.Route(), base64.StdEncoding.EncodeToString(body), h}, nil
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

// attack runs one vegeta phase, feeding it targets as it asks for them;
// vegeta's own complaints go to stderr.
func attack(vegetaPath string, gen *generator, rate int, d time.Duration, stderr io.Writer) (report, error) {
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
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		return report{}, fmt.Errorf("start vegeta (bench/load.sh installs it): %w", err)
	}
	fed := make(chan error, 1)
	go func() { fed <- feed(stdin, gen) }()
	if err := cmd.Wait(); err != nil {
		return report{}, fmt.Errorf("vegeta attack: %w", err)
	}
	if err := <-fed; err != nil {
		return report{}, err
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

// feed writes targets to stdin until vegeta closes its end, when the phase
// is over and the write fails, or until gen cannot make one.
func feed(stdin io.WriteCloser, gen *generator) error {
	defer stdin.Close()
	enc := json.NewEncoder(bufio.NewWriter(stdin))
	for {
		t, err := gen.next()
		if err != nil {
			return err
		}
		if enc.Encode(t) != nil {
			return nil
		}
	}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
func mib(b int64) float64        { return float64(b) / (1 << 20) }
