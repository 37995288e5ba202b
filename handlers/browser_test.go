package handlers

import (
	"context"
	"encoding/json"
	"html"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/getreditus/reditus-bridge/internal/testenv"
	"github.com/getreditus/reditus-bridge/mapping"
)

// The browser helper in a real browser: Debian's headless Chromium loads a
// page with Stripe Payment Links, a pricing table and a buy button, and the
// helper served by the bridge. The DOM it leaves behind is decoded with the
// mapping code the webhooks use, so the two sides are proven to agree.

const browserPage = `<!doctype html>
<html><head><script src="/reditus-bridge.js"></script></head>
<body>
<a id="link1" href="https://buy.stripe.com/test_28o5lm0Jc1xY">Buy</a>
<a id="link2" href="https://buy.stripe.com/test_9AQ5lm?prefilled_email=a%40b.c">Buy with email</a>
<a id="other" href="https://example.com/pricing">Pricing</a>
<stripe-pricing-table id="table" pricing-table-id="prctbl_1" publishable-key="pk_test_1"></stripe-pricing-table>
<stripe-buy-button id="button" buy-button-id="buy_btn_1" publishable-key="pk_test_1"></stripe-buy-button>
<div id="later"></div>
<pre id="metadata"></pre>
<script>
  // A link added after the helper's own re-run at 1 s: only its
  // MutationObserver can catch this one.
  setTimeout(function () {
    var a = document.createElement("a");
    a.id = "link3"; a.href = "https://buy.stripe.com/test_late"; a.textContent = "Late";
    document.getElementById("later").appendChild(a);
  }, 1500);
  setTimeout(function () {
    document.getElementById("metadata").textContent = JSON.stringify(window.reditusBridge.metadata());
  }, 1600);
</script>
</body></html>`

// stripeReferenceLimit is the most characters Stripe takes in a
// client_reference_id.
const stripeReferenceLimit = 200

// browserCookies are _gr_id values as Reditus's script stores them:
// percent-encoded.
var browserCookies = []struct {
	name, cookie string
	// encodedTooLong: the reference of the cookie as stored is over
	// Stripe's limit, and only its percent-decoded form fits.
	encodedTooLong bool
}{
	{name: "short", cookie: "1732492800%3A0f8fad5b-d9cb-469f-a165-70867728950e%3A%3Apk_live_3x%3A%3A%3Ajohn%3A%3A%3As_81c2%3Aaffiliate"},
	{
		name:           "long, fits only decoded",
		cookie:         "1732492800%3A0f8fad5b-d9cb-469f-a165-70867728950e%3A%3Apk_live_51PqR7sKx2mNv8Lc%3Auser_2pKx9fQ3mZ7wL1nB%3A%3Ajane-doe-growth%3A%3A%3As_7c9e6679742540de%3Aaffiliate",
		encodedTooLong: true,
	},
	// Decoded, the slug holds a %, which the bridge would decode a second
	// time: this one must travel as stored.
	{name: "percent sign in the slug", cookie: "1732492800%3A0f8fad5b-d9cb-469f-a165-70867728950e%3A%3Apk_live_3x%3A%3A%3Ajohn%2525%3A%3A%3As_81c2%3Aaffiliate"},
}

// renderInBrowser serves the page (with the _gr_id cookie, unless it is
// empty) and the bridge's routes on loopback, and returns the DOM Chromium
// leaves.
func renderInBrowser(t *testing.T, cookie string) string {
	t.Helper()
	browser := testenv.Chromium(t)
	bridge := newBridge(t, nil).handler
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/page" {
			bridge.ServeHTTP(w, r)
			return
		}
		if cookie != "" {
			http.SetCookie(w, &http.Cookie{Name: "_gr_id", Value: cookie, Path: "/"})
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write([]byte(browserPage))
	}))
	defer srv.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	// The flags keep Chromium off the network (this machine has none) and
	// out of the user's profile.
	cmd := exec.CommandContext(ctx, browser,
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir="+t.TempDir(), "--virtual-time-budget=3000",
		"--dump-dom", srv.URL+"/page")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("chromium: %v", err)
	}
	return string(out)
}

var (
	linkHref    = regexp.MustCompile(`<a id="(\w+)" href="([^"]*)"`)
	stripeTag   = regexp.MustCompile(`<stripe-[a-z-]+ id="(\w+)"[^>]*>`)
	clientRef   = regexp.MustCompile(` client-reference-id="([^"]*)"`)
	metadataPre = regexp.MustCompile(`<pre id="metadata">([^<]*)</pre>`)
)

func links(dom string) map[string]string {
	out := map[string]string{}
	for _, m := range linkHref.FindAllStringSubmatch(dom, -1) {
		out[m[1]] = html.UnescapeString(m[2])
	}
	return out
}

func TestBrowserHelperRewritesStripeLinks(t *testing.T) {
	for _, tt := range browserCookies {
		t.Run(tt.name, func(t *testing.T) {
			want, err := mapping.ParseCookie(tt.cookie)
			if err != nil {
				t.Fatal(err)
			}
			// The case must keep testing what it says, whatever the
			// cookie is edited to.
			if got := len(mapping.ClientReferenceID(tt.cookie)) > stripeReferenceLimit; got != tt.encodedTooLong {
				t.Fatalf("reference of the cookie as stored is over %d: %v, want %v", stripeReferenceLimit, got, tt.encodedTooLong)
			}
			checkRewritten(t, renderInBrowser(t, tt.cookie), want)
		})
	}
}

