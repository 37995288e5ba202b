package admin_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/getreditus/reditus-bridge/admin"
	"github.com/getreditus/reditus-bridge/journal"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

func runEvents(t *testing.T, lister admin.Lister, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	err := admin.Events(context.Background(), args, lister, &out)
	return out.String(), err
}

// The table, as README.md shows it: aligned columns, each reason under its
// event, long ones wrapped.
func TestEventsTable(t *testing.T) {
	store := openJournal(t, fixture...)
	got, err := runEvents(t, store)
	if err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "events.txt")
	if *update {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (go test ./admin -run TestEventsTable -update writes it)", err)
	}
	if got != string(want) {
		t.Errorf("got:\n%s\nwant (%s):\n%s", got, golden, want)
	}
	for _, line := range strings.Split(got, "\n") {
		if n := len([]rune(line)); strings.HasPrefix(line, "    ") && n > 80 {
			t.Errorf("a reason line of %d characters, want at most 80: %q", n, line)
		}
	}
}

// jsonIDs are the ids of `events --json` output.
func jsonIDs(t *testing.T, out string) []int64 {
	t.Helper()
	var got struct{ Events []struct{ ID int64 } }
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	ids := []int64{}
	for _, e := range got.Events {
		ids = append(ids, e.ID)
	}
	return ids
}

func TestEventsFlags(t *testing.T) {
	store := openJournal(t, fixture...)
	for _, tc := range []struct {
		args []string
		want []int64
	}{
		{nil, ids(6, 5, 4, 3, 2, 1)},
		{[]string{"--email", "JANE@EXAMPLE.COM"}, ids(3, 1)},
		{[]string{"--email=jane@example.com"}, ids(3, 1)},
		{[]string{"-email", "jane@example.com"}, ids(3, 1)},
		{[]string{"--event", "msg_bob_1"}, ids(2)},
		{[]string{"--outcome", "queued"}, ids(3)},
		{[]string{"--provider", "stripe"}, ids(6, 4, 1)},
		{[]string{"--since", "2025-03-03"}, ids(6, 5, 4, 3, 2)},
		{[]string{"--since", "2025-03-04T10:15:00Z"}, ids(6, 5)},
		{[]string{"--limit", "2"}, ids(6, 5)},
		{[]string{"--provider", "stripe", "--email", "x@example.com"}, ids(6)},
		{[]string{"--email", "nobody@example.com"}, ids()},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			out, err := runEvents(t, store, append(tc.args, "--json")...)
			if err != nil {
				t.Fatal(err)
			}
			if got := jsonIDs(t, out); !slices.Equal(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

// --json prints what the API answers.
func TestEventsJSONIsTheAPIs(t *testing.T) {
	s := newSite(t, fixture...)
	_, api := s.get(t, "/admin/api/events?email=jane%40example.com")
	out, err := runEvents(t, s.store, "--json", "--email", "jane@example.com")
	if err != nil {
		t.Fatal(err)
	}
	var a, b any
	if err := json.Unmarshal([]byte(api), &a); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(out), &b); err != nil {
		t.Fatal(err)
	}
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	if !bytes.Equal(ja, jb) {
		t.Errorf("events --json:\n%s\nthe API:\n%s", jb, ja)
	}
}

// recorder is a journal that records the filter it is asked for.
type recorder struct{ got []journal.Filter }

func (r *recorder) List(_ context.Context, f journal.Filter) ([]journal.Record, error) {
	r.got = append(r.got, f)
	return nil, nil
}

func TestEventsSinceDuration(t *testing.T) {
	for _, tc := range []struct {
		since string
		back  time.Duration
	}{
		{"90m", 90 * time.Minute},
		{"24h", 24 * time.Hour},
		{"7d", 7 * 24 * time.Hour},
	} {
		t.Run(tc.since, func(t *testing.T) {
			r := &recorder{}
			before := time.Now()
			if _, err := runEvents(t, r, "--since", tc.since); err != nil {
				t.Fatal(err)
			}
			after := time.Now()
			if len(r.got) != 1 {
				t.Fatalf("List called %d times", len(r.got))
			}
			if got := r.got[0].Since; got.Before(before.Add(-tc.back)) || got.After(after.Add(-tc.back)) {
				t.Errorf("since %s: got %v, want %v back from now (%v)", tc.since, got, tc.back, before)
			}
		})
	}
}

func TestEventsBadFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string // in the error
	}{
		{[]string{"--limit", "0"}, "--limit"},
		{[]string{"--limit", "1001"}, "--limit"},
		{[]string{"--limit", "many"}, "--limit"},
		{[]string{"--since", "soon"}, "--since"},
		{[]string{"--since", "-7d"}, "--since"},
		{[]string{"--outcome", "Not An Outcome"}, "--outcome"},
		{[]string{"--event", strings.Repeat("e", 1001)}, "--event"},
		{[]string{"--mail", "jane@example.com"}, "flag provided but not defined: -mail"},
		{[]string{"jane@example.com"}, `unexpected argument "jane@example.com"`},
		{[]string{"--json", "extra"}, `unexpected argument "extra"`},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			r := &recorder{}
			_, err := runEvents(t, r, tc.args...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one that names %q", err, tc.want)
			}
			if len(r.got) != 0 {
				t.Errorf("the journal was read despite a bad flag")
			}
		})
	}
}

