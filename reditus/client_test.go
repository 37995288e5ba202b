package reditus_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/getreditus/reditus-bridge/internal/fakereditus"
	"github.com/getreditus/reditus-bridge/reditus"
)

const testKey = "rk_live_secret_key_123"

const (
	testBudget = 2 * time.Second
	created    = `{"data":{"id":"ref_123","type":"referral","attributes":{"state":"lead"}}}`
)

// newFake starts a fake Reditus that accepts testKey and answers every
// call to the endpoint of call with respond.
func newFake(t *testing.T, call reditus.Call, respond fakereditus.Responder) *fakereditus.Server {
	t.Helper()
	red := fakereditus.New(t, fakereditus.WithKey(testKey))
	red.Respond(call, respond)
	return red
}

func newClient(red *fakereditus.Server) *reditus.Client {
	return reditus.New(reditus.Options{
		BaseURL:        red.BaseURL + "/", // a trailing slash is trimmed
		APIKey:         testKey,
		AttemptTimeout: 300 * time.Millisecond,
		Budget:         testBudget,
		Backoff:        10 * time.Millisecond,
	})
}

func TestTrackSendsTheConversion(t *testing.T) {
	var got struct{ path, auth, contentType string }
	red := fakereditus.New(t, fakereditus.WithKey(testKey))
	red.Respond(reditus.CallTrack, func(w http.ResponseWriter, r *fakereditus.Request) {
		got.path, got.auth, got.contentType = r.HTTP.URL.Path, r.HTTP.Header.Get("Authorization"), r.HTTP.Header.Get("Content-Type")
		fakereditus.Status(http.StatusCreated, created)(w, r)
	})
	res, err := newClient(red).Track(context.Background(), reditus.Conversion{AffiliateSlug: "john", Email: "jane@example.com", GrID: "g1"})
	if err != nil {
		t.Fatal(err)
	}
	if res != (reditus.Result{ReferralID: "ref_123", State: "lead"}) {
		t.Errorf("result = %+v", res)
	}
	if got.path != "/api/v2/tracking/conversion" {
		t.Errorf("path = %q", got.path)
	}
	if got.auth != "Bearer "+testKey || got.contentType != "application/json" {
		t.Errorf("Authorization %q, Content-Type %q", got.auth, got.contentType)
	}
	bodies := red.Bodies(reditus.CallTrack)
	if len(bodies) != 1 {
		t.Fatalf("%d requests, want 1", len(bodies))
	}
	var body map[string]any
	if err := json.Unmarshal(bodies[0], &body); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"affiliate_slug": "john", "email": "jane@example.com", "gr_id": "g1"}
	if len(body) != len(want) {
		t.Errorf("body %v: empty fields must be left out, want %v", body, want)
	}
	for k, v := range want {
		if body[k] != v {
			t.Errorf("body[%q] = %v, want %v", k, body[k], v)
		}
	}
}

func TestTrackClassifies(t *testing.T) {
	tests := []struct {
		name      string
		answer    fakereditus.Responder
		kind      reditus.Kind
		message   string
		wantCalls int
	}{
		{"409", fakereditus.Status(409, `{"errors":[{"detail":"Referral already exists"}]}`), reditus.Duplicate, "Referral already exists", 1},
		{"400 JSON:API", fakereditus.Status(400, `{"errors":[{"title":"Invalid","detail":"affiliate slug nope not found"}]}`), reditus.Rejected, "affiliate slug nope not found", 1},
		{"422 error field", fakereditus.Status(422, `{"error":"email is invalid"}`), reditus.Rejected, "email is invalid", 1},
		{"400 plain text", fakereditus.Status(400, `bad slug`), reditus.Rejected, "bad slug", 1},
		{"401", fakereditus.Status(401, `{"message":"Unauthenticated."}`), reditus.Misconfigured, "Unauthenticated.", 1},
		{"403 empty", fakereditus.Status(403, ``), reditus.Misconfigured, "Forbidden", 1},
		{"404 wrong URL", fakereditus.Status(404, `<html>not found</html>`), reditus.Misconfigured, "not found", 1},
		{"500 every time", fakereditus.Status(500, `{"error":{"message":"boom"}}`), reditus.Retryable, "boom", reditus.DefaultMaxAttempts},
		{"502", fakereditus.Status(502, ``), reditus.Retryable, "Bad Gateway", reditus.DefaultMaxAttempts},
		{"429 Retry-After beyond the budget", fakereditus.Status(429, ``, "Retry-After", "120"), reditus.Retryable, "Too Many Requests", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			red := newFake(t, reditus.CallTrack, tt.answer)
			_, err := newClient(red).Track(context.Background(), reditus.Conversion{AffiliateSlug: "john", Email: "a@b.c"})
			if reditus.KindOf(err) != tt.kind {
				t.Fatalf("kind of %v = %v, want %v", err, reditus.KindOf(err), tt.kind)
			}
			if !strings.Contains(err.Error(), tt.message) {
				t.Errorf("error %q does not carry %q", err, tt.message)
			}
			if strings.Contains(err.Error(), testKey) {
				t.Errorf("error %q contains the API key", err)
			}
			if got := red.Calls(reditus.CallTrack); got != tt.wantCalls {
				t.Errorf("%d calls, want %d", got, tt.wantCalls)
			}
		})
	}
}

