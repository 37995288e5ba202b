// Package mapping is the vocabulary every provider's mapping is written in
// (each provider's own lives in its file in providers/): the Event a payload
// becomes, the metadata keys and their aliases, Convert, which turns what a
// provider found into a Reditus conversion or the reason none is sent, the
// _gr_id cookie, the checks every field passes, and the Stripe look-ups that
// may complete an event. It is pure: no I/O, no clock, no logging.
package mapping

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/getreditus/reditus-bridge/outcome"
	"github.com/getreditus/reditus-bridge/reditus"
)

// ErrInvalidPayload is returned for a body that is signed but cannot be read
// as the provider's event.
var ErrInvalidPayload = outcome.New(outcome.InvalidPayload, "invalid payload")

// Options changes how events are mapped, per provider.
type Options struct {
	// AcceptTestEvents forwards the provider's test-mode events, which are
	// otherwise skipped so that a test-mode checkout never pays a
	// commission ({NAME}_ACCEPT_TEST_EVENTS).
	AcceptTestEvents bool
}

// Event is what a mapping function makes of one webhook: a conversion to
// send, or the reason to skip it.
type Event struct {
	ID   string // the provider's event id; a dedupe key when the delivery has none
	Type string

	Conversion reditus.Conversion // sent when it is not zero and Skip is empty
	Skip       string             // why nothing is sent, for a person to act on
	// Unhandled: skipped for its type, which the provider's mapping has no
	// use for (DoesNotConvert, NotHandled). No configuration makes it
	// convert, so nothing ever runs it again.
	Unhandled bool

	// What the event reports besides a conversion, for processors Reditus
	// has no connector for: at most one of them, sent after the Conversion.
	// Reditus matches it to the referral by uid or email, so it is sent
	// whether or not this event carries referral data.
	Payment *reditus.Payment
	Refund  *reditus.Refund
	Churn   *reditus.Churn
	// Note says why a money event's conversion is not sent (no referral
	// data in it), for the log and the journal.
	Note string

	// Lookups names the related Stripe objects that may hold the referral
	// data this event lacks, in the order to look. Only Stripe's mapping
	// sets it (WithLookups), and only when NeedsLookups.
	Lookups []StripeLookup

	// What convert was given, so that WithRelated can map the event again.
	who             Who
	places          []Place
	missingReferral bool
}

// Email is the customer's email, wherever the event has it: for the
// journal, so that an operator can find the event by it.
func (ev Event) Email() string {
	switch {
	case ev.Conversion.Email != "":
		return ev.Conversion.Email
	case ev.Payment != nil:
		return ev.Payment.ReferralEmail
	case ev.Churn != nil:
		return ev.Churn.ReferralEmail
	}
	return ev.who.Email
}

// UID is the customer's uid wherever the event has it, like Email: for the
// journal, which keeps a customer's money events in order.
func (ev Event) UID() string {
	switch {
	case ev.Conversion.UID != "":
		return ev.Conversion.UID
	case ev.Payment != nil:
		return ev.Payment.ReferralUID
	case ev.Churn != nil:
		return ev.Churn.ReferralUID
	}
	return ev.who.UID
}

// PaymentKey is the idempotency key of the payment the event pays or
// refunds, "" for none: a refund must not reach Reditus before its payment.
func (ev Event) PaymentKey() string {
	switch {
	case ev.Payment != nil:
		return ev.Payment.IdempotencyKey
	case ev.Refund != nil:
		return ev.Refund.PaymentID
	}
	return ""
}

// Money reports whether the event sends a payment, refund or churn.
func (ev Event) Money() bool { return ev.Payment != nil || ev.Refund != nil || ev.Churn != nil }

// WithMoney adds a payment, refund or churn (set exactly one) to the event.
// An event that was skipped for want of referral data still reports it:
// the customer may have been referred by an earlier conversion (a signup),
// and Reditus answers "not referred" otherwise. The conversion is then not
// sent, and the skip reason becomes the Note.
func (ev Event) WithMoney(p *reditus.Payment, r *reditus.Refund, c *reditus.Churn) Event {
	ev.Payment, ev.Refund, ev.Churn = p, r, c
	if ev.Skip != "" && ev.missingReferral {
		ev.Note, ev.Skip, ev.Conversion = "no conversion: "+ev.Skip, "", reditus.Conversion{}
	}
	return ev
}

// MissingReferral reports whether the event was skipped for want of referral
// data: the one skip that a look at related objects can undo.
func (ev Event) MissingReferral() bool { return ev.missingReferral }

