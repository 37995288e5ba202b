package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stripe/stripe-go/v76/webhook"

	"github.com/getreditus/reditus-bridge/internal/testenv"
	"github.com/getreditus/reditus-bridge/reditus"
)

// The end-to-end tests build the real binary and run it as a process, as
// Fly.io would, against a fake Reditus on loopback.

var binary struct {
	once sync.Once
	path string
	err  error
}

func buildBinary(t *testing.T) string {
	t.Helper()
	binary.once.Do(func() {
		dir, err := os.MkdirTemp("", "reditus-bridge-e2e")
		if err != nil {
			binary.err = err
			return
		}
		binary.path = filepath.Join(dir, "reditus-bridge")
		out, err := exec.Command("go", "build", "-o", binary.path, ".").CombinedOutput()
		if err != nil {
			binary.err = &buildError{err, out}
		}
	})
	if binary.err != nil {
		t.Fatalf("go build: %v", binary.err)
	}
	return binary.path
}

type buildError struct {
	err error
	out []byte
}

func (e *buildError) Error() string { return e.err.Error() + "\n" + string(e.out) }

func TestMain(m *testing.M) {
	code := m.Run()
	if binary.path != "" {
		os.RemoveAll(filepath.Dir(binary.path))
	}
	os.Exit(code)
}

// process is a running bridge.
type process struct {
	cmd  *exec.Cmd
	base string // http://127.0.0.1:port
	mu   sync.Mutex
	log  []map[string]any
	done chan error
}

// start runs the binary with exactly env (nothing inherited, so the machine's
// own variables cannot change the test) and waits until /healthz answers.
func start(t *testing.T, env ...string) *process {
	t.Helper()
	p := &process{cmd: exec.Command(buildBinary(t)), done: make(chan error, 1)}
	p.cmd.Env = append([]string{"PORT=0", "HOST=127.0.0.1"}, env...) // 0: the kernel picks a free port; loopback only
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	p.cmd.Stderr = &stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	addr := make(chan string, 1)
	go func() {
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
	}()
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		if t.Failed() {
			t.Logf("bridge stderr: %s\nlog: %v", stderr.String(), p.lines())
		}
	})

	select {
	case a := <-addr:
		p.base = "http://127.0.0.1:" + a[strings.LastIndex(a, ":")+1:]
	case err := <-p.done:
		t.Fatalf("bridge exited before listening: %v\n%s", err, stderr.String())
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

// logged reports whether the bridge has logged a line with this message.
func (p *process) logged(msg string) bool {
	for _, line := range p.lines() {
		if line["msg"] == msg {
			return true
		}
	}
	return false
}

func (p *process) lines() []map[string]any {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]map[string]any(nil), p.log...)
}

// stop sends SIGTERM and waits for a clean exit.
func (p *process) stop(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-p.done:
		if err != nil {
			t.Fatalf("bridge exited with %v after SIGTERM", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("bridge did not exit within 20s of SIGTERM")
	}
}

func postStripe(t *testing.T, base, fixture, secret string) (int, map[string]any) {
	t.Helper()
	body, err := os.ReadFile(filepath.Join("providers", "testdata", "stripe", fixture))
	if err != nil {
		t.Fatal(err)
	}
	signed := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: body, Secret: secret})
	req, _ := http.NewRequest(http.MethodPost, base+"/webhooks/stripe", bytes.NewReader(body))
	req.Header.Set("Stripe-Signature", signed.Header)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", fixture, err)
	}
	defer resp.Body.Close()
	var answer map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&answer); err != nil {
		t.Fatalf("answer to %s is not JSON: %v", fixture, err)
	}
	return resp.StatusCode, answer
}

// recorder is a fake Reditus that records conversions; slow delays the
// answer to conversions for that email.
type recorder struct {
	mu       sync.Mutex
	received []reditus.Conversion
	arrived  chan struct{} // gets a value when the slow conversion arrives
	slow     string
}

// newRecorder starts a recorder on loopback for the test and returns its URL.
func newRecorder(t *testing.T) (*recorder, string) {
	t.Helper()
	rec := &recorder{arrived: make(chan struct{}, 1)}
	fake := httptest.NewServer(rec)
	t.Cleanup(fake.Close)
	return rec, fake.URL
}

