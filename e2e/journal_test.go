package e2e

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getreditus/reditus-bridge/internal/fakereditus"
	"github.com/getreditus/reditus-bridge/internal/testenv"
	"github.com/getreditus/reditus-bridge/reditus"
)

// The journal and its queue against the running binary: what Reditus cannot
// take now is queued and delivered once, copies of a delivery get one
// answer, and a journal that fails (a full disk, a deleted or corrupted
// file, no usable DATA_DIR) never answers queued for what it cannot keep.

// A Supabase database webhook is sent once and never retried: during an
// outage the bridge answers it 202 and its own worker delivers it later,
// with no restart and no re-send, as the events command shows.
func TestASignupSentOnceDuringAnOutageIsDeliveredLater(t *testing.T) {
	red := newReditus(t)
	red.set(down)
	p := start(t, liveEnv(red)...)
	signup := supabaseSignup(1, "outage-supabase")
	expect(t, p, signup, "202 queued")
	calls := red.Requests()

	red.set(up)
	took := waitFor(t, 30*time.Second, "the queued Supabase signup delivered", func() bool { return len(red.Created()) > 0 })
	red.createdOnce(t, []delivery{signup})

	// The operator's view, while the bridge runs: delivered on the second
	// attempt, the email whole.
	stdout, stderr, code := runCommand(t, p.env, "events", "--email", signup.email, "--json")
	var out struct {
		Events []struct {
			Provider string `json:"provider"`
			Outcome  string `json:"outcome"`
			Attempts int    `json:"attempts"`
			Email    string `json:"email"`
		} `json:"events"`
	}
	if err := json.Unmarshal([]byte(stdout), &out); code != 0 || err != nil {
		t.Fatalf("events: exit %d, %v\n%s%s", code, err, stdout, stderr)
	}
	if len(out.Events) != 1 || out.Events[0].Outcome != "forwarded" || out.Events[0].Attempts != 2 ||
		out.Events[0].Provider != "supabase" || out.Events[0].Email != signup.email {
		t.Errorf("events --email %s: %+v, want one supabase event forwarded on attempt 2", signup.email, out.Events)
	}
	p.stop(t)
	if p.logHolds(signup.email) != "" {
		t.Error("the bridge logged the full email")
	}
	t.Logf("queued during the outage; delivered %v after Reditus came back, in %d calls", took.Round(100*time.Millisecond), red.Requests()-calls)
}

// The same delivery re-sent while its first copy is inside Reditus: the
// copies wait for it and get its answer, and Reditus hears of it once.
func TestCopiesOfADeliveryInsideReditusGetItsAnswer(t *testing.T) {
	red := newReditus(t)
	gate := fakereditus.NewGate(1, red.Reditus)
	red.Respond(reditus.CallTrack, gate.Respond)
	defer gate.Release()
	p := start(t, liveEnv(red)...)

	const copies = 6
	answers := make(chan string, copies)
	post := func() { answers <- p.deliver(t, signup("twin")).String() }
	go post()
	select {
	case <-gate.Held():
	case <-time.After(20 * time.Second):
		t.Fatal("the first copy never reached Reditus")
	}
	for range copies - 1 {
		go post()
	}
	// Every copy is in the bridge before the first is let go.
	waitFor(t, 10*time.Second, "every copy in flight", func() bool {
		return p.metric(t, "reditus_bridge_webhooks_in_flight") == copies
	})
	gate.Release()
	for range copies {
		if got := <-answers; got != "200 forwarded" {
			t.Errorf("a copy got %s, want 200 forwarded", got)
		}
	}
	if got := red.Calls(reditus.CallTrack); got != 1 {
		t.Errorf("Reditus got %d calls for %d copies of one delivery, want 1", got, copies)
	}
}

// A 1 MiB body, the most the bridge reads, is journaled whole: a retry
// replays exactly what was signed. One byte more is refused and not kept.
func TestAMegabyteBodyIsJournaledWhole(t *testing.T) {
	red := newReditus(t)
	dir := t.TempDir()
	p := start(t, liveEnv(red, "DATA_DIR="+dir)...)
	pad := func(size int) []byte {
		head := `{"email":"mib@example.com","uid":"usr_mib","affiliate_slug":"john","pad":"`
		return []byte(head + strings.Repeat("x", size-len(head)-2) + `"}`)
	}
	body := pad(1 << 20)
	for range 2 { // the second is answered from the journal
		if a := p.post(t, "generic", genericSecret, "msg_mib", body); a.String() != "200 forwarded" {
			t.Errorf("1 MiB: %s, want 200 forwarded", a)
		}
	}
	if a := p.post(t, "generic", genericSecret, "msg_mib_plus", pad(1<<20+1)); a.Status != http.StatusRequestEntityTooLarge {
		t.Errorf("1 MiB and a byte: %s, want 413", a)
	}
	if got := red.Calls(reditus.CallTrack); got != 1 {
		t.Errorf("Reditus got %d calls, want 1", got)
	}
	db := journalDB(t, dir)
	var stored []byte
	if err := db.QueryRow(`SELECT journal_body.body FROM journal_body JOIN journal ON id = event_id WHERE delivery_id = 'msg_mib'`).Scan(&stored); err != nil || !bytes.Equal(stored, body) {
		t.Errorf("the journal holds %d bytes of the 1 MiB body (%v), want all %d", len(stored), err, len(body))
	}
	var n int
	if err := db.QueryRow(`SELECT COUNT(*) FROM journal WHERE delivery_id = 'msg_mib_plus'`).Scan(&n); err != nil || n != 0 {
		t.Errorf("the refused body: %d records (%v), want none", n, err)
	}
}

