// Command outage measures what a Reditus outage costs Reditus and the
// webhooks' senders, with the built bridge as a process: a fake Reditus on
// loopback answers 500 to everything while 16 senders post 3,000 distinct
// signed webhooks; it counts the calls Reditus got in the first 60 s and the
// webhooks' answer times. Then Reditus comes back (201), and it measures how
// long the bridge takes to deliver all 3,000, and that each was created
// once. Every phase has a deadline: it stops by itself. bench/outage.sh
// builds what it needs and runs it; BENCHMARKS.md has results.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/getreditus/reditus-bridge/bench/process"
	"github.com/getreditus/reditus-bridge/providers"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "outage:", err)
		os.Exit(1)
	}
}

// The targets (issue 18), on a 2-core machine.
const (
	targetCalls    = 100
	targetP99      = 50 * time.Millisecond
	targetRecovery = 15 * time.Second
)

// options are the command's flags.
type options struct {
	bridge   string
	webhooks int
	senders  int
	outage   time.Duration // at least this long, and until every webhook is answered
	recovery time.Duration // the longest the delivery after recovery is waited for
	rounds   int
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("outage", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.bridge, "bridge", "", "the built bridge binary")
	fs.IntVar(&o.webhooks, "webhooks", 3000, "distinct webhooks sent during the outage")
	fs.IntVar(&o.senders, "senders", 16, "concurrent senders")
	fs.DurationVar(&o.outage, "outage", 60*time.Second, "how long Reditus is down at least (and until every webhook is answered); its calls are counted over this")
	fs.DurationVar(&o.recovery, "recovery", 3*time.Minute, "how long the delivery after recovery is waited for, at most")
	fs.IntVar(&o.rounds, "rounds", 1, "how many rounds, each with a fresh bridge and DATA_DIR; then the medians")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if o.bridge == "" {
		return o, errors.New("-bridge is required")
	}
	if o.rounds < 1 || o.webhooks < 1 || o.senders < 1 {
		return o, errors.New("-rounds, -webhooks and -senders must be at least 1")
	}
	return o, nil
}

// run measures -rounds rounds and prints each, then the medians against the
// targets.
func run(args []string, stdout, stderr io.Writer) error {
	o, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	var results []result
	for round := 1; round <= o.rounds; round++ {
		r, err := measure(o)
		if err != nil {
			return fmt.Errorf("round %d: %w", round, err)
		}
		fmt.Fprintf(stdout, "round %d: %s\n", round, r)
		results = append(results, r)
	}
	summarize(stdout, o, results)
	return nil
}

// result is what one round showed.
type result struct {
	window     time.Duration // -outage
	callsIn60  int           // Reditus calls in the first -outage of the outage
	callsAll   int           // Reditus calls during the whole outage
	callsSent  int           // Reditus calls until every webhook was answered
	answered   time.Duration // until the last webhook was answered
	statuses   map[int]int   // the webhooks' answers
	p50, p99   time.Duration // the webhooks' answer times
	slowest    time.Duration
	recovery   time.Duration // from Reditus's return to the last conversion created
	delivered  int           // distinct conversions created
	duplicates int           // conversions created more than once
	callsAfter int           // Reditus calls after its return
}

func (r result) String() string {
	return fmt.Sprintf("calls in the first %v %d (%d until every webhook was answered; whole outage %d); answers %v in %.1f s, p50 %.1f ms, p99 %.1f ms, max %.1f ms; after recovery: %d delivered in %.1f s (%d duplicates), %d calls",
		r.window, r.callsIn60, r.callsSent, r.callsAll, r.statuses, r.answered.Seconds(), ms(r.p50), ms(r.p99), ms(r.slowest), r.delivered, r.recovery.Seconds(), r.duplicates, r.callsAfter)
}

// summarize prints the medians of results and whether they meet the
// targets.
func summarize(w io.Writer, o options, results []result) {
	// The median round's value: the upper of the middle two for an even
	// number of rounds.
	med := func(f func(result) float64) float64 {
		var v []float64
		for _, r := range results {
			v = append(v, f(r))
		}
		slices.Sort(v)
		return v[len(v)/2]
	}
	calls := med(func(r result) float64 { return float64(r.callsIn60) })
	p99 := med(func(r result) float64 { return ms(r.p99) })
	rec := med(func(r result) float64 { return r.recovery.Seconds() })
	worst := 0
	missing := 0
	for _, r := range results {
		worst = max(worst, r.duplicates)
		missing = max(missing, o.webhooks-r.delivered)
	}
	fmt.Fprintf(w, "\n%d webhooks from %d senders while Reditus answers 500; medians of %d round(s):\n", o.webhooks, o.senders, len(results))
	fmt.Fprintf(w, "  Reditus calls in the first %v:  %6.0f   target <= %d      %s\n", o.outage, calls, targetCalls, verdict(calls <= targetCalls))
	fmt.Fprintf(w, "  webhook answer p99:               %6.1f ms   target < %v    %s\n", p99, targetP99, verdict(p99 < ms(targetP99)))
	fmt.Fprintf(w, "  all delivered after recovery in:  %6.1f s    target < %v    %s\n", rec, targetRecovery, verdict(rec < targetRecovery.Seconds() && missing == 0))
	fmt.Fprintf(w, "  each delivered once:              %d missing, %d duplicates (worst round)   %s\n", missing, worst, verdict(missing == 0 && worst == 0))
}

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "MISSED"
}

