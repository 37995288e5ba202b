package alert

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/getreditus/reditus-bridge/config"
)

// What a stranger controls reaches an alert: the customer's email and the
// slug they signed up with (Reditus's error quotes them), the event type and
// id a sender signed. None of it may mention anyone, link anywhere, mark the
// text up, or end the alert's JSON.
var hostile = Report{
	Kind: EventRejected, Provider: "generic",
	EventID:   "evt_1\n*What to do:* nothing <!channel>",
	EventType: "user.created` @everyone **bold** [click](https://evil.example/x)",
	Reason: "Affiliate <!here> <@U0123ABC> <https://evil.example|Reditus login> @here ||spoiler|| " +
		"not found for jane.doe@example.com\u202e\x00\",\"kind\":\"forged",
}

func TestAlertTextCannotInjectMarkupOrMentions(t *testing.T) {
	m := (&Alerter{publicURL: publicURL}).message(tallyOf(hostile, time.Now(), 1))
	for _, format := range []string{config.AlertSlack, config.AlertDiscord, config.AlertJSON} {
		t.Run(format, func(t *testing.T) {
			body, err := m.body(format)
			if err != nil {
				t.Fatal(err)
			}
			var fields map[string]any
			if err := json.Unmarshal(body, &fields); err != nil {
				t.Fatalf("the body is not JSON: %v: %s", err, body)
			}
			if format == config.AlertJSON && fields["kind"] != string(EventRejected) {
				t.Errorf("kind: got %v, want the alert's own", fields["kind"])
			}
			text, _ := fields[map[string]string{config.AlertSlack: "text", config.AlertDiscord: "content", config.AlertJSON: "text"}[format]].(string)
			for _, bad := range []string{"jane.doe@", "\u202e", "\x00"} {
				if strings.Contains(text, bad) {
					t.Errorf("the text holds %q:\n%s", bad, text)
				}
			}
			if !strings.Contains(strings.ReplaceAll(text, "\u2060", ""), "j***@example.com") {
				t.Errorf("the email is not masked as in logs:\n%s", text)
			}
			lines := strings.Split(text, "\n")
			if lines[3] != "Last: "+lastLine(format) {
				t.Errorf("the last event's line:\ngot  %q\nwant %q", lines[3], "Last: "+lastLine(format))
			}
			if format == config.AlertDiscord {
				if allowed, _ := fields["allowed_mentions"].(map[string]any); allowed == nil || len(allowed["parse"].([]any)) != 0 {
					t.Errorf("discord: got allowed_mentions %v, want {\"parse\": []}", fields["allowed_mentions"])
				}
			}
		})
	}
}

// lastLine is what the hostile report's fields must become in format: in
// chat formats each is one code span (no markup, links or mentions in it),
// with its backticks gone, each '@' followed by a word joiner, and in
// Slack's & < > escaped.
func lastLine(format string) string {
	const wj = "\u2060"
	switch format {
	case config.AlertSlack:
		return "`user.created' @" + wj + "everyone **bold** [click](https://evil.example/x)` `evt_1 *What to do:* nothing &lt;!channel&gt;`: " +
			"`Affiliate &lt;!here&gt; &lt;@" + wj + "U0123ABC&gt; &lt;https://evil.example|Reditus login&gt; @" + wj + "here ||spoiler|| not found for j***@" + wj + "example.com \",\"kind\":\"forged`"
	case config.AlertDiscord:
		return "`user.created' @" + wj + "everyone **bold** [click](https://evil.example/x)` `evt_1 *What to do:* nothing <!channel>`: " +
			"`Affiliate <!here> <@" + wj + "U0123ABC> <https://evil.example|Reditus login> @" + wj + "here ||spoiler|| not found for j***@" + wj + "example.com \",\"kind\":\"forged`"
	}
	return "user.created` @everyone **bold** [click](https://evil.example/x) evt_1 *What to do:* nothing <!channel>: " +
		"Affiliate <!here> <@U0123ABC> <https://evil.example|Reditus login> @here ||spoiler|| not found for j***@example.com \",\"kind\":\"forged"
}

