// Package testenv decides what a test does when this machine lacks a tool it
// needs (Chromium, Node, stripe-mock): skip on a developer's machine, fail in
// CI, where .ci/run installs the tool and a skip would hide a missing step.
package testenv

import (
	"os"
	"os/exec"
	"testing"
)

// Require skips t, or fails it in CI, unless have. how says how to get what
// is missing.
func Require(t testing.TB, have bool, how string) {
	t.Helper()
	if have {
		return
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("CI must run this test, and .ci/run provides what it needs: %s", how)
	}
	t.Skip("needs: " + how)
}

// Chromium returns the path of a headless-capable Chromium, or skips t (fails
// it in CI) when there is none.
func Chromium(t testing.TB) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if path, err := exec.LookPath(name); err == nil {
			return path
		}
	}
	Require(t, false, "Debian's chromium (apt-get install chromium)")
	return ""
}
