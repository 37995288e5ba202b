package e2e

import (
	"fmt"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/getreditus/reditus-bridge/internal/fakeapi"
	"github.com/getreditus/reditus-bridge/internal/testenv"
	"github.com/getreditus/reditus-bridge/providers"
)

// publicURL is the bridge's address as the providers know it (PUBLIC_URL);
// the fakes take any.
const publicURL = "https://bridge.example.com"

// providerAPI is one provider's fake API, and the variables that point the
// binary at it.
type providerAPI struct {
	*fakeapi.Server
	keyVar string
	env    []string
}

// providerAPIs starts the fake API of every provider connect has a client
// for, and returns them by name with the environment that reaches them all.
func providerAPIs(t *testing.T) (map[string]providerAPI, []string) {
	t.Helper()
	apis := map[string]providerAPI{}
	add := func(name, keyVar string, s *fakeapi.Server, env ...string) {
		apis[name] = providerAPI{s, keyVar, append(env, keyVar+"="+s.Key)}
	}
	stripe := fakeapi.Stripe(t, "sk_test_e2e_connect")
	add("stripe", "STRIPE_API_KEY", stripe, "STRIPE_API_URL="+stripe.BaseURL)
	polar := fakeapi.Polar(t, "polar_oat_e2e_connect")
	add("polar", "POLAR_ACCESS_TOKEN", polar, "POLAR_API_URL="+polar.BaseURL)
	paddle := fakeapi.Paddle(t, "pdl_live_apikey_e2e")
	add("paddle", "PADDLE_API_KEY", paddle, "PADDLE_API_URL="+paddle.BaseURL)
	ls := fakeapi.LemonSqueezy(t, "ls_e2e_connect_key")
	add("lemonsqueezy", "LEMONSQUEEZY_API_KEY", ls, "LEMONSQUEEZY_API_URL="+ls.BaseURL, "LEMONSQUEEZY_STORE_ID=48215")
	workos := fakeapi.WorkOS(t, "sk_test_workos_e2e")
	add("workos", "WORKOS_API_KEY", workos, "WORKOS_API_URL="+workos.BaseURL)
	cb := fakeapi.Chargebee(t, "live_chargebee_e2e_key")
	add("chargebee", "CHARGEBEE_API_KEY", cb, "CHARGEBEE_SITE=acme", "CHARGEBEE_API_URL="+cb.BaseURL)
	env := []string{"PUBLIC_URL=" + publicURL}
	for _, api := range apis {
		env = append(env, api.env...)
	}
	return apis, env
}

// names are the providers of apis, sorted.
func names(apis map[string]providerAPI) []string {
	var out []string
	for name := range apis {
		out = append(out, name)
	}
	slices.Sort(out)
	return out
}

// printedSecret is the value connect printed for variable name, on the line
// `  NAME=value` that follows `fly secrets set NAME=value`.
func printedSecret(t *testing.T, stdout, name string) string {
	t.Helper()
	plain := regexp.MustCompile(`(?m)^  ` + name + `=(\S+)$`).FindStringSubmatch(stdout)
	fly := regexp.MustCompile(`(?m)^  fly secrets set ` + name + `=(\S+)$`).FindStringSubmatch(stdout)
	if plain == nil || fly == nil || plain[1] != fly[1] {
		t.Fatalf("connect printed no `fly secrets set %s=...` and `%s=...` with one secret:\n%s", name, name, stdout)
	}
	return plain[1]
}

// noKeys fails t if any API key of apis is in what a command printed.
func noKeys(t *testing.T, apis map[string]providerAPI, printed ...string) {
	t.Helper()
	for name, api := range apis {
		for _, p := range printed {
			if strings.Contains(p, api.Key) {
				t.Errorf("%s's API key was printed:\n%s", name, p)
			}
		}
	}
}