func (r *recorder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	var c reditus.Conversion
	_ = json.NewDecoder(req.Body).Decode(&c)
	r.mu.Lock()
	r.received = append(r.received, c)
	r.mu.Unlock()
	if c.Email != "" && c.Email == r.slow {
		r.arrived <- struct{}{}
		time.Sleep(500 * time.Millisecond)
	}
	w.WriteHeader(http.StatusCreated)
	_, _ = io.WriteString(w, `{"data":{"id":"ref_e2e","attributes":{"state":"lead"}}}`)
}

func TestEndToEndStripe(t *testing.T) {
	rec, fakeURL := newRecorder(t)
	rec.slow = "sam@example.org"
	const secret = "whsec_e2e_secret"
	p := start(t, "REDITUS_API_KEY=rk_live_e2e", "REDITUS_API_URL="+fakeURL+"/api", "STRIPE_WEBHOOK_SECRET="+secret)

	want := map[string]string{ // fixture -> outcome
		"customer.created.json":                         "forwarded",
		"checkout.session.completed.json":               "forwarded",
		"checkout.session.async_payment_succeeded.json": "forwarded",
		"customer.subscription.created.json":            "forwarded",
		"customer.created.no_referral.json":             "skipped",
	}
	for fixture, outcome := range want {
		status, answer := postStripe(t, p.base, fixture, secret)
		if status != http.StatusOK || answer["outcome"] != outcome {
			t.Errorf("%s: %d %v, want 200 %s", fixture, status, answer, outcome)
		}
	}
	if status, _ := postStripe(t, p.base, "customer.created.json", "whsec_forged"); status != http.StatusBadRequest {
		t.Errorf("forged signature: %d, want 400", status)
	}
	rec.mu.Lock()
	if len(rec.received) != 4 {
		t.Errorf("Reditus received %d conversions, want 4: %+v", len(rec.received), rec.received)
	}
	rec.mu.Unlock()

	// SIGTERM while a webhook is inside Reditus: it still gets its answer.
	type result struct {
		status int
		answer map[string]any
	}
	inFlight := make(chan result, 1)
	go func() {
		s, a := postStripe(t, p.base, "checkout.session.completed.guest.json", secret)
		inFlight <- result{s, a}
	}()
	<-rec.arrived
	p.stop(t)
	r := <-inFlight
	if r.status != http.StatusOK || r.answer["outcome"] != "forwarded" {
		t.Errorf("in-flight webhook during shutdown: %d %v, want 200 forwarded", r.status, r.answer)
	}
	if _, err := http.Get(p.base + "/healthz"); err == nil {
		t.Error("the bridge still answers after it exited")
	}

	var webhooks int
	for _, line := range p.lines() {
		if line["msg"] == "webhook" {
			webhooks++
		}
	}
	if webhooks != len(want)+2 {
		t.Errorf("%d webhook log lines for %d webhooks", webhooks, len(want)+2)
	}
	if last := p.lines()[len(p.lines())-1]; last["msg"] != "stopped" {
		t.Errorf("last log line %v, want stopped", last)
	}
}

// Every provider, end to end: `simulate` signs each provider's sample the
// provider's way with the configured secret, the running binary verifies it
// and the fake Reditus receives the conversion.
func TestEndToEndEveryProvider(t *testing.T) {
	rec, fakeURL := newRecorder(t)
	env := []string{
		"REDITUS_API_KEY=rk_live_e2e", "REDITUS_API_URL=" + fakeURL + "/api",
		"STRIPE_WEBHOOK_SECRET=whsec_e2e_stripe",
		"CLERK_WEBHOOK_SECRET=whsec_ZTJlLWNsZXJr",
		"STYTCH_WEBHOOK_SECRET=whsec_ZTJlLXN0eXRjaA==",
		"WORKOS_WEBHOOK_SECRET=e2e-workos",
		"SUPABASE_WEBHOOK_SECRET=e2e-supabase-bearer-token", // a chosen token: 16 characters at least
		"GENERIC_WEBHOOK_SECRET=whsec_ZTJlLWdlbmVyaWM=",
	}
	p := start(t, env...)
	providers := []string{"stripe", "clerk", "stytch", "workos", "supabase", "generic"}
	for i, provider := range providers {
		email := fmt.Sprintf("user%d@example.com", i)
		cmd := exec.Command(buildBinary(t), "simulate", provider, "--email", email, "--url", p.base+"/webhooks/"+provider)
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		if err != nil || !bytes.Contains(out, []byte(`"outcome": "forwarded"`)) {
			t.Errorf("simulate %s: %v\n%s", provider, err, out)
		}
	}
	p.stop(t)

	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.received) != len(providers) {
		t.Fatalf("Reditus received %d conversions, want %d: %+v", len(rec.received), len(providers), rec.received)
	}
	for i, c := range rec.received {
		if c.Email != fmt.Sprintf("user%d@example.com", i) || c.AffiliateSlug != "john" || c.GrID == "" || c.UID == "" {
			t.Errorf("%s: Reditus received %+v", providers[i], c)
		}
	}
}

