// Package e2e holds the end-to-end tests: each builds nothing of its own,
// but starts the bridge's real binary as a process, as Fly.io would, against
// a fake Reditus on loopback, and judges it by what it answers, logs and
// journals. This file is their one harness: the binary, the process, the
// fake Reditus, and the signed post.
package e2e

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	_ "modernc.org/sqlite" // the "sqlite" driver, for journalDB

	"github.com/getreditus/reditus-bridge/config"
	"github.com/getreditus/reditus-bridge/internal/fakereditus"
	"github.com/getreditus/reditus-bridge/internal/webhooktest"
	"github.com/getreditus/reditus-bridge/journal"
	"github.com/getreditus/reditus-bridge/outcome"
	"github.com/getreditus/reditus-bridge/providers"
)

// binary is the bridge built once for the whole run, by TestMain, with
// -tags e2e: the one thing the tag adds (verify/paypal_e2e.go) is that
// PayPal trusts the bridge's development certificate for every webhook id,
// so that `simulate paypal` and these tests can sign PayPal's webhooks,
// which only PayPal can otherwise. productionBinary, built without it as the
// Dockerfile builds, is for the tests that prove no such trust ships.
var binary, productionBinary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "reditus-bridge-e2e")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "reditus-bridge")
	productionBinary = filepath.Join(dir, "reditus-bridge-production")
	for _, b := range []struct{ out, tags string }{{binary, "e2e"}, {productionBinary, ""}} {
		build := exec.Command("go", "build", "-tags", b.tags, "-o", b.out, ".")
		build.Dir = ".."
		if out, err := build.CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "go build: %v\n%s", err, out)
			os.RemoveAll(dir)
			os.Exit(1)
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// The secrets of a live bridge (liveEnv), and what the tests sign with.
const (
	apiKey        = "rk_live_e2e_reditus_key"
	adminToken    = "e2e-admin-token-5f0c2a9e-7b1d"
	stripeSecret  = "whsec_e2e_stripe_signing_secret"
	genericSecret = "whsec_aG9zdGlsZS1qb3VybmFsLWdlbmVyaWMta2V5" // "hostile-journal-generic-key"
	supabaseToken = "e2e-supabase-bearer-token"
)

// devSecret is the local default's public development secret: anyone who
// can reach a bridge in the local default can sign with it.
var devSecret = config.DevelopmentSecret.Reveal()

// liveSecrets are the webhook secrets liveEnv configures, by provider.
var liveSecrets = map[string]string{"stripe": stripeSecret, "generic": genericSecret, "supabase": supabaseToken}

// liveEnv is a live bridge's environment: Stripe, Supabase and the generic
// endpoint on, sending to red, with /admin on; extra comes last and wins.
func liveEnv(red *fakeReditus, extra ...string) []string {
	env := []string{"REDITUS_API_KEY=" + apiKey, "REDITUS_API_URL=" + red.BaseURL, "ADMIN_TOKEN=" + adminToken}
	for provider, secret := range liveSecrets {
		env = append(env, strings.ToUpper(provider)+"_WEBHOOK_SECRET="+secret)
	}
	return append(env, extra...)
}

// ---- the process ----

// bridge is a running bridge.
type bridge struct {
	cmd    *exec.Cmd
	path   string // the binary
	env    []string
	base   string           // http://127.0.0.1:port
	errOut *webhooktest.Log // stderr, written until the process is gone
	done   chan error

	mu  sync.Mutex
	log []map[string]any
}

// start runs the binary with exactly env (nothing inherited, so that the
// machine's own variables cannot change the test) and waits until /healthz
// answers. PORT 0 lets the kernel pick a port, on loopback, and the journal
// is the test's own (a DATA_DIR in env wins), so that no run sees another's.
func start(t *testing.T, env ...string) *bridge {
	t.Helper()
	return startBinary(t, binary, env...)
}

// startBinary is start for the binary at path.
func startBinary(t *testing.T, path string, env ...string) *bridge {
	t.Helper()
	env = append([]string{"PORT=0", "HOST=127.0.0.1", "DATA_DIR=" + t.TempDir()}, env...)
	p := &bridge{cmd: exec.Command(path), path: path, env: env, errOut: new(webhooktest.Log), done: make(chan error, 1)}
	p.cmd.Env = env
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p.cmd.Stderr = p.errOut
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	addr := make(chan string, 1)
	go p.readLog(t, stdout, addr)
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		if t.Failed() {
			t.Logf("bridge stderr: %s\nlog: %v", p.errOut.String(), p.lines())
		}
	})

	select {
	case a := <-addr:
		p.base = "http://127.0.0.1:" + a[strings.LastIndex(a, ":")+1:]
	case err := <-p.done:
		t.Fatalf("bridge exited before listening: %v\n%s", err, p.errOut.String())
	case <-time.After(10 * time.Second):
		t.Fatal("bridge did not log its listen address within 10s")
	}
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		resp, err := http.Get(p.base + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("/healthz not ready: %v", err)
		}
	}
}