// The deploy as the README tells it, run by the built binary against a fake
// Reditus and every provider's fake API: connect for each provider, the
// secrets it printed set, a signed webhook forwarded with one of them, and
// doctor passing. Then a second connect changes nothing; an endpoint whose
// events were trimmed, or that was deleted, fails doctor, naming it, until
// connect restores it.
func TestConnectThenDoctorPassTheWholeChain(t *testing.T) {
	red := newReditus(t)
	apis, env := providerAPIs(t)
	env = append(env, "REDITUS_API_KEY="+apiKey, "REDITUS_API_URL="+red.BaseURL, "DATA_DIR="+t.TempDir())
	secrets := map[string]string{}
	for _, name := range names(apis) {
		p, _ := providers.Lookup(name)
		stdout, stderr, code := runCommand(t, env, "connect", name)
		if code != 0 {
			t.Fatalf("connect %s: exit %d\n%s%s", name, code, stdout, stderr)
		}
		noKeys(t, apis, stdout, stderr)
		secrets[name] = printedSecret(t, stdout, p.SecretVar())
		env = append(env, p.SecretVar()+"="+secrets[name])
		if eps := apis[name].Endpoints(); len(eps) != 1 || eps[0].URL != publicURL+p.Route() || !slices.Equal(eps[0].Events, p.Events) {
			t.Errorf("%s holds %+v after connect, want one endpoint at %s for %v", name, eps, publicURL+p.Route(), p.Events)
		}
	}

	// The secret connect printed is the one the provider signs with.
	bridge := start(t, env...)
	if got := bridge.post(t, "stripe", secrets["stripe"], "", stripeSignup("connected").body); got.String() != "200 forwarded" {
		t.Errorf("a Stripe event signed with the secret connect printed: %s, want 200 forwarded", got)
	}
	doctorPasses(t, env, `(?m)^ok +stripe +last 24 h: 1 forwarded$`)

	writes := map[string]int{}
	for _, name := range names(apis) {
		writes[name] = apis[name].Writes()
		stdout, stderr, code := runCommand(t, env, "connect", name)
		if code != 0 || !strings.Contains(stdout, "nothing to change") || apis[name].Writes() != writes[name] || len(apis[name].Endpoints()) != 1 {
			t.Errorf("connect %s again: exit %d, %d writes, %d endpoints; want nothing changed\n%s%s",
				name, code, apis[name].Writes()-writes[name], len(apis[name].Endpoints()), stdout, stderr)
		}
	}

	stripe := apis["stripe"]
	stripe.SetEvents(stripe.Endpoints()[0].ID, "customer.created", "customer.updated", "checkout.session.completed", "customer.subscription.created")
	doctorFails(t, env, "stripe", "is not subscribed to checkout.session.async_payment_succeeded")
	if stdout, _, code := runCommand(t, env, "connect", "stripe"); code != 0 || !strings.Contains(stdout, "subscribe it again to checkout.session.async_payment_succeeded") {
		t.Errorf("connect stripe after a trim: exit %d\n%s", code, stdout)
	}
	doctorPasses(t, env)

	polar := apis["polar"]
	polar.Delete(polar.Endpoints()[0].ID)
	doctorFails(t, env, "polar", "no endpoint at "+publicURL+"/webhooks/polar: run reditus-bridge connect polar")
	bridge.stop(t)
}

// doctorPasses runs doctor with env and fails t unless it exits 0 with no
// fail line, and its output matches each of the regular expressions want.
func doctorPasses(t *testing.T, env []string, want ...string) {
	t.Helper()
	stdout, stderr, code := runCommand(t, env, "doctor")
	if code != 0 || !strings.Contains(stdout, "\n0 failed,") {
		t.Fatalf("doctor: exit %d, want 0 and no failure\n%s%s", code, stdout, stderr)
	}
	for _, w := range want {
		if !regexp.MustCompile(w).MatchString(stdout) {
			t.Errorf("doctor does not say %s:\n%s", w, stdout)
		}
	}
}

// doctorFails runs doctor with env and fails t unless it exits 1 with a
// fail line of check that says want.
func doctorFails(t *testing.T, env []string, check, want string) {
	t.Helper()
	stdout, stderr, code := runCommand(t, env, "doctor")
	line := regexp.MustCompile(`(?m)^fail  ` + check + ` +.*` + regexp.QuoteMeta(want))
	if code != 1 || !line.MatchString(stdout) || !strings.Contains(stderr, "doctor: a check failed") {
		t.Errorf("doctor: exit %d, want 1 and a fail %s line saying %q\n%s%s", code, check, want, stdout, stderr)
	}
}