func TestEventsHelp(t *testing.T) {
	for _, arg := range []string{"-h", "--help", "-help"} {
		t.Run(arg, func(t *testing.T) {
			r := &recorder{}
			out, err := runEvents(t, r, arg)
			if !errors.Is(err, flag.ErrHelp) {
				t.Errorf("error %v, want flag.ErrHelp", err)
			}
			contains(t, "the usage", out, "usage: reditus-bridge events", "--email", "--event", "--outcome", "--provider", "--since", "--limit", "--json", "-h, --help", "skipped")
			if len(r.got) != 0 {
				t.Errorf("--help read the journal")
			}
		})
	}
	// Every flag the usage names is one the command takes.
	usage, _ := runEvents(t, &recorder{}, "--help")
	flags := regexp.MustCompile(`(?m)^  --(\w+)`).FindAllStringSubmatch(usage, -1)
	if len(flags) != 8 {
		t.Errorf("the usage lists %d flags, want 8:\n%s", len(flags), usage)
	}
	values := map[string]string{"email": "a@b.c", "event": "evt_1", "outcome": "queued", "provider": "stripe", "since": "24h", "limit": "5"}
	for _, m := range flags {
		args := []string{"--" + m[1]}
		if v, ok := values[m[1]]; ok {
			args = append(args, v)
		}
		if _, err := runEvents(t, &recorder{}, args...); err != nil {
			t.Errorf("%v, a flag the usage names: %v", args, err)
		}
	}
}

func TestEventsEmpty(t *testing.T) {
	out, err := runEvents(t, openJournal(t))
	if err != nil || out != "no events match\n" {
		t.Errorf("got %q, %v; want \"no events match\"", out, err)
	}
	out, err = runEvents(t, openJournal(t), "--json")
	if err != nil || strings.TrimSpace(out) != `{
  "events": []
}` {
		t.Errorf("--json: got %q, %v; want an empty list", out, err)
	}
}

// A value from the internet must not drive the operator's terminal: an
// escape sequence in a reason or an email is printed as its code points.
func TestEventsTerminalEscapes(t *testing.T) {
	store := openJournal(t, event{provider: "stripe", deliveryID: "evt_\x1b]0;owned\x07", email: "a\x1b[2Jb@example.com",
		outcome: "rejected", reason: "slug \x1b[31mred\x1b[0m\r\nFAKE LINE \u202eevil"})
	out, err := runEvents(t, store)
	if err != nil {
		t.Fatal(err)
	}
	if strings.ContainsAny(out, "\x1b\x07\r\u202e") {
		t.Errorf("raw control characters in the output:\n%q", out)
	}
	contains(t, "the output", out, "a[U+001B][2Jb@example.com", "evt_[U+001B]]0;owned[U+0007]",
		"slug [U+001B][31mred[U+001B][0m[U+000D][U+000A]FAKE LINE [U+202E]evil")
}

// --json escapes the C1 control characters as it does the C0 ones: U+009B
// is a terminal's CSI, as ESC [ is. The JSON still reads back as the value.
func TestEventsJSONEscapesControlCharacters(t *testing.T) {
	reason := "slug \u009b31mred\u009b0m \u0085next \x1b[2J \u0080\u009f é"
	store := openJournal(t, event{provider: "stripe", deliveryID: "evt_\u009d0;owned\u009c", email: "a\u009bb@example.com",
		outcome: "rejected", reason: reason})
	out, err := runEvents(t, store, "--json")
	if err != nil {
		t.Fatal(err)
	}
	if strings.ContainsFunc(out, func(r rune) bool { return r < 0x20 && r != '\n' || r >= 0x7f && r <= 0x9f }) {
		t.Errorf("raw control characters in the output:\n%q", out)
	}
	contains(t, "the output", out, `\u009b31mred`, `\u0085next`, `\u001b[2J`, `\u0080\u009f é`)
	var got struct {
		Events []struct {
			Reason, Email string
			DeliveryID    string `json:"delivery_id"`
		}
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil || len(got.Events) != 1 {
		t.Fatalf("%v: %s", err, out)
	}
	if e := got.Events[0]; e.Reason != reason || e.Email != "a\u009bb@example.com" || e.DeliveryID != "evt_\u009d0;owned\u009c" {
		t.Errorf("read back %+v, want the values journaled", e)
	}
}

func TestEventsJournalError(t *testing.T) {
	_, err := runEvents(t, failing{})
	if !errors.Is(err, errBoom) {
		t.Errorf("error %v, want it to wrap the journal's", err)
	}
	if _, err := runEvents(t, nil); err == nil {
		t.Error("no journal: no error")
	}
}
