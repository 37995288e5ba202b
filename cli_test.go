package main

import (
	"strings"
	"testing"
)

// Help and version answer on stdout, with nothing on stderr and no error,
// even when the configuration is broken: they do not read it.
func TestHelpAndVersionAnswerWithoutTheConfiguration(t *testing.T) {
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
				stdout, stderr, err := runIn(t, env, tt.args...)
				if err != nil || stderr != "" {
					t.Errorf("env %v: error %v, stderr %q; want neither", env, err, stderr)
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

// An unknown command fails and points to help, printing nothing else,
// before the configuration is read.
func TestAnUnknownCommandFailsAndPointsToHelp(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"serve-now"}, `unknown command "serve-now": run ` + "`reditus-bridge help`"},
		{[]string{"--port", "80"}, `unknown command "--port": run ` + "`reditus-bridge help`"},
		{[]string{"help", "deploy"}, `no command "deploy": run ` + "`reditus-bridge help`"},
		{[]string{"simulate", "braintree"}, "help simulate"},
		{[]string{"check", "now"}, "help check"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			stdout, _, err := runIn(t, nil, tt.args...)
			if err == nil || stdout != "" || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, stdout %q; want an error saying %q, and nothing printed", err, stdout, tt.want)
			}
		})
	}
}
