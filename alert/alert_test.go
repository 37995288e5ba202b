package alert

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getreditus/reditus-bridge/config"
	"github.com/getreditus/reditus-bridge/internal/fakesmtp"
	"github.com/getreditus/reditus-bridge/internal/webhooktest"
)

// ---- receivers: a real HTTP server on 127.0.0.1 per destination ----

// receiver is an alert destination: it keeps every body posted to it and
// answers with status (200 when 0).
type receiver struct {
	*httptest.Server
	mu     sync.Mutex
	bodies [][]byte
	got    chan struct{}
}

func newReceiver(t *testing.T, handle func(w http.ResponseWriter, r *http.Request)) *receiver {
	t.Helper()
	rc := &receiver{got: make(chan struct{}, 256)}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		rc.bodies = append(rc.bodies, b)
		rc.mu.Unlock()
		rc.got <- struct{}{}
		if handle != nil {
			handle(w, r)
		}
	}))
	t.Cleanup(rc.Close)
	return rc
}

// posted is every body received so far.
func (rc *receiver) posted() [][]byte {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([][]byte(nil), rc.bodies...)
}

// wait waits until n bodies arrived, or d passed, and returns them.
func (rc *receiver) wait(n int, d time.Duration) [][]byte {
	deadline := time.After(d)
	for len(rc.posted()) < n {
		select {
		case <-rc.got:
		case <-deadline:
			return rc.posted()
		}
	}
	return rc.posted()
}

// jsonAlerts decodes the json format's bodies.
func jsonAlerts(t *testing.T, bodies [][]byte) []jsonAlert {
	t.Helper()
	var out []jsonAlert
	for _, b := range bodies {
		var a jsonAlert
		if err := json.Unmarshal(b, &a); err != nil {
			t.Fatalf("not the json format: %v: %s", err, b)
		}
		out = append(out, a)
	}
	return out
}

// ---- a clock the tests move ----

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2025, 3, 2, 10, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// ---- the alerter under test ----

const publicURL = "https://bridge.example.com"

// testConfig sends alerts to urls every hour, under publicURL.
func testConfig(urls ...string) config.Config {
	var list config.Secrets
	for _, u := range urls {
		list = append(list, config.Secret(u))
	}
	c := config.Config{AlertURLs: list, AlertInterval: time.Hour, AlertUnavailableAfter: 5 * time.Minute}
	c.PublicURL = publicURL
	return c
}

