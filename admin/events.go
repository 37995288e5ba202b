package admin

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/getreditus/reditus-bridge/journal"
)

const eventsUsage = `usage: reditus-bridge events [flags]
       reditus-bridge events forget --email E [--json]

Prints what the bridge did with each journaled event, and why, newest first.
With forget, erases every journaled event of the customer with the email E
instead (their records, raw bodies and attempts; the email is compared
exactly, in any case, and no character is a wildcard), and prints how many.

  --email E      the events of this email (exact, in any case)
  --event ID     the events with this delivery id (Stripe's evt_..., Svix's msg_...)
  --outcome O    only this outcome: %s
  --provider P   only this provider (stripe, clerk, ...)
  --since D      received in the last D (90m, 24h, 7d), or since a date
                 (2025-03-01, midnight UTC) or a time (RFC 3339)
  --limit N      at most N events (default %d, at most %d)
  --attention    only the events that need attention: failed, rejected,
                 queued for over an hour, skipped for an invalid field
  --json         print JSON, as GET /admin/api/events answers
  -h, --help     print this help
`

// Events runs `reditus-bridge events [flags]`: it prints the journaled events
// that match, newest first, as a table, or as JSON with --json. Emails are
// shown in full: this is the operator's own terminal. -h or --help prints the
// usage and returns flag.ErrHelp.
func Events(ctx context.Context, args []string, events Lister, stdout io.Writer) error {
	usage := fmt.Sprintf(eventsUsage, strings.Join(outcomeNames(), ", "), journal.DefaultLimit, journal.MaxLimit)
	fs := flag.NewFlagSet("events", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var q query
	fs.StringVar(&q.Email, "email", "", "")
	fs.StringVar(&q.EventID, "event", "", "")
	fs.StringVar(&q.Outcome, "outcome", "", "")
	fs.StringVar(&q.Provider, "provider", "", "")
	fs.StringVar(&q.Since, "since", "", "")
	fs.StringVar(&q.Limit, "limit", "", "")
	attention := fs.Bool("attention", false, "")
	asJSON := fs.Bool("json", false, "")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, usage)
			return err
		}
		return fmt.Errorf("events: %w (reditus-bridge events --help lists the flags)", err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("events: unexpected argument %q (reditus-bridge events --help lists the flags)", fs.Arg(0))
	}
	q.Email, q.EventID = strings.TrimSpace(q.Email), strings.TrimSpace(q.EventID)
	if *attention {
		q.Attention = "1"
	}
	f, err := q.filter(time.Now())
	var pe *paramError
	if errors.As(err, &pe) {
		flagName := strings.TrimSuffix(pe.Param, "_id") // event_id is --event
		return fmt.Errorf("events: --%s: %w", flagName, pe.Err)
	}
	if err != nil {
		return fmt.Errorf("events: %w", err)
	}
	if events == nil {
		return errors.New("events: " + errNoJournal)
	}
	recs, err := events.List(ctx, f)
	if err != nil {
		return fmt.Errorf("events: read the journal: %w", err)
	}
	if *asJSON {
		b, err := json.MarshalIndent(eventsJSON(recs), "", "  ")
		if err != nil {
			return fmt.Errorf("events: %w", err)
		}
		_, err = stdout.Write(append(escapeC1(b), '\n'))
		return err
	}
	printTable(stdout, recs, len(recs) == cmp.Or(f.Limit, journal.DefaultLimit))
	return nil
}

// reasonWidth is where a long reason is wrapped: it reads on an 80-column
// terminal after its indent.
const reasonWidth = 76

// printTable prints recs as aligned columns, each event's reason on the
// lines under it, where a long reason has room. truncated says there may be
// more than were asked for.
func printTable(w io.Writer, recs []journal.Record, truncated bool) {
	if len(recs) == 0 {
		fmt.Fprintln(w, "no events match")
		return
	}
	header := []string{"RECEIVED (UTC)", "PROVIDER", "TYPE", "EVENT ID", "OUTCOME", "ATTEMPTS", "REFERRAL ID", "EMAIL"}
	rows := make([][]string, len(recs))
	widths := make([]int, len(header))
	for i, h := range header {
		widths[i] = utf8.RuneCountInString(h)
	}
	for i, r := range recs {
		rows[i] = []string{
			r.ReceivedAt.UTC().Format(time.DateTime), r.Provider, dash(r.EventType), dash(r.DeliveryID),
			string(r.Outcome), strconv.Itoa(r.Attempts), dash(r.ReferralID), dash(r.Email),
		}
		for j, cell := range rows[i] {
			widths[j] = max(widths[j], utf8.RuneCountInString(cell))
		}
	}
	line := func(cells []string) {
		var b strings.Builder
		for j, cell := range cells {
			b.WriteString(cell)
			if j < len(cells)-1 {
				b.WriteString(strings.Repeat(" ", widths[j]-utf8.RuneCountInString(cell)+2))
			}
		}
		fmt.Fprintln(w, b.String())
	}
	line(header)
	for i, r := range recs {
		line(rows[i])
		if r.Reason != "" {
			for _, l := range wrap(shown(r.Reason, showReason), reasonWidth) {
				fmt.Fprintln(w, "    "+l)
			}
		}
	}
	n := fmt.Sprintf("%d events", len(recs))
	if len(recs) == 1 {
		n = "1 event"
	}
	if truncated {
		n += fmt.Sprintf(": the newest %d only; narrow the search, or raise --limit (at most %d)", len(recs), journal.MaxLimit)
	}
	fmt.Fprintln(w, n)
}

// dash is a cell's text: shown, and "-" when empty, so that columns stay
// readable by eye and by awk.
func dash(s string) string {
	if s == "" {
		return "-"
	}
	return shown(s, showText)
}

// wrap breaks s into lines of at most width runes at spaces; a word longer
// than width (a URL, an id) gets a line of its own, unbroken.
func wrap(s string, width int) []string {
	var lines []string
	var cur strings.Builder
	n := 0
	for _, word := range strings.Fields(s) {
		wn := utf8.RuneCountInString(word)
		if n > 0 && n+1+wn > width {
			lines = append(lines, cur.String())
			cur.Reset()
			n = 0
		}
		if n > 0 {
			cur.WriteByte(' ')
			n++
		}
		cur.WriteString(word)
		n += wn
	}
	if n > 0 {
		lines = append(lines, cur.String())
	}
	return lines
}

// escapeC1 writes the C1 control characters (U+0080 to U+009F) of JSON text b
// as \u escapes, as encoding/json does the C0 ones: a terminal acts on them
// (U+009B opens an escape sequence as ESC [ does), and a value from the
// internet must not drive the operator's terminal. They can only be inside
// strings, where the escape means the same character.
func escapeC1(b []byte) []byte {
	if !bytes.ContainsFunc(b, isC1) {
		return b
	}
	out := make([]byte, 0, len(b)+32)
	for len(b) > 0 {
		r, n := utf8.DecodeRune(b)
		if isC1(r) {
			out = fmt.Appendf(out, `\u%04x`, r)
		} else {
			out = append(out, b[:n]...)
		}
		b = b[n:]
	}
	return out
}

func isC1(r rune) bool { return r >= 0x80 && r <= 0x9f }
