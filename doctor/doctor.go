// Package doctor checks the whole chain a webhook travels, from the
// provider to Reditus, and reports it in one list of ok, warn and fail
// lines: the configuration, the journal, Reditus and its API key, and for
// each provider its endpoint at PUBLIC_URL (through the provider's API,
// where the bridge has its key) and what the journal holds of its last 24
// hours (docs/operating.md, "doctor").
package doctor

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/getreditus/reditus-bridge/config"
	"github.com/getreditus/reditus-bridge/journal"
)

// Status is a check's verdict.
type Status string

// The verdicts. A fail means part of the chain is broken, so that
// conversions are lost or not made; a warn, that something needs a look but
// the chain works, or could not be checked.
const (
	OK   Status = "ok"
	Warn Status = "warn"
	Fail Status = "fail"
)

// Check is one line of the report.
type Check struct {
	Area    string `json:"check"` // configuration, journal, reditus, or a provider's name
	Status  Status `json:"status"`
	Message string `json:"message"`
}

// Report is every check, in the order they ran.
type Report struct {
	Checks []Check `json:"checks"`
}

// OK reports whether no check failed.
func (r Report) OK() bool { return r.count(Fail) == 0 }

func (r Report) count(s Status) int {
	n := 0
	for _, c := range r.Checks {
		if c.Status == s {
			n++
		}
	}
	return n
}

func (r *Report) add(area string, s Status, format string, args ...any) {
	r.Checks = append(r.Checks, Check{Area: area, Status: s, Message: fmt.Sprintf(format, args...)})
}

// WriteText writes the report a line a check, then a count.
func (r Report) WriteText(w io.Writer) {
	for _, c := range r.Checks {
		fmt.Fprintf(w, "%-5s %-14s %s\n", c.Status, c.Area, c.Message)
	}
	fmt.Fprintf(w, "%d failed, %d warnings, %d ok\n", r.count(Fail), r.count(Warn), r.count(OK))
}

// WriteJSON writes the report as one JSON object: {"ok", "failed",
// "warnings", "checks": [{"check", "status", "message"}]}.
func (r Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(struct {
		OK       bool    `json:"ok"`
		Failed   int     `json:"failed"`
		Warnings int     `json:"warnings"`
		Checks   []Check `json:"checks"`
	}{r.OK(), r.count(Fail), r.count(Warn), r.Checks})
}

// Journal is what doctor reads of the journal.
type Journal interface {
	Status(ctx context.Context) (journal.Status, error)
	// Writable makes a write and takes it back.
	Writable(ctx context.Context) error
	Summary(ctx context.Context, since time.Time) (journal.Summary, error)
}

// Prober is Reditus's client, which makes the read-only request that checks
// the API key (reditus.Client.Probe).
type Prober interface {
	Probe(ctx context.Context) (status int, err error)
}

// Deps is what a run checks, built by the caller from the configuration.
type Deps struct {
	// Config is the configuration, valid unless ConfigErr says otherwise:
	// the error the bridge would refuse to start with.
	Config    config.Config
	ConfigErr error
	// Journal is the journal, nil when it could not be opened (JournalErr).
	Journal    Journal
	JournalErr error
	Reditus    Prober
	// HTTP reaches the providers' APIs.
	HTTP *http.Client
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

// window is how far back doctor counts what the journal holds.
const window = 24 * time.Hour

// Run makes every check and returns the report. A configuration the bridge
// would refuse stops it there: nothing else can be trusted then.
func Run(ctx context.Context, d Deps) Report {
	if d.Now == nil {
		d.Now = time.Now
	}
	var r Report
	if d.ConfigErr != nil {
		r.add("configuration", Fail, "%v", d.ConfigErr)
		return r
	}
	configuration(&r, d.Config)
	summary := journalChecks(ctx, &r, d)
	reditusChecks(ctx, &r, d)
	providerChecks(ctx, &r, d, summary)
	return r
}