func TestTrackRetriesThenSucceeds(t *testing.T) {
	red := newFake(t, reditus.CallTrack, fakereditus.Sequence(
		fakereditus.Status(503, ``),
		fakereditus.Status(429, ``, "Retry-After", "0"),
		fakereditus.Status(201, created),
	))
	res, err := newClient(red).Track(context.Background(), reditus.Conversion{AffiliateSlug: "john", Email: "a@b.c"})
	if err != nil || res.ReferralID != "ref_123" {
		t.Fatalf("Track = %+v, %v; want ref_123", res, err)
	}
	if got := red.Calls(reditus.CallTrack); got != 3 {
		t.Errorf("%d calls, want 3", got)
	}
}

func TestTrackTimesOutAndRetries(t *testing.T) {
	red := newFake(t, reditus.CallTrack, fakereditus.Sequence(fakereditus.Hang, fakereditus.Status(201, created)))
	res, err := newClient(red).Track(context.Background(), reditus.Conversion{AffiliateSlug: "john", Email: "a@b.c"})
	if err != nil || res.ReferralID != "ref_123" {
		t.Fatalf("Track = %+v, %v; want the second attempt's ref_123", res, err)
	}
}

func TestTrackStaysWithinBudget(t *testing.T) {
	red := newFake(t, reditus.CallTrack, fakereditus.Hang)
	c := newClient(red)
	start := time.Now()
	_, err := c.Track(context.Background(), reditus.Conversion{AffiliateSlug: "john", Email: "a@b.c"})
	if reditus.KindOf(err) != reditus.Retryable {
		t.Fatalf("err = %v, want retryable", err)
	}
	// Not a timing assertion on speed: the budget is a hard upper bound.
	if elapsed := time.Since(start); elapsed > testBudget+time.Second {
		t.Errorf("took %v, over the %v budget", elapsed, testBudget)
	}
}

// A 201 whose body is cut off still means the conversion exists: the bridge
// must not retry it into a duplicate, nor ask the sender to.
func TestTrackCreatedThenConnectionDropped(t *testing.T) {
	red := newFake(t, reditus.CallTrack, fakereditus.CutBody(fakereditus.Status(201, created)))
	_, err := newClient(red).Track(context.Background(), reditus.Conversion{AffiliateSlug: "john", Email: "a@b.c"})
	if err != nil {
		t.Fatalf("Track = %v, want success", err)
	}
	if got := red.Calls(reditus.CallTrack); got != 1 {
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
	c := reditus.New(reditus.Options{BaseURL: "http://" + addr, APIKey: testKey, Budget: time.Second, Backoff: time.Millisecond})
	_, err = c.Track(context.Background(), reditus.Conversion{AffiliateSlug: "john", Email: "a@b.c"})
	if reditus.KindOf(err) != reditus.Retryable {
		t.Errorf("err = %v, want retryable", err)
	}
}

// A redirect is never followed: a 303 would turn the POST into a GET whose
// 2xx looks like a created conversion, and a 307 or 308 would carry the key
// and the email to the Location. Whatever HTTP client the caller passes, the
// target gets nothing and the answer is a misconfiguration.
func TestTrackNeverFollowsRedirects(t *testing.T) {
	target := fakereditus.New(t, fakereditus.WithKey(testKey))
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
				before := target.Requests()
				red := newFake(t, reditus.CallTrack, fakereditus.Redirect(code, target.BaseURL+"/v2/tracking/conversion"+query))
				c := reditus.New(reditus.Options{BaseURL: red.BaseURL, APIKey: testKey, HTTPClient: hc.http, Budget: 2 * time.Second, Backoff: 10 * time.Millisecond})
				_, err := c.Track(context.Background(), reditus.Conversion{AffiliateSlug: "john", Email: "jane@example.com"})
				if reditus.KindOf(err) != reditus.Misconfigured {
					t.Fatalf("kind of %v = %v, want %v", err, reditus.KindOf(err), reditus.Misconfigured)
				}
				if got := red.Calls(reditus.CallTrack); got != 1 {
					t.Errorf("%d calls to REDITUS_API_URL, want 1", got)
				}
				if got := target.Requests() - before; got != 0 {
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
		answer fakereditus.Responder
		kind   reditus.Kind
		masked string
	}{
		{"400 JSON:API", fakereditus.Status(400, `{"errors":[{"detail":"The referral jane.doe@example.com was already converted"}]}`), reditus.Rejected, "The referral j***@example.com was already converted"},
		{"422 several addresses", fakereditus.Status(422, `{"error":"jane.doe@example.com and bob@example.org are not allowed"}`), reditus.Rejected, "j***@example.com and b***@example.org are not allowed"},
		{"400 plain text", fakereditus.Status(400, `invalid email <jane.doe@example.com>`), reditus.Rejected, "invalid email <j***@example.com>"},
		{"401", fakereditus.Status(401, `{"message":"token for jane.doe@example.com revoked"}`), reditus.Misconfigured, "token for j***@example.com revoked"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			red := newFake(t, reditus.CallTrack, tt.answer)
			_, err := newClient(red).Track(context.Background(), reditus.Conversion{AffiliateSlug: "john", Email: "jane.doe@example.com"})
			var e *reditus.Error
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
	err := &reditus.Error{Kind: reditus.Retryable, Message: "no answer for jane@example.com", Err: errors.New(`Post "http://jane@example.com/api"`)}
	want := `reditus: retryable: no answer for j***@example.com: Post "http://j***@example.com/api"`
	if got := err.Error(); got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}