// started is an alerter of cfg running until the test ends, on clock c,
// polling often, trying fast; logged gets its log.
func started(t *testing.T, cfg config.Config, deps Deps, c *clock) (a *Alerter, logged *webhooktest.Log) {
	t.Helper()
	logged = &webhooktest.Log{}
	deps.Log = logged.Logger()
	a, err := New(cfg, deps)
	if err != nil {
		t.Fatal(err)
	}
	a.now, a.tick = c.Now, 10*time.Millisecond
	for _, s := range a.senders {
		s.timeout, s.backoff = 500*time.Millisecond, 10*time.Millisecond
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = a.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return a, logged
}

var rejected = Report{Kind: EventRejected, Provider: "stripe", EventID: "evt_1", EventType: "customer.created", Reason: "Affiliate john not found"}

// ---- the tests ----

func TestEveryFormatGetsTheAlert(t *testing.T) {
	slackRC, discordRC, jsonRC := newReceiver(t, nil), newReceiver(t, nil), newReceiver(t, nil)
	mailbox := fakesmtp.New(t, "bridge", "smtp-password-xyz")
	cfg := testConfig("slack+"+slackRC.URL+"/services/T1/B1/tok", "discord+"+discordRC.URL+"/api/webhooks/1/tok", jsonRC.URL+"/in")
	cfg.AlertEmail, cfg.SMTPURL = "ops@example.com", config.Secret("smtp://bridge:smtp-password-xyz@127.0.0.1:"+itoa(mailbox.Port))
	a, err := New(cfg, Deps{})
	if err != nil {
		t.Fatal(err)
	}
	a.senders[3].dest.(*email).roots = &tls.Config{RootCAs: mailbox.Roots}
	a.tick = 10 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = a.Run(ctx) }()

	a.Alert(rejected)

	var slackBody struct{ Text string }
	if err := json.Unmarshal(one(t, slackRC), &slackBody); err != nil || !strings.Contains(slackBody.Text, "Reditus rejected events (stripe)") {
		t.Errorf("slack: got %+v (%v), want {\"text\": ...} saying what happened", slackBody, err)
	}
	var discordBody struct {
		Content         string
		AllowedMentions struct{ Parse []string } `json:"allowed_mentions"`
	}
	if err := json.Unmarshal(one(t, discordRC), &discordBody); err != nil || !strings.Contains(discordBody.Content, "Reditus rejected events (stripe)") || discordBody.AllowedMentions.Parse == nil {
		t.Errorf("discord: got %+v (%v), want {\"content\": ..., \"allowed_mentions\": {\"parse\": []}}", discordBody, err)
	}
	got := jsonAlerts(t, [][]byte{one(t, jsonRC)})[0]
	if got.Kind != EventRejected || got.Provider != "stripe" || got.Count != 1 || got.FirstAt.IsZero() ||
		got.AdminURL != publicURL+"/admin?outcome=rejected&provider=stripe" || !strings.Contains(got.Text, "Affiliate john not found") {
		t.Errorf("json: got %+v", got)
	}
	mails := mailbox.Wait(1, 5*time.Second)
	if len(mails) != 1 {
		t.Fatalf("email: got %d messages, want 1", len(mails))
	}
	m := mails[0]
	m.Data = unfold(m.Data)
	if !m.TLS || m.User != "bridge" || m.From != "ops@example.com" || strings.Join(m.To, ",") != "ops@example.com" ||
		!strings.Contains(m.Data, "Subject: [reditus-bridge] event_rejected: Reditus rejected events (stripe)") ||
		!strings.Contains(m.Data, "Affiliate john not found") {
		t.Errorf("email: got %+v", m)
	}
}

// unfold is an email's text with its folded header lines joined, and its
// quoted-printable soft breaks removed.
func unfold(data string) string {
	return strings.NewReplacer("\r\n ", " ", "=\r\n", "", "=3D", "=").Replace(data)
}