// readLog keeps every JSON line the bridge logs, sends the listening line's
// address to addr, and reports the exit on done.
func (p *bridge) readLog(t *testing.T, stdout io.Reader, addr chan<- string) {
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		var line map[string]any
		if json.Unmarshal(sc.Bytes(), &line) != nil {
			t.Errorf("log line is not JSON: %q", sc.Text())
			continue
		}
		p.mu.Lock()
		p.log = append(p.log, line)
		p.mu.Unlock()
		if line["msg"] == "listening" {
			addr <- line["addr"].(string)
		}
	}
	p.done <- p.cmd.Wait()
}

// restart starts the bridge again with the environment it had, DATA_DIR
// included; p must have exited.
func (p *bridge) restart(t *testing.T) *bridge {
	t.Helper()
	return startBinary(t, p.path, p.env...)
}

// stop sends SIGTERM and waits for a clean exit.
func (p *bridge) stop(t *testing.T) {
	t.Helper()
	p.signal(t, syscall.SIGTERM)
	p.exited(t)
}

func (p *bridge) signal(t *testing.T, sig os.Signal) {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
}

// exited waits for the bridge, signalled already, to exit cleanly.
func (p *bridge) exited(t *testing.T) {
	t.Helper()
	select {
	case err := <-p.done:
		if err != nil {
			t.Fatalf("bridge exited with %v after SIGTERM", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("bridge did not exit within 20s of SIGTERM")
	}
}

// shuttingDown waits for the bridge, sent SIGTERM, to log that it is
// shutting down, and returns the grace it gives the webhooks in flight.
func (p *bridge) shuttingDown(t *testing.T) time.Duration {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		for _, line := range p.lines() {
			if line["msg"] == "shutting down: finishing in-flight webhooks" {
				grace, err := time.ParseDuration(fmt.Sprint(line["grace"]))
				if err != nil {
					t.Fatalf("the shutting down line's grace: %v", err)
				}
				return grace
			}
		}
	}
	t.Fatal("the bridge did not log that it is shutting down within 20s")
	return 0
}

// kill ends the bridge with SIGKILL, as a crash or an OOM kill would: no
// shutdown, no flush.
func (p *bridge) kill(t *testing.T) {
	t.Helper()
	p.signal(t, syscall.SIGKILL)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		t.Fatal("the bridge did not die within 10s of SIGKILL")
	}
}

// lines is every line the bridge has logged.
func (p *bridge) lines() []map[string]any {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]map[string]any(nil), p.log...)
}

// logged reports whether the bridge has logged a line with this message.
func (p *bridge) logged(msg string) bool {
	for _, line := range p.lines() {
		if line["msg"] == msg {
			return true
		}
	}
	return false
}

// logHolds reports the first of words found in the bridge's log, or "".
func (p *bridge) logHolds(words ...string) string {
	text := fmt.Sprint(p.lines())
	for _, w := range words {
		if strings.Contains(text, w) {
			return w
		}
	}
	return ""
}

// peakRSS is the bridge's peak resident set size (VmHWM), in bytes.
func (p *bridge) peakRSS(t *testing.T) int {
	t.Helper()
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	for _, line := range strings.Split(string(status), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(rest), " kB"))
			return kb << 10
		}
	}
	t.Fatal("no VmHWM in /proc status")
	return 0
}

// metric is the value of a metric on the bridge's /metrics (name with its
// labels, as /metrics writes them), or -1 when there is none.
func (p *bridge) metric(t *testing.T, name string) int {
	t.Helper()
	resp, err := http.Get(p.base + "/metrics")
	if err != nil {
		t.Fatalf("GET /metrics: %v", err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			n, _ := strconv.ParseFloat(v, 64)
			return int(n)
		}
	}
	return -1
}

// runCommand runs the binary with args (a command: check, simulate, events,
// backfill...) and exactly env, and returns its stdout, stderr and exit
// code. A bridge that starts serving instead of answering is stopped after
// 20 seconds, and the test fails.
func runCommand(t *testing.T, env []string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	return runBinary(t, binary, env, args...)
}

