package admin

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/getreditus/reditus-bridge/journal"
)

// Erasure (GDPR art. 17): DELETE /admin/api/events?email=E and `events
// forget --email E` delete every journaled record of that customer, raw
// bodies and attempts included. The email is compared as the search compares
// it, exactly but for case: no character is a pattern, so that no request
// can erase more than one customer's events.

// forgetJSON is the erasure's answer.
type forgetJSON struct {
	Deleted int64 `json:"deleted"`
}

// forgetAPI is DELETE /admin/api/events?email=E.
func (s *server) forgetAPI(w http.ResponseWriter, r *http.Request) {
	if s.events == nil {
		writeError(w, http.StatusServiceUnavailable, errNoJournal)
		return
	}
	v := r.URL.Query()
	if err := onlyParam(v, "email"); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	email, err := erasable(v.Get("email"))
	if err != nil {
		writeError(w, http.StatusBadRequest, "email: "+err.Error())
		return
	}
	n, err := s.events.Forget(r.Context(), email)
	if err != nil {
		s.log.Error("admin: erase a customer's events", "err", err)
		writeError(w, http.StatusInternalServerError, "could not erase the events; the bridge's log says why")
		return
	}
	// The address is not logged: the point is to keep it nowhere.
	s.log.Info("admin: erased a customer's events", "deleted", n)
	writeJSON(w, http.StatusOK, forgetJSON{Deleted: n})
}

// erasable checks the email an erasure names, trimmed: an address, which
// the search could name too.
func erasable(email string) (string, error) {
	email = strings.TrimSpace(email)
	switch {
	case email == "":
		return "", errors.New("name the customer's email: ?email=jane@example.com")
	case len(email) > maxText:
		return "", fmt.Errorf("longer than %d bytes", maxText)
	case !isText(email):
		return "", errors.New(errNotText)
	case !strings.Contains(email, "@"):
		return "", errors.New("not an email address: it has no @")
	}
	return email, nil
}

// Forget runs `reditus-bridge events forget --email E [--json]`: it erases
// the customer's events and prints how many. -h or --help prints the events
// command's usage and returns flag.ErrHelp.
func Forget(ctx context.Context, args []string, events Forgetter, stdout io.Writer) error {
	fs := flag.NewFlagSet("events forget", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	email := fs.String("email", "", "")
	asJSON := fs.Bool("json", false, "")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprintf(stdout, eventsUsage, strings.Join(outcomeNames(), ", "), journal.DefaultLimit, journal.MaxLimit)
			return err
		}
		return fmt.Errorf("events forget: %w (reditus-bridge events forget --help)", err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("events forget: unexpected argument %q (reditus-bridge events forget --help)", fs.Arg(0))
	}
	e, err := erasable(*email)
	if err != nil {
		return fmt.Errorf("events forget: --email: %w", err)
	}
	if events == nil {
		return errors.New("events forget: " + errNoJournal)
	}
	n, err := events.Forget(ctx, e)
	if err != nil {
		return fmt.Errorf("events forget: %w", err)
	}
	if *asJSON {
		_, err := fmt.Fprintf(stdout, "{\"deleted\":%d}\n", n)
		return err
	}
	_, err = fmt.Fprintf(stdout, "deleted %d %s of %s\n", n, plural(int(n), "event", "events"), e)
	return err
}
