package reditus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

const testKey = "rk_live_secret_key_123"

// fake is a Reditus that answers each request with the next handler in its
// script (the last one repeats) and counts the requests.
type fake struct {
	script []http.HandlerFunc
	calls  atomic.Int32
}

func (f *fake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n := int(f.calls.Add(1)) - 1
	f.script[min(n, len(f.script)-1)](w, r)
}

func status(code int, body string, headers ...string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		for i := 0; i+1 < len(headers); i += 2 {
			w.Header().Set(headers[i], headers[i+1])
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		_, _ = w.Write([]byte(body))
	}
}

// hang answers nothing until the client gives up. The body is read first:
// only then does the server notice the client hanging up.
func hang(w http.ResponseWriter, r *http.Request) {
	_, _ = io.Copy(io.Discard, r.Body)
	select {
	case <-r.Context().Done():
	case <-time.After(10 * time.Second):
	}
}

const created = `{"data":{"id":"ref_123","type":"referral","attributes":{"state":"lead"}}}`

func newClient(t *testing.T, f *fake) *Client {
	t.Helper()
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return New(Options{
		BaseURL:        srv.URL + "/api/",
		APIKey:         testKey,
		AttemptTimeout: 300 * time.Millisecond,
		Budget:         2 * time.Second,
		Backoff:        10 * time.Millisecond,
	})
}

func TestTrackSendsTheConversion(t *testing.T) {
	var got struct {
		path, auth, contentType string
		body                    map[string]any
	}
	f := &fake{script: []http.HandlerFunc{func(w http.ResponseWriter, r *http.Request) {
		got.path, got.auth, got.contentType = r.URL.Path, r.Header.Get("Authorization"), r.Header.Get("Content-Type")
		_ = json.NewDecoder(r.Body).Decode(&got.body)
		status(http.StatusCreated, created)(w, r)
	}}}
	res, err := newClient(t, f).Track(context.Background(), Conversion{AffiliateSlug: "john", Email: "jane@example.com", GrID: "g1"})
	if err != nil {
		t.Fatal(err)
	}
	if res != (Result{ReferralID: "ref_123", State: "lead"}) {
		t.Errorf("result = %+v", res)
	}
	if got.path != "/api/v2/tracking/conversion" {
		t.Errorf("path = %q", got.path)
	}
	if got.auth != "Bearer "+testKey || got.contentType != "application/json" {
		t.Errorf("Authorization %q, Content-Type %q", got.auth, got.contentType)
	}
	want := map[string]any{"affiliate_slug": "john", "email": "jane@example.com", "gr_id": "g1"}
	if len(got.body) != len(want) {
		t.Errorf("body %v: empty fields must be left out, want %v", got.body, want)
	}
	for k, v := range want {
		if got.body[k] != v {
			t.Errorf("body[%q] = %v, want %v", k, got.body[k], v)
		}
	}
}

func TestTrackClassifies(t *testing.T) {
	tests := []struct {
		name      string
		answer    http.HandlerFunc
		kind      Kind
		message   string
		wantCalls int32
	}{
		{"409", status(409, `{"errors":[{"detail":"Referral already exists"}]}`), Duplicate, "Referral already exists", 1},
		{"400 JSON:API", status(400, `{"errors":[{"title":"Invalid","detail":"affiliate slug nope not found"}]}`), Rejected, "affiliate slug nope not found", 1},
		{"422 error field", status(422, `{"error":"email is invalid"}`), Rejected, "email is invalid", 1},
		{"400 plain text", status(400, `bad slug`), Rejected, "bad slug", 1},
		{"401", status(401, `{"message":"Unauthenticated."}`), Misconfigured, "Unauthenticated.", 1},
		{"403 empty", status(403, ``), Misconfigured, "Forbidden", 1},
		{"404 wrong URL", status(404, `<html>not found</html>`), Misconfigured, "not found", 1},
		{"500 every time", status(500, `{"error":{"message":"boom"}}`), Retryable, "boom", DefaultMaxAttempts},
		{"502", status(502, ``), Retryable, "Bad Gateway", DefaultMaxAttempts},
		{"429 Retry-After beyond the budget", status(429, ``, "Retry-After", "120"), Retryable, "Too Many Requests", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fake{script: []http.HandlerFunc{tt.answer}}
			_, err := newClient(t, f).Track(context.Background(), Conversion{AffiliateSlug: "john", Email: "a@b.c"})
			if KindOf(err) != tt.kind {
				t.Fatalf("kind of %v = %v, want %v", err, KindOf(err), tt.kind)
			}
			if !strings.Contains(err.Error(), tt.message) {
				t.Errorf("error %q does not carry %q", err, tt.message)
			}
			if strings.Contains(err.Error(), testKey) {
				t.Errorf("error %q contains the API key", err)
			}
			if got := f.calls.Load(); got != tt.wantCalls {
				t.Errorf("%d calls, want %d", got, tt.wantCalls)
			}
		})
	}
}

