package reditus_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/getreditus/reditus-bridge/internal/fakereditus"
	"github.com/getreditus/reditus-bridge/reditus"
)

// Probe reports the status of its GET, with the key or without, and an
// error only when no answer arrived; it creates nothing.
func TestProbe(t *testing.T) {
	red := fakereditus.New(t)
	tests := []struct {
		name   string
		key    string
		answer int
		want   int
	}{
		{"key accepted", fakereditus.Key, 0, http.StatusOK},
		{"key refused", "rk_live_wrong", 0, http.StatusUnauthorized},
		{"no key", "", 0, http.StatusUnauthorized},
		{"path unknown", fakereditus.Key, http.StatusNotFound, http.StatusNotFound},
		{"down", fakereditus.Key, http.StatusServiceUnavailable, http.StatusServiceUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			red.ProbeAnswers(tt.answer)
			status, err := reditus.New(reditus.Options{BaseURL: red.BaseURL, APIKey: tt.key}).Probe(context.Background())
			if err != nil || status != tt.want {
				t.Errorf("got %d, %v; want %d", status, err, tt.want)
			}
		})
	}
	if n := len(red.Created()) + len(red.Paid()); n != 0 {
		t.Errorf("the probes created %d records, want none", n)
	}
	if red.Probes() != len(tests) {
		t.Errorf("got %d probes, want %d", red.Probes(), len(tests))
	}
	red.Close()
	if status, err := reditus.New(reditus.Options{BaseURL: red.BaseURL, APIKey: fakereditus.Key}).Probe(context.Background()); err == nil || status != 0 {
		t.Errorf("a closed server: got %d, %v; want no answer, and an error", status, err)
	}
}
