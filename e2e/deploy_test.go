package e2e

import (
	"bufio"
	"debug/elf"
	"errors"
	"os"
	"os/exec"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pelletier/go-toml/v2"

	"github.com/getreditus/reditus-bridge/config"
	"github.com/getreditus/reditus-bridge/providers"
)

// What a deploy runs: the Dockerfile's build and image, and fly.toml, each
// checked against the bridge they ship.

// CI has no Docker engine, so this runs the Dockerfile's build command
// exactly as the Dockerfile writes it, in the repository, and checks what it
// makes: a static, stripped binary that knows its version.
func TestDockerfileBuildsAStaticStrippedVersionedBinary(t *testing.T) {
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
	t.Cleanup(func() { os.RemoveAll("../dist") })
	cmd := exec.Command("sh", "-c", build)
	cmd.Dir = ".."
	cmd.Env = append(os.Environ(), "VERSION=v9.9.9-test")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", build, err, out)
	}

	bin, err := elf.Open("../dist/reditus-bridge")
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

	check := exec.Command("../dist/reditus-bridge", "check")
	// check opens the journal: in a temp dir, not ./data in the repository.
	check.Env = []string{"DATA_DIR=" + t.TempDir()}
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

// The journal needs a directory that the image's non-root user can write
// (docs/deploy.md, "The Dockerfile"). distroless has no shell to make one at
// run time, and a directory that COPY creates belongs to root, where SQLite
// cannot create bridge.db: the build stage makes it with the nonroot user's
// uid, the final stage copies it with that owner, and DATA_DIR names it. CI
// has no Docker engine to build the image, so this reads the Dockerfile.
func TestDockerfileGivesTheJournalAWritableDataDir(t *testing.T) {
	stages := dockerStages(dockerfile(t))
	final := stages[len(stages)-1]
	if got := final.env["DATA_DIR"]; got != "/data" {
		t.Errorf("final stage: got DATA_DIR %q, want /data", got)
	}
	uid, ok := nonrootIDs[final.user]
	if !ok {
		t.Fatalf("final stage runs as %q, want nonroot (65532)", final.user)
	}
	var copied bool
	for _, c := range final.copies {
		if c.dst != "/data" && c.dst != "/data/" {
			continue
		}
		copied = true
		if got, ok := nonrootIDs[c.chown]; !ok || got != uid {
			t.Errorf("COPY ... %s: got --chown=%q, want the final stage's user, %s (uid %s)", c.dst, c.chown, final.user, uid)
		}
		from := stageNamed(stages, c.from)
		if from == nil {
			t.Errorf("COPY ... %s: got --from=%q, want a build stage that makes %s", c.dst, c.from, c.src)
			continue
		}
		if !from.makesOwnedDir(c.src, uid) {
			t.Errorf("stage %q: got no RUN that makes %s and gives it to %s, want one (its runs: %q)", c.from, c.src, uid, from.runs)
		}
	}
	if !copied {
		t.Errorf("final stage: got no COPY --from=... --chown=... to /data, want the journal's directory (copies: %+v)", final.copies)
	}
}

// nonrootIDs maps distroless's non-root user, by name or number, to its uid.
var nonrootIDs = map[string]string{
	"nonroot": "65532", "nonroot:nonroot": "65532",
	"65532": "65532", "65532:65532": "65532",
}

// dockerStage is what the Dockerfile tests read of one build stage.
type dockerStage struct {
	name   string
	user   string
	env    map[string]string
	runs   []string
	copies []dockerCopy
}

type dockerCopy struct{ from, chown, src, dst string }

// dockerStages splits the Dockerfile's instructions into stages. It reads the
// forms this Dockerfile uses: ENV KEY=VALUE, and COPY flags before a source
// and a destination.
func dockerStages(lines []string) []*dockerStage {
	var stages []*dockerStage
	for _, l := range lines {
		fields := strings.Fields(l)
		switch strings.ToUpper(fields[0]) {
		case "FROM":
			st := &dockerStage{env: map[string]string{}}
			if len(fields) == 4 && strings.EqualFold(fields[2], "AS") {
				st.name = fields[3]
			}
			stages = append(stages, st)
		case "USER":
			stages[len(stages)-1].user = fields[1]
		case "ENV":
			for _, kv := range fields[1:] {
				if k, v, ok := strings.Cut(kv, "="); ok {
					stages[len(stages)-1].env[k] = strings.Trim(v, `"`)
				}
			}
		case "RUN":
			stages[len(stages)-1].runs = append(stages[len(stages)-1].runs, strings.TrimSpace(l[len("RUN"):]))
		case "COPY":
			var c dockerCopy
			var paths []string
			for _, f := range fields[1:] {
				switch {
				case strings.HasPrefix(f, "--from="):
					c.from = strings.TrimPrefix(f, "--from=")
				case strings.HasPrefix(f, "--chown="):
					c.chown = strings.TrimPrefix(f, "--chown=")
				case !strings.HasPrefix(f, "--"):
					paths = append(paths, f)
				}
			}
			if len(paths) == 2 {
				c.src, c.dst = paths[0], paths[1]
			}
			stages[len(stages)-1].copies = append(stages[len(stages)-1].copies, c)
		}
	}
	return stages
}

func stageNamed(stages []*dockerStage, name string) *dockerStage {
	for _, st := range stages {
		if name != "" && st.name == name {
			return st
		}
	}
	return nil
}