// The generic endpoint's copy-paste sender (examples/generic/send.mjs), run
// by Node with the standardwebhooks package, reaches Reditus through the
// binary: the README's snippet and the bridge agree on Standard Webhooks.
func TestEndToEndGenericSenderInNode(t *testing.T) {
	node, err := exec.LookPath("node")
	_, statErr := os.Stat("examples/generic/node_modules/standardwebhooks")
	testenv.Require(t, err == nil && statErr == nil, "node, and `npm ci --prefix examples/generic`")
	rec, fakeURL := newRecorder(t)
	const secret = "whsec_bm9kZS1zZW5kZXItdGVzdA=="
	p := start(t, "REDITUS_API_KEY=rk_live_e2e", "REDITUS_API_URL="+fakeURL+"/api", "GENERIC_WEBHOOK_SECRET="+secret)

	cmd := exec.Command(node, "send.mjs", "--email", "node@example.com", "--uid", "usr_node", "--gr-id", "0f8fad5b-d9cb-469f-a165-70867728950e")
	cmd.Dir = "examples/generic"
	cmd.Env = append(os.Environ(), "REDITUS_BRIDGE_URL="+p.base, "REDITUS_BRIDGE_SECRET="+secret)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("node send.mjs: %v\n%s", err, out)
	}
	// A bare click id carries no slug, so this one is skipped, and says so;
	// the second send names the affiliate and is forwarded.
	if !bytes.Contains(out, []byte(`"outcome":"skipped"`)) {
		t.Errorf("bare click id: %s", out)
	}
	cmd = exec.Command(node, "send.mjs", "--email", "node@example.com", "--uid", "usr_node", "--gr-id", "rl:0f8fad5b-d9cb-469f-a165-70867728950e::pk:::john:::sid:affiliate")
	cmd.Dir = "examples/generic"
	cmd.Env = append(os.Environ(), "REDITUS_BRIDGE_URL="+p.base, "REDITUS_BRIDGE_SECRET="+secret)
	if out, err := cmd.CombinedOutput(); err != nil || !bytes.Contains(out, []byte(`"outcome":"forwarded"`)) {
		t.Fatalf("node send.mjs: %v\n%s", err, out)
	}
	p.stop(t)
	rec.mu.Lock()
	defer rec.mu.Unlock()
	want := reditus.Conversion{AffiliateSlug: "john", Email: "node@example.com", UID: "usr_node", GrID: "0f8fad5b-d9cb-469f-a165-70867728950e"}
	if len(rec.received) != 1 || rec.received[0] != want {
		t.Errorf("Reditus received %+v, want [%+v]", rec.received, want)
	}
}

// The README's first two minutes: a bridge with no configuration, and
// `simulate stripe` against it, which prints the dry-run conversion.
func TestEndToEndDryRunSimulate(t *testing.T) {
	p := start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for _, event := range []string{"customer.created", "checkout.session.completed", "customer.subscription.created"} {
		cmd := exec.CommandContext(ctx, buildBinary(t), "simulate", "stripe", "--event", event, "--url", p.base+"/webhooks/stripe")
		cmd.Env = []string{}
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("simulate %s: %v\n%s", event, err, out)
		}
		for _, want := range []string{"HTTP 200", `"outcome": "dry_run"`, `"affiliate_slug": "john"`, `"gr_id": "9b2f6c1e-7d4a-4e8b-a3c5-0f1e2d3c4b5a"`} {
			if !bytes.Contains(out, []byte(want)) {
				t.Errorf("simulate %s printed no %s:\n%s", event, want, out)
			}
		}
	}
	p.stop(t)
}