// runBinary is runCommand for the binary at path.
func runBinary(t *testing.T, path string, env []string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Env = append([]string{"PORT=0", "HOST=127.0.0.1", "DATA_DIR=" + t.TempDir()}, env...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	_ = cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("%v did not exit: it served instead\nstdout: %s", args, out.String())
	}
	return out.String(), errOut.String(), cmd.ProcessState.ExitCode()
}

// ---- requests ----

// client keeps connections for the floods, and shows redirects as they are.
var client = &http.Client{
	Timeout:       30 * time.Second,
	Transport:     &http.Transport{MaxIdleConnsPerHost: 16},
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// answer is the bridge's answer to a webhook.
type answer struct {
	Status     int    `json:"-"`
	Outcome    string `json:"outcome"`
	Reason     string `json:"reason"`
	ReferralID string `json:"referral_id"`
}

// String is the answer as the tests compare it: "200 forwarded".
func (a answer) String() string { return fmt.Sprintf("%d %s", a.Status, a.Outcome) }

// signed is a request that posts body to provider's route, signed as the
// provider signs (its scheme in the registry) with secret at time at, as
// delivery id where the scheme signs one. It reports a provider it cannot
// sign for with t.Errorf, so that goroutines may call it, and then leaves
// the request unsigned.
func (p *bridge) signed(t *testing.T, provider, secret, id string, body []byte, at time.Time) *http.Request {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, p.base+"/webhooks/"+provider, bytes.NewReader(body))
	prov, err := providers.Lookup(provider)
	if err == nil {
		req.Header, err = prov.Scheme.Sign(secret, id, body, at)
	}
	if err != nil {
		t.Errorf("sign for %s: %v", provider, err)
		req.Header = http.Header{}
	}
	req.Header.Set("Content-Type", "application/json")
	return req
}

// post sends body to provider's route, signed now with secret as delivery id
// (see signed), and returns the bridge's answer. A request that fails is
// reported with t.Errorf, so that goroutines may post, and answered 0.
func (p *bridge) post(t *testing.T, provider, secret, id string, body []byte) answer {
	t.Helper()
	return answerTo(t, p.signed(t, provider, secret, id, body, time.Now()))
}

// answerTo sends req and decodes the bridge's answer, failing t (with
// t.Errorf) when there is none or it is not JSON.
func answerTo(t *testing.T, req *http.Request) answer {
	t.Helper()
	status, _, body := do(t, req)
	a := answer{Status: status}
	if status != 0 {
		if err := json.Unmarshal(body, &a); err != nil {
			t.Errorf("%s %s: answer %d is not JSON: %v: %.200s", req.Method, req.URL.Path, status, err, body)
		}
	}
	return a
}

// send makes one request to the bridge; see do.
func (p *bridge) send(t *testing.T, method, path string, header http.Header, body []byte) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, p.base+path, bytes.NewReader(body))
	if err != nil {
		t.Errorf("%s %s: %v", method, path, err)
		return 0, nil, nil
	}
	for k, v := range header {
		req.Header[k] = v
	}
	if h := header.Get("Host"); h != "" {
		req.Host = h
	}
	return do(t, req)
}