// makesOwnedDir reports whether one of the stage's RUN lines makes dir and
// gives it to uid.
func (st *dockerStage) makesOwnedDir(dir, uid string) bool {
	dir = strings.TrimSuffix(dir, "/")
	for _, run := range st.runs {
		mkdir := regexp.MustCompile(`\bmkdir\b[^&;]*\s` + regexp.QuoteMeta(dir) + `/?(\s|$|&|;)`)
		chown := regexp.MustCompile(`\bchown\s+(-R\s+)?` + uid + `(:` + uid + `)?\s+` + regexp.QuoteMeta(dir) + `/?(\s|$|&|;)`)
		if mkdir.MatchString(run) && chown.MatchString(run) {
			return true
		}
	}
	return false
}

func dockerfile(t *testing.T) []string {
	t.Helper()
	f, err := os.Open("../Dockerfile")
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
	// Mounts is [mounts] (one table) or [[mounts]] (a list): fly takes both.
	Mounts any `toml:"mounts"`
}

// flyMount is one volume mount of fly.toml.
type flyMount struct{ Source, Destination string }

// mounts returns fly.toml's volume mounts, in either of its forms.
func (f flyConfig) mounts() []flyMount {
	var tables []any
	switch m := f.Mounts.(type) {
	case map[string]any:
		tables = []any{m}
	case []any:
		tables = m
	}
	var out []flyMount
	for _, t := range tables {
		m, _ := t.(map[string]any)
		source, _ := m["source"].(string)
		destination, _ := m["destination"].(string)
		out = append(out, flyMount{source, destination})
	}
	return out
}

// fly.toml deploys the bridge as it runs: its port and health check, SIGTERM
// with time beyond the bridge's own shutdown grace, metrics on a port no
// public service exposes, no cold start, and the journal on a volume.
func TestFlyTomlMatchesTheBridge(t *testing.T) {
	raw, err := os.ReadFile("../fly.toml")
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
	// The grace the bridge gives its webhooks in flight, as it logs it.
	p := start(t)
	p.signal(t, syscall.SIGTERM)
	shutdownGrace := p.shuttingDown(t)
	p.exited(t)
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
	// The journal lives on a volume: on the machine's own disk it would be
	// lost, queued conversions included, at every deploy.
	if dir := fly.Env["DATA_DIR"]; dir != "/data" {
		t.Errorf("[env] DATA_DIR: got %q, want /data, where the Dockerfile makes the journal's directory", dir)
	}
	var mounted bool
	for _, m := range fly.mounts() {
		if m.Destination == fly.Env["DATA_DIR"] && m.Source != "" {
			mounted = true
		}
	}
	if !mounted {
		t.Errorf("[mounts]: got %+v, want a volume mounted at DATA_DIR (%q)", fly.mounts(), fly.Env["DATA_DIR"])
	}
}

// Every variable the bridge reads and every command it takes is in the README:
// a deployer learns them there, and nowhere else. The variables are read off
// config.Config's envconfig tags and the registry, and the commands off the
// listing the binary's help prints from its command table, so a new one
// cannot be added without its row.
func TestReadmeDocumentsEveryVariableAndCommand(t *testing.T) {
	raw, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(raw)
	_, configuration, ok := strings.Cut(readme, "\n## Configuration\n")
	if !ok {
		t.Fatal(`README.md has no "## Configuration" section`)
	}
	if end := strings.Index(configuration, "\n## "); end >= 0 {
		configuration = configuration[:end]
	}

	vars := envconfigVars(t, reflect.TypeFor[config.Config]())
	for _, p := range providers.All() {
		vars = append(vars, p.Variables()...)
	}
	for _, v := range vars {
		t.Run("variable "+v, func(t *testing.T) {
			documented := strings.Contains(configuration, "`"+v+"`") ||
				strings.HasSuffix(v, "_ACCEPT_TEST_EVENTS") && strings.Contains(configuration, "`{NAME}_ACCEPT_TEST_EVENTS`")
			if !documented {
				t.Errorf("got no `%s` in README.md's Configuration section, want it documented", v)
			}
		})
	}

	for _, cmd := range listedCommands(t) {
		t.Run("command "+cmd, func(t *testing.T) {
			if !strings.Contains(readme, "\n| `"+cmd) {
				t.Errorf("got no README.md table row that starts with `%s`, want the command in the commands table", cmd)
			}
		})
	}
}

// envconfigVars lists the variables the envconfig tags of struct typ name,
// and those of the structs it embeds, whose fields envconfig reads as its own.
func envconfigVars(t *testing.T, typ reflect.Type) []string {
	t.Helper()
	var vars []string
	for i := range typ.NumField() {
		f := typ.Field(i)
		name, ok := f.Tag.Lookup("envconfig")
		switch {
		case f.Tag.Get("ignored") == "true":
			continue
		case f.Anonymous && f.Type.Kind() == reflect.Struct:
			vars = append(vars, envconfigVars(t, f.Type)...)
			continue
		case !ok || name == "":
			// envconfig would read a variable named after the field.
			t.Errorf("config.Config.%s: got no envconfig tag, want the variable it reads named", f.Name)
			continue
		}
		vars = append(vars, name)
	}
	return vars
}

// listedCommands are the commands `reditus-bridge help` lists.
func listedCommands(t *testing.T) []string {
	t.Helper()
	stdout, stderr, code := runCommand(t, nil, "help")
	_, listing, ok := strings.Cut(stdout, "\nCommands:\n")
	if code != 0 || !ok {
		t.Fatalf("help: exit %d, no Commands: listing\n%s%s", code, stdout, stderr)
	}
	listing, _, _ = strings.Cut(listing, "\n\n")
	var cmds []string
	for _, line := range strings.Split(listing, "\n") {
		if f := strings.Fields(line); len(f) > 0 {
			cmds = append(cmds, f[0])
		}
	}
	if len(cmds) == 0 {
		t.Fatalf("help lists no commands:\n%s", stdout)
	}
	return cmds
}
