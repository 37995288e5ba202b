package handlers

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stripe/stripe-go/v76/webhook"

	"github.com/getreditus/reditus-bridge/internal/fakereditus"
	"github.com/getreditus/reditus-bridge/internal/webhooktest"
	"github.com/getreditus/reditus-bridge/reditus"
)

// serveBridge serves the bridge on loopback, as net/http would in production:
// the body limits are about real connections.
func serveBridge(t *testing.T, b *bridge, readTimeout time.Duration) *httptest.Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(b.handler)
	srv.Config.ReadTimeout = readTimeout
	srv.Start()
	t.Cleanup(srv.Close)
	return srv
}

// sendPart opens a connection and sends a POST that declares length bytes of
// body (-1: chunked) but sends only the first part of it, then holds.
func sendPart(t *testing.T, srv *httptest.Server, path string, length, part int) net.Conn {
	t.Helper()
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	head := "POST " + path + " HTTP/1.1\r\nHost: bridge\r\nContent-Type: application/json\r\n"
	body := bytes.Repeat([]byte("a"), part)
	if length >= 0 {
		head += "Content-Length: " + strconv.Itoa(length) + "\r\n\r\n"
	} else {
		head += "Transfer-Encoding: chunked\r\n\r\n"
		body = append([]byte(fmt.Sprintf("%x\r\n", part)), append(body, "\r\n"...)...)
	}
	if _, err := conn.Write(append([]byte(head), body...)); err != nil {
		t.Fatal(err)
	}
	return conn
}

// answerOn reads the answer that arrives on conn, if one arrives within wait.
type rawAnswer struct {
	status  int
	outcome string
	reason  string
	close   bool // the server closes the connection after it
	err     error
}

func answerOn(conn net.Conn, wait time.Duration) rawAnswer {
	_ = conn.SetReadDeadline(time.Now().Add(wait))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return rawAnswer{err: err}
	}
	defer resp.Body.Close()
	var a struct{ Outcome, Reason string }
	err = json.NewDecoder(resp.Body).Decode(&a)
	return rawAnswer{status: resp.StatusCode, outcome: a.Outcome, reason: a.Reason, close: resp.Close, err: err}
}

// postSigned sends a signed Stripe event over a real connection.
func postSigned(t *testing.T, url string, body []byte) webhooktest.Answer {
	t.Helper()
	signed := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: body, Secret: stripeSecret})
	req, _ := http.NewRequest(http.MethodPost, url+"/webhooks/stripe", bytes.NewReader(body))
	req.Header.Set("Stripe-Signature", signed.Header)
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("signed webhook: %v", err)
	}
	defer resp.Body.Close()
	var r webhooktest.Answer
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		t.Fatalf("signed webhook: answer %d is not JSON: %v", resp.StatusCode, err)
	}
	r.Status = resp.StatusCode
	return r
}

var heldBytes = regexp.MustCompile(`(?m)^reditus_bridge_unverified_body_bytes (\S+)$`)

// unverified is what /metrics says unverified bodies hold now.
func unverified(t *testing.T, b *bridge) int {
	t.Helper()
	m := heldBytes.FindStringSubmatch(scrape(t, b))
	if m == nil {
		return -1
	}
	n, _ := strconv.ParseFloat(m[1], 64)
	return int(n)
}

// waitFor polls cond until it holds; the deadline only stops a broken
// bridge from hanging the test.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("never happened: %s", what)
		}
	}
}

// Senders holding large unsigned bodies open take at most their share of the
// budget; past it they are answered 503 retry at once; and a small signed
// webhook still gets through meanwhile.
func TestHeldBodiesAreBoundedAndSmallWebhooksPass(t *testing.T) {
	tests := []struct {
		name   string
		length int // declared; -1 chunked
	}{
		{"declared 1 MiB", MaxBody},
		{"chunked", -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newBridge(t, nil)
			srv := serveBridge(t, b, time.Minute)
			const senders, sent = 20, MaxBody - 1024
			answers := make(chan rawAnswer, senders)
			var wg sync.WaitGroup
			for range senders {
				conn := sendPart(t, srv, "/webhooks/stripe", tt.length, sent)
				wg.Add(1)
				go func() {
					defer wg.Done()
					if a := answerOn(conn, 30*time.Second); a.err == nil {
						answers <- a
					}
				}()
			}
			// Settled: every sender is either answered or held in full.
			var answered []rawAnswer
			waitFor(t, "every held body either answered or fully read", func() bool {
				for len(answers) > 0 {
					answered = append(answered, <-answers)
				}
				// A held sender is charged its 1 MiB: 32 chunks, the last
				// one waiting for the final KiB.
				return unverified(t, b) == (senders-len(answered))*MaxBody
			})
			if held := unverified(t, b); held > largeShare {
				t.Errorf("held bodies hold %d bytes, want at most %d", held, largeShare)
			}
			if len(answered) < senders-largeShare/MaxBody {
				t.Errorf("%d of %d large senders answered, want at least %d", len(answered), senders, senders-largeShare/MaxBody)
			}
			for _, a := range answered {
				if a.status != http.StatusServiceUnavailable || a.outcome != "retry" || !a.close {
					t.Errorf("a sender past the budget got %d %q (close %v), want 503 retry and the connection closed", a.status, a.outcome, a.close)
				}
			}

			for i := range 3 {
				body := []byte(fmt.Sprintf(`{"id":"evt_small_%d","type":"customer.created","livemode":true,
					"data":{"object":{"id":"cus_s%d","email":"s%d@example.com","metadata":{"red":"john"}}}}`, i, i, i))
				postSigned(t, srv.URL, body).Is(t, 200, "forwarded")
			}
			if !strings.Contains(scrape(t, b), `reditus_bridge_webhooks_shed_total{provider="stripe"} `+strconv.Itoa(len(answered))+"\n") {
				t.Errorf("/metrics does not count %d shed webhooks", len(answered))
			}
		})
	}
}