// The journal cuts an event's email, type and delivery id, however long a
// signed sender made them (up to the 1 MiB body): kept and listed whole, a
// page of 1000 such events would be a gigabyte in the bridge.
func TestTheJournalCutsLongValues(t *testing.T) {
	dir := t.TempDir()
	p := start(t, "DATA_DIR="+dir)
	long := strings.Repeat("w", 100_000)
	body := []byte(`{"type":"t` + strings.Repeat("t", 50_000) + `","email":"` + long + `@example.com","uid":"usr_long","affiliate_slug":"john"}`)
	if a := p.post(t, "generic", devSecret, "msg_"+strings.Repeat("i", 20_000), body); a.Status != http.StatusOK {
		t.Fatalf("signed webhook: %s, want 200", a)
	}
	var email, typ, id int
	if err := journalDB(t, dir).QueryRow(`SELECT MAX(LENGTH(email)), MAX(LENGTH(event_type)), MAX(LENGTH(delivery_id)) FROM journal`).Scan(&email, &typ, &id); err != nil {
		t.Fatal(err)
	}
	if email > 1000 || typ > 1000 || id > 1000 {
		t.Errorf("the journal keeps an email of %d bytes, a type of %d and a delivery id of %d, want each at most 1000", email, typ, id)
	}
}

// A DATA_DIR that cannot hold the journal: the bridge starts without it,
// says so, forwards as it would without a journal (re-sent deliveries
// recognised in memory), and answers 503 when Reditus fails: nothing could
// be queued, so never 202.
func TestWithoutAUsableDataDirNothingIsAnsweredQueued(t *testing.T) {
	file := filepath.Join(t.TempDir(), "a-file")
	if err := os.WriteFile(file, []byte("not a directory"), 0o600); err != nil {
		t.Fatal(err)
	}
	red := newReditus(t)
	p := start(t, liveEnv(red, "DATA_DIR="+filepath.Join(file, "data"))...)
	if !p.logged("the journal could not be opened; serving without it: re-sent deliveries are recognised only in memory, and nothing is queued") {
		t.Error("no log line says the journal could not be opened")
	}
	for _, l := range p.lines() {
		if l["msg"] == "listening" && l["journal"] != "off" {
			t.Errorf("the listening line says journal %v, want off", l["journal"])
		}
	}
	expect(t, p, signup("a"), "200 forwarded")
	expect(t, p, signup("a"), "200 forwarded") // from memory
	red.set(down)
	expect(t, p, signup("b"), "503 retry")
	if got := red.created("a@example.com"); got != 1 {
		t.Errorf("Reditus created %d conversions for a, want 1", got)
	}
	if got := p.metric(t, `reditus_bridge_journal_errors_total{op="open"}`); got != 1 {
		t.Errorf("journal errors (open): %d, want 1", got)
	}
	for _, path := range []string{"/admin", "/admin/api/events"} {
		if status, _, body := p.send(t, http.MethodGet, path, asAdmin(adminToken), nil); status != http.StatusServiceUnavailable || !bytes.Contains(body, []byte("the journal is not available")) {
			t.Errorf("GET %s: %d %.100s, want 503 saying the journal is not available", path, status, body)
		}
	}
	p.stop(t)
}

// Lemon Squeezy signs its body and nothing else: no time, so a body captured
// once verifies for as long as the secret lasts. Its delivery id dedupes a
// re-send while the journal keeps the record; once retention has deleted
// the record, the journal still keeps the delivery's id (for a year, without
// its body or email), and the captured body sent again is answered as the
// delivery it is, already handled, without a call to Reditus.
func TestACapturedLemonSqueezyBodyReplayedAfterRetentionIsNotSentAgain(t *testing.T) {
	red := newReditus(t, fakereditus.Conflicts(), fakereditus.NeedsReferral())
	const secret = "e2e-lemonsqueezy-signing-secret"
	p := start(t, liveEnv(red, "LEMONSQUEEZY_WEBHOOK_SECRET="+secret, "JOURNAL_RETENTION=5s", "RETRY_FOR=5s")...)
	body, err := os.ReadFile("../providers/testdata/lemonsqueezy/order_created.json")
	if err != nil {
		t.Fatal(err)
	}
	if a := p.post(t, "lemonsqueezy", secret, "", body); a.String() != "200 forwarded" {
		t.Fatalf("order_created: %s, want 200 forwarded", a)
	}
	calls, paid := red.Requests(), len(red.Paid())
	p.stop(t)

	time.Sleep(6 * time.Second)
	p = p.restart(t) // retention runs at start: the record is older than JOURNAL_RETENTION
	waitFor(t, 10*time.Second, "the record deleted", func() bool { return p.logged("journal: deleted old events") })
	if e := p.event(t, "7f4c2a9e-3b1d-4e8f-9a6c-5d2e1f0b8c47"); e.ID != 0 {
		t.Fatalf("the record is still journaled after retention: %+v", e)
	}

	a := p.post(t, "lemonsqueezy", secret, "", body) // the captured body, replayed
	if a.String() != "200 duplicate" {
		t.Errorf("the replayed body: %s (%s), want 200 duplicate", a, a.Reason)
	}
	if n := red.Requests(); n != calls || len(red.Paid()) != paid {
		t.Errorf("Reditus got %d more calls and %d more payments for the replayed body, want none", n-calls, len(red.Paid())-paid)
	}
	p.stop(t)
}

