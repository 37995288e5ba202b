package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/getreditus/reditus-bridge/config"
	"github.com/getreditus/reditus-bridge/internal/fakereditus"
	"github.com/getreditus/reditus-bridge/verify"
)

// runBinary runs the built bridge with args and exactly env, and returns its
// stdout, stderr and exit code. A bridge that starts serving instead of
// answering is stopped after a few seconds, and the test fails.
func runBinary(t *testing.T, env []string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	bin := buildBinary(t) // before the clock starts: the first test builds it
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append([]string{"PORT=0", "HOST=127.0.0.1", "DATA_DIR=" + t.TempDir()}, env...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	_ = cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("%v did not exit: it served instead\nstdout: %s", args, out.String())
	}
	return out.String(), errOut.String(), cmd.ProcessState.ExitCode()
}

// Help and version answer on stdout with exit code 0, even when the
// configuration is broken: they do not read it.
func TestHelpAndVersion(t *testing.T) {
	tests := []struct {
		args []string
		want []string
	}{
		{[]string{"help"}, []string{"usage: reditus-bridge [COMMAND]", "check ", "simulate ", "backfill ", "recover ", "version ", "help "}},
		{[]string{"-h"}, []string{"usage: reditus-bridge [COMMAND]"}},
		{[]string{"--help"}, []string{"usage: reditus-bridge [COMMAND]"}},
		{[]string{"help", "simulate"}, []string{"usage: reditus-bridge simulate PROVIDER [flags]", "-event", "-email", "-gr-id", "-url", "checkout.session.completed"}},
		{[]string{"simulate", "--help"}, []string{"usage: reditus-bridge simulate PROVIDER [flags]", "-email"}},
		{[]string{"simulate", "stripe", "-h"}, []string{"usage: reditus-bridge simulate PROVIDER [flags]"}},
		{[]string{"simulate", "help"}, []string{"usage: reditus-bridge simulate PROVIDER [flags]"}},
		{[]string{"help", "check"}, []string{"usage: reditus-bridge check", "It exits 1, naming the variable"}},
		{[]string{"check", "--help"}, []string{"usage: reditus-bridge check"}},
		{[]string{"help", "backfill"}, []string{"usage: reditus-bridge backfill stripe", "backfill stripe --help"}},
		{[]string{"help", "recover"}, []string{"usage: reditus-bridge recover stripe", "recover stripe --help"}},
		{[]string{"help", "version"}, []string{"usage: reditus-bridge version"}},
		{[]string{"version"}, []string{"reditus-bridge dev\n"}},
		{[]string{"--version"}, []string{"reditus-bridge dev\n"}},
	}
	broken := []string{"PORT=abc", "STRIPE_WEBHOOK_SECRET=whsec_"}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			for _, env := range [][]string{nil, broken} {
				stdout, stderr, code := runBinary(t, env, tt.args...)
				if code != 0 || stderr != "" {
					t.Errorf("env %v: exit %d, stderr %q; want 0 and nothing", env, code, stderr)
				}
				for _, want := range tt.want {
					if !strings.Contains(stdout, want) {
						t.Errorf("env %v: stdout lacks %q:\n%s", env, want, stdout)
					}
				}
			}
		})
	}
}

// An unknown command fails (exit 1) and points to help, before the
// configuration is read.
func TestUnknownCommand(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"serve-now"}, `unknown command "serve-now": run ` + "`reditus-bridge help`"},
		{[]string{"--port", "80"}, `unknown command "--port": run ` + "`reditus-bridge help`"},
		{[]string{"help", "deploy"}, `no command "deploy": run ` + "`reditus-bridge help`"},
		{[]string{"simulate", "paypal"}, "help simulate"},
		{[]string{"check", "now"}, "help check"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			stdout, stderr, code := runBinary(t, nil, tt.args...)
			if code != 1 || stdout != "" || !strings.Contains(stderr, tt.want) {
				t.Errorf("exit %d, stdout %q, stderr %q; want 1, nothing, and %q", code, stdout, stderr, tt.want)
			}
		})
	}
}

