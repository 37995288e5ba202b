package providers_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/getreditus/reditus-bridge/mapping"
	"github.com/getreditus/reditus-bridge/providers"
	"github.com/getreditus/reditus-bridge/simulate"
)

// Every event a provider declares (Events: what connect subscribes its
// endpoint to, and doctor checks) is one its mapping handles, shown by a
// payload of that type, from its testdata or its samples, that is not
// skipped as not handled; and every payload of a type it does not declare is
// skipped as not handled. So the declared list and the mapping cannot drift
// apart: a subscribed event the bridge ignores would be traffic for nothing,
// and a handled event left out of the list would be lost silently.
func TestDeclaredEventsAreTheHandledOnes(t *testing.T) {
	for _, p := range providers.All() {
		t.Run(p.Name, func(t *testing.T) {
			for i, e := range p.Events {
				if strings.TrimSpace(e) != e || e == "" || slices.Index(p.Events, e) != i {
					t.Errorf("Events[%d] = %q: want names that are not empty, trimmed and listed once", i, e)
				}
			}
			handled := map[string]bool{}
			for _, pl := range payloads(t, p) {
				ev, err := p.Map(pl.body, mapping.Options{AcceptTestEvents: true})
				if err != nil {
					continue // an invalid payload, kept to test the refusal
				}
				declared := slices.Contains(p.Events, ev.Type)
				switch {
				case declared && !notHandled(ev):
					handled[ev.Type] = true
				case declared:
					t.Errorf("%s: type %s is declared in Events but skipped as not handled: %s", pl.name, ev.Type, ev.Skip)
				case len(p.Events) > 0 && !notHandled(ev):
					t.Errorf("%s: type %s is handled (skip %q) but not in Events %v: connect would not subscribe it", pl.name, ev.Type, ev.Skip, p.Events)
				}
			}
			for _, e := range p.Events {
				if !handled[e] {
					t.Errorf("Events names %s, but no payload in testdata/%s or its samples has that type: add one", e, p.Name)
				}
			}
		})
	}
}

// notHandled reports whether ev is skipped for its type alone
// (mapping.DoesNotConvert, mapping.NotHandled).
func notHandled(ev mapping.Event) bool {
	prefix := "event type " + ev.Type + " "
	return strings.HasPrefix(ev.Skip, prefix+"does not convert") || strings.HasPrefix(ev.Skip, prefix+"is not handled")
}

type payload struct {
	name string
	body []byte
}

// payloads are p's testdata files and its rendered samples.
func payloads(t *testing.T, p providers.Provider) []payload {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join("testdata", p.Name, "*.json"))
	var out []payload
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, payload{f, b})
	}
	for _, s := range p.Samples {
		b, err := simulate.Render(s, "events@example.com", simulate.SampleCookie, time.Now())
		if err != nil {
			t.Fatalf("sample %s: %v", s.Event, err)
		}
		out = append(out, payload{"sample " + s.Event, b})
	}
	return out
}
