package admin_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getreditus/reditus-bridge/admin"
	"github.com/getreditus/reditus-bridge/internal/testenv"
)

// The page in a real browser: Debian's headless Chromium loads /admin from
// admin.New over a real journal, logging in with the credentials in the URL
// as an operator's bookmark would, and the DOM it leaves is checked.

// browse has Chromium load path from s as the operator and returns the DOM
// it ends with. extra flags are added (a screenshot, say).
func browse(t *testing.T, s *site, path string, extra ...string) string {
	t.Helper()
	browser := testenv.Chromium(t)
	u, err := url.Parse(s.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.UserPassword("admin", token)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	// The flags keep Chromium off the network (this machine has none) and
	// out of the user's profile.
	args := append([]string{
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir=" + t.TempDir(), "--virtual-time-budget=3000",
	}, extra...)
	out, err := exec.CommandContext(ctx, browser, append(args, "--dump-dom", u.String())...).Output()
	if err != nil {
		t.Fatalf("chromium: %v", err)
	}
	return string(out)
}

// attacker is an event whose email and reason were chosen to run a script in
// the operator's browser.
var attacker = event{provider: "generic", deliveryID: "msg_evil", eventType: "user.created",
	email: "<script>document.title='pwned'</script>@example.com", ago: time.Minute, outcome: "skipped",
	reason: "no referral data <script>document.title='pwned'</script>"}

func TestBrowserListsEvents(t *testing.T) {
	s := newSite(t, append(fixture, attacker)...)
	dom := browse(t, s, "/admin")
	if os.Getenv("ADMIN_SCREENSHOT") != "" {
		browse(t, s, "/admin", "--screenshot="+os.Getenv("ADMIN_SCREENSHOT"), "--window-size=1280,900")
	}
	if got, want := rowIDs(dom), ids(7, 6, 5, 4, 3, 2, 1); !slices.Equal(got, want) {
		t.Errorf("rows %v, want %v:\n%s", got, want, dom)
	}
	contains(t, "the DOM", dom, "jane@example.com", "bob@example.com", "eve@example.com", "x@example.com")
	checkNotPwned(t, dom)
}

func TestBrowserSearchByEmail(t *testing.T) {
	s := newSite(t, append(fixture, attacker)...)
	dom := browse(t, s, "/admin?email=x@example.com")
	if got, want := rowIDs(dom), ids(6, 5); !slices.Equal(got, want) {
		t.Errorf("rows %v, want %v (x@example.com's):\n%s", got, want, dom)
	}
	contains(t, "the DOM", dom, "x@example.com", `value="x@example.com"`)
	lacks(t, "the DOM", dom, ">jane@example.com<", ">bob@example.com<", ">eve@example.com<", "pwned")
}

// checkNotPwned checks that the attacker's script is text in the page, not
// an element of it, and did not run.
func checkNotPwned(t *testing.T, dom string) {
	t.Helper()
	contains(t, "the DOM", dom,
		`<td class="reason">no referral data &lt;script&gt;document.title='pwned'&lt;/script&gt;</td>`,
		`&lt;script&gt;document.title='pwned'&lt;/script&gt;@example.com</a>`,
		`<title>Journal · reditus-bridge</title>`)
	if strings.Contains(dom, "<script") {
		t.Errorf("the DOM holds a script element:\n%s", dom)
	}
}

// retryPage frames /admin from the same origin and presses the Retry button
// of event 3, then copies what the framed page shows after it into #out. A
// page of the test's own: Chromium's --dump-dom cannot click.
const retryPage = `<!doctype html>
<html><body>
<iframe id="f" src="/admin?email=jane%40example.com"></iframe>
<pre id="out"></pre>
<script>
  var f = document.getElementById("f"), pressed = false;
  f.onload = function () {
    var d = f.contentDocument;
    if (!pressed) {
      pressed = true;
      d.querySelector("#event-3 form.retry button").click();
      return;
    }
    var flash = d.getElementById("flash");
    document.getElementById("out").textContent =
      d.location.pathname + d.location.search + "\n" + (flash ? flash.textContent : "no flash");
  };
</script>
</body></html>`

// The Retry button, pressed in a real browser: the browser's own headers
// pass the same-origin check, the page's policies allow the form and its
// redirect, and the page it lands on shows the new outcome.
func TestBrowserRetryButton(t *testing.T) {
	browser := testenv.Chromium(t)
	store := openJournal(t, fixture...)
	r := &retrier{store: store, result: admin.Outcome{Outcome: "forwarded", ReferralID: "ref_new"}}
	h := admin.New(admin.Options{Token: token, Events: store, Retry: r.retry, Now: func() time.Time { return now }})
	var mu sync.Mutex
	var posts []http.Header
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		// The test page needs the same login, so that Chromium keeps the
		// credentials for the frame's requests.
		if user, pass, ok := req.BasicAuth(); !ok || user != "admin" || pass != token {
			w.Header().Set("WWW-Authenticate", `Basic realm="reditus-bridge admin"`)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		if req.URL.Path == "/test" {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			_, _ = io.WriteString(w, retryPage)
			return
		}
		if req.Method == http.MethodPost {
			mu.Lock()
			posts = append(posts, req.Header.Clone())
			mu.Unlock()
		}
		// Only the frame-ancestors rule changes, so that the test page may
		// frame the admin page; everything else is as served.
		h.ServeHTTP(frameable{w}, req)
	}))
	defer srv.Close()

	u, _ := url.Parse(srv.URL + "/test")
	u.User = url.UserPassword("admin", token)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, browser,
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir="+t.TempDir(), "--virtual-time-budget=5000",
		"--dump-dom", u.String()).Output()
	if err != nil {
		t.Fatalf("chromium: %v", err)
	}
	dom := string(out)

	if got := r.called(); !slices.Equal(got, ids(3)) {
		t.Fatalf("Retry called for %v, want [3]; the browser sent %d POSTs:\n%s", got, len(posts), dom)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, p := range posts {
		t.Logf("the browser's POST: Origin %q, Referer %q, Sec-Fetch-Site %q", p.Get("Origin"), p.Get("Referer"), p.Get("Sec-Fetch-Site"))
		if p.Get("Origin") != srv.URL {
			t.Errorf("the browser sent Origin %q with the page's form, want %q", p.Get("Origin"), srv.URL)
		}
	}
	contains(t, "the DOM", dom,
		"/admin?email=jane%40example.com&amp;retried=3",
		"Retried event 3 (supabase ins_jane_2). It is now forwarded")
}

