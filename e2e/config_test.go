package e2e

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/getreditus/reditus-bridge/internal/webhooktest"
)

// What the environment makes of the running bridge: dry run, the listen
// and metrics addresses, the log format, and secrets that never show.

// DRY_RUN=true logs conversions instead of sending them, even with a key
// and real secrets; the development secret stays refused on the providers
// without a secret, since this is not the local default.
func TestDryRunSendsNothingEvenWithAKey(t *testing.T) {
	red := newReditus(t)
	for _, env := range [][]string{
		{"DRY_RUN=true", "STRIPE_WEBHOOK_SECRET=" + stripeSecret},
		{"DRY_RUN=true", "STRIPE_WEBHOOK_SECRET=" + stripeSecret, "REDITUS_API_KEY=" + apiKey, "REDITUS_API_URL=" + red.BaseURL},
	} {
		t.Run(strings.Join(env, " "), func(t *testing.T) {
			p := start(t, env...)
			if a := p.post(t, "stripe", stripeSecret, "", webhooktest.Fixture(t, "stripe/customer.created.json")); a.String() != "200 dry_run" {
				t.Errorf("signed Stripe event: %s, want 200 dry_run", a)
			}
			body := []byte(`{"email":"dev@example.com","uid":"usr_dev","affiliate_slug":"john"}`)
			if a := p.post(t, "clerk", devSecret, "msg_dev", body); a.Status != http.StatusNotFound {
				t.Errorf("clerk signed with the development secret: %s, want 404 (off)", a)
			}
			p.stop(t)
			var listening, warned bool
			for _, line := range p.lines() {
				msg, _ := line["msg"].(string)
				listening = listening || (msg == "listening" && line["dry_run"] == true)
				warned = warned || strings.Contains(msg, "DRY_RUN=true")
			}
			if !listening || !warned {
				t.Errorf("want a listening line with dry_run true and a DRY_RUN warning: %v", p.lines())
			}
		})
	}
	if n := red.Requests(); n != 0 {
		t.Errorf("dry run sent %d requests to Reditus: %+v", n, red.Conversions())
	}
}

// listenAddr is the address the bridge's listening line reports.
func listenAddr(t *testing.T, p *bridge, key string) string {
	t.Helper()
	for _, line := range p.lines() {
		if line["msg"] == "listening" {
			addr, _ := line[key].(string)
			return addr
		}
	}
	t.Fatal("no listening line")
	return ""
}

// freePort is a loopback port nothing listens on now.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// HOST is the address the bridge listens on.
func TestHostBindsThatAddress(t *testing.T) {
	p := start(t, "HOST=127.0.0.1")
	if addr := listenAddr(t, p, "addr"); !strings.HasPrefix(addr, "127.0.0.1:") {
		t.Errorf("HOST=127.0.0.1: listening on %q, want 127.0.0.1:<port>", addr)
	}
	p.stop(t)
}

// With METRICS_PORT, /metrics is served there and only there.
func TestMetricsAreServedOnlyOnMetricsPort(t *testing.T) {
	port := freePort(t)
	p := start(t, "HOST=127.0.0.1", "METRICS_PORT="+strconv.Itoa(port))
	metricsBase := "http://127.0.0.1:" + strconv.Itoa(port)
	if addr := listenAddr(t, p, "metrics_addr"); addr != "127.0.0.1:"+strconv.Itoa(port) {
		t.Errorf("listening line: metrics_addr %q, want 127.0.0.1:%d", addr, port)
	}
	tests := []struct {
		name   string
		url    string
		status int
	}{
		{"no metrics on PORT", p.base + "/metrics", http.StatusNotFound},
		{"metrics on METRICS_PORT", metricsBase + "/metrics", http.StatusOK},
		{"nothing else on METRICS_PORT", metricsBase + "/healthz", http.StatusNotFound},
		{"the rest on PORT", p.base + "/healthz", http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := http.Get(tt.url)
			if err != nil {
				t.Fatalf("GET %s: %v", tt.url, err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.status {
				t.Errorf("GET %s: got %d, want %d", tt.url, resp.StatusCode, tt.status)
			}
			if tt.status == http.StatusOK && strings.HasSuffix(tt.url, "/metrics") && !strings.Contains(string(body), "reditus_bridge_webhooks_in_flight") {
				t.Errorf("GET %s: not the bridge's metrics", tt.url)
			}
		})
	}
	p.stop(t)
	if _, err := http.Get(metricsBase + "/metrics"); err == nil {
		t.Error("the metrics port still answers after the bridge stopped")
	}
}

// LOG_FORMAT=text writes slog's key=value lines, for reading in a terminal.
func TestLogFormatTextWritesKeyValueLines(t *testing.T) {
	cmd := exec.Command(binary)
	cmd.Env = []string{"PORT=0", "HOST=127.0.0.1", "LOG_FORMAT=text", "DATA_DIR=" + t.TempDir()}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	lines := make(chan string, 100)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	next := func() string {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatal("the bridge exited")
			}
			return l
		case <-time.After(10 * time.Second):
			t.Fatal("no log line within 10 s")
		}
		return ""
	}

	first := next()
	keyValue := regexp.MustCompile(`^time=\S+ level=INFO msg=listening version=\S+ addr=127\.0\.0\.1:\d+ dry_run=true `)
	if !keyValue.MatchString(first) {
		t.Errorf("first line %q, want slog's key=value listening line", first)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	var last string
	for l := range lines {
		last = l
	}
	if err := cmd.Wait(); err != nil {
		t.Errorf("exit after SIGTERM: %v", err)
	}
	if !strings.Contains(last, "level=INFO msg=stopped") {
		t.Errorf("last line %q, want the key=value stopped line", last)
	}
}

