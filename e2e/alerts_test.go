package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getreditus/reditus-bridge/internal/fakesmtp"
	"github.com/getreditus/reditus-bridge/internal/testenv"
)

// Alerts, end to end: the built bridge, a fake Reditus driven through 401,
// 400, 500 and recovery, and a real receiver for each format (Slack,
// Discord, JSON on loopback, and an SMTP server with STARTTLS).

// alertInterval is the tests' ALERT_INTERVAL: short, so that an interval
// ends within the test.
const alertInterval = 4 * time.Second

// The secrets of the alert destinations: none may appear in a log line.
const (
	slackToken   = "T0E2E/B0E2E/slackE2ETok3n"
	discordToken = "4242/discordE2ETok3n"
	jsonToken    = "jsonE2ETok3n"
	smtpPassword = "smtp-e2e-pa55word"
)

// titles tell an alert's kind in the chat formats, which have no kind field.
var titles = map[string]string{
	"event_failed":        "queued events given up on",
	"key_refused":         "Reditus refused the API key",
	"event_rejected":      "Reditus rejected events",
	"signature_failures":  "webhooks with a wrong signature",
	"reditus_unavailable": "Reditus is unavailable",
	"journal_unavailable": "the journal cannot be written",
	"resolved":            "resolved:",
}

// received is one alert at one destination.
type received struct {
	kind string
	at   time.Time
	text string // the text as the destination shows it
	body map[string]any
}

// alertSink is every destination of a bridge's alerts.
type alertSink struct {
	slack, discord, json *httptest.Server
	mail                 *fakesmtp.Server

	mu  sync.Mutex
	got map[string][]received // by destination: slack, discord, json
}

func newAlertSink(t *testing.T) *alertSink {
	s := &alertSink{mail: fakesmtp.New(t, "bridge@example.com", smtpPassword), got: map[string][]received{}}
	s.slack = s.receiver(t, "slack", "text")
	s.discord = s.receiver(t, "discord", "content")
	s.json = s.receiver(t, "json", "text")
	return s
}

// receiver records every alert posted to it, reading its text from field.
func (s *alertSink) receiver(t *testing.T, name, field string) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body map[string]any
		b, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(b, &body); err != nil {
			t.Errorf("%s: the alert is not JSON: %v: %s", name, err, b)
		}
		text, _ := body[field].(string)
		kind, _ := body["kind"].(string)
		for k, title := range titles {
			if kind == "" && strings.Contains(text, title) {
				kind = k
			}
		}
		s.mu.Lock()
		s.got[name] = append(s.got[name], received{kind: kind, at: time.Now(), text: text, body: body})
		s.mu.Unlock()
	}))
	t.Cleanup(srv.Close)
	return srv
}

// env is the bridge's alert configuration: the three receivers, email
// through the SMTP server (trusting its certificate), the short interval.
func (s *alertSink) env() []string {
	return []string{
		"ALERT_URLS=slack+" + s.slack.URL + "/services/" + slackToken + ",discord+" + s.discord.URL + "/api/webhooks/" + discordToken + "," + s.json.URL + "/in?token=" + jsonToken,
		"ALERT_EMAIL=ops@example.com",
		fmt.Sprintf("SMTP_URL=smtp://bridge%%40example.com:%s@127.0.0.1:%d?from=alerts@example.com", smtpPassword, s.mail.Port),
		"SSL_CERT_FILE=" + s.mail.CertFile,
		"ALERT_INTERVAL=" + alertInterval.String(),
		"PUBLIC_URL=https://bridge.example.com",
	}
}