func TestCheck(t *testing.T) {
	tests := []struct {
		name string
		env  []string
		ok   bool
		want []string
	}{
		{"dry run", nil, true, []string{"the configuration is valid", "mode:      dry run", "stripe:    on, development secret", "warnings:", "dry run:"}},
		{"live", []string{"REDITUS_API_KEY=rk_live_must_not_print", "STRIPE_WEBHOOK_SECRET=sk_live_must_not_print", "STRIPE_ACCEPT_TEST_EVENTS=true"}, true, []string{
			"mode:      live", "stripe:    on, 1 secret(s) in STRIPE_WEBHOOK_SECRET", "clerk:     off (set CLERK_WEBHOOK_SECRET)",
			"does not start with whsec_", "STRIPE_ACCEPT_TEST_EVENTS=true while live",
		}},
		{"port not a number", []string{"PORT=eighty"}, false, []string{"PORT"}},
		{"svix secret not base64", []string{"REDITUS_API_KEY=rk_live_must_not_print", "CLERK_WEBHOOK_SECRET=whsec_must_not_print!"}, false, []string{"CLERK_WEBHOOK_SECRET", "not a Svix secret"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := exec.Command(buildBinary(t), "check")
			cmd.Env = tt.env
			if cmd.Env == nil {
				cmd.Env = []string{}
			}
			out, err := cmd.CombinedOutput()
			if tt.ok != (err == nil) {
				t.Fatalf("check exited %v, want ok=%v:\n%s", err, tt.ok, out)
			}
			if !tt.ok && cmd.ProcessState.ExitCode() != 1 {
				t.Errorf("exit code %d, want 1", cmd.ProcessState.ExitCode())
			}
			for _, want := range tt.want {
				if !bytes.Contains(out, []byte(want)) {
					t.Errorf("check printed no %q:\n%s", want, out)
				}
			}
			if bytes.Contains(out, []byte("must_not_print")) {
				t.Errorf("check printed a secret:\n%s", out)
			}
		})
	}
}

// backfill and recover, as the README runs them, against stripe-mock (which
// validates every request against Stripe's API spec) and a fake Reditus.
func TestBackfillAndRecoverAgainstStripeMock(t *testing.T) {
	url := os.Getenv("STRIPE_MOCK_URL")
	testenv.Require(t, url != "", "stripe-mock running, and STRIPE_MOCK_URL set to it")
	_, fakeURL := newRecorder(t)
	env := []string{
		"REDITUS_API_KEY=rk_live_e2e", "REDITUS_API_URL=" + fakeURL + "/api",
		"STRIPE_API_KEY=sk_test_123", "STRIPE_API_URL=" + url,
		"STRIPE_ACCEPT_TEST_EVENTS=true", // stripe-mock's objects are test-mode
	}
	for _, args := range [][]string{
		{"backfill", "stripe", "--since", "2009-01-01"},
		{"backfill", "stripe", "--since", "2009-01-01", "--until", "2030-01-01", "--dry-run"},
		{"recover", "stripe", "--since", "30d"},
	} {
		cmd := exec.Command(buildBinary(t), args...)
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Errorf("%v: %v\n%s", args, err, out)
			continue
		}
		for _, want := range []string{"read:      ", "skipped:"} {
			if !bytes.Contains(out, []byte(want)) {
				t.Errorf("%v printed no %q:\n%s", args, want, out)
			}
		}
		// stripe-mock's customer and session carry no referral data, so the
		// bridge looked further, at objects stripe-mock also served.
		if args[0] == "backfill" && !bytes.Contains(out, []byte("no Reditus referral data")) {
			t.Errorf("%v:\n%s", args, out)
		}
	}
}

