package mapping

import "strconv"

// LookupKind is what a StripeLookup fetches.
type LookupKind int

// The look-ups an event can ask for. The zero value is no look-up, so that a
// StripeLookup left unset is never taken for a customer.
const (
	// LookupCustomer fetches the customer with the id.
	LookupCustomer LookupKind = iota + 1
	// LookupSubscription fetches the subscription with the id.
	LookupSubscription
	// LookupCustomerSubscriptions lists the subscriptions of the customer
	// with the id: Cashier-style apps put the referral there.
	LookupCustomerSubscriptions
)

// StripeLookup names a Stripe object to fetch for the referral data an event
// lacks.
type StripeLookup struct {
	Kind LookupKind
	ID   string // the object's id; for LookupCustomerSubscriptions, the customer's
}

// String says what is looked up, for errors and skip reasons:
// "customer cus_123", "subscriptions of customer cus_123".
func (l StripeLookup) String() string {
	switch l.Kind {
	case LookupCustomer:
		return "customer " + l.ID
	case LookupSubscription:
		return "subscription " + l.ID
	case LookupCustomerSubscriptions:
		return "subscriptions of customer " + l.ID
	default:
		return "look-up kind " + strconv.Itoa(int(l.Kind)) + " of " + l.ID
	}
}

// Found is the object l fetched, as a place to look for referral data. The
// subscriptions a LookupCustomerSubscriptions lists are each found as a
// LookupSubscription of their own id.
func (l StripeLookup) Found(md Metadata, email string) Related {
	return Related{Name: l.String() + " metadata", Metadata: md, Email: email}
}

// Missing is an object l did not find (deleted, or of the other mode), or a
// customer without subscriptions: looked at, and empty.
func (l StripeLookup) Missing() Related {
	if l.Kind == LookupCustomerSubscriptions {
		return Related{Name: l.String() + " (none)"}
	}
	return Related{Name: l.String() + " (not found)"}
}

// Related is a Stripe object fetched because an event lacked referral data.
// StripeLookup.Found and Missing make one.
type Related struct {
	Name     string // where it is, for skip reasons: "customer cus_123 metadata"
	Metadata Metadata
	Email    string // a customer's email, which a subscription event lacks
}

// NeedsLookups reports whether related objects should be fetched for the
// referral data the event lacks: the one place that decides to look further.
// Only a missing referral is worth a look; any other skip would stay one.
func (ev Event) NeedsLookups() bool { return ev.missingReferral && len(ev.Lookups) > 0 }

// WithLookups names the related objects that may hold the referral data the
// event lacks, in the order to look. Candidates without an id (a guest
// checkout has no customer) do not exist and are dropped; and an event that
// does not NeedsLookups names none, so that its log line and journal row do
// not suggest a look that was never made.
func (ev Event) WithLookups(candidates ...StripeLookup) Event {
	ev.Lookups = nil
	for _, l := range candidates {
		if l.ID != "" {
			ev.Lookups = append(ev.Lookups, l)
		}
	}
	if !ev.NeedsLookups() {
		ev.Lookups = nil
	}
	return ev
}

// WithRelated maps ev again with the related objects' metadata read after
// the event's own places, and the first related email when the event has
// none. It is how a Stripe API look-up becomes a conversion, or a skip
// reason that names every object looked at.
func (ev Event) WithRelated(related ...Related) Event {
	who := ev.who
	places := append([]Place(nil), ev.places...)
	for _, r := range related {
		places = append(places, Place{r.Name, r.Metadata})
		if who.Email == "" && r.Email != "" {
			who.Email = r.Email
		}
	}
	ev.Skip, ev.Lookups = "", nil
	return Convert(ev, who, places...)
}
