package reditus_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/getreditus/reditus-bridge/internal/fakereditus"
	"github.com/getreditus/reditus-bridge/reditus"
)

// WithAttempts reports every HTTP attempt of the calls made under its
// context, as it ends: the retried 503 and the 201 after it, each with its
// status, what was sent, and Reditus's words, emails masked. Calls made
// under another context are not reported there.
func TestWithAttemptsReportsEveryAttempt(t *testing.T) {
	red := newFake(t, reditus.CallTrack, fakereditus.Sequence(
		fakereditus.Status(http.StatusServiceUnavailable, `{"message":"down for jane@example.com"}`),
		fakereditus.Status(http.StatusCreated, created),
	))
	client := newClient(red)
	var got []reditus.Attempt
	ctx := reditus.WithAttempts(context.Background(), func(a reditus.Attempt) { got = append(got, a) })
	if _, err := client.Track(ctx, reditus.Conversion{AffiliateSlug: "john", Email: "jane@example.com"}); err != nil {
		t.Fatal(err)
	}
	if _, err := client.Track(context.Background(), reditus.Conversion{AffiliateSlug: "john", Email: "other@example.com"}); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Fatalf("%d attempts reported, want 2: %+v", len(got), got)
	}
	for i, want := range []struct {
		status int
		kind   reditus.Kind
		answer string
	}{
		{http.StatusServiceUnavailable, reditus.Retryable, "down for j***@example.com"},
		{http.StatusCreated, 0, created},
	} {
		a := got[i]
		if a.Status != want.status || a.Kind != want.kind || a.Answer != want.answer || a.Call != reditus.CallTrack {
			t.Errorf("attempt %d = status %d, kind %v, answer %q, call %v; want %d, %v, %q, track", i, a.Status, a.Kind, a.Answer, a.Call, want.status, want.kind, want.answer)
		}
		if !strings.Contains(string(a.Request), `"email":"jane@example.com"`) || a.At.IsZero() || a.Latency <= 0 {
			t.Errorf("attempt %d: request %s, at %v, latency %v", i, a.Request, a.At, a.Latency)
		}
	}
	if !got[1].At.After(got[0].At) {
		t.Errorf("attempts out of order: %v, then %v", got[0].At, got[1].At)
	}
}

// An attempt that got no answer is reported with status 0 and why.
func TestWithAttemptsReportsNoAnswer(t *testing.T) {
	client := reditus.New(reditus.Options{BaseURL: "http://127.0.0.1:1", APIKey: testKey, MaxAttempts: 1})
	var got []reditus.Attempt
	ctx := reditus.WithAttempts(context.Background(), func(a reditus.Attempt) { got = append(got, a) })
	_ = client.Pay(ctx, reditus.Payment{Amount: 100, Currency: "usd", IdempotencyKey: "k", ReferralEmail: "jane@example.com"})
	if len(got) != 1 || got[0].Status != 0 || got[0].Kind != reditus.Retryable || got[0].Call != reditus.CallPay || !strings.HasPrefix(got[0].Answer, "no answer: ") {
		t.Errorf("attempts = %+v", got)
	}
}
