// Package process runs the built bridge as a process for the programs in
// bench/: on a port of its own on loopback, ready once /healthz answers,
// read through /proc and /metrics, and stopped as Fly.io stops it.
package process

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Bridge is a running bridge.
type Bridge struct {
	Base    string        // http://127.0.0.1:port
	Journal string        // as the bridge's startup line names it: "off", or the store
	Ready   time.Duration // from exec to the first 200 from /healthz

	cmd     *exec.Cmd
	stopped bool
}

// Start starts the bridge at path with exactly env, after PORT=0 and
// HOST=127.0.0.1, and waits until it is ready (at most 5 s).
func Start(path string, env ...string) (*Bridge, error) {
	cmd := exec.Command(path)
	cmd.Env = append([]string{"PORT=0", "HOST=127.0.0.1"}, env...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	b := &Bridge{cmd: cmd}
	// The listening line gives the port and the journal; every later line
	// (one per webhook, at info level as in production) is read and dropped.
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		var line struct{ Msg, Addr, Journal string }
		if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "listening" {
			b.Base = "http://127.0.0.1:" + line.Addr[strings.LastIndex(line.Addr, ":")+1:]
			b.Journal = line.Journal
			break
		}
	}
	go func() { _, _ = io.Copy(io.Discard, stdout) }()
	if b.Base == "" {
		b.Stop()
		return nil, errors.New("the bridge did not log its address")
	}
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Microsecond) {
		if resp, err := http.Get(b.Base + "/healthz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				b.Ready = time.Since(start)
				return b, nil
			}
		}
	}
	b.Stop()
	return nil, errors.New("the bridge was not ready within 5 s")
}

// Status reads a size field of /proc/PID/status, in bytes.
func (b *Bridge) Status(field string) int64 {
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

// Metric sums the samples of /metrics whose name and labels start with
// prefix (a sample's labels are sorted by name; provider comes after outcome).
func (b *Bridge) Metric(prefix string) (int64, error) {
	resp, err := http.Get(b.Base + "/metrics")
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

// Stop ends the bridge as Fly does (SIGTERM), and kills it if it has not
// stopped within 15 s; it waits for it either way.
func (b *Bridge) Stop() {
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