func TestRefusesBadConfiguration(t *testing.T) {
	cmd := exec.Command(buildBinary(t))
	cmd.Env = []string{"PORT=eighty", "REDITUS_API_KEY=rk_live_must_not_print"}
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatal("started with PORT=eighty")
	}
	if !bytes.Contains(out, []byte("PORT")) || bytes.Contains(out, []byte("rk_live_must_not_print")) {
		t.Errorf("output %q: want PORT named and no secret", out)
	}
}

// gate is a fake Reditus that holds the first want conversions until
// released, and answers any later one at once.
type gate struct {
	mu      sync.Mutex
	arrived int
	all     chan struct{} // closed when want conversions are held
	want    int
	release chan struct{}
}

func (g *gate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	_, _ = io.Copy(io.Discard, r.Body)
	g.mu.Lock()
	g.arrived++
	held := g.arrived <= g.want
	if g.arrived == g.want {
		close(g.all)
	}
	g.mu.Unlock()
	if held {
		<-g.release
	}
	w.WriteHeader(http.StatusCreated)
	_, _ = io.WriteString(w, `{"data":{"id":"ref_1"}}`)
}

// SIGTERM under load: every webhook in flight finishes with its real answer,
// and new connections are refused, not accepted and dropped.
func TestGracefulShutdownUnderLoad(t *testing.T) {
	const inFlight = 40
	g := &gate{all: make(chan struct{}), want: inFlight, release: make(chan struct{})}
	fake := httptest.NewServer(g)
	defer fake.Close()
	defer func() {
		select {
		case <-g.release:
		default:
			close(g.release)
		}
	}()
	const secret = "whsec_shutdown"
	p := start(t, "REDITUS_API_KEY=rk_live_e2e", "REDITUS_API_URL="+fake.URL+"/api", "STRIPE_WEBHOOK_SECRET="+secret)
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 30 * time.Second}
	send := func(i int) (*http.Response, error) {
		body := []byte(fmt.Sprintf(`{"id":"evt_shut_%d","type":"customer.created","livemode":true,
			"data":{"object":{"id":"cus_%d","email":"s%d@example.com","metadata":{"red":"john"}}}}`, i, i, i))
		signed := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: body, Secret: secret})
		req, _ := http.NewRequest(http.MethodPost, p.base+"/webhooks/stripe", bytes.NewReader(body))
		req.Header.Set("Stripe-Signature", signed.Header)
		return client.Do(req)
	}

	type result struct {
		status  int
		outcome string
		err     error
	}
	results := make(chan result, inFlight)
	for i := range inFlight {
		go func() {
			resp, err := send(i)
			if err != nil {
				results <- result{err: err}
				return
			}
			defer resp.Body.Close()
			var a struct{ Outcome string }
			err = json.NewDecoder(resp.Body).Decode(&a)
			results <- result{resp.StatusCode, a.Outcome, err}
		}()
	}
	select {
	case <-g.all: // every webhook is now inside Reditus
	case <-time.After(20 * time.Second):
		t.Fatal("the webhooks never reached Reditus")
	}

	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	// Once the bridge says it is shutting down, its listener closes: a new
	// connection is refused. One accepted in the instant before must still be
	// answered in full.
	for !p.logged("shutting down: finishing in-flight webhooks") {
		time.Sleep(time.Millisecond)
	}
	refused := false
	for probe := inFlight; probe < inFlight+500 && !refused; probe++ {
		resp, err := send(probe)
		switch {
		case errors.Is(err, syscall.ECONNREFUSED):
			refused = true
		case err != nil:
			t.Errorf("a connection after SIGTERM failed half-way: %v", err)
		default:
			if resp.StatusCode != http.StatusOK {
				t.Errorf("a request accepted just before the listener closed got %d", resp.StatusCode)
			}
			resp.Body.Close()
			time.Sleep(5 * time.Millisecond)
		}
	}
	if !refused {
		t.Error("new connections were never refused after SIGTERM")
	}
	close(g.release)

	for range inFlight {
		r := <-results
		if r.err != nil || r.status != http.StatusOK || r.outcome != "forwarded" {
			t.Errorf("in-flight webhook: %d %q, %v; want 200 forwarded", r.status, r.outcome, r.err)
		}
	}
	select {
	case err := <-p.done:
		if err != nil {
			t.Errorf("exit after SIGTERM: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the bridge did not exit")
	}
}