// frameable lets the test page frame what it writes.
type frameable struct{ http.ResponseWriter }

func (f frameable) allow() {
	h := f.Header()
	h.Set("Content-Security-Policy", strings.Replace(h.Get("Content-Security-Policy"), "frame-ancestors 'none'", "frame-ancestors 'self'", 1))
}

func (f frameable) WriteHeader(status int) {
	f.allow()
	f.ResponseWriter.WriteHeader(status)
}

func (f frameable) Write(b []byte) (int, error) {
	f.allow() // in case the handler wrote without WriteHeader
	return f.ResponseWriter.Write(b)
}

// The overview and a failed event's page in a real browser: the chart is
// drawn (the SVG and its bars are in the DOM, styled by the page's one
// style element), every attempt is listed, and nothing runs. With
// ADMIN_SHOTS set to a directory, each page's screenshot is saved there.
func TestBrowserOverviewAndEventPage(t *testing.T) {
	s := newSite(t, append(append(slices.Clone(fixture), failedEvent), attacker)...)
	dom := browse(t, s, "/admin")
	contains(t, "the overview", dom, `id="overview"`, `<svg xmlns="http://www.w3.org/2000/svg"`, `<rect class="bar ok"`, `<rect class="bar bad"`,
		`<span class="n">6</span> events</a> in the last 24 hours`, `<td class="mono slug">john</td>`)
	checkNotPwned(t, dom)

	dom = browse(t, s, "/admin/events/7")
	contains(t, "the event's page", dom, "What the bridge found", "red in customer metadata", "POST /v2/tracking/conversion",
		"503 Service Unavailable", "401 Unauthorized", `"email": "fay@example.com"`, `action="/admin/events/7/retry?back=event"`)
	if strings.Contains(dom, "<script") {
		t.Errorf("the event's page holds a script element:\n%s", dom)
	}
	attacked := browse(t, s, "/admin/events/8")
	contains(t, "the attacker's event", attacked, `&lt;script&gt;document.title='pwned'&lt;/script&gt;@example.com`, `<title>Event 8 · reditus-bridge</title>`)
	if strings.Contains(attacked, "<script") {
		t.Errorf("the attacker's event page holds a script element:\n%s", attacked)
	}

	if dir := os.Getenv("ADMIN_SHOTS"); dir != "" {
		browse(t, s, "/admin", "--screenshot="+filepath.Join(dir, "overview.png"), "--window-size=1280,1500")
		browse(t, s, "/admin/events/7", "--screenshot="+filepath.Join(dir, "failed-event.png"), "--window-size=1280,1400")
	}
}
