package main

import (
	"bufio"
	"debug/elf"
	"errors"
	"os"
	"os/exec"
	"strings"
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
	if port := fly.Env["PORT"]; port != "8080" || svc.InternalPort != 8080 || fly.Metrics.Port != 8080 {
		t.Errorf("PORT %q, internal_port %d, metrics port %d: want all 8080", port, svc.InternalPort, fly.Metrics.Port)
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
