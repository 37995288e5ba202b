package handlers

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/getreditus/reditus-bridge/internal/fakereditus"
	"github.com/getreditus/reditus-bridge/reditus"
)

func scrape(t *testing.T, b *bridge) string {
	t.Helper()
	rec := httptest.NewRecorder()
	b.handler.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("/metrics: %d", rec.Code)
	}
	body, _ := io.ReadAll(rec.Body)
	return string(body)
}

func TestMetricsMove(t *testing.T) {
	b := newBridge(t, nil)
	before := scrape(t, b)
	if strings.Contains(before, `reditus_bridge_webhooks_total{`) {
		t.Fatalf("counters before any webhook:\n%s", before)
	}

	b.do(t, stripeRequest(stripeFixture(t, "customer.created.json"), stripeSecret, time.Now())).Is(t, 200, "forwarded")
	b.do(t, stripeRequest(stripeFixture(t, "customer.created.no_referral.json"), stripeSecret, time.Now())).Is(t, 200, "skipped")
	b.do(t, stripeRequest(stripeFixture(t, "customer.created.json"), "whsec_wrong", time.Now())).Is(t, 400, "invalid_signature")
	b.reditus.Respond(reditus.CallTrack, fakereditus.Status(503, ``))
	b.do(t, stripeRequest(stripeFixture(t, "checkout.session.completed.json"), stripeSecret, time.Now())).Is(t, 503, "retry")

	after := scrape(t, b)
	for _, want := range []string{
		`reditus_bridge_webhooks_total{outcome="forwarded",provider="stripe"} 1`,
		`reditus_bridge_webhooks_total{outcome="skipped",provider="stripe"} 1`,
		`reditus_bridge_webhooks_total{outcome="invalid_signature",provider="stripe"} 1`,
		`reditus_bridge_webhooks_total{outcome="retry",provider="stripe"} 1`,
		`reditus_bridge_webhook_duration_seconds_count{provider="stripe"} 4`,
		`reditus_bridge_webhooks_in_flight 0`,
		`reditus_bridge_reditus_requests_total{status_class="2xx"} 1`,
		`reditus_bridge_reditus_requests_total{status_class="5xx"} 4`, // every attempt of the failed delivery
		`reditus_bridge_reditus_retries_total 3`,
		`reditus_bridge_reditus_request_duration_seconds_count 5`,
		`process_resident_memory_bytes`,
		`go_goroutines`,
	} {
		if !strings.Contains(after, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

func TestBrowserHelperIsServed(t *testing.T) {
	b := newBridge(t, nil)
	rec := httptest.NewRecorder()
	b.handler.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/reditus-bridge.js", nil))
	if rec.Code != 200 || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/javascript") {
		t.Fatalf("GET /reditus-bridge.js: %d %s", rec.Code, rec.Header().Get("Content-Type"))
	}
	if !strings.Contains(rec.Body.String(), "window.reditusBridge") {
		t.Error("the served script is not the helper")
	}
}

// A sender that hangs up or stalls before the end of its body is its own
// outcome, incomplete_body, so that alerting on "retry" (Reditus down) does
// not fire on a client's broken connection.
func TestIncompleteBodyIsNotRetry(t *testing.T) {
	tests := []struct {
		name   string
		length int // declared; -1 chunked
		finish func(net.Conn)
	}{
		{"hangs up mid-body", 1000, func(c net.Conn) { _ = c.(*net.TCPConn).CloseWrite() }},
		{"hangs up mid-body, chunked", -1, func(c net.Conn) { _ = c.(*net.TCPConn).CloseWrite() }},
		{"stalls past ReadTimeout", 1000, func(net.Conn) {}},
		{"stalls past ReadTimeout, large", MaxBody, func(net.Conn) {}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newBridge(t, nil)
			srv := serveBridge(t, b, 300*time.Millisecond)
			conn := sendPart(t, srv, "/webhooks/stripe", tt.length, 100)
			tt.finish(conn)
			a := answerOn(conn, 10*time.Second)
			if a.err != nil || a.status != http.StatusBadRequest || a.outcome != "incomplete_body" {
				t.Errorf("got %d %q (%s, %v), want 400 incomplete_body", a.status, a.outcome, a.reason, a.err)
			}
			metrics := scrape(t, b)
			if !strings.Contains(metrics, `reditus_bridge_webhooks_total{outcome="incomplete_body",provider="stripe"} 1`) {
				t.Error(`/metrics does not count the webhook as outcome="incomplete_body"`)
			}
			if strings.Contains(metrics, `outcome="retry"`) {
				t.Error(`/metrics counts a client's broken body as outcome="retry"`)
			}
		})
	}
}
