// Package testprovider is a webhook provider that exists only in tests. A
// test registers it the way a provider's file registers itself, and nothing
// else in the bridge knows its name, so that the test proves a new provider
// needs no other edit: its route, its variables, its `check` line, its
// simulate sample and every test that iterates the registry come with it
// (README.md, "Adding a provider").
package testprovider

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/getreditus/reditus-bridge/mapping"
	"github.com/getreditus/reditus-bridge/providers"
	"github.com/getreditus/reditus-bridge/verify"
)

// Name is the provider's name: its route is /webhooks/testonly, its
// variable TESTONLY_WEBHOOK_SECRET.
const Name = "testonly"

// Event is the type of its one sample.
const Event = "user.signed_up"

// Register adds the provider to the registry until t ends, and returns it.
// No test that registers it may run in parallel with one that iterates the
// registry.
func Register(t testing.TB) providers.Provider {
	t.Helper()
	p := providers.Provider{
		Name:  Name,
		Title: "Test-only provider",
		// Paddle's form of the timestamped HMAC, under a header of its own.
		Scheme:  verify.Timestamped{Header: "TestOnly-Signature", Sep: ";", TimeKey: "ts", MACKey: "h1", Unit: time.Second, Join: ":"},
		Map:     mapEvent,
		Retries: "never: it exists only in tests",
		Samples: []providers.Sample{{
			Event: Event,
			Template: `{"id":{{json .EventID}},"type":{{json .Type}},` +
				`"user":{"id":{{json .UUID}},"email":{{json .Email}}},"metadata":{"gr_id":{{json .Cookie}}}}`,
		}},
	}
	t.Cleanup(providers.Register(p))
	return p
}

// mapEvent is the provider's mapping: pure, as every provider's must be.
func mapEvent(body []byte, _ mapping.Options) (mapping.Event, error) {
	var e struct {
		ID, Type string
		User     struct{ ID, Email string }
		Metadata mapping.Metadata
	}
	if err := json.Unmarshal(body, &e); err != nil || e.ID == "" {
		return mapping.Event{}, fmt.Errorf("%w: not a %s event", mapping.ErrInvalidPayload, Name)
	}
	who := mapping.Who{Email: e.User.Email, UID: e.User.ID, Looked: "user"}
	return mapping.Convert(mapping.Event{ID: e.ID, Type: e.Type}, who, mapping.Place{Name: "metadata", Meta: e.Metadata}), nil
}