// A sender trickling its body holds what it sent (plus one chunk), not what
// it declared.
func TestTricklingBodyHoldsWhatItSent(t *testing.T) {
	tests := []struct {
		name         string
		length, sent int
		want         int // bytes held while it waits
	}{
		{"declares 1 MiB, sends 10 KiB", MaxBody, 10 << 10, bodyChunk},
		{"declares 1 MiB, sends 100 KiB", MaxBody, 100 << 10, 4 * bodyChunk},
		{"chunked, sends 10 KiB", -1, 10 << 10, bodyChunk},
		{"declares 2 KiB, sends 1 KiB", 2 << 10, 1 << 10, 2 << 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newBridge(t, nil)
			srv := serveBridge(t, b, time.Minute)
			sendPart(t, srv, "/webhooks/stripe", tt.length, tt.sent)
			var got int
			waitFor(t, fmt.Sprintf("the trickled body holds %d bytes", tt.want), func() bool {
				got = unverified(t, b)
				return got == tt.want
			})
			if got > tt.sent+bodyChunk {
				t.Errorf("a trickling body holds %d bytes, want at most what it sent, %d, plus one chunk", got, tt.sent)
			}
		})
	}
}

// At shutdown, bodies still being read are cut off with 503 retry, and so are
// later ones, while a webhook already inside Reditus finishes with its real
// answer.
func TestStopReadingInterruptsOnlyUnverifiedBodies(t *testing.T) {
	b := newBridge(t, nil)
	gate := fakereditus.NewGate(1, b.reditus.Reditus)
	b.reditus.Respond(reditus.CallTrack, gate.Respond)
	srv := serveBridge(t, b, time.Minute)

	inFlight := make(chan webhooktest.Answer, 1)
	go func() { inFlight <- postSigned(t, srv.URL, stripeFixture(t, "customer.created.json")) }()
	<-gate.Held()
	trickler := sendPart(t, srv, "/webhooks/stripe", 4096, 100)
	waitFor(t, "the trickled body is being read", func() bool { return unverified(t, b) > 0 })

	b.handler.StopReading()
	a := answerOn(trickler, 10*time.Second)
	gate.Release()
	if a.err != nil || a.status != http.StatusServiceUnavailable || a.outcome != "retry" || !strings.Contains(a.reason, "shutting down") {
		t.Errorf("trickled body at shutdown: %d %q %q (%v), want 503 retry, shutting down", a.status, a.outcome, a.reason, a.err)
	}
	late := answerOn(sendPart(t, srv, "/webhooks/stripe", 10, 10), 10*time.Second)
	if late.status != http.StatusServiceUnavailable || late.outcome != "retry" {
		t.Errorf("body sent after shutdown began: %d %q (%v), want 503 retry", late.status, late.outcome, late.err)
	}
	(<-inFlight).Is(t, 200, "forwarded")
	if got := unverified(t, b); got != 0 {
		t.Errorf("%d bytes still held after every read ended", got)
	}
}

// Whatever its size and framing, a signed body reaches the signature check
// byte for byte: one buffer, chunks joined, or a chunk boundary at the end;
// past 1 MiB it is too large, declared or not.
func TestSignedBodiesOfEverySizeAndFraming(t *testing.T) {
	b := newBridge(t, nil)
	srv := serveBridge(t, b, time.Minute)
	event := func(id string, size int) []byte {
		head := `{"id":"` + id + `","type":"customer.created","livemode":true,"data":{"object":{"id":"cus_` + id +
			`","email":"` + id + `@example.com","metadata":{"red":"john","pad":"`
		tail := `"}}}}`
		return []byte(head + strings.Repeat("p", size-len(head)-len(tail)) + tail)
	}
	tests := []struct {
		name    string
		size    int
		chunked bool
		status  int
		outcome string
	}{
		{"small", 2 << 10, false, 200, "forwarded"},
		{"exactly the small limit", smallBody, false, 200, "forwarded"},
		{"just over the small limit", smallBody + 1, false, 200, "forwarded"},
		{"a whole number of chunks", 5 * bodyChunk, false, 200, "forwarded"},
		{"one byte under the limit", MaxBody - 1, false, 200, "forwarded"},
		{"exactly the limit", MaxBody, false, 200, "forwarded"},
		{"one byte over the limit", MaxBody + 1, false, 413, "too_large"},
		{"small, chunked", 2 << 10, true, 200, "forwarded"},
		{"a whole number of chunks, chunked", 3 * bodyChunk, true, 200, "forwarded"},
		{"the limit, chunked", MaxBody, true, 200, "forwarded"},
		{"one byte over the limit, chunked", MaxBody + 1, true, 413, "too_large"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := event(fmt.Sprintf("evt_size_%d", i), tt.size)
			signed := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: body, Secret: stripeSecret})
			req, _ := http.NewRequest(http.MethodPost, srv.URL+"/webhooks/stripe", bytes.NewReader(body))
			if tt.chunked {
				req.Body, req.ContentLength = io.NopCloser(bytes.NewReader(body)), -1
			}
			req.Header.Set("Stripe-Signature", signed.Header)
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var a struct{ Outcome, Reason string }
			_ = json.NewDecoder(resp.Body).Decode(&a)
			if resp.StatusCode != tt.status || a.Outcome != tt.outcome {
				t.Errorf("%d-byte body: got %d %q (%s), want %d %s", tt.size, resp.StatusCode, a.Outcome, a.Reason, tt.status, tt.outcome)
			}
		})
	}
	if got := unverified(t, b); got != 0 {
		t.Errorf("%d bytes still held after every body was verified", got)
	}
}
