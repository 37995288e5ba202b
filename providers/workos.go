package providers

import (
	"github.com/getreditus/reditus-bridge/mapping"
	"github.com/getreditus/reditus-bridge/verify"
)

// WorkOS: user.created, "WorkOS-Signature: t=<ms>, v1=<hex>" (README.md,
// "WorkOS").
func init() {
	Register(Provider{
		Name:    "workos",
		Title:   "WorkOS",
		Scheme:  verify.WorkOS,
		Map:     mapWorkOS,
		Events:  workOSEvents,
		Retries: "every non-2xx, with backoff, for up to 3 days",
		Samples: []Sample{sample("user.created", "workos/user.created.json")},
	})
}

// workOSEvents are the events that convert.
var workOSEvents = []string{"user.created"}

// mapWorkOS maps a WorkOS user.created event. WorkOS names the type in the
// field "event" and gives every event an id of its own; the uid is the
// user's id.
func mapWorkOS(payload []byte, _ mapping.Options) (mapping.Event, error) {
	var e struct {
		ID    string `json:"id"`
		Event string `json:"event"`
		Data  struct {
			ID       string           `json:"id"`
			Email    string           `json:"email"`
			Metadata mapping.Metadata `json:"metadata"`
		} `json:"data"`
	}
	if err := mapping.Decode(payload, &e, "a WorkOS event"); err != nil {
		return mapping.Event{}, err
	}
	if e.ID == "" || e.Event == "" {
		return mapping.Event{}, mapping.Invalid("not a WorkOS event: no id or event")
	}
	ev := mapping.Event{ID: e.ID, Type: e.Event}
	if e.Event != "user.created" {
		return mapping.DoesNotConvert(ev, workOSEvents...), nil
	}
	who := mapping.Who{Email: e.Data.Email, UID: e.Data.ID, Looked: "data.email and data.id"}
	return mapping.Convert(ev, who, mapping.Place{Name: "data.metadata", Meta: e.Data.Metadata}), nil
}