// The metadata keys the bridge reads, each with its aliases, canonical name
// first (docs/referral.md, "The metadata keys"). Keys match ASCII case-insensitively; lookup
// says which spelling wins.
var (
	KeysGrID          = []string{"gr_id", "_gr_id", "reditus_gr_id"}
	KeysAffiliateSlug = []string{"affiliate_slug", "reditus_affiliate_slug", "red"}
	KeysAdvocateSlug  = []string{"advocate_slug", "reditus_advocate_slug", "refby"}
	KeysUserID        = []string{"user_id"}
	KeysEmail         = []string{"email"} // the generic endpoint's body
	KeysUID           = []string{"uid"}   // the generic endpoint's body
)

// Metadata is a provider's free-form metadata map. Only string values are
// read: a site stores the cookie and slugs as strings, and anything else under
// those keys is not something the bridge can interpret.
type Metadata map[string]any

// Get returns the first non-empty string value under keys (see lookup).
func (m Metadata) Get(keys []string) string {
	v, _ := m.lookup(keys)
	return v
}

// lookup returns the first non-empty string value under keys (trimmed), and
// the key it was under. The order is fixed, so that a redelivered event maps
// as it did the first time whatever Go's map order: for each of keys in turn,
// the exact key, then its other spellings in byte order ("RED" before "Red"
// before "rED"), then the next of keys. Only ASCII letters fold: "ſ" (U+017F)
// is not an "s", whatever strings.EqualFold says, because a key that merely
// looks like one of ours was not written by a site following the README.
func (m Metadata) lookup(keys []string) (value, key string) {
	for _, want := range keys {
		if s := text(m[want]); s != "" {
			return s, want
		}
		for k, v := range m {
			if k == want || !equalFoldASCII(k, want) || (key != "" && k > key) {
				continue
			}
			if s := text(v); s != "" {
				value, key = s, k
			}
		}
		if key != "" {
			return value, key
		}
	}
	return "", ""
}

// text is v trimmed when it is a string, else "".
func text(v any) string {
	s, _ := v.(string)
	return strings.TrimSpace(s)
}

// equalFoldASCII reports whether a and b are equal when ASCII letters are
// folded to lower case.
func equalFoldASCII(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		if lowerASCII(a[i]) != lowerASCII(b[i]) {
			return false
		}
	}
	return true
}