// The bridge refuses to start on a configuration that would lose or forge
// conversions, or that it cannot read, naming the variable and what to do,
// and never printing a secret or a password.
func TestRefusesToStart(t *testing.T) {
	const key = "REDITUS_API_KEY=rk_live_must_not_print"
	tests := []struct {
		name string
		env  []string
		want []string
	}{
		{"a secret without REDITUS_API_KEY", []string{"STRIPE_WEBHOOK_SECRET=whsec_must_not_print_0123456789"},
			[]string{"REDITUS_API_KEY is not set, but STRIPE_WEBHOOK_SECRET is", "DRY_RUN=true"}},
		{"whsec_ alone: anybody could sign", []string{key, "GENERIC_WEBHOOK_SECRET=whsec_"}, []string{"GENERIC_WEBHOOK_SECRET: secret 1 of 1 holds no key"}},
		{"whsec_ alone, even in dry run", []string{"DRY_RUN=true", "GENERIC_WEBHOOK_SECRET=whsec_"}, []string{"GENERIC_WEBHOOK_SECRET: secret 1 of 1 holds no key"}},
		{"the development secret without whsec_", []string{key, "CLERK_WEBHOOK_SECRET=cmVkaXR1cy1icmlkZ2UtZGV2ZWxvcG1lbnQtc2VjcmV0"},
			[]string{"CLERK_WEBHOOK_SECRET: secret 1 of 1 is the public development secret"}},
		{"an empty item", []string{key, "STRIPE_WEBHOOK_SECRET=whsec_must_not_print_0123456789,"}, []string{"STRIPE_WEBHOOK_SECRET: secret 2 of 2 is empty"}},
		{"a short chosen token", []string{key, "SUPABASE_WEBHOOK_SECRET=must_not_print"}, []string{"SUPABASE_WEBHOOK_SECRET: secret 1 of 1 is shorter than 16 characters"}},
		{"PORT=abc", []string{key, "PORT=abc"}, []string{`PORT: "abc" is not a port number (0-65535)`}},
		{"LOG_LEVEL=verbose", []string{key, "LOG_LEVEL=verbose"}, []string{`LOG_LEVEL: "verbose" is not a log level: use debug, info, warn or error`}},
		{"a password in REDITUS_API_URL", []string{key, "REDITUS_API_URL=https://jdoe:must_not_print@api.getreditus.com/api"}, []string{"REDITUS_API_URL: the URL holds credentials"}},
		{"a password in STRIPE_API_URL", []string{key, "STRIPE_API_URL=https://jdoe:must_not_print@api.stripe.com"}, []string{"STRIPE_API_URL: the URL holds credentials"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stdout, stderr, code := runBinary(t, tt.env)
			if code != 1 {
				t.Errorf("exit %d, want 1", code)
			}
			for _, want := range tt.want {
				if !strings.Contains(stderr, want) {
					t.Errorf("stderr lacks %q: %s", want, stderr)
				}
			}
			if strings.Contains(stdout+stderr, "must_not_print") || strings.Contains(stderr, "strconv") {
				t.Errorf("printed a secret or a raw parse error: %s%s", stdout, stderr)
			}
		})
	}
}

// DRY_RUN=true logs conversions instead of sending them, even with a key
// and real secrets; the development secret stays refused on the providers
// without a secret, since this is not the local default.
func TestDryRunWithSecrets(t *testing.T) {
	red := fakereditus.New(t, fakereditus.WithKey("rk_live_dry"))
	const secret = "whsec_dry_run_stripe_secret_0123"
	for _, env := range [][]string{
		{"DRY_RUN=true", "STRIPE_WEBHOOK_SECRET=" + secret},
		{"DRY_RUN=true", "STRIPE_WEBHOOK_SECRET=" + secret, "REDITUS_API_KEY=rk_live_dry", "REDITUS_API_URL=" + red.BaseURL},
	} {
		t.Run(strings.Join(env, " "), func(t *testing.T) {
			p := start(t, env...)
			if status, answer := postStripe(t, p.base, "customer.created.json", secret); status != http.StatusOK || answer["outcome"] != "dry_run" {
				t.Errorf("signed Stripe event: %d %v, want 200 dry_run", status, answer)
			}
			body := []byte(`{"email":"dev@example.com","uid":"usr_dev","affiliate_slug":"john"}`)
			h, err := verify.SignSvix("svix", config.DevelopmentSecret.Reveal(), "msg_dev", body, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			req, _ := http.NewRequest(http.MethodPost, p.base+"/webhooks/clerk", bytes.NewReader(body))
			req.Header = h
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusNotFound {
				t.Errorf("clerk signed with the development secret: %d, want 404 (off)", resp.StatusCode)
			}
			p.stop(t)
			var listening, warned bool
			for _, line := range p.lines() {
				msg, _ := line["msg"].(string)
				listening = listening || (msg == "listening" && line["dry_run"] == true)
				warned = warned || strings.Contains(msg, "DRY_RUN=true")
			}
			if !listening || !warned {
				t.Errorf("want a listening line with dry_run true and a DRY_RUN warning: %v", p.lines())
			}
		})
	}
	if n := red.Requests(); n != 0 {
		t.Errorf("dry run sent %d requests to Reditus: %+v", n, red.Conversions())
	}
}
