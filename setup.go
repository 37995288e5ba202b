package main

import (
	"context"
	"errors"
	"flag"
	"io"
	"net/http"
	"time"

	"github.com/getreditus/reditus-bridge/config"
	"github.com/getreditus/reditus-bridge/connect"
	"github.com/getreditus/reditus-bridge/doctor"
	"github.com/getreditus/reditus-bridge/journal"
	"github.com/getreditus/reditus-bridge/pipeline"
	"github.com/getreditus/reditus-bridge/reditus"
)

const doctorUsage = `usage: reditus-bridge doctor [--json]

Checks the whole chain a webhook travels and prints one line a check, ok,
warn or fail: the configuration (as check validates it); the journal (it
opens and takes a write, what is queued and for how long, what was given up
in the last 24 h); Reditus (reachable, and REDITUS_API_KEY accepted, by
GET /v1/partners?per_page=1, which creates nothing); for each provider whose
API key is set, its endpoint at PUBLIC_URL/webhooks/PROVIDER (there, enabled,
subscribed to every event the bridge handles, its secret held); and each
provider's outcomes in the last 24 h. It exits 1 if any check fails.

  --json   print the report as one JSON object
`

// connectProvider answers connect with the configuration's keys and
// PUBLIC_URL.
func connectProvider(ctx context.Context, in invocation) error {
	return connect.Run(ctx, in.cfg, in.args, in.stdout)
}

// doctorCommand answers doctor. It reads the configuration itself, so that
// an invalid one is a line of its report, in JSON too, rather than an error
// before it.
func doctorCommand(ctx context.Context, in invocation) error {
	fs := flag.NewFlagSet("doctor", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	asJSON := fs.Bool("json", false, "")
	if err := fs.Parse(in.args); err != nil || fs.NArg() > 0 {
		return errors.New("doctor takes only --json; see `reditus-bridge help doctor`")
	}
	d := doctor.Deps{HTTP: &http.Client{Timeout: 20 * time.Second}}
	d.Config, d.ConfigErr = config.Load()
	if d.ConfigErr == nil {
		// The same construction as serve's, so that doctor fails where the
		// bridge would not start.
		_, d.ConfigErr = pipeline.New(d.Config, pipeline.Deps{})
	}
	if d.ConfigErr == nil {
		closeJournal := openDoctorJournal(ctx, &d)
		defer closeJournal()
		d.Reditus = reditus.New(reditus.Options{BaseURL: d.Config.ReditusAPIURL, APIKey: d.Config.ReditusAPIKey.Reveal()})
	}
	report := doctor.Run(ctx, d)
	if *asJSON {
		if err := report.WriteJSON(in.stdout); err != nil {
			return err
		}
	} else {
		report.WriteText(in.stdout)
	}
	if !report.OK() {
		return errors.New("doctor: a check failed (the fail lines say which, and what to do)")
	}
	return nil
}

// openDoctorJournal opens the journal the bridge serves with into d, or
// says in d why it could not, and returns what closes it.
func openDoctorJournal(ctx context.Context, d *doctor.Deps) func() {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	store, err := journal.Open(ctx, journal.Options{DataDir: d.Config.DataDir, DatabaseURL: d.Config.DatabaseURL.Reveal()})
	if err != nil {
		d.JournalErr = err
		return func() {}
	}
	d.Journal = store
	return func() { store.Close() }
}