// do sends req and returns the status, headers and body (at most 8 MiB of
// it). It reports a failed request with t.Errorf, so that goroutines may
// call it, and then returns status 0.
func do(t *testing.T, req *http.Request) (int, http.Header, []byte) {
	t.Helper()
	resp, err := client.Do(req)
	if err != nil {
		t.Errorf("%s %s: %v", req.Method, req.URL.Path, err)
		return 0, nil, nil
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	return resp.StatusCode, resp.Header, b
}

// delivery is one referred signup, as its provider sends it.
type delivery struct {
	provider string
	id       string // the delivery id its scheme signs, if any
	email    string
	body     []byte
}

// signup is the generic endpoint's referred signup of user n, delivery
// msg_n, for n@example.com (uid usr_n).
func signup(n string) delivery {
	email := n + "@example.com"
	return delivery{"generic", "msg_" + n, email, []byte(`{"email":"` + email + `","uid":"usr_` + n + `","affiliate_slug":"john"}`)}
}

// stripeSignup is a distinct Stripe customer.created, referred.
func stripeSignup(name string) delivery {
	email := name + "@example.com"
	return delivery{"stripe", "", email, []byte(fmt.Sprintf(
		`{"id":"evt_%s","object":"event","type":"customer.created","livemode":true,
		"data":{"object":{"id":"cus_%s","object":"customer","email":%q,"livemode":true,"metadata":{"red":"john"}}}}`,
		name, name, email))}
}

// supabaseSignup is a distinct Supabase INSERT into auth.users, referred by
// the cookie the sign-up form copied into the user's metadata.
func supabaseSignup(i int, name string) delivery {
	email := name + "@example.com"
	return delivery{"supabase", "", email, []byte(fmt.Sprintf(
		`{"type":"INSERT","table":"users","schema":"auth","old_record":null,
		"record":{"id":"5d0c8f3e-2a1b-4c9d-8e7f-%012d","email":%q,"raw_app_meta_data":{"provider":"email"},
		"raw_user_meta_data":{"gr_id":"1732492800:0f8fad5b-d9cb-469f-a165-70867728950e::pk_live_3x:::john:::s_81c2:affiliate"}}}`,
		i, email))}
}

// deliver posts d to p, signed with liveEnv's secret for its provider.
func (p *bridge) deliver(t *testing.T, d delivery) answer {
	t.Helper()
	return p.post(t, d.provider, liveSecrets[d.provider], d.id, d.body)
}

// expect delivers d to p and fails t unless the answer is want ("200
// forwarded", ...).
func expect(t *testing.T, p *bridge, d delivery, want string) {
	t.Helper()
	if got := p.deliver(t, d); got.String() != want {
		t.Errorf("%s %s: %s, want %s", d.provider, d.email, got, want)
	}
}

// deliverAll delivers every one of ds at once, each to the bridge its index
// picks, and fails t (with t.Errorf: goroutines may call it) unless each is
// answered want.
func deliverAll(t *testing.T, ds []delivery, to func(i int) *bridge, want string) {
	t.Helper()
	var wg sync.WaitGroup
	for i, d := range ds {
		wg.Go(func() { expect(t, to(i), d, want) })
	}
	wg.Wait()
}

// waitFor polls done until it holds or the deadline passes, and says how
// long it took.
func waitFor(t *testing.T, within time.Duration, what string, done func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for deadline := start.Add(within); !done(); time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, within)
		}
	}
	return time.Since(start)
}

// ---- the fake Reditus ----

// mood is how fakeReditus answers.
type mood string

const (
	up           mood = "up"     // as Reditus
	down         mood = "down"   // 503 at once, with Retry-After: 0
	rejecting    mood = "reject" // 400: an unknown slug, in words that quote the email
	unauthorized mood = "401"    // 401: the bridge's key
	refusing     mood = "refuse" // 401 to a uid naming "unauthorized", reject to the rest
)

// fakeReditus is the Reditus of these tests: internal/fakereditus with
// apiKey, whose every endpoint answers as its mood says, after delay while
// up. Down answers Retry-After: 0, so that the client's in-request retries
// cost no waiting: a webhook is answered in milliseconds, and a delivery is
// never in flight for long when a test kills the bridge.
type fakeReditus struct {
	*fakereditus.Server
	mood  atomic.Value // mood
	delay atomic.Int64 // a time.Duration
}

func newReditus(t *testing.T, opts ...fakereditus.Option) *fakeReditus {
	red := &fakeReditus{Server: fakereditus.New(t, append([]fakereditus.Option{fakereditus.WithKey(apiKey)}, opts...)...)}
	red.set(up)
	red.RespondAll(red.respond)
	return red
}

func (red *fakeReditus) set(m mood) { red.mood.Store(m) }

func (red *fakeReditus) respond(w http.ResponseWriter, r *fakereditus.Request) {
	m := red.mood.Load().(mood)
	if m == refusing { // each customer its own answer, whichever the worker sends first
		m = rejecting
		if strings.Contains(r.Conversion.UID, "unauthorized") {
			m = unauthorized
		}
	}
	switch m {
	case down:
		fakereditus.Status(http.StatusServiceUnavailable, ``, "Retry-After", "0")(w, r)
	case rejecting: // quoting the customer, as Reditus's errors may
		fakereditus.Status(http.StatusBadRequest, `{"errors":[{"detail":"Affiliate john not found (referral `+r.Conversion.Email+`)"}]}`)(w, r)
	case unauthorized:
		fakereditus.Status(http.StatusUnauthorized, `{"message":"Unauthenticated."}`)(w, r)
	default:
		// A slow Reditus still does the work when the bridge gave up waiting.
		time.Sleep(time.Duration(red.delay.Load()))
		red.Reditus(w, r)
	}
}

// created counts the conversions Reditus created for email.
func (red *fakeReditus) created(email string) int {
	n := 0
	for _, c := range red.Created() {
		if c.Email == email {
			n++
		}
	}
	return n
}