// The reading commands (events, check) read the journal where the bridge
// keeps it and make none: a DATA_DIR with a typo is said plainly to hold no
// journal, with exit 1, instead of answering "no events match" from an empty
// journal made on the spot; and a journal on a read-only volume is read as
// it is, without a migration.
func TestReadingCommandsOpenTheJournalReadOnly(t *testing.T) {
	typo := filepath.Join(t.TempDir(), "dat")
	for _, args := range [][]string{{"events"}, {"events", "--json"}, {"check"}} {
		stdout, stderr, code := runCommand(t, []string{"DATA_DIR=" + typo}, args...)
		if want := "no journal at " + filepath.Join(typo, "bridge.db"); code != 1 || !strings.Contains(stderr, want) {
			t.Errorf("%v with DATA_DIR=%s: exit %d, %s%s; want 1 and %q", args, typo, code, stdout, stderr, want)
		}
		if _, err := os.Stat(typo); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%v made DATA_DIR %s (%v)", args, typo, err)
		}
	}
	// A DATA_DIR that is there (a new volume) but holds no journal yet: the
	// bridge makes it when it starts, so check passes and says so; events
	// has nothing to read.
	empty := t.TempDir()
	if stdout, stderr, code := runCommand(t, []string{"DATA_DIR=" + empty}, "events"); code != 1 || !strings.Contains(stderr, "no journal at "+filepath.Join(empty, "bridge.db")) {
		t.Errorf("events in an empty DATA_DIR: exit %d, %s%s; want 1, no journal", code, stdout, stderr)
	}
	if stdout, stderr, code := runCommand(t, []string{"DATA_DIR=" + empty}, "check"); code != 0 || !strings.Contains(stdout, "no journal at "+filepath.Join(empty, "bridge.db")+" yet") {
		t.Errorf("check in an empty DATA_DIR: exit %d, %s%s; want 0, no journal yet", code, stdout, stderr)
	}
	if names, _ := os.ReadDir(empty); len(names) > 0 {
		t.Errorf("the reading commands made %v in DATA_DIR", names)
	}

	red := newReditus(t)
	dir := volume(t)
	p := start(t, liveEnv(red, "DATA_DIR="+dir)...)
	expect(t, p, signup("a"), "200 forwarded")
	p.stop(t)
	readOnly(t, dir)
	env := []string{"DATA_DIR=" + dir}
	if stdout, stderr, code := runCommand(t, env, "events", "--json"); code != 0 || !strings.Contains(stdout, `"a@example.com"`) {
		t.Errorf("events on a read-only volume: exit %d, %s%s; want 0 and a@example.com's event", code, stdout, stderr)
	}
	if stdout, stderr, code := runCommand(t, env, "check"); code != 0 || !strings.Contains(stdout, "journal:   sqlite at "+filepath.Join(dir, "bridge.db")) {
		t.Errorf("check on a read-only volume: exit %d, %s%s; want 0 and the journal", code, stdout, stderr)
	}
}