func TestTrackRetriesThenSucceeds(t *testing.T) {
	f := &fake{script: []http.HandlerFunc{
		status(503, ``),
		status(429, ``, "Retry-After", "0"),
		status(201, created),
	}}
	res, err := newClient(t, f).Track(context.Background(), Conversion{AffiliateSlug: "john", Email: "a@b.c"})
	if err != nil || res.ReferralID != "ref_123" {
		t.Fatalf("Track = %+v, %v; want ref_123", res, err)
	}
	if got := f.calls.Load(); got != 3 {
		t.Errorf("%d calls, want 3", got)
	}
}

func TestTrackTimesOutAndRetries(t *testing.T) {
	f := &fake{script: []http.HandlerFunc{hang, status(201, created)}}
	res, err := newClient(t, f).Track(context.Background(), Conversion{AffiliateSlug: "john", Email: "a@b.c"})
	if err != nil || res.ReferralID != "ref_123" {
		t.Fatalf("Track = %+v, %v; want the second attempt's ref_123", res, err)
	}
}

func TestTrackStaysWithinBudget(t *testing.T) {
	f := &fake{script: []http.HandlerFunc{hang}}
	c := newClient(t, f)
	start := time.Now()
	_, err := c.Track(context.Background(), Conversion{AffiliateSlug: "john", Email: "a@b.c"})
	if KindOf(err) != Retryable {
		t.Fatalf("err = %v, want retryable", err)
	}
	// Not a timing assertion on speed: the budget is a hard upper bound.
	if elapsed := time.Since(start); elapsed > c.opts.Budget+time.Second {
		t.Errorf("took %v, over the %v budget", elapsed, c.opts.Budget)
	}
}

// A 201 whose body is cut off still means the conversion exists: the bridge
// must not retry it into a duplicate, nor ask the sender to.
func TestTrackCreatedThenConnectionDropped(t *testing.T) {
	f := &fake{script: []http.HandlerFunc{func(w http.ResponseWriter, r *http.Request) {
		conn, buf, err := w.(http.Hijacker).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		_, _ = buf.WriteString("HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nContent-Length: 500\r\n\r\n{\"data\":")
		_ = buf.Flush()
		_ = conn.Close()
	}}}
	_, err := newClient(t, f).Track(context.Background(), Conversion{AffiliateSlug: "john", Email: "a@b.c"})
	if err != nil {
		t.Fatalf("Track = %v, want success", err)
	}
	if got := f.calls.Load(); got != 1 {
		t.Errorf("%d calls, want 1", got)
	}
}

func TestTrackConnectionRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	c := New(Options{BaseURL: "http://" + addr, APIKey: testKey, Budget: time.Second, Backoff: time.Millisecond})
	_, err = c.Track(context.Background(), Conversion{AffiliateSlug: "john", Email: "a@b.c"})
	if KindOf(err) != Retryable {
		t.Errorf("err = %v, want retryable", err)
	}
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		value string
		want  time.Duration
		ok    bool
	}{
		{"", 0, false},
		{"3", 3 * time.Second, true},
		{"-1", 0, false},
		{"soon", 0, false},
		{now.Add(2 * time.Second).Format(http.TimeFormat), 2 * time.Second, true},
		{now.Add(-time.Hour).Format(http.TimeFormat), 0, true},
	}
	for _, tt := range tests {
		got, ok := retryAfter(tt.value).delay(now)
		if got != tt.want || ok != tt.ok {
			t.Errorf("delay(%q) = %v, %v; want %v, %v", tt.value, got, ok, tt.want, tt.ok)
		}
	}
}

