package providers

import (
	"cmp"
	"strings"

	"github.com/getreditus/reditus-bridge/mapping"
	"github.com/getreditus/reditus-bridge/verify"
)

// Generic: anything that can send a Standard Webhooks delivery, with a flat
// body or the Standard Webhooks envelope (README.md, "Generic endpoint").
func init() {
	Register(Provider{
		Name:       "generic",
		Title:      "Generic endpoint",
		Scheme:     verify.StandardWebhooks,
		DeliveryID: verify.SvixID,
		Map:        mapGeneric,
		Retries:    "as your sender does (Standard Webhooks libraries retry with backoff)",
		Samples: []Sample{
			sample("conversion", "generic/conversion.json"),
			sample("user.created", "generic/envelope.json"),
		},
	})
}

// mapGeneric maps the generic endpoint's body: the flat object {email, uid,
// gr_id, affiliate_slug, advocate_slug} that any backend can send, or the
// Standard Webhooks envelope {type, timestamp, data} with those fields under
// data, as senders built on a Standard Webhooks library emit it.
//
// A body whose data is a JSON object is an envelope. Its fields are read from
// data, then from the top level: the spec lets a sender "squash" data into
// the top-level object, and a flat body that carries an object of its own
// under data must keep converting from its top-level fields. Where both
// levels hold one of the bridge's keys, data's wins. A data that is not an
// object is not an envelope, and is ignored as before.
//
// The event type is the body's type when it is a string, for the log and the
// answer; every type converts, since the sender chooses what it sends.
func mapGeneric(payload []byte, _ mapping.Options) (mapping.Event, error) {
	var body mapping.Metadata
	if err := mapping.Decode(payload, &body, "a JSON object"); err != nil {
		return mapping.Event{}, err
	}
	if body == nil {
		return mapping.Event{}, mapping.Invalid("not a JSON object")
	}
	ev := mapping.Event{Type: "conversion"}
	if t, ok := body["type"].(string); ok && strings.TrimSpace(t) != "" {
		ev.Type = strings.TrimSpace(t)
	}
	data, ok := body["data"].(map[string]any)
	if !ok {
		who := mapping.Who{Email: body.Get(mapping.KeysEmail), UID: body.Get(mapping.KeysUID), Looked: "email and uid"}
		return mapping.Convert(ev, who, mapping.Place{Name: "the body", Meta: body}), nil
	}
	inner := mapping.Metadata(data)
	who := mapping.Who{
		Email:  cmp.Or(inner.Get(mapping.KeysEmail), body.Get(mapping.KeysEmail)),
		UID:    cmp.Or(inner.Get(mapping.KeysUID), body.Get(mapping.KeysUID)),
		Looked: "data.email, data.uid, email and uid",
	}
	return mapping.Convert(ev, who, mapping.Place{Name: "data", Meta: inner}, mapping.Place{Name: "the top level", Meta: body}), nil
}
