// Command reditus-bridge turns signed webhooks from Stripe and auth providers
// into Reditus conversions. See README.md.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"syscall"

	"github.com/getreditus/reditus-bridge/config"
	"github.com/getreditus/reditus-bridge/connect"
	"github.com/getreditus/reditus-bridge/simulate"
)

// version is the bridge's version, set at build time with
// -ldflags "-X main.version=..." (the Dockerfile does).
var version = "dev"

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintf(os.Stderr, "reditus-bridge: %v\n", err)
		os.Exit(1)
	}
}

// run is the whole program: main only calls it and exits. Unlike the usual
// run(ctx, args, getenv, ...), it takes no getenv: configuration is read by
// envconfig, which reads the process environment itself, and a getenv that
// config ignored would mislead the tests that pass one (see README.md).
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()

	cmd, args, err := lookup(args)
	if err != nil {
		return err
	}
	// Asking for help needs no configuration: the usage answers even when
	// the environment is wrong.
	if !cmd.ownHelp && asksForHelp(args) {
		cmd.usage(stdout)
		return nil
	}
	in := invocation{args: args, stdout: stdout, stderr: stderr}
	if !cmd.withoutConfig {
		if in.cfg, err = config.Load(); err != nil {
			return fmt.Errorf("configuration: %w", err)
		}
	}
	return cmd.run(ctx, in)
}

// A command is one row of the command table. run, help, COMMAND --help and
// the listing all read the table, so that a command is declared once.
type command struct {
	name    string
	aliases []string
	summary string // its line in the listing `help` prints
	// usage prints what `help NAME` and `NAME --help` print.
	usage func(w io.Writer)
	// ownHelp: the command parses its flags, --help included, itself, once
	// the configuration is read, and prints a longer usage than usage's.
	ownHelp bool
	// withoutConfig: the command answers even when the environment is
	// wrong, since it reads none of it, or reads it itself (doctor, whose
	// report says what is wrong with it).
	withoutConfig bool
	run           func(ctx context.Context, in invocation) error
}

// invocation is what a command runs with.
type invocation struct {
	args           []string      // those after the command's name
	cfg            config.Config // zero when the command is withoutConfig
	stdout, stderr io.Writer     // stdout for output, stderr for what needs attention
}

// serving is what the bridge does with no command.
var serving = command{summary: "serves webhooks on PORT until SIGTERM or Ctrl-C", run: serve}

// commands is the command table, in the order `help` lists it. It is a
// function, not a variable, because help reads it: a variable holding help
// could not (an initialization cycle).
func commands() []command {
	return []command{
		{name: "check", summary: "validate the configuration and print what the bridge makes of it",
			usage: text(checkUsage), run: check},
		{name: "simulate", summary: "post a signed sample event to a running bridge",
			usage: simulate.Usage, run: simulateEvent},
		{name: "backfill", summary: "send the conversions of past Stripe customers and Checkout Sessions",
			usage: text(backfillUsage), ownHelp: true, run: backfillStripe},
		{name: "recover", summary: "send the Stripe events that Stripe could not deliver",
			usage: text(recoverUsage), ownHelp: true, run: recoverStripe},
		{name: "events", summary: "print the journal: what became of each event, and why",
			usage: eventsUsage, run: events},
		{name: "connect", summary: "register the bridge's webhook with a provider through its API; print its secret",
			usage: text(connect.Usage), run: connectProvider},
		{name: "doctor", summary: "check the whole chain: configuration, journal, Reditus, each provider's endpoint",
			usage: text(doctorUsage), withoutConfig: true, run: doctorCommand},
		{name: "alert", summary: "alert test: send a test alert to every destination and say how each answered",
			usage: text(alertUsage), run: alertTest},
		{name: "version", aliases: []string{"-version", "--version"}, summary: "print the version",
			usage: text(versionUsage), withoutConfig: true, run: printVersion},
		{name: "help", aliases: []string{"-h", "-help", "--help"}, summary: "print this, or a command's usage: reditus-bridge help COMMAND",
			usage: text(helpUsage), withoutConfig: true, run: help},
	}
}

// lookup returns the command args name and the arguments after its name;
// serving when args name none.
func lookup(args []string) (command, []string, error) {
	if len(args) == 0 {
		return serving, nil, nil
	}
	for _, c := range commands() {
		if c.name == args[0] || slices.Contains(c.aliases, args[0]) {
			return c, args[1:], nil
		}
	}
	return command{}, nil, fmt.Errorf("unknown command %q: run `reditus-bridge help` for the commands", args[0])
}

// asksForHelp reports whether a command's arguments ask for its usage:
// `NAME help`, or a help flag anywhere.
func asksForHelp(args []string) bool {
	return len(args) > 0 && args[0] == "help" || slices.ContainsFunc(args, isHelpFlag)
}

// isHelpFlag reports whether arg is one of the flags that ask for usage.
func isHelpFlag(arg string) bool { return arg == "-h" || arg == "-help" || arg == "--help" }

// text is a usage that is a fixed text.
func text(s string) func(io.Writer) {
	return func(w io.Writer) { fmt.Fprint(w, s) }
}