func lowerASCII(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// Place is one map in a payload where a site may have stored referral data;
// Name says where, for skip reasons ("customer metadata").
type Place struct {
	Name string
	Meta Metadata
}

// Who is who converted: at least one of the two is needed.
type Who struct {
	Email, UID string
	Looked     string // where they were looked for, for the skip reason
}

// Convert combines the referral data found in places (most trusted first)
// with the converting user into a conversion, or explains what was missing
// (findReferral says which data wins). Every field is trimmed and then
// checked (CheckConversion); an invalid one skips the event.
func Convert(ev Event, who Who, places ...Place) Event {
	who.Email, who.UID = strings.TrimSpace(who.Email), strings.TrimSpace(who.UID)
	ev.who, ev.places, ev.missingReferral = who, places, false
	f := findReferral(places)
	c := reditus.Conversion{
		AffiliateSlug: f.ref.AffiliateSlug,
		AdvocateSlug:  f.ref.AdvocateSlug,
		Email:         who.Email,
		UID:           who.UID,
		GrID:          f.ref.GrID,
	}

	switch field, why := CheckConversion(c); {
	case !f.ref.hasSlug() && f.ref.GrID == "":
		ev.Skip = "no Reditus referral data: looked for gr_id/affiliate_slug/advocate_slug in " + names(places)
		ev.missingReferral = true
	case !f.ref.hasSlug():
		ev.Skip = fmt.Sprintf("no affiliate or advocate slug: the gr_id in %s is a bare click id, and no affiliate_slug/advocate_slug was found in %s", f.cookieFrom, names(places))
		ev.missingReferral = true
	case field != "":
		ev.Skip = fmt.Sprintf("invalid %s (%s): %s; nothing was sent in its place", field, f.from(field, who), why)
	case who.Email == "" && who.UID == "":
		ev.Skip = "no email or user id: looked at " + who.Looked
	default:
		ev.Conversion = c
		return ev
	}
	if len(f.problems) > 0 {
		ev.Skip += " (" + strings.Join(f.problems, "; ") + ")"
	}
	return ev
}

// found is the referral data read from an event's places, and where each
// part of it was, for skip reasons.
type found struct {
	ref                         Referral
	affiliateFrom, advocateFrom string
	cookieFrom                  string   // the place's name
	cookieKey                   string   // the key it was under, and the place
	explicit                    bool     // the slugs are explicit, not the cookie's
	problems                    []string // cookies that could not be read
}

// findReferral reads the referral data in places, most trusted first. An
// explicit slug wins over the cookie's, and then the cookie contributes only
// its click id: the site chose that slug on purpose. The first place's slug
// wins even when it is invalid: CheckConversion then skips the event rather
// than fall back to the cookie's or a later place's, since a value that looks
// forged must not quietly credit another affiliate.
func findReferral(places []Place) found {
	var f found
	var explicit, cookie Referral
	for _, p := range places {
		if explicit.AffiliateSlug == "" {
			if v, key := p.Meta.lookup(KeysAffiliateSlug); v != "" {
				explicit.AffiliateSlug, f.affiliateFrom = v, key+" in "+p.Name
			}
		}
		if explicit.AdvocateSlug == "" {
			if v, key := p.Meta.lookup(KeysAdvocateSlug); v != "" {
				explicit.AdvocateSlug, f.advocateFrom = v, key+" in "+p.Name
			}
		}
		if f.cookieFrom != "" {
			continue
		}
		if raw, key := p.Meta.lookup(KeysGrID); raw != "" {
			c, err := ParseCookie(raw)
			if err != nil {
				f.problems = append(f.problems, fmt.Sprintf("gr_id in %s: %v", p.Name, err))
				continue
			}
			cookie, f.cookieFrom, f.cookieKey = c, p.Name, key+" in "+p.Name
		}
	}
	f.ref, f.explicit = explicit, explicit.hasSlug()
	if !f.explicit {
		f.ref = cookie
		f.affiliateFrom, f.advocateFrom = "the gr_id cookie in "+f.cookieFrom, "the gr_id cookie in "+f.cookieFrom
	}
	f.ref.GrID = cookie.GrID
	return f
}

// from says where the conversion's field came from, for a skip reason.
func (f found) from(field string, who Who) string {
	switch field {
	case "affiliate_slug":
		return f.affiliateFrom
	case "advocate_slug":
		return f.advocateFrom
	case "gr_id":
		return "gr_id in " + f.cookieFrom
	default: // email, uid
		return "looked at " + who.Looked
	}
}

// Field is one piece of referral data found in an event, and where it was:
// what /admin's event page shows beside what was sent.
type Field struct {
	Name  string // affiliate_slug, advocate_slug, gr_id, email or uid
	Value string // as found, trimmed; it may be one that was refused
	// From says where: the key and the map ("red in customer metadata"),
	// or, for email and uid, where the mapping looks for them.
	From string
}

// Found is the referral data the mapping found in ev, each field with where
// it was, in the order of a conversion's fields: what decided the
// conversion, or the skip. Only fields with a value are listed.
func (ev Event) Found() []Field {
	f := findReferral(ev.places)
	who := ev.who
	affiliateFrom, advocateFrom := f.affiliateFrom, f.advocateFrom
	if !f.explicit {
		affiliateFrom = "the gr_id cookie (" + f.cookieKey + ")"
		advocateFrom = affiliateFrom
	}
	var out []Field
	for _, fl := range []Field{
		{"affiliate_slug", f.ref.AffiliateSlug, affiliateFrom},
		{"advocate_slug", f.ref.AdvocateSlug, advocateFrom},
		{"gr_id", f.ref.GrID, f.cookieKey},
		{"email", who.Email, "one of " + who.Looked},
		{"uid", who.UID, "one of " + who.Looked},
	} {
		if fl.Value != "" {
			out = append(out, fl)
		}
	}
	return out
}

// names lists the places' names for a skip reason: "a, b and c".
func names(places []Place) string {
	out := make([]string, len(places))
	for i, p := range places {
		out[i] = p.Name
	}
	switch len(out) {
	case 0:
		return "nothing"
	case 1:
		return out[0]
	default:
		return strings.Join(out[:len(out)-1], ", ") + " and " + out[len(out)-1]
	}
}

// DoesNotConvert skips an event of a type the bridge does not convert,
// naming the ones it does, so that a person can fix the webhook's selection.
func DoesNotConvert(ev Event, converts ...string) Event {
	ev.Skip = "event type " + ev.Type + " does not convert; the bridge converts " + strings.Join(converts, ", ")
	ev.Unhandled = true
	return ev
}

// Invalid is an ErrInvalidPayload that says what is wrong with the payload.
func Invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalidPayload, fmt.Sprintf(format, args...))
}

// Decode unmarshals a provider payload, or says what it was expected to be.
func Decode(payload []byte, v any, what string) error {
	if err := json.Unmarshal(payload, v); err != nil {
		return Invalid("not %s: %v", what, err)
	}
	return nil
}