// A Reditus that refuses the API key fails doctor: nothing could be sent.
func TestDoctorFailsOnARefusedReditusKey(t *testing.T) {
	red := newReditus(t)
	env := append(liveEnv(red), "REDITUS_API_KEY=rk_live_not_the_key")
	doctorFails(t, env, "reditus", "refused REDITUS_API_KEY (GET "+red.BaseURL+"/v1/partners?per_page=1&page=1 answered 401)")
	if red.Probes() != 1 || len(red.Created()) != 0 {
		t.Errorf("Reditus saw %d probes and %d conversions, want one probe and nothing created", red.Probes(), len(red.Created()))
	}
	stdout, _, code := runCommand(t, liveEnv(red), "doctor", "--json")
	if code != 0 || !strings.Contains(stdout, `"ok": true`) || !strings.Contains(stdout, "REDITUS_API_KEY accepted") {
		t.Errorf("doctor --json with the right key: exit %d\n%s", code, stdout)
	}
}

// A journal that cannot take a write (here, a full disk: prlimit's file size
// limit of 0 on the doctor process) fails doctor, naming the journal.
func TestDoctorFailsOnAnUnwritableJournal(t *testing.T) {
	_, err := exec.LookPath("prlimit")
	testenv.Require(t, err == nil, "util-linux's prlimit")
	red := newReditus(t)
	env := append(liveEnv(red), "DATA_DIR="+t.TempDir())
	doctorPasses(t, env) // makes the journal
	cmd := exec.Command("prlimit", "--fsize=0", "--", binary, "doctor")
	cmd.Env = append([]string{"PORT=0", "HOST=127.0.0.1"}, env...)
	out, _ := cmd.Output()
	if cmd.ProcessState.ExitCode() != 1 || !regexp.MustCompile(`(?m)^fail  journal .*(cannot be written|cannot be opened)`).Match(out) {
		t.Errorf("doctor on a full disk: exit %d, want 1 and a fail journal line\n%s", cmd.ProcessState.ExitCode(), out)
	}
}

// connect refuses what it cannot do right with one line on stderr and exit
// 1: an unknown provider, a URL that is not https, and every way a
// provider's API fails; it never prints a key, and writes nothing after a
// failed read.
func TestConnectRefusesBadInputAndFailingAPIs(t *testing.T) {
	apis, env := providerAPIs(t)
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"connect", "braintree"}, `no provider "braintree" (providers: chargebee, clerk,`},
		{[]string{"connect", "stripe", "--url", "http://bridge.example.com"}, `--url: "http://bridge.example.com" is not https`},
		{[]string{"connect"}, "connect needs a provider"},
	} {
		stdout, stderr, code := runCommand(t, env, tt.args...)
		if code != 1 || !strings.Contains(stderr, tt.want) || strings.Count(stderr, "\n") != 1 {
			t.Errorf("%v: exit %d, want 1 and one line saying %q\n%s%s", tt.args, code, tt.want, stdout, stderr)
		}
	}
	faults := []struct {
		status int
		body   string
		want   string
	}{
		{401, "", "refused {KEY} (HTTP 401)"},
		{403, "", "refused {KEY} (HTTP 403)"},
		{429, "", "rate limiting (HTTP 429)"},
		{500, "", "failed (HTTP 500)"},
		{502, "<html>Bad Gateway</html>", "failed (HTTP 502)"},
		{200, "<html>a captive portal</html>", "but not with its JSON"},
	}
	for _, name := range names(apis) {
		api := apis[name]
		for _, f := range faults {
			t.Run(fmt.Sprint(name, "/", f.status), func(t *testing.T) {
				api.Fail(f.status, f.body)
				defer api.Fail(0, "")
				stdout, stderr, code := runCommand(t, env, "connect", name)
				want := strings.ReplaceAll(f.want, "{KEY}", api.keyVar)
				if code != 1 || !strings.Contains(stderr, want) || strings.Count(stderr, "\n") != 1 || api.Writes() != 0 {
					t.Errorf("exit %d, %d writes; want 1, none, and one line saying %q\n%s%s", code, api.Writes(), want, stdout, stderr)
				}
				noKeys(t, apis, stdout, stderr)
			})
		}
	}
}