// of is what destination received of kind.
func (s *alertSink) of(destination, kind string) []received {
	if destination == "email" {
		var out []received
		for _, m := range s.mail.Messages() {
			if strings.Contains(m.Data, "Subject: [reditus-bridge] "+kind+":") {
				out = append(out, received{kind: kind, text: m.Data})
			}
		}
		return out
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []received
	for _, r := range s.got[destination] {
		if r.kind == kind {
			out = append(out, r)
		}
	}
	return out
}

var destinations = []string{"slack", "discord", "json", "email"}

// arrived waits until every destination holds n alerts of kind, and fails
// unless each holds exactly n a moment later.
func (s *alertSink) arrived(t *testing.T, kind string, n int) {
	t.Helper()
	waitFor(t, 15*time.Second, fmt.Sprintf("%d %s alert(s) at every destination", n, kind), func() bool {
		for _, d := range destinations {
			if len(s.of(d, kind)) < n {
				return false
			}
		}
		return true
	})
	time.Sleep(300 * time.Millisecond)
	for _, d := range destinations {
		if got := len(s.of(d, kind)); got != n {
			t.Errorf("%s: got %d %s alerts, want %d", d, got, kind, n)
		}
	}
}

// jsonOf is the json destination's alerts of kind, decoded.
func (s *alertSink) jsonOf(kind string) []map[string]any {
	var out []map[string]any
	for _, r := range s.of("json", kind) {
		out = append(out, r.body)
	}
	return out
}

// Every kind of alert reaches every format, once per interval: the first
// at once, the repeats counted into one alert when the interval ends.
func TestEveryAlertKindIsDeliveredOncePerIntervalToEachFormat(t *testing.T) {
	if testing.Short() {
		t.Skip("runs for about half a minute")
	}
	sink := newAlertSink(t)
	red := newReditus(t)
	dir := t.TempDir()
	p := start(t, liveEnv(red, append(sink.env(), "DATA_DIR="+dir, "RETRY_FOR=2s", "ALERT_UNAVAILABLE_AFTER=1s")...)...)

	// key_refused, then two more within the interval: counted into one.
	red.set(unauthorized)
	expect(t, p, signup("k1"), "500 retry")
	sink.arrived(t, "key_refused", 1)
	expect(t, p, signup("k2"), "500 retry")
	expect(t, p, signup("k3"), "500 retry")
	sink.arrived(t, "key_refused", 2)
	if got := sink.jsonOf("key_refused"); got[1]["count"] != 2.0 || !strings.Contains(got[1]["text"].(string), "msg_k3") {
		t.Errorf("the interval's second key_refused: got %v, want count 2, the last msg_k3", got[1])
	}

	// event_rejected, whose reason quotes the customer's email.
	red.set(rejecting)
	expect(t, p, signup("r1"), "200 rejected")
	sink.arrived(t, "event_rejected", 1)
	if got := sink.jsonOf("event_rejected")[0]; got["admin_url"] != "https://bridge.example.com/admin?outcome=rejected&provider=generic" || got["provider"] != "generic" {
		t.Errorf("event_rejected: got %v, want the generic provider, linked to its rejected events", got)
	}

	// signature_failures: five webhooks signed with a secret the bridge lacks.
	for i := range 5 {
		if a := p.post(t, "stripe", "whsec_rotated_on_one_side_only", "", stripeSignup(fmt.Sprint("s", i)).body); a.String() != "400 invalid_signature" {
			t.Fatalf("a wrong signature: got %s", a)
		}
	}
	sink.arrived(t, "signature_failures", 1)

	alertsOfAnOutage(t, p, red, sink, dir)
	assertOncePerInterval(t, sink)
	for _, d := range destinations {
		for _, r := range sink.of(d, "event_rejected") {
			if strings.Contains(r.text, "r1@example.com") {
				t.Errorf("%s: the customer's email is whole in the alert:\n%s", d, r.text)
			}
		}
	}
	for _, secret := range []string{slackToken, discordToken, jsonToken, smtpPassword} {
		if w := p.logHolds(secret); w != "" || strings.Contains(p.errOut.String(), secret) {
			t.Errorf("the bridge logged the destination secret %q", secret)
		}
	}
	if got := p.metric(t, `reditus_bridge_alerts_total{kind="key_refused",result="sent"}`); got != 8 {
		t.Errorf("alerts_total{key_refused,sent}: got %d, want 8 (2 alerts, 4 destinations)", got)
	}
	for _, r := range sink.of("slack", "") {
		t.Logf("an alert without a kind: %s", r.text)
	}
	for kind := range titles {
		for _, r := range sink.of("slack", kind) {
			t.Logf("slack, %s:\n%s", kind, r.text)
		}
	}
	p.stop(t)
}

// alertsOfAnOutage drives the journal and then Reditus down and up again:
// journal_unavailable and its resolved alert, reditus_unavailable once it
// lasted, event_failed when RETRY_FOR runs out, and Reditus's resolved.
func alertsOfAnOutage(t *testing.T, p *bridge, red *fakeReditus, sink *alertSink, dir string) {
	t.Helper()
	red.set(up)
	lock, err := journalDB(t, dir).Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lock.ExecContext(context.Background(), `BEGIN IMMEDIATE`); err != nil {
		t.Fatal(err)
	}
	expect(t, p, signup("j1"), "200 forwarded") // without the journal
	sink.arrived(t, "journal_unavailable", 1)
	if _, err := lock.ExecContext(context.Background(), `ROLLBACK`); err != nil {
		t.Fatal(err)
	}
	lock.Close()
	expect(t, p, signup("j2"), "200 forwarded")
	sink.arrived(t, "resolved", 1)

	red.set(down)
	expect(t, p, signup("d1"), "202 queued")
	time.Sleep(1100 * time.Millisecond) // ALERT_UNAVAILABLE_AFTER
	expect(t, p, signup("d2"), "202 queued")
	sink.arrived(t, "reditus_unavailable", 1)
	sink.arrived(t, "event_failed", 1) // RETRY_FOR ran out for d1
	red.set(up)
	expect(t, p, signup("u1"), "200 forwarded")
	sink.arrived(t, "resolved", 2)
	if got := sink.jsonOf("resolved"); got[0]["resolves"] != "journal_unavailable" || got[1]["resolves"] != "reditus_unavailable" {
		t.Errorf("resolved: got %v then %v, want the journal's, then Reditus's", got[0]["resolves"], got[1]["resolves"])
	}
}

// assertOncePerInterval waits for the last interval to end, then checks
// that no destination got two alerts of a kind (and provider) less than an
// interval apart; resolved alerts follow their outages instead.
func assertOncePerInterval(t *testing.T, sink *alertSink) {
	t.Helper()
	time.Sleep(alertInterval + time.Second)
	for _, d := range []string{"slack", "discord", "json"} {
		last := map[string]time.Time{}
		sink.mu.Lock()
		got := append([]received(nil), sink.got[d]...)
		sink.mu.Unlock()
		for _, r := range got {
			if r.kind == "" {
				t.Errorf("%s: an alert of no known kind:\n%s", d, r.text)
			}
			if r.kind == "resolved" {
				continue
			}
			// Alerts are sent a tick after the interval ends, so 0.9 of it.
			if prev, ok := last[r.kind]; ok && r.at.Sub(prev) < alertInterval*9/10 {
				t.Errorf("%s: two %s alerts %v apart, within one interval of %v", d, r.kind, r.at.Sub(prev), alertInterval)
			}
			last[r.kind] = r.at
		}
	}
}

// Two bridges on one Postgres, as two Fly machines: what both see is one
// alert at once, and one more for the rest when the interval ends, in all.
func TestInstancesOnOnePostgresSendOneAlertPerInterval(t *testing.T) {
	url := testenv.Postgres(t)
	sink := newAlertSink(t)
	red := newReditus(t)
	red.set(rejecting)
	env := liveEnv(red, append(sink.env(), "DATABASE_URL="+url)...)
	one, two := start(t, env...), start(t, env...)
	var ds []delivery
	for i := range 6 {
		ds = append(ds, signup(fmt.Sprint("pg", i)))
	}
	deliverAll(t, ds, func(i int) *bridge { return []*bridge{one, two}[i%2] }, "200 rejected")
	sink.arrived(t, "event_rejected", 1)
	sink.arrived(t, "event_rejected", 2)
	total := 0
	for _, a := range sink.jsonOf("event_rejected") {
		total += int(a["count"].(float64))
	}
	if total != len(ds) {
		t.Errorf("the two alerts count %d rejected events, want the %d both bridges saw", total, len(ds))
	}
	assertOncePerInterval(t, sink)
}

// alert test posts one test alert to each destination and says how each
// answered; one that fails makes it exit 1, and no answer holds a token.
func TestAlertTestReportsEveryDestination(t *testing.T) {
	sink := newAlertSink(t)
	failing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusNotFound)
	}))
	t.Cleanup(failing.Close)
	env := sink.env()
	stdout, stderr, code := runCommand(t, env, "alert", "test")
	if code != 0 || strings.Count(stdout, "\n") != 4 || !strings.Contains(stdout, "email smtp://127.0.0.1:") {
		t.Errorf("alert test, every destination up: exit %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
	for _, d := range destinations {
		if n := len(sink.of(d, "test")) + len(sink.of(d, "")); d != "email" && n != 1 {
			t.Errorf("%s: got %d test alerts, want 1", d, n)
		}
	}
	if m := sink.mail.Messages(); len(m) != 1 || !m[0].TLS {
		t.Errorf("email: got %+v, want one test alert, over STARTTLS", m)
	}

	env[0] += "," + failing.URL + "/hooks/failTok3n"
	stdout, stderr, code = runCommand(t, env, "alert", "test")
	if code != 1 || !strings.Contains(stdout, "json "+failing.URL+"/…: failed: HTTP 404 Not Found") || !strings.Contains(stderr, "1 of 5 alert destinations failed") {
		t.Errorf("alert test, one destination failing: exit %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
	for _, secret := range []string{slackToken, discordToken, jsonToken, smtpPassword, "failTok3n"} {
		if strings.Contains(stdout+stderr, secret) {
			t.Errorf("alert test printed the secret %q:\n%s%s", secret, stdout, stderr)
		}
	}
}