// An endpoint that sends every event type (Stripe's "all events") fills the
// volume with bodies nobody needs: the journal keeps the body only of an
// event that can need a retry. One of a type the provider does not handle is
// recorded, with its reason, without its body, and /admin offers no retry of
// it; a skip that a fix can undo (no referral data) keeps its body.
func TestOnlyEventsThatCanBeRetriedKeepTheirBodies(t *testing.T) {
	red := newReditus(t)
	dir := t.TempDir()
	p := start(t, liveEnv(red, "DATA_DIR="+dir)...)
	const n = 200
	padding := strings.Repeat("x", 5600) // a Stripe invoice.paid is 5.7 KB
	for i := range n {
		body := fmt.Sprintf(`{"id":"evt_inv_%03d","object":"event","type":"invoice.paid","livemode":true,"data":{"object":{"id":"in_%03d","object":"invoice","lines":%q}}}`, i, i, padding)
		if a := p.post(t, "stripe", stripeSecret, "", []byte(body)); a.String() != "200 skipped" {
			t.Fatalf("invoice.paid %d: %s, want 200 skipped", i, a)
		}
	}
	noReferral, err := os.ReadFile("../providers/testdata/stripe/customer.created.no_referral.json")
	if err != nil {
		t.Fatal(err)
	}
	if a := p.post(t, "stripe", stripeSecret, "", noReferral); a.String() != "200 skipped" {
		t.Fatalf("customer.created without referral data: %s, want 200 skipped", a)
	}
	inv := p.event(t, "evt_inv_007")
	if inv.Outcome != "skipped" || !strings.Contains(inv.Reason, "does not convert") {
		t.Errorf("evt_inv_007 is journaled %q (%s), want skipped, with its reason", inv.Outcome, inv.Reason)
	}
	status, _, body := p.send(t, http.MethodPost, fmt.Sprintf("/admin/api/events/%d/retry", inv.ID), asAdmin(adminToken, "Origin", p.base), nil)
	if status != http.StatusConflict {
		t.Errorf("retry of evt_inv_007: %d %s, want 409: there is nothing to retry", status, body)
	}
	status, _, page := p.send(t, http.MethodGet, "/admin?"+url.Values{"provider": {"stripe"}}.Encode(), asAdmin(adminToken), nil)
	if status != http.StatusOK || bytes.Contains(page, []byte(fmt.Sprintf("/admin/events/%d/retry", inv.ID))) {
		t.Errorf("/admin: %d, and a Retry button for evt_inv_007: %v", status, status == http.StatusOK)
	}
	if !bytes.Contains(page, []byte(fmt.Sprintf("/admin/events/%d/retry", p.event(t, "evt_1QcustCreated03").ID))) {
		t.Error("/admin offers no Retry for the event without referral data")
	}
	p.stop(t)

	bodies := map[string]int{}
	rows, err := journalDB(t, dir).Query(`SELECT delivery_id, length(journal.body) + COALESCE(length(journal_body.body), 0) FROM journal LEFT JOIN journal_body ON event_id = id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		var size int
		if err := rows.Scan(&id, &size); err != nil {
			t.Fatal(err)
		}
		bodies[id] = size
	}
	if bodies["evt_inv_000"] != 0 || bodies["evt_inv_199"] != 0 || bodies["evt_1QcustCreated03"] != len(noReferral) {
		t.Errorf("bodies kept: invoice.paid %d and %d bytes, customer.created %d; want 0, 0 and %d", bodies["evt_inv_000"], bodies["evt_inv_199"], bodies["evt_1QcustCreated03"], len(noReferral))
	}
	fi, err := os.Stat(filepath.Join(dir, "bridge.db"))
	if err != nil {
		t.Fatal(err)
	}
	if limit := int64(n * len(padding) / 4); fi.Size() > limit {
		t.Errorf("bridge.db is %d bytes after %d invoice.paid of 5.7 KB, want under %d", fi.Size(), n, limit)
	}
	t.Logf("%d invoice.paid of 5.7 KB: bridge.db is %d KB", n, fi.Size()>>10)
}

// prlimit sets the soft limit on the size of a file the bridge may write
// ("unlimited", or bytes): with 0, every write to the journal fails as on a
// full disk (EFBIG rather than ENOSPC; the Go runtime ignores SIGXFSZ).
func prlimit(t *testing.T, p *bridge, fsize string) {
	t.Helper()
	if out, err := exec.Command("prlimit", "--pid", strconv.Itoa(p.cmd.Process.Pid), "--fsize="+fsize+":").CombinedOutput(); err != nil {
		t.Fatalf("prlimit: %v: %s", err, out)
	}
}

// The disk fills while the bridge runs: webhooks are forwarded as if there
// were no journal, a Reditus outage answers 503 (never 202), each journal
// error is logged and counted, and the bridge does not crash. Once there is
// room again, the journal works again, and what was queued before is
// delivered.
func TestAFullDiskNeverAnswersQueuedAndHealsWithRoom(t *testing.T) {
	_, err := exec.LookPath("prlimit")
	testenv.Require(t, err == nil, "util-linux's prlimit")
	red := newReditus(t)
	p := start(t, liveEnv(red)...)
	expect(t, p, signup("a"), "200 forwarded")
	red.set(down)
	expect(t, p, signup("q"), "202 queued")

	prlimit(t, p, "0")
	expect(t, p, signup("b"), "503 retry")
	red.set(up)
	expect(t, p, signup("c"), "200 forwarded")
	expect(t, p, signup("c"), "200 forwarded") // from memory
	expect(t, p, signup("a"), "200 forwarded") // its record is still read
	if got := red.created("c@example.com"); got != 1 {
		t.Errorf("Reditus created %d conversions for c, want 1", got)
	}
	if got := p.metric(t, `reditus_bridge_journal_errors_total{op="begin"}`); got < 3 {
		t.Errorf("journal errors (begin): %d, want at least 3", got)
	}
	if !p.logged("journal begin failed; going on without the journal") {
		t.Error("no log line for the journal's failures")
	}

	prlimit(t, p, "unlimited")
	waitFor(t, 20*time.Second, "the event queued before the disk filled delivered", func() bool { return red.created("q@example.com") == 1 })
	expect(t, p, signup("d"), "200 forwarded")
	if e := p.event(t, "msg_d"); e.Outcome != "forwarded" {
		t.Errorf("after the disk has room again, msg_d is journaled as %q, want forwarded", e.Outcome)
	}
	red.set(down)
	expect(t, p, signup("e"), "202 queued")
	p.stop(t)
}

// A volume the journal filled never freed itself: SQLite writes what a
// delete changes to its WAL first, so retention could delete nothing on a
// full disk, and every webhook went on without the journal. The journal
// holds back room for its deletes (bridge.db-reserve); a write that finds
// the disk full has retention prune at once, with that room; what it deletes
// leaves room in the file for new records, and the journal works again, with
// no one freeing space by hand.
func TestAFullVolumeIsFreedByRetention(t *testing.T) {
	vol := tmpfs(t, 24<<20)
	red := newReditus(t)
	p := start(t, liveEnv(red, "DATA_DIR="+vol, "JOURNAL_RETENTION=5s", "RETRY_FOR=5s")...)
	padding := strings.Repeat("x", 256<<10)
	big := func(n string) delivery {
		d := signup(n)
		d.body = []byte(fmt.Sprintf(`{"email":%q,"uid":"usr_%s","affiliate_slug":"john","note":%q}`, d.email, n, padding))
		return d
	}
	full := 0
	for i := 0; full <= 0; i++ {
		if i == 200 {
			t.Fatal("200 events of 256 KiB did not fill a 24 MiB volume")
		}
		expect(t, p, big(fmt.Sprint("fill", i)), "200 forwarded")
		full = p.metric(t, `reditus_bridge_journal_errors_total{op="begin"}`)
	}
	time.Sleep(6 * time.Second) // every record is older than JOURNAL_RETENTION

	took := waitFor(t, 30*time.Second, "a webhook journaled again", func() bool {
		d := big(fmt.Sprintf("after%d", time.Now().UnixNano()))
		expect(t, p, d, "200 forwarded")
		return p.event(t, d.id).Outcome == "forwarded"
	})
	waitFor(t, 10*time.Second, "retention's log line", func() bool { return p.logged("journal: deleted old events") })
	// The journal goes on writing, durably, into the room the deletes left.
	red.set(down)
	expect(t, p, signup("queued"), "202 queued")
	expect(t, p, big("queued-big"), "202 queued")
	p.stop(t)
	t.Logf("the volume filled after %d journal errors; journaled again %v later", full, took.Round(100*time.Millisecond))
}

// The journal's file deleted while the bridge runs (a cleanup of DATA_DIR, a
// volume remounted): SQLite would go on writing to the deleted file, which a
// restart never sees, so an outage answered 202 queued would be lost. The
// journal fails instead, as a store that is down does: the sender is told 503
// and retries, and the retry is forwarded once Reditus is back.
func TestADeletedJournalFileAnswersRetryNotQueued(t *testing.T) {
	red := newReditus(t)
	dir := t.TempDir()
	p := start(t, liveEnv(red, "DATA_DIR="+dir)...)
	expect(t, p, signup("a"), "200 forwarded")
	for _, f := range []string{"bridge.db", "bridge.db-wal", "bridge.db-shm"} {
		if err := os.Remove(filepath.Join(dir, f)); err != nil {
			t.Fatal(err)
		}
	}
	red.set(down)
	expect(t, p, signup("q"), "503 retry")
	if !p.logged("journal begin failed; going on without the journal") || !strings.Contains(fmt.Sprint(p.lines()), "deleted or replaced") {
		t.Error("no log line says the journal's file was deleted")
	}
	red.set(up)
	expect(t, p, signup("q"), "200 forwarded")
	if n := red.created("q@example.com"); n != 1 {
		t.Errorf("Reditus created usr_q %d times, want 1", n)
	}
	p.stop(t)
}

// Another process holds bridge.db's write lock (a second instance on the
// volume, a backup tool): every webhook is answered within the journal's
// bound (2 s) and a second, not after SQLite's busy timeout (10 s), by
// which time senders give up. Forwarded as without a journal while Reditus
// is up, 503 while it is down, and never 202: nothing was committed. Once
// the lock is gone, the claims that landed late are pending records, which
// the worker delivers when their lease ends: each conversion is in Reditus
// once.
func TestAWriteLockHeldElsewhereHoldsNoWebhookPastTheBound(t *testing.T) {
	red := newReditus(t, fakereditus.Conflicts())
	dir := t.TempDir()
	p := start(t, liveEnv(red, "DATA_DIR="+dir)...)
	expect(t, p, signup("before"), "200 forwarded")
	db := journalDB(t, dir)
	lock, err := db.Conn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lock.ExecContext(t.Context(), `BEGIN IMMEDIATE`); err != nil {
		t.Fatal(err)
	}
	whileUp, whileDown := signups("lockup", 5), signups("lockdown", 5)
	var mu sync.Mutex
	var slowest time.Duration
	answer := func(ds []delivery, want string) {
		var wg sync.WaitGroup
		for _, d := range ds {
			wg.Go(func() {
				start := time.Now()
				got := p.deliver(t, d)
				took := time.Since(start)
				if got.String() != want || took > 3500*time.Millisecond {
					t.Errorf("%s: %s after %v, want %s within about 3 s", d.id, got, took.Round(time.Millisecond), want)
				}
				mu.Lock()
				slowest = max(slowest, took)
				mu.Unlock()
			})
		}
		wg.Wait()
	}
	answer(whileUp, "200 forwarded")
	red.set(down)
	answer(whileDown, "503 retry")
	t.Logf("behind another process's write lock, the slowest of %d webhooks was answered in %v", len(whileUp)+len(whileDown), slowest.Round(time.Millisecond))
	red.set(up)
	if _, err := lock.ExecContext(t.Context(), `ROLLBACK`); err != nil {
		t.Fatal(err)
	}
	lock.Close()

	// The claims that landed after their webhook went on without them: the
	// lease of each ends now rather than in a minute. The senders told 503
	// send again, and are answered 2xx.
	time.Sleep(time.Second)
	if _, err := db.Exec(`UPDATE journal SET next_attempt_at = ? WHERE outcome = 'pending'`, time.Now().Add(-time.Second).UTC().Format(sqliteTime)); err != nil {
		t.Fatal(err)
	}
	for _, d := range whileDown {
		if got := p.deliver(t, d); got.Status/100 != 2 {
			t.Errorf("%s sent again: %s, want 2xx", d.id, got)
		}
	}
	all := append(whileUp, whileDown...)
	waitFor(t, 20*time.Second, "every conversion in Reditus", func() bool { return len(red.Created()) >= len(all)+1 })
	waitFor(t, 20*time.Second, "no record left pending", func() bool {
		var n int
		return db.QueryRow(`SELECT COUNT(*) FROM journal WHERE outcome IN ('pending', 'queued')`).Scan(&n) == nil && n == 0
	})
	p.stop(t)
	red.createdOnce(t, append(all, signup("before")))
}

// The journal's file overwritten with garbage while the bridge runs: no
// crash, webhooks are still answered, /admin says it cannot read, and a
// restart serves without the journal (logged), as with any store that will
// not open.
func TestACorruptedJournalCrashesNothing(t *testing.T) {
	red := newReditus(t)
	dir := t.TempDir()
	p := start(t, liveEnv(red, "DATA_DIR="+dir)...)
	expect(t, p, signup("a"), "200 forwarded")
	junk := bytes.Repeat([]byte{0xde, 0xad, 0xbe, 0xef}, 4096)
	for _, f := range []string{"bridge.db", "bridge.db-wal"} {
		if err := os.WriteFile(filepath.Join(dir, f), junk, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	expect(t, p, signup("b"), "200 forwarded")
	red.set(down)
	if a := p.deliver(t, signup("c")); a.Status != http.StatusAccepted && a.Status != http.StatusServiceUnavailable {
		t.Errorf("msg_c: %s, want 202 queued or 503 retry", a)
	}
	if status, _, body := p.send(t, http.MethodGet, "/admin/api/events", asAdmin(adminToken), nil); status != http.StatusOK && status != http.StatusInternalServerError {
		t.Errorf("GET /admin/api/events: %d %s, want 200, or 500 saying it cannot read the journal", status, body)
	}
	if status, _, _ := p.send(t, http.MethodGet, "/healthz", nil, nil); status != http.StatusOK {
		t.Fatalf("/healthz: %d after the journal was corrupted", status)
	}
	p.stop(t)

	red.set(up)
	p = p.restart(t)
	if !p.logged("the journal could not be opened; serving without it: re-sent deliveries are recognised only in memory, and nothing is queued") {
		t.Error("after a restart on the corrupted file, no log line says the journal could not be opened")
	}
	expect(t, p, signup("d"), "200 forwarded")
	red.set(down)
	expect(t, p, signup("e"), "503 retry")
	p.stop(t)
}

// A journal overwritten while the bridge runs: SQLite, which has the file
// open, notices nothing and goes on writing, and the file a restart finds
// has lost what it was told. Once the bridge sees the file is not what it
// wrote, the journal fails as a store that is down does: an outage is
// answered 503, never 202 on a file that no longer holds it, and each
// failure's log line says the file is corrupt and what to do.
func TestAJournalOverwrittenWhileServingNeverAnswersQueued(t *testing.T) {
	red := newReditus(t)
	dir := t.TempDir()
	p := start(t, liveEnv(red, "DATA_DIR="+dir)...)
	expect(t, p, signup("a"), "200 forwarded")
	junk := bytes.Repeat([]byte{0xde, 0xad, 0xbe, 0xef}, 4096)
	// Until the checkpointer has first copied the WAL into the file, the
	// WAL holds every page, and a checkpoint after the overwrite would put
	// them all back: the file would be whole, and 202 right.
	waitFor(t, 5*time.Second, "the journal's pages in bridge.db", func() bool {
		fi, err := os.Stat(filepath.Join(dir, "bridge.db"))
		return err == nil && fi.Size() > int64(len(junk))
	})
	if err := os.WriteFile(filepath.Join(dir, "bridge.db"), junk, 0o600); err != nil {
		t.Fatal(err)
	}
	red.set(down)
	for i := range 5 {
		expect(t, p, signup(fmt.Sprint("q", i)), "503 retry")
	}
	if !p.logged("journal begin failed; going on without the journal") || p.logHolds("restore a backup") == "" {
		t.Error("no log line says the journal's file is corrupt and what to do")
	}
	red.set(up)
	expect(t, p, signup("q0"), "200 forwarded")
	p.stop(t)
}

// A journal damaged while the bridge was stopped, as a backup copied over a
// running bridge's file leaves it (its pages mixed with newer ones), or a
// failing disk: SQLite opens it as if it were fine. The bridge checks the
// file when it opens it, and does not serve a corrupt journal: it serves
// without it, as when it cannot be opened, and says what to do; check
// fails, naming the file.
func TestACorruptJournalIsRefusedAtStartAndByCheck(t *testing.T) {
	red := newReditus(t)
	dir := t.TempDir()
	p := start(t, liveEnv(red, "DATA_DIR="+dir)...)
	for i := range 50 {
		expect(t, p, signup(fmt.Sprint("a", i)), "200 forwarded")
	}
	p.stop(t)
	damageIndex(t, dir, "journal_email")

	p = p.restart(t)
	if !p.logged("the journal could not be opened; serving without it: re-sent deliveries are recognised only in memory, and nothing is queued") ||
		p.logHolds(filepath.Join(dir, "bridge.db")+" is corrupt") == "" || p.logHolds("restore a backup") == "" {
		t.Error("after a restart on the corrupt file, no log line says it is corrupt and what to do")
	}
	red.set(down)
	expect(t, p, signup("d"), "503 retry")
	p.stop(t)
	stdout, stderr, code := runCommand(t, []string{"DATA_DIR=" + dir}, "check")
	if code != 1 || !strings.Contains(stdout+stderr, filepath.Join(dir, "bridge.db")+" is corrupt") {
		t.Errorf("check on the corrupt journal: exit %d, %s%s; want 1, naming the file", code, stdout, stderr)
	}
}

// damageIndex overwrites the first page of index in the journal in dir, its
// bridge stopped, with bytes that are no index: what a copy over a running
// journal, or a failing disk, can leave. The file still opens.
func damageIndex(t *testing.T, dir, index string) {
	t.Helper()
	db := journalDB(t, dir)
	var page, size int64
	if err := db.QueryRow(`SELECT rootpage, (SELECT page_size FROM pragma_page_size) FROM sqlite_master WHERE name = ?`, index).Scan(&page, &size); err != nil {
		t.Fatal(err)
	}
	db.Close()
	f, err := os.OpenFile(filepath.Join(dir, "bridge.db"), os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(bytes.Repeat([]byte{0x0d, 0x00, 0xff, 0x7f}, int(size)/4), (page-1)*size); err != nil {
		t.Fatal(err)
	}
}

// A Reditus that answers near the bridge's budget while the journal holds
// the delivery's lease: a copy re-sent meanwhile waits and gets the first
// copy's answer, whether that is forwarded (just in time) or queued (too
// late, and Reditus did the work anyway); the queue then finds the
// conversion in Reditus, and it is created once.
func TestASlowReditusCreatesEachConversionOnce(t *testing.T) {
	red := newReditus(t, fakereditus.Conflicts())
	p := start(t, liveEnv(red)...)

	for _, tc := range []struct {
		name  string
		delay time.Duration
		want  string
	}{
		// Under the 3 s an attempt may take: forwarded.
		{"just in time", 2500 * time.Millisecond, "200 forwarded"},
		// Over it: each attempt times out, the 7 s budget ends, queued.
		{"too late", 3500 * time.Millisecond, "202 queued"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			red.delay.Store(int64(tc.delay))
			d := signup(strings.ReplaceAll(tc.name, " ", "_"))
			answers := make(chan string, 2)
			for i := range 2 {
				go func() {
					time.Sleep(time.Duration(i) * 500 * time.Millisecond) // the copy arrives while the first is in Reditus
					answers <- p.deliver(t, d).String()
				}()
			}
			for range 2 {
				if got := <-answers; got != tc.want {
					t.Errorf("a copy got %s, want %s", got, tc.want)
				}
			}
		})
	}
	red.delay.Store(0)
	waitFor(t, 20*time.Second, "the queued event done", func() bool {
		e := p.event(t, "msg_too_late")
		return e.Outcome == "duplicate" || e.Outcome == "forwarded"
	})
	t.Logf("the late event ended %+v; Reditus got %d calls", p.event(t, "msg_too_late"), red.Calls(reditus.CallTrack))
	for _, email := range []string{"just_in_time@example.com", "too_late@example.com"} {
		if got := red.created(email); got != 1 {
			t.Errorf("Reditus created %d conversions for %s, want 1", got, email)
		}
	}
	if got := red.Calls(reditus.CallTrack); got > 4 {
		t.Errorf("Reditus got %d calls, want at most 4: one in time, two that timed out, and the queue's", got)
	}
}

// Queued events that Reditus then refuses: a 400 (an unknown slug) is final,
// rejected with Reditus's words; a 401 (the bridge's key) stays queued until
// RETRY_FOR, then is failed, logged and counted. /admin shows each with its
// reason, and a retry after the fix delivers it.
func TestQueuedEventsReditusRefusesEndWithItsReasonAndCanBeRetried(t *testing.T) {
	red := newReditus(t)
	p := start(t, liveEnv(red, "RETRY_FOR=5s")...)
	red.set(down)
	expect(t, p, signup("rejected"), "202 queued")
	expect(t, p, signup("unauthorized"), "202 queued")

	// One mood for both: the worker may take the two in one poll.
	red.set(refusing)
	waitFor(t, 20*time.Second, "the queued event rejected", func() bool { return p.event(t, "msg_rejected").Outcome == "rejected" })
	waitFor(t, 30*time.Second, "the queued event failed after RETRY_FOR", func() bool { return p.event(t, "msg_unauthorized").Outcome == "failed" })

	rejected, failed := p.event(t, "msg_rejected"), p.event(t, "msg_unauthorized")
	t.Logf("/admin shows %+v\nand %+v", rejected, failed)
	if !strings.Contains(rejected.Reason, "Affiliate john not found (referral r***@example.com)") {
		t.Errorf("the rejected event's reason is %q, want Reditus's words, the email masked", rejected.Reason)
	}
	if !strings.Contains(failed.Reason, "401") {
		t.Errorf("the failed event's reason is %q, want it to name the 401", failed.Reason)
	}
	if got := p.metric(t, `reditus_bridge_queue_failed_total{provider="generic"}`); got != 1 {
		t.Errorf("queue failed: %d, want 1", got)
	}
	if !p.logged("journal: gave up delivering an event") {
		t.Error("no error line for the event given up on")
	}
	_, _, page := p.send(t, http.MethodGet, "/admin", asAdmin(adminToken), nil)
	for _, want := range []string{"Affiliate john not found", "401", `action="/admin/events/1/retry"`, `action="/admin/events/2/retry"`} {
		if !bytes.Contains(page, []byte(want)) {
			t.Errorf("/admin lacks %q", want)
		}
	}
	calls := red.Calls(reditus.CallTrack)
	time.Sleep(3 * time.Second) // a poll or two of the worker
	if got := red.Calls(reditus.CallTrack); got != calls {
		t.Errorf("Reditus got %d more calls for a rejected and a failed event, want none", got-calls)
	}

	red.set(up)
	for _, id := range []string{"1", "2"} {
		status, _, body := p.send(t, http.MethodPost, "/admin/api/events/"+id+"/retry", asAdmin(adminToken, "Origin", p.base), nil)
		if status != http.StatusOK || !bytes.Contains(body, []byte(`"outcome":"forwarded"`)) {
			t.Errorf("retry %s after the fix: %d %s, want 200 forwarded", id, status, body)
		}
	}
	p.stop(t)
	if w := p.logHolds("rejected@example.com", "unauthorized@example.com", apiKey, genericSecret, adminToken); w != "" {
		t.Errorf("the log holds %q", w)
	}
}

// On Postgres, a signed delivery whose journaled text holds NUL or bytes
// that are not UTF-8 (a webhook-id header with \xff, a generic body's type
// with \u0000) is journaled like any other, as SQLite keeps it: queued when
// Reditus fails, with no journal error.
func TestPostgresJournalsAnyTextASignedSenderSends(t *testing.T) {
	dbURL := testenv.Postgres(t)
	red := newReditus(t)
	p := start(t, liveEnv(red, "DATABASE_URL="+dbURL)...)
	red.set(down)
	for _, d := range []struct{ id, body string }{
		{"msg_\xff\xfe", `{"email":"a@example.com","uid":"usr_a","affiliate_slug":"john"}`},
		{"msg_nul_type", `{"type":"user\u0000created","email":"b@example.com","uid":"usr_b","affiliate_slug":"john"}`},
	} {
		if a := p.post(t, "generic", genericSecret, d.id, []byte(d.body)); a.Status != http.StatusAccepted {
			t.Errorf("%q: %s, want 202 queued: journaled like any other", d.id, a)
		}
	}
	if got := p.metric(t, `reditus_bridge_journal_errors_total{op="begin"}`); got > 0 {
		t.Errorf("%d journal errors for a store that is up", got)
	}
}
