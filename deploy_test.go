package main

import (
	"bufio"
	"debug/elf"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pelletier/go-toml/v2"
)

// CI has no Docker engine, so this runs the Dockerfile's build command
// exactly as the Dockerfile writes it, and checks what it makes: a static,
// stripped binary that knows its version.
func TestDockerfileBuild(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	lines := dockerfile(t)
	var build string
	for _, l := range lines {
		if strings.HasPrefix(l, "RUN ") && strings.Contains(l, "go build") {
			build = strings.TrimPrefix(l, "RUN ")
		}
	}
	if build == "" {
		t.Fatal("the Dockerfile has no RUN ... go build line")
	}
	for _, flag := range []string{"CGO_ENABLED=0", "-tags nomsgpack", "-trimpath", "-s -w", "-X main.version=${VERSION}", "-o dist/reditus-bridge"} {
		if !strings.Contains(build, flag) {
			t.Errorf("build line %q lacks %s", build, flag)
		}
	}
	t.Cleanup(func() { os.RemoveAll("dist") })
	cmd := exec.Command("sh", "-c", build)
	cmd.Env = append(os.Environ(), "VERSION=v9.9.9-test")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", build, err, out)
	}

	bin, err := elf.Open("dist/reditus-bridge")
	if err != nil {
		t.Fatal(err)
	}
	defer bin.Close()
	for _, prog := range bin.Progs {
		if prog.Type == elf.PT_INTERP {
			t.Error("the binary is dynamically linked; the distroless static image cannot run it")
		}
	}
	if _, err := bin.Symbols(); !errors.Is(err, elf.ErrNoSymbols) {
		t.Errorf("the binary has a symbol table (err %v); -s should strip it", err)
	}

	check := exec.Command("dist/reditus-bridge", "check")
	check.Env = []string{}
	out, err := check.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "reditus-bridge v9.9.9-test") {
		t.Errorf("dist/reditus-bridge check: %v\n%s", err, out)
	}
}

func TestDockerfileRunsAsNonRootWithCACertificates(t *testing.T) {
	var from, user string
	for _, l := range dockerfile(t) {
		if strings.HasPrefix(l, "FROM ") {
			from, user = l, "" // a stage's USER does not carry into the next
		}
		if strings.HasPrefix(l, "USER ") {
			user = strings.TrimPrefix(l, "USER ")
		}
	}
	// distroless/static carries /etc/ssl/certs and a nonroot user (65532).
	if !strings.Contains(from, "gcr.io/distroless/static") || !strings.HasSuffix(from, ":nonroot") {
		t.Errorf("final stage %q: want distroless static, nonroot", from)
	}
	if user == "" || strings.HasPrefix(user, "root") || strings.HasPrefix(user, "0") {
		t.Errorf("final stage runs as %q, want a non-root user", user)
	}
}

func dockerfile(t *testing.T) []string {
	t.Helper()
	f, err := os.Open("Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" && !strings.HasPrefix(l, "#") {
			lines = append(lines, l)
		}
	}
	return lines
}

// flyConfig holds what TestFlyToml checks of fly.toml.
type flyConfig struct {
	KillSignal  string            `toml:"kill_signal"`
	KillTimeout string            `toml:"kill_timeout"`
	Env         map[string]string `toml:"env"`
	HTTPService struct {
		InternalPort       int    `toml:"internal_port"`
		ForceHTTPS         bool   `toml:"force_https"`
		AutoStopMachines   string `toml:"auto_stop_machines"`
		MinMachinesRunning int    `toml:"min_machines_running"`
		Checks             []struct {
			Method, Path, Protocol string
			Headers                map[string]string
		} `toml:"checks"`
	} `toml:"http_service"`
	Metrics struct {
		Port int    `toml:"port"`
		Path string `toml:"path"`
	} `toml:"metrics"`
	Services []struct {
		InternalPort int `toml:"internal_port"`
	} `toml:"services"`
}

func TestFlyToml(t *testing.T) {
	raw, err := os.ReadFile("fly.toml")
	if err != nil {
		t.Fatal(err)
	}
	var fly flyConfig
	if err := toml.Unmarshal(raw, &fly); err != nil {
		t.Fatalf("fly.toml does not parse: %v", err)
	}
	svc := fly.HTTPService
	if port := fly.Env["PORT"]; port != "8080" || svc.InternalPort != 8080 {
		t.Errorf("PORT %q, internal_port %d: want both 8080", port, svc.InternalPort)
	}
	// Metrics are scraped on METRICS_PORT, which no public service exposes.
	if mp := fly.Env["METRICS_PORT"]; mp == "" || mp != strconv.Itoa(fly.Metrics.Port) || fly.Metrics.Port == svc.InternalPort {
		t.Errorf("METRICS_PORT %q, [metrics] port %d: want them equal, and not the public port %d", mp, fly.Metrics.Port, svc.InternalPort)
	}
	for _, s := range fly.Services {
		if s.InternalPort == fly.Metrics.Port {
			t.Errorf("a [[services]] entry exposes the metrics port %d", s.InternalPort)
		}
	}
	if !svc.ForceHTTPS {
		t.Error("force_https is off")
	}
	var healthz bool
	for _, c := range svc.Checks {
		if c.Method == "GET" && c.Path == "/healthz" && c.Protocol == "http" && c.Headers["X-Forwarded-Proto"] == "https" {
			healthz = true
		}
	}
	if !healthz {
		t.Errorf("no HTTP check of GET /healthz with X-Forwarded-Proto: https, in %+v", svc.Checks)
	}
	if fly.KillSignal != "SIGTERM" {
		t.Errorf("kill_signal %q: the bridge shuts down gracefully on SIGTERM", fly.KillSignal)
	}
	kill, err := time.ParseDuration(fly.KillTimeout)
	if err != nil || kill <= shutdownGrace {
		t.Errorf("kill_timeout %q must exceed the bridge's shutdown grace, %v", fly.KillTimeout, shutdownGrace)
	}
	if svc.MinMachinesRunning < 1 && svc.AutoStopMachines != "suspend" {
		t.Errorf("min_machines_running %d, auto_stop_machines %q: a cold start can lose the 30 s window", svc.MinMachinesRunning, svc.AutoStopMachines)
	}
	if fly.Metrics.Path != "/metrics" {
		t.Errorf("metrics path %q", fly.Metrics.Path)
	}
}

// listenAddr is the address the bridge's listening line reports.
func listenAddr(t *testing.T, p *process, key string) string {
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

func TestHostBindsThatAddress(t *testing.T) {
	p := start(t, "HOST=127.0.0.1")
	if addr := listenAddr(t, p, "addr"); !strings.HasPrefix(addr, "127.0.0.1:") {
		t.Errorf("HOST=127.0.0.1: listening on %q, want 127.0.0.1:<port>", addr)
	}
	p.stop(t)
}

// With METRICS_PORT, /metrics is served there and only there.
func TestMetricsPortMovesMetrics(t *testing.T) {
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
func TestLogFormatText(t *testing.T) {
	cmd := exec.Command(buildBinary(t))
	cmd.Env = []string{"PORT=0", "HOST=127.0.0.1", "LOG_FORMAT=text"}
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