// measure runs one round: a fresh fake Reditus, bridge and DATA_DIR.
func measure(o options) (result, error) {
	red, err := startReditus()
	if err != nil {
		return result{}, err
	}
	defer red.server.Close()
	dataDir, err := os.MkdirTemp("", "reditus-bridge-outage-*")
	if err != nil {
		return result{}, err
	}
	defer os.RemoveAll(dataDir)
	generic, err := providers.Lookup("generic")
	if err != nil {
		return result{}, err
	}
	secret := generic.Scheme.NewSecret()
	b, err := process.Start(o.bridge, "REDITUS_API_KEY=rk_outage_test", "REDITUS_API_URL="+red.url, "DATA_DIR="+dataDir,
		generic.SecretVar()+"="+secret)
	if err != nil {
		return result{}, err
	}
	defer b.Stop()

	r := result{window: o.outage}
	red.down.Store(true)
	start := time.Now()
	latencies, statuses := send(o, b.Base+generic.Route(), func(id string, body []byte) (http.Header, error) {
		return generic.Scheme.Sign(secret, id, body, time.Now())
	})
	r.answered, r.callsSent = time.Since(start), red.calls()
	time.Sleep(time.Until(start.Add(o.outage)))
	r.callsIn60 = red.callsBefore(start.Add(o.outage))
	r.callsAll = red.calls()
	r.statuses, r.p50, r.p99, r.slowest = statuses, percentile(latencies, 50), percentile(latencies, 99), percentile(latencies, 100)

	back := time.Now()
	red.down.Store(false)
	last, ok := red.waitCreated(o.webhooks, back.Add(o.recovery))
	r.recovery = last.Sub(back)
	if !ok {
		r.recovery = o.recovery
	}
	// Whatever would be sent twice is sent within the worker's next polls.
	time.Sleep(3 * time.Second)
	r.delivered, r.duplicates = red.created()
	r.callsAfter = red.calls() - r.callsAll
	return r, nil
}

// send posts o.webhooks distinct signed webhooks to url from o.senders
// senders, and returns each answer's time and the count of each status (0:
// no answer).
func send(o options, url string, sign func(id string, body []byte) (http.Header, error)) ([]time.Duration, map[int]int) {
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: o.senders}}
	next := make(chan int)
	go func() {
		for i := range o.webhooks {
			next <- i
		}
		close(next)
	}()
	var mu sync.Mutex
	var latencies []time.Duration
	statuses := map[int]int{}
	var wg sync.WaitGroup
	for range o.senders {
		wg.Go(func() {
			for i := range next {
				d, status := post(client, url, i, sign)
				mu.Lock()
				latencies = append(latencies, d)
				statuses[status]++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return latencies, statuses
}

// post sends webhook i, signed when it is sent, and says how long its
// answer took and what it was.
func post(client *http.Client, url string, i int, sign func(string, []byte) (http.Header, error)) (time.Duration, int) {
	id := fmt.Sprintf("msg_outage_%05d", i)
	body := fmt.Appendf(nil, `{"email":"outage-%05d@example.com","uid":"usr_outage_%05d","affiliate_slug":"john"}`, i, i)
	h, err := sign(id, body)
	if err != nil {
		return 0, 0
	}
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(string(body)))
	if err != nil {
		return 0, 0
	}
	req.Header = h
	req.Header.Set("Content-Type", "application/json")
	start := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		return time.Since(start), 0
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return time.Since(start), resp.StatusCode
}

func percentile(v []time.Duration, p int) time.Duration {
	if len(v) == 0 {
		return 0
	}
	v = slices.Sorted(slices.Values(v))
	return v[min(len(v)-1, len(v)*p/100)]
}

// fakeReditus answers 500 to every call while down, else creates the
// conversion (201); it keeps when each call came and how often each
// conversion was created.
type fakeReditus struct {
	url    string
	server *http.Server
	down   atomic.Bool

	mu      sync.Mutex
	at      []time.Time    // every call's arrival
	byEmail map[string]int // conversions created
	last    time.Time      // the last conversion created
}

func startReditus() (*fakeReditus, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	f := &fakeReditus{url: "http://" + ln.Addr().String() + "/api", byEmail: map[string]int{}}
	f.server = &http.Server{Handler: http.HandlerFunc(f.serve)}
	go func() { _ = f.server.Serve(ln) }()
	return f, nil
}

func (f *fakeReditus) serve(w http.ResponseWriter, r *http.Request) {
	var conv struct{ Email string }
	_ = json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&conv)
	now := time.Now()
	f.mu.Lock()
	f.at = append(f.at, now)
	down := f.down.Load()
	if !down {
		f.byEmail[conv.Email]++
		f.last = now
	}
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	if down {
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = io.WriteString(w, `{"message":"Server Error"}`)
		return
	}
	w.WriteHeader(http.StatusCreated)
	_, _ = io.WriteString(w, `{"data":{"id":"ref_outage","attributes":{"state":"lead"}}}`)
}

func (f *fakeReditus) calls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.at)
}

func (f *fakeReditus) callsBefore(t time.Time) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, at := range f.at {
		if at.Before(t) {
			n++
		}
	}
	return n
}

// created says how many distinct conversions were created, and how many of
// them more than once.
func (f *fakeReditus) created() (distinct, duplicates int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, n := range f.byEmail {
		if n > 1 {
			duplicates++
		}
	}
	return len(f.byEmail), duplicates
}

// waitCreated waits until n distinct conversions are created, or until
// deadline, and returns when the last one was.
func (f *fakeReditus) waitCreated(n int, deadline time.Time) (time.Time, bool) {
	for ; time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		f.mu.Lock()
		done, last := len(f.byEmail) >= n, f.last
		f.mu.Unlock()
		if done {
			return last, true
		}
	}
	return time.Time{}, false
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