// Neither ADMIN_TOKEN nor DATABASE_URL's password reaches a log line, an
// error, check's report or the events command, whatever is wrong with the
// database URL.
func TestTheAdminTokenAndTheDatabasePasswordAreNeverShown(t *testing.T) {
	const pw = "Pg-S3cret-pw-7f1c"
	for _, dbURL := range []string{
		"postgres://bridge:" + pw + "@127.0.0.1:1/bridge",                                    // nothing listens
		"postgresql://bridge:" + pw + "@127.0.0.1:1/bridge?sslmode=bogus",                    // pgx refuses the URL
		"postgres://bridge@127.0.0.1:1/bridge?password=" + pw + "&connect_timeout=soon",      // the password as a parameter
		"postgres://bridge:" + pw + "%zz@127.0.0.1:1/bridge",                                 // not percent-encoding
		"postgres://bridge:" + pw + "@127.0.0.1:port/bridge",                                 // not a port
		"postgres://bridge:" + strings.ReplaceAll(pw, "-", "/") + "@127.0.0.1:1/bridge",      // a / in the password
		"postgres://bridge:" + strings.ReplaceAll(pw, "-", " ") + "@127.0.0.1:1/bridge",      // spaces
		"mysql://bridge:" + pw + "@127.0.0.1:1/bridge",                                       // not Postgres
		"postgres://bridge:" + pw + "@[::1:1/bridge",                                         // a broken host
		"postgres://bridge:" + pw + "@127.0.0.1:1/bridge?options=-c%20statement_timeout%3D1", // options pgx passes on
	} {
		t.Run(dbURL, func(t *testing.T) {
			env := []string{"DATABASE_URL=" + dbURL, "ADMIN_TOKEN=" + adminToken}
			secrets := []string{pw, strings.ReplaceAll(pw, "-", "/"), strings.ReplaceAll(pw, "-", " "), adminToken}
			for _, args := range [][]string{{"check"}, {"events"}, {"events", "--json"}, {"doctor"}, {"doctor", "--json"}} {
				stdout, stderr, code := runCommand(t, env, args...)
				if code == 0 {
					t.Errorf("%v exited 0 with an unusable DATABASE_URL", args)
				}
				for _, s := range secrets {
					if strings.Contains(stdout+stderr, s) {
						t.Errorf("%v printed %q:\n%s%s", args, s, stdout, stderr)
					}
				}
			}
		})
	}

	// Serving: the journal cannot be opened, and the log says why without
	// the password.
	p := start(t, "DATABASE_URL=postgres://bridge:"+pw+"@127.0.0.1:1/bridge", "ADMIN_TOKEN="+adminToken)
	if status, _, body := p.send(t, http.MethodGet, "/admin/api/events", asAdmin(adminToken), nil); status != http.StatusServiceUnavailable || bytes.Contains(body, []byte(pw)) {
		t.Errorf("GET /admin/api/events: %d %s, want 503 without the password", status, body)
	}
	p.stop(t)
	if !p.logged("the journal could not be opened; serving without it: re-sent deliveries are recognised only in memory, and nothing is queued") {
		t.Error("no log line says the journal could not be opened")
	}
	if w := p.logHolds(pw, adminToken); w != "" {
		t.Errorf("the log holds %q", w)
	}

	// A token too short is refused without being shown.
	stdout, stderr, code := runCommand(t, []string{"ADMIN_TOKEN=sh0rt-t0ken"}, "check")
	if code == 0 || strings.Contains(stdout+stderr, "sh0rt-t0ken") || !strings.Contains(stderr, "ADMIN_TOKEN") {
		t.Errorf("a short ADMIN_TOKEN: exit %d, %s%s; want 1, naming the variable and not the token", code, stdout, stderr)
	}
}

// A DATABASE_URL whose password holds an "@" that is not percent-encoded
// (p@ss...) would be split by pgx at the first "@", and what follows taken
// for the host and printed: it is refused instead, naming the variable.
func TestADatabasePasswordWithAnUnencodedAtIsRefusedUnshown(t *testing.T) {
	const tail = "ss-S3cret-tail"
	dbURL := "postgres://bridge:p@" + tail + "@127.0.0.1:1/bridge"
	// Serving, check and events all refuse the URL, naming the variable,
	// and none prints any part of the password.
	for _, args := range [][]string{nil, {"check"}, {"events"}} {
		stdout, stderr, code := runCommand(t, []string{"DATABASE_URL=" + dbURL}, args...)
		if strings.Contains(stdout+stderr, tail) {
			t.Errorf("%v printed a part of the password:\n%s%s", args, stdout, stderr)
		}
		if code != 1 || !strings.Contains(stderr, "DATABASE_URL") {
			t.Errorf("%v: exit %d, %q; want 1 and an error naming DATABASE_URL", args, code, stderr)
		}
	}
}