// checkRewritten checks that every Stripe element in the DOM carries a
// client reference that Stripe accepts and that decodes to want, that
// other links are untouched, and that metadata() gives the cookie.
func checkRewritten(t *testing.T, dom string, want mapping.Referral) {
	t.Helper()
	var refs []string
	got := links(dom)
	for _, id := range []string{"link1", "link2", "link3"} {
		u, err := url.Parse(got[id])
		if err != nil || got[id] == "" {
			t.Fatalf("%s: href %q", id, got[id])
		}
		ref := u.Query().Get("client_reference_id")
		if ref == "" {
			t.Errorf("%s was not rewritten: %s", id, got[id])
			continue
		}
		refs = append(refs, ref)
	}
	if !strings.Contains(got["link2"], "prefilled_email=a%40b.c") {
		t.Errorf("link2 lost its own parameters: %s", got["link2"])
	}
	if got["other"] != "https://example.com/pricing" {
		t.Errorf("a link that is not Stripe's was changed: %s", got["other"])
	}
	for _, tag := range stripeTag.FindAllStringSubmatch(dom, -1) {
		attr := clientRef.FindStringSubmatch(tag[0])
		if attr == nil {
			t.Errorf("<%s> has no client-reference-id: %s", tag[1], tag[0])
			continue
		}
		refs = append(refs, html.UnescapeString(attr[1]))
	}
	if len(refs) != 5 {
		t.Fatalf("%d client references in the page, want 5 (3 links, table, button):\n%s", len(refs), dom)
	}
	// What Stripe will hand back in client_reference_id is what the
	// webhook mapping decodes: the same referral as the cookie.
	for _, ref := range refs {
		if len(ref) > stripeReferenceLimit {
			t.Errorf("client reference %q has %d characters, Stripe takes at most %d", ref, len(ref), stripeReferenceLimit)
		}
		got, err := mapping.ParseCookie(ref)
		if err != nil || got != want {
			t.Errorf("client reference %q decodes to %+v, %v; want %+v", ref, got, err, want)
		}
	}

	m := metadataPre.FindStringSubmatch(dom)
	if m == nil {
		t.Fatalf("no metadata in the page:\n%s", dom)
	}
	var metadata map[string]string
	if err := json.Unmarshal([]byte(html.UnescapeString(m[1])), &metadata); err != nil {
		t.Fatalf("metadata() = %q: %v", m[1], err)
	}
	if got, err := mapping.ParseCookie(metadata["gr_id"]); err != nil || got != want {
		t.Errorf("metadata() gr_id %q decodes to %+v, %v; want %+v", metadata["gr_id"], got, err, want)
	}
}

// A cookie that does not percent-decode is carried as it is, so that the
// bridge's skip reason names it, and the helper goes on working.
func TestBrowserHelperMalformedCookie(t *testing.T) {
	const cookie = "1732492800%3A0f8fad5b-d9cb-469f-a165-70867728950e%3A%3Apk_live_3x%3A%3A%3Ajohn%E0%A4%3A%3A%3As_81c2%3Aaffiliate"
	if _, err := mapping.ParseCookie(cookie); err == nil {
		t.Fatalf("ParseCookie(%q) accepted it; the case needs a cookie that does not decode", cookie)
	}
	dom := renderInBrowser(t, cookie)
	want := mapping.ClientReferenceID(cookie)
	got := links(dom)
	for _, id := range []string{"link1", "link2", "link3"} {
		u, err := url.Parse(got[id])
		if err != nil {
			t.Fatalf("%s: href %q: %v", id, got[id], err)
		}
		if ref := u.Query().Get("client_reference_id"); ref != want {
			t.Errorf("%s: client_reference_id %q, want the cookie as stored, %q", id, ref, want)
		}
	}
	if m := metadataPre.FindStringSubmatch(dom); m == nil || !strings.Contains(m[1], "john%E0%A4") {
		t.Errorf("metadata() = %v, want the cookie as stored", m)
	}
}

func TestBrowserHelperWithoutCookieChangesNothing(t *testing.T) {
	dom := renderInBrowser(t, "")
	got := links(dom)
	for id, href := range map[string]string{
		"link1": "https://buy.stripe.com/test_28o5lm0Jc1xY",
		"link2": "https://buy.stripe.com/test_9AQ5lm?prefilled_email=a%40b.c",
		"link3": "https://buy.stripe.com/test_late",
		"other": "https://example.com/pricing",
	} {
		if got[id] != href {
			t.Errorf("%s: %q, want it untouched: %q", id, got[id], href)
		}
	}
	if strings.Contains(dom, "client-reference-id") {
		t.Error("a Stripe element got a client-reference-id without a cookie")
	}
	if m := metadataPre.FindStringSubmatch(dom); m == nil || m[1] != "{}" {
		t.Errorf("metadata() without a cookie = %v, want {}", m)
	}
}
