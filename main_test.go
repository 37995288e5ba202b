package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stripe/stripe-go/v76/webhook"

	"github.com/getreditus/reditus-bridge/internal/fakereditus"
	"github.com/getreditus/reditus-bridge/internal/testenv"
	"github.com/getreditus/reditus-bridge/providers"
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

// lockedBuffer is a bytes.Buffer safe to read while a process writes to it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// start runs the binary with exactly env (nothing inherited, so the machine's
// own variables cannot change the test) and waits until /healthz answers.
func start(t *testing.T, env ...string) *process {
	t.Helper()
	p := &process{cmd: exec.Command(buildBinary(t)), done: make(chan error, 1)}
	// PORT 0: the kernel picks a free port; loopback only; a journal of the
	// test's own (a later DATA_DIR in env wins), so that no run sees another's.
	p.cmd.Env = append([]string{"PORT=0", "HOST=127.0.0.1", "DATA_DIR=" + t.TempDir()}, env...)
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr := new(lockedBuffer) // written by exec's copier until the process is gone
	p.cmd.Stderr = stderr
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
	p.exited(t)
}

// exited waits for the bridge, signalled already, to exit cleanly.
func (p *process) exited(t *testing.T) {
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

func TestEndToEndStripe(t *testing.T) {
	red := fakereditus.New(t, fakereditus.WithKey("rk_live_e2e"))
	// The guest's conversion is held inside Reditus until the bridge is
	// shutting down.
	const slow = "sam@example.org"
	gate := fakereditus.NewGate(1, red.Reditus)
	red.Respond(reditus.CallTrack, func(w http.ResponseWriter, r *fakereditus.Request) {
		if r.Conversion.Email == slow {
			gate.Respond(w, r)
			return
		}
		red.Reditus(w, r)
	})
	const secret = "whsec_e2e_secret"
	p := start(t, "REDITUS_API_KEY=rk_live_e2e", "REDITUS_API_URL="+red.BaseURL, "STRIPE_WEBHOOK_SECRET="+secret)

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
	if got := red.Conversions(); len(got) != 4 {
		t.Errorf("Reditus received %d conversions, want 4: %+v", len(got), got)
	}

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
	<-gate.Held()
	go func() {
		for deadline := time.Now().Add(20 * time.Second); !p.logged("shutting down: finishing in-flight webhooks") && time.Now().Before(deadline); {
			time.Sleep(time.Millisecond)
		}
		gate.Release()
	}()
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

// Every provider, end to end: `simulate` signs each registered provider's
// sample the provider's way with a fresh secret of its scheme, the running
// binary verifies it and the fake Reditus receives the conversion. A provider
// added to the registry is in this test with no edit here.
func TestEndToEndEveryProvider(t *testing.T) {
	red := fakereditus.New(t, fakereditus.WithKey("rk_live_e2e"))
	env := []string{"REDITUS_API_KEY=rk_live_e2e", "REDITUS_API_URL=" + red.BaseURL}
	all := providers.All()
	for _, provider := range all {
		env = append(env, provider.SecretVar()+"="+provider.Scheme.NewSecret())
	}
	p := start(t, env...)
	for i, provider := range all {
		email := fmt.Sprintf("user%d@example.com", i)
		cmd := exec.Command(buildBinary(t), "simulate", provider.Name, "--email", email, "--url", p.base+provider.Route())
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		if err != nil || !bytes.Contains(out, []byte(`"outcome": "forwarded"`)) {
			t.Errorf("simulate %s: %v\n%s", provider.Name, err, out)
		}
	}
	p.stop(t)

	received := red.Conversions()
	if len(received) != len(all) {
		t.Fatalf("Reditus received %d conversions, want %d: %+v", len(received), len(all), received)
	}
	for i, c := range received {
		if c.Email != fmt.Sprintf("user%d@example.com", i) || c.AffiliateSlug != "john" || c.GrID == "" || c.UID == "" {
			t.Errorf("%s: Reditus received %+v", all[i].Name, c)
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
	red := fakereditus.New(t, fakereditus.WithKey("rk_live_e2e"))
	const secret = "whsec_bm9kZS1zZW5kZXItdGVzdA=="
	p := start(t, "REDITUS_API_KEY=rk_live_e2e", "REDITUS_API_URL="+red.BaseURL, "GENERIC_WEBHOOK_SECRET="+secret)

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
	want := reditus.Conversion{AffiliateSlug: "john", Email: "node@example.com", UID: "usr_node", GrID: "0f8fad5b-d9cb-469f-a165-70867728950e"}
	if got := red.Conversions(); len(got) != 1 || got[0] != want {
		t.Errorf("Reditus received %+v, want [%+v]", got, want)
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
			cmd.Env = append(slices.Clone(tt.env), "DATA_DIR="+t.TempDir())
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
	red := fakereditus.New(t, fakereditus.WithKey("rk_live_e2e"))
	env := []string{
		"REDITUS_API_KEY=rk_live_e2e", "REDITUS_API_URL=" + red.BaseURL,
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

// SIGTERM under load: every webhook in flight finishes with its real answer,
// and new connections are refused, not accepted and dropped.
func TestGracefulShutdownUnderLoad(t *testing.T) {
	const inFlight = 40
	red := fakereditus.New(t, fakereditus.WithKey("rk_live_e2e"))
	gate := fakereditus.NewGate(inFlight, red.Reditus) // later conversions are answered at once
	red.Respond(reditus.CallTrack, gate.Respond)
	defer gate.Release()
	const secret = "whsec_shutdown"
	p := start(t, "REDITUS_API_KEY=rk_live_e2e", "REDITUS_API_URL="+red.BaseURL, "STRIPE_WEBHOOK_SECRET="+secret)
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
	case <-gate.Held(): // every webhook is now inside Reditus
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
	gate.Release()

	for range inFlight {
		r := <-results
		if r.err != nil || r.status != http.StatusOK || r.outcome != "forwarded" {
			t.Errorf("in-flight webhook: %d %q, %v; want 200 forwarded", r.status, r.outcome, r.err)
		}
	}
	p.exited(t)
}