// one waits for exactly one body at rc.
func one(t *testing.T, rc *receiver) []byte {
	t.Helper()
	bodies := rc.wait(1, 5*time.Second)
	time.Sleep(50 * time.Millisecond)
	if bodies = rc.posted(); len(bodies) != 1 {
		t.Fatalf("got %d alerts at %s, want 1", len(bodies), rc.URL)
	}
	return bodies[0]
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

func TestRepeatsWithinTheIntervalAreCountedIntoOneLaterAlert(t *testing.T) {
	rc := newReceiver(t, nil)
	c := newClock()
	a, _ := started(t, testConfig(rc.URL), Deps{}, c)

	a.Alert(rejected)
	if got := jsonAlerts(t, rc.wait(1, 5*time.Second)); len(got) != 1 || got[0].Count != 1 {
		t.Fatalf("the first occurrence: got %+v, want one alert at once, count 1", got)
	}
	secondAt := c.Now().Add(time.Minute)
	for i := range 3 {
		c.advance(time.Minute)
		a.Alert(Report{Kind: EventRejected, Provider: "stripe", EventID: "evt_" + itoa(i+2)})
	}
	time.Sleep(200 * time.Millisecond)
	if n := len(rc.posted()); n != 1 {
		t.Fatalf("repeats within the interval: got %d alerts, want them counted, not sent", n)
	}
	c.advance(time.Hour)
	got := jsonAlerts(t, rc.wait(2, 5*time.Second))
	if len(got) != 2 || got[1].Count != 3 || !got[1].FirstAt.Equal(secondAt) || !strings.Contains(got[1].Text, "evt_4") {
		t.Fatalf("when the interval ended: got %+v, want one alert counting the 3 repeats since %v, the last evt_4", got, secondAt)
	}
	c.advance(2 * time.Hour)
	time.Sleep(200 * time.Millisecond)
	if n := len(rc.posted()); n != 2 {
		t.Errorf("with nothing new: got %d alerts, want no more than 2", n)
	}
	a.Alert(rejected)
	if got := rc.wait(3, 5*time.Second); len(got) != 3 {
		t.Errorf("a quiet interval later: got %d alerts, want the next occurrence at once", len(got))
	}
}

// Two bridges on one Postgres share its ledger: the first occurrence on
// either is the one alert of the interval, and what both see after it is
// counted into one more.
func TestInstancesSendOneAlertPerIntervalInAll(t *testing.T) {
	rc := newReceiver(t, nil)
	c := newClock()
	shared := newMemoryLedger()
	first, _ := started(t, testConfig(rc.URL), Deps{Ledger: shared}, c)
	second, _ := started(t, testConfig(rc.URL), Deps{Ledger: shared}, c)

	first.Alert(rejected)
	second.Alert(rejected)
	second.Alert(rejected)
	first.Alert(rejected)
	time.Sleep(300 * time.Millisecond)
	if got := jsonAlerts(t, rc.posted()); len(got) != 1 {
		t.Fatalf("got %+v, want one alert, for the first occurrences", got)
	}
	c.advance(time.Hour)
	time.Sleep(300 * time.Millisecond)
	got := jsonAlerts(t, rc.posted())
	if len(got) != 2 || got[0].Count+got[1].Count != 4 {
		t.Fatalf("got %+v, want a second alert counting the rest of the 4, from either instance", got)
	}
}

func TestKindsAndProvidersCountApart(t *testing.T) {
	rc := newReceiver(t, nil)
	a, _ := started(t, testConfig(rc.URL), Deps{}, newClock())
	a.Alert(rejected)
	a.Alert(Report{Kind: EventRejected, Provider: "polar"})
	a.Alert(Report{Kind: KeyRefused, Provider: "stripe"})
	a.Alert(Report{Kind: EventFailed, Provider: "stripe"})
	if got := rc.wait(4, 5*time.Second); len(got) != 4 {
		t.Errorf("got %d alerts, want one for each kind and provider", len(got))
	}
}

func TestSignatureFailuresNeedABurst(t *testing.T) {
	rc := newReceiver(t, nil)
	c := newClock()
	a, _ := started(t, testConfig(rc.URL), Deps{}, c)
	wrong := Report{Kind: SignatureFailures, Provider: "clerk", Reason: "no signature matches"}

	for range SignatureThreshold - 1 {
		a.Alert(wrong)
		c.advance(time.Minute)
	}
	c.advance(SignatureWindow) // the first 4 are now too old to count
	a.Alert(wrong)
	time.Sleep(200 * time.Millisecond)
	if n := len(rc.posted()); n != 0 {
		t.Fatalf("%d wrong signatures spread over more than %v: got %d alerts, want none", SignatureThreshold, SignatureWindow, n)
	}
	for range SignatureThreshold - 1 {
		c.advance(time.Second)
		a.Alert(wrong)
	}
	got := jsonAlerts(t, rc.wait(1, 5*time.Second))
	if len(got) != 1 || got[0].Count != SignatureThreshold || got[0].Provider != "clerk" || !strings.Contains(got[0].Text, "CLERK_WEBHOOK_SECRET") {
		t.Fatalf("%d within %v: got %+v, want one alert counting them, naming the variable", SignatureThreshold, SignatureWindow, got)
	}
}

func TestAnOutageAlertsOnceItLastsAndItsEndResolvesIt(t *testing.T) {
	rc := newReceiver(t, nil)
	c := newClock()
	a, _ := started(t, testConfig(rc.URL), Deps{}, c)
	began := c.Now()

	// A blip: failures for less than ALERT_UNAVAILABLE_AFTER, then an answer.
	a.Alert(ReditusAnswer(503))
	c.advance(4 * time.Minute)
	a.Alert(ReditusAnswer(0))
	a.Alert(ReditusAnswer(201))
	time.Sleep(200 * time.Millisecond)
	if n := len(rc.posted()); n != 0 {
		t.Fatalf("an outage of 4 minutes: got %d alerts, want none, and no resolved", n)
	}

	began = c.Now()
	for range 6 {
		a.Alert(ReditusAnswer(http.StatusBadGateway))
		c.advance(time.Minute)
	}
	got := jsonAlerts(t, rc.wait(1, 5*time.Second))
	if len(got) != 1 || got[0].Kind != ReditusUnavailable || got[0].Count != 6 || !got[0].FirstAt.Equal(began) || got[0].AdminURL != publicURL+"/admin?outcome=queued" {
		t.Fatalf("an outage of 5 minutes: got %+v, want one reditus_unavailable counting its 6 failures since %v", got, began)
	}
	a.Alert(ReditusAnswer(http.StatusCreated))
	got = jsonAlerts(t, rc.wait(2, 5*time.Second))
	if len(got) != 2 || got[1].Kind != Resolved || got[1].Resolves != ReditusUnavailable || !strings.Contains(got[1].Text, "Reditus answers again") {
		t.Fatalf("its end: got %+v, want resolved, resolves reditus_unavailable", got)
	}
	a.Alert(ReditusAnswer(http.StatusCreated))
	time.Sleep(200 * time.Millisecond)
	if n := len(rc.posted()); n != 2 {
		t.Errorf("answers after the end: got %d alerts, want no second resolved", n)
	}
}

func TestAJournalFailureAlertsAtOnce(t *testing.T) {
	rc := newReceiver(t, nil)
	a, _ := started(t, testConfig(rc.URL), Deps{}, newClock())
	a.Alert(Report{Kind: JournalUnavailable, Reason: "begin: database is locked"})
	a.Alert(Report{Kind: JournalUnavailable, Reason: "finish: database is locked"})
	got := jsonAlerts(t, rc.wait(1, 5*time.Second))
	if len(got) != 1 || got[0].Kind != JournalUnavailable || got[0].Provider != "" {
		t.Fatalf("got %+v, want journal_unavailable at once, with no provider", got)
	}
	a.Alert(Report{Kind: Resolved, Resolves: JournalUnavailable})
	got = jsonAlerts(t, rc.wait(2, 5*time.Second))
	if len(got) != 2 || got[1].Resolves != JournalUnavailable || got[1].Count != 2 {
		t.Fatalf("got %+v, want resolved journal_unavailable after its 2 failures", got)
	}
}

// fakeLedger is a Ledger of function fields.
type fakeLedger struct {
	add     func(context.Context, Tally, time.Time, time.Duration) (Tally, bool, time.Time, error)
	due     func(context.Context, time.Time, time.Duration) ([]Tally, error)
	resolve func(context.Context, string) (bool, error)
}

func (f fakeLedger) AddAlert(ctx context.Context, t Tally, now time.Time, every time.Duration) (Tally, bool, time.Time, error) {
	return f.add(ctx, t, now, every)
}

func (f fakeLedger) DueAlerts(ctx context.Context, now time.Time, every time.Duration) ([]Tally, error) {
	return f.due(ctx, now, every)
}
func (f fakeLedger) ResolveAlert(ctx context.Context, kind string) (bool, error) {
	return f.resolve(ctx, kind)
}

// The journal keeps the counts; when it is down, the alert saying so must
// still go out.
func TestALedgerThatFailsFallsBackToMemory(t *testing.T) {
	rc := newReceiver(t, nil)
	down := errors.New("database is locked")
	failing := fakeLedger{
		add: func(context.Context, Tally, time.Time, time.Duration) (Tally, bool, time.Time, error) {
			return Tally{}, false, time.Time{}, down
		},
		due:     func(context.Context, time.Time, time.Duration) ([]Tally, error) { return nil, down },
		resolve: func(context.Context, string) (bool, error) { return false, down },
	}
	a, logged := started(t, testConfig(rc.URL), Deps{Ledger: failing}, newClock())
	a.Alert(Report{Kind: JournalUnavailable, Reason: "begin: " + down.Error()})
	a.Alert(rejected)
	if got := rc.wait(2, 5*time.Second); len(got) != 2 {
		t.Fatalf("got %d alerts, want both, counted in memory", len(got))
	}
	a.Alert(Report{Kind: Resolved, Resolves: JournalUnavailable})
	if got := rc.wait(3, 5*time.Second); len(got) != 3 {
		t.Fatalf("got %d alerts, want the resolved one too", len(got))
	}
	if n := strings.Count(logged.String(), "counting in memory meanwhile"); n != 1 {
		t.Errorf("the ledger's failure logged %d times, want once:\n%s", n, logged.String())
	}
}