// createdOnce fails t unless Reditus created exactly one conversion for
// each of ds, and nothing else.
func (red *fakeReditus) createdOnce(t *testing.T, ds []delivery) {
	t.Helper()
	for _, d := range ds {
		if n := red.created(d.email); n != 1 {
			t.Errorf("%s: %d conversions created, want exactly 1", d.email, n)
		}
	}
	if total := len(red.Created()); total != len(ds) {
		t.Errorf("Reditus created %d conversions, want %d", total, len(ds))
	}
}

// ---- the journal, from outside the bridge ----

// lister is what the tests read of a journal the bridges hold, opened with
// webhooktest.OpenStore.
type lister interface {
	List(context.Context, journal.Filter) ([]journal.Record, error)
}

// records lists the journal's records, all of them.
func records(t *testing.T, s lister) []journal.Record {
	t.Helper()
	recs, err := s.List(context.Background(), journal.Filter{Limit: journal.MaxLimit})
	if err != nil {
		t.Fatalf("list the journal: %v", err)
	}
	return recs
}

// outcomes counts the journal's records by outcome.
func outcomes(t *testing.T, s lister) map[outcome.Word]int {
	t.Helper()
	n := map[outcome.Word]int{}
	for _, r := range records(t, s) {
		n[r.Outcome]++
	}
	return n
}

// sqliteTime is how the SQLite journal writes a time (journal/sqlite.go).
const sqliteTime = "2006-01-02T15:04:05.000000Z"

// journalDB opens the SQLite journal in dir beside the bridge (WAL lets
// both at it), for what neither /admin nor the events command shows: raw
// bodies, a lease's end, and SQLite's write lock.
func journalDB(t *testing.T, dir string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "bridge.db")+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// ---- /admin ----

// asAdmin is the header of an operator logged in with token, adding the
// name, value pairs of extra.
func asAdmin(token string, extra ...string) http.Header {
	req, _ := http.NewRequest(http.MethodGet, "/", nil)
	req.SetBasicAuth("admin", token)
	for i := 0; i+1 < len(extra); i += 2 {
		req.Header.Add(extra[i], extra[i+1])
	}
	return req.Header
}

// adminEvent is one event as GET /admin/api/events shows it.
type adminEvent struct {
	ID         int64  `json:"id"`
	Provider   string `json:"provider"`
	DeliveryID string `json:"delivery_id"`
	EventType  string `json:"event_type"`
	Outcome    string `json:"outcome"`
	Reason     string `json:"reason"`
	Attempts   int    `json:"attempts"`
	ReferralID string `json:"referral_id"`
	Email      string `json:"email"`
}

// events reads GET /admin/api/events?query as the operator.
func (p *bridge) events(t *testing.T, query string) []adminEvent {
	t.Helper()
	status, _, body := p.send(t, http.MethodGet, "/admin/api/events?"+query, asAdmin(adminToken), nil)
	var list struct{ Events []adminEvent }
	if err := json.Unmarshal(body, &list); status != http.StatusOK || err != nil {
		t.Fatalf("GET /admin/api/events?%s: %d %s (%v)", query, status, body, err)
	}
	return list.Events
}

// event is the journaled event with delivery id, or the zero adminEvent.
func (p *bridge) event(t *testing.T, id string) adminEvent {
	t.Helper()
	evs := p.events(t, url.Values{"event_id": {id}}.Encode())
	if len(evs) == 0 {
		return adminEvent{}
	}
	return evs[0]
}

// ---- raw connections ----

// held is an attacker's connection: a request sent all but its end, then held
// open. answer gets what the bridge answered on it, if anything.
type held struct {
	conn    net.Conn
	written chan struct{} // closed once head and body are written (or failed)
	answer  chan heldAnswer
}

type heldAnswer struct {
	status int
	body   string
	err    error
}

// hold opens a connection to the bridge at addr, writes head and body, and
// keeps the connection open until the test ends.
func hold(t *testing.T, addr, head string, body []byte) *held {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { conn.Close() })
	h := &held{conn: conn, written: make(chan struct{}), answer: make(chan heldAnswer, 1)}
	go func() {
		// A write may fail: the bridge is free to answer and close first.
		_, _ = conn.Write(append([]byte(head), body...))
		close(h.written)
		h.answer <- answerOn(conn)
	}()
	return h
}

// answerOn reads the bridge's answer on conn.
func answerOn(conn net.Conn) heldAnswer {
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return heldAnswer{err: err}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return heldAnswer{status: resp.StatusCode, body: string(body), err: err}
}