func TestAStrangersFieldIsCutShort(t *testing.T) {
	long := untrusted(strings.Repeat("a", 10_000), slack)
	if n := len([]rune(long)); n > maxField+3 {
		t.Errorf("a 10 000-byte reason became %d characters in the alert, want at most %d", n, maxField+3)
	}
}

// Destinations that hang, redirect or fail: the reports that feed them
// return at once, the good destination gets its alert in time, the bad ones
// are retried a few times and logged, and no log line holds a token.
func TestFailingDestinationsDelayNothingAndLeakNoSecret(t *testing.T) {
	stop := make(chan struct{})
	hang := newReceiver(t, func(http.ResponseWriter, *http.Request) { <-stop })
	t.Cleanup(func() { close(stop) })
	elsewhere := newReceiver(t, nil)
	redirect := newReceiver(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, elsewhere.URL+"/stolen", http.StatusTemporaryRedirect)
	})
	failing := newReceiver(t, func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusInternalServerError) })
	good := newReceiver(t, nil)
	tokens := []string{"hangTok3n", "redirTok3n", "failTok3n"}
	cfg := testConfig(hang.URL+"/hooks/"+tokens[0], "slack+"+redirect.URL+"/services/"+tokens[1], "discord+"+failing.URL+"/api/webhooks/1/"+tokens[2], good.URL)
	a, logged := started(t, cfg, Deps{}, newClock())

	start := time.Now()
	for i := range 10_000 {
		a.Alert(Report{Kind: EventRejected, Provider: "stripe", EventID: itoa(i)})
	}
	if d := time.Since(start); d > 500*time.Millisecond {
		t.Errorf("10 000 reports took %v, want them never to wait on a destination", d)
	}
	if got := good.wait(1, 2*time.Second); len(got) != 1 {
		t.Fatalf("the good destination got %d alerts within 2 s, want its one, whatever the others do", len(got))
	}
	deadline := time.Now().Add(10 * time.Second)
	for strings.Count(logged.String(), "alert not delivered") < 3 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if n := strings.Count(logged.String(), "alert not delivered"); n != 3 {
		t.Errorf("got %d destinations logged as failed, want the 3 bad ones:\n%s", n, logged.String())
	}
	if n := len(failing.posted()); n != attempts {
		t.Errorf("the destination answering 500 was tried %d times, want %d", n, attempts)
	}
	if n := len(redirect.posted()); n != 1 || len(elsewhere.posted()) != 0 {
		t.Errorf("the redirect: tried %d times and followed %d times, want once and never", n, len(elsewhere.posted()))
	}
	for _, tok := range tokens {
		if strings.Contains(logged.String(), tok) {
			t.Errorf("the log holds the token %q:\n%s", tok, logged.String())
		}
	}
}

func TestTestSaysHowEachDestinationAnswered(t *testing.T) {
	good := newReceiver(t, func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) })
	failing := newReceiver(t, func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNotFound) })
	a, err := New(testConfig("discord+"+good.URL+"/api/webhooks/1/goodTok3n", failing.URL+"/in/badTok3n"), Deps{})
	if err != nil {
		t.Fatal(err)
	}
	answers := a.Test(context.Background())
	if len(answers) != 2 {
		t.Fatalf("got %d answers, want one per destination", len(answers))
	}
	if a0 := answers[0]; a0.Err != nil || a0.Answer != "HTTP 204 No Content" || a0.Destination != "discord "+good.URL+"/…" {
		t.Errorf("the good destination: got %+v", a0)
	}
	if a1 := answers[1]; a1.Err == nil || a1.Answer != "HTTP 404 Not Found" || strings.Contains(a1.Err.Error(), "badTok3n") {
		t.Errorf("the failing destination: got %+v", a1)
	}
	var body struct{ Content string }
	_ = json.Unmarshal(good.posted()[0], &body)
	if !strings.Contains(body.Content, "a test alert") {
		t.Errorf("the test alert reads %q", body.Content)
	}
}