// A redirect is never followed: a 303 would turn the POST into a GET whose
// 2xx looks like a created conversion, and a 307 or 308 would carry the key
// and the email to the Location. Whatever HTTP client the caller passes, the
// target gets nothing and the answer is a misconfiguration.
func TestTrackNeverFollowsRedirects(t *testing.T) {
	var targetCalls atomic.Int32
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		targetCalls.Add(1)
		status(http.StatusCreated, created)(w, r)
	}))
	t.Cleanup(target.Close)
	targetHost := strings.TrimPrefix(target.URL, "http://")
	const query = "?token=leaky&email=jane%40example.com"

	clients := []struct {
		name string
		http *http.Client
	}{
		{"default client", nil},
		{"caller's client that follows", &http.Client{}},
		{"caller's client with its own CheckRedirect", &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return nil }}},
	}
	for _, hc := range clients {
		for _, code := range []int{301, 302, 303, 307, 308} {
			t.Run(fmt.Sprintf("%s/%d", hc.name, code), func(t *testing.T) {
				targetCalls.Store(0)
				f := &fake{script: []http.HandlerFunc{func(w http.ResponseWriter, r *http.Request) {
					http.Redirect(w, r, target.URL+"/api/v2/tracking/conversion"+query, code)
				}}}
				srv := httptest.NewServer(f)
				t.Cleanup(srv.Close)
				c := New(Options{BaseURL: srv.URL + "/api", APIKey: testKey, HTTPClient: hc.http, Budget: 2 * time.Second, Backoff: 10 * time.Millisecond})
				_, err := c.Track(context.Background(), Conversion{AffiliateSlug: "john", Email: "jane@example.com"})
				if KindOf(err) != Misconfigured {
					t.Fatalf("kind of %v = %v, want %v", err, KindOf(err), Misconfigured)
				}
				if got := f.calls.Load(); got != 1 {
					t.Errorf("%d calls to REDITUS_API_URL, want 1", got)
				}
				if got := targetCalls.Load(); got != 0 {
					t.Errorf("the redirect target got %d requests, want 0", got)
				}
				for _, want := range []string{"REDITUS_API_URL redirects", targetHost} {
					if !strings.Contains(err.Error(), want) {
						t.Errorf("error %q does not say %q", err, want)
					}
				}
				for _, leak := range []string{"leaky", "token", "jane", testKey} {
					if strings.Contains(err.Error(), leak) {
						t.Errorf("error %q carries %q", err, leak)
					}
				}
			})
		}
	}
	if clients[2].http.CheckRedirect == nil {
		t.Error("the caller's HTTPClient was changed")
	}
}

// Reditus's error text may quote the email it refused: neither Message nor
// Error() may carry it whole, whoever prints them.
func TestTrackMasksEmailsInReditusText(t *testing.T) {
	tests := []struct {
		name   string
		answer http.HandlerFunc
		kind   Kind
		masked string
	}{
		{"400 JSON:API", status(400, `{"errors":[{"detail":"The referral jane.doe@example.com was already converted"}]}`), Rejected, "The referral j***@example.com was already converted"},
		{"422 several addresses", status(422, `{"error":"jane.doe@example.com and bob@example.org are not allowed"}`), Rejected, "j***@example.com and b***@example.org are not allowed"},
		{"400 plain text", status(400, `invalid email <jane.doe@example.com>`), Rejected, "invalid email <j***@example.com>"},
		{"401", status(401, `{"message":"token for jane.doe@example.com revoked"}`), Misconfigured, "token for j***@example.com revoked"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fake{script: []http.HandlerFunc{tt.answer}}
			_, err := newClient(t, f).Track(context.Background(), Conversion{AffiliateSlug: "john", Email: "jane.doe@example.com"})
			var e *Error
			if !errors.As(err, &e) || e.Kind != tt.kind {
				t.Fatalf("err = %v, want a %v *Error", err, tt.kind)
			}
			if e.Message != tt.masked {
				t.Errorf("Message = %q, want %q", e.Message, tt.masked)
			}
			for _, addr := range []string{"jane.doe@example.com", "bob@example.org"} {
				if strings.Contains(err.Error(), addr) {
					t.Errorf("Error() = %q, carries %q", err, addr)
				}
			}
		})
	}
}

// Error() masks whatever it prints, even an Error built outside the client.
func TestErrorMasksEmails(t *testing.T) {
	err := &Error{Kind: Retryable, Message: "no answer for jane@example.com", Err: errors.New(`Post "http://jane@example.com/api"`)}
	want := `reditus: retryable: no answer for j***@example.com: Post "http://j***@example.com/api"`
	if got := err.Error(); got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}
