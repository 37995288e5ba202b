package mapping

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/getreditus/reditus-bridge/reditus"
)

// badText is what no field may hold, whichever it is: each value names why.
var badText = []struct{ name, value string }{
	{"NUL", "jo\x00hn"},
	{"invalid UTF-8", "jo\xffhn"},
	{"a truncated UTF-8 sequence", "jo\xc3"},
	{"U+FFFD, what JSON makes of invalid UTF-8", "jo\ufffdhn"},
	{"a line feed", "jo\nhn"},
	{"a carriage return", "jo\rhn"},
	{"a tab", "jo\thn"},
	{"an escape", "jo\x1b[31mhn"},
	{"DEL", "jo\x7fhn"},
	{"a C1 control (NEL)", "jo\u0085hn"},
	{"a line separator", "jo\u2028hn"},
	{"a right-to-left override", "jo\u202ehn"},
	{"a zero-width space", "jo\u200bhn"},
}

// overLong is one byte over each field's limit; a gr_id is a UUID.
var overLong = map[string]string{
	"affiliate_slug": strings.Repeat("a", maxSlugBytes+1),
	"advocate_slug":  strings.Repeat("a", maxSlugBytes+1),
	"gr_id":          clickAffiliate + "0",
	"email":          strings.Repeat("a", maxEmailBytes-len("@example.com")+1) + "@example.com",
	"uid":            strings.Repeat("u", maxUIDBytes+1),
}

var fields = []string{"affiliate_slug", "advocate_slug", "gr_id", "email", "uid"}

// with returns c with field set to v.
func with(c reditus.Conversion, field, v string) reditus.Conversion {
	switch field {
	case "affiliate_slug":
		c.AffiliateSlug = v
	case "advocate_slug":
		c.AdvocateSlug = v
	case "gr_id":
		c.GrID = v
	case "email":
		c.Email = v
	case "uid":
		c.UID = v
	}
	return c
}

func TestCheckConversionRefuses(t *testing.T) {
	valid := reditus.Conversion{AffiliateSlug: "john", AdvocateSlug: "jwe512", GrID: clickAffiliate, Email: "ada@example.com", UID: "usr_1"}
	if field, why := CheckConversion(valid); field != "" {
		t.Fatalf("CheckConversion(%+v) = %s: %s, want valid", valid, field, why)
	}
	for _, field := range fields {
		cases := append([]struct{ name, value string }{{"over-long", overLong[field]}}, badText...)
		if field == "email" {
			for i := range cases[1:] {
				cases[1+i].value += "@example.com"
			}
		}
		for _, tt := range cases {
			t.Run(field+"/"+tt.name, func(t *testing.T) {
				got, why := CheckConversion(with(valid, field, tt.value))
				if got != field || why == "" {
					t.Fatalf("checkConversion = %q (%s), want %s refused", got, why, field)
				}
				if !utf8.ValidString(why) || strings.Contains(why, tt.value) || strings.ContainsAny(why, "\x00\n\r\x1b\x7f\u0085\u2028\u202e\u200b\ufffd") {
					t.Errorf("the reason %q quotes the value", why)
				}
			})
		}
	}
}

func TestCheckConversionFieldRules(t *testing.T) {
	tests := []struct {
		field, value string
		ok           bool
	}{
		{"affiliate_slug", strings.Repeat("a", maxSlugBytes), true},
		{"affiliate_slug", "jürgen", true}, // a slug in another script is still text
		{"affiliate_slug", "jo hn", true},  // inner spaces are Reditus's to judge
		{"affiliate_slug", " john", false}, // convert trims; an untrimmed value is a bug
		{"uid", strings.Repeat("u", maxUIDBytes), true},
		{"uid", "auth0|5f7c8ec7c33c6c004bbafe82", true},
		{"gr_id", strings.ToUpper(clickAffiliate), true},
		{"gr_id", "rl:" + clickAffiliate, false},
		{"gr_id", "0f8fad5b-d9cb-469f-a165-70867728950g", false},
		{"email", "ada@example.com", true},
		{"email", "a.b+tag@sub.example.co.uk", true},
		{"email", "jürgen@müller.de", true},
		{"email", strings.Repeat("a", maxEmailBytes-len("@example.com")) + "@example.com", true},
		{"email", "ada.example.com", false},
		{"email", "ada@example@com", false},
		{"email", "@example.com", false},
		{"email", "ada@", false},
		{"email", "ada lovelace@example.com", false},
		{"email", "ada@exa\u00a0mple.com", false}, // a no-break space is whitespace too
	}
	for _, tt := range tests {
		t.Run(tt.field+" "+tt.value, func(t *testing.T) {
			field, why := CheckConversion(with(reditus.Conversion{}, tt.field, tt.value))
			if got := field == ""; got != tt.ok {
				t.Errorf("valid = %v (%s %s), want %v", got, field, why, tt.ok)
			}
		})
	}
}

// Through convert, the one place every provider's conversion is made: an
// invalid field skips the event, and the reason names the field, where it
// was found and why, without quoting it.
func TestInvalidFieldsSkip(t *testing.T) {
	type input struct {
		who  Who
		meta Metadata
	}
	// build makes an event's input that has the bad value in field.
	build := func(field, bad string) input {
		in := input{Who{Email: "ada@example.com", UID: "usr_1", Looked: "email and uid"}, Metadata{}}
		switch field {
		case "affiliate_slug":
			in.meta["RED"] = bad
		case "advocate_slug":
			in.meta["refby"] = bad
		case "gr_id":
			// The cookie's own rules refuse a value like this, so it never
			// becomes a gr_id; with no other referral data, the event is
			// skipped for want of one.
			in.meta["gr_id"] = "rl:" + bad + "::pk:::john:::sid:affiliate"
		case "email":
			in.meta["red"] = "john"
			in.who.Email = bad
		case "uid":
			in.meta["red"] = "john"
			in.who.UID = bad
		}
		return in
	}
	wantIn := map[string]string{
		"affiliate_slug": "invalid affiliate_slug (RED in the body)",
		"advocate_slug":  "invalid advocate_slug (refby in the body)",
		"gr_id":          "(gr_id in the body: not a Reditus _gr_id cookie",
		"email":          "invalid email (looked at email and uid)",
		"uid":            "invalid uid (looked at email and uid)",
	}
	for _, field := range fields {
		cases := append([]struct{ name, value string }{{"over-long", overLong[field]}}, badText...)
		for _, tt := range cases {
			t.Run(field+"/"+tt.name, func(t *testing.T) {
				in := build(field, tt.value)
				ev := Convert(Event{}, in.who, Place{"the body", in.meta})
				if ev.Skip == "" {
					t.Fatalf("sent %+v, want skipped", ev.Conversion)
				}
				if ev.Conversion != (reditus.Conversion{}) {
					t.Errorf("skipped with a conversion: %+v", ev.Conversion)
				}
				if !strings.Contains(ev.Skip, wantIn[field]) {
					t.Errorf("reason %q, want it to contain %q", ev.Skip, wantIn[field])
				}
				if !utf8.ValidString(ev.Skip) || strings.Contains(ev.Skip, tt.value) || strings.ContainsRune(ev.Skip, 0) {
					t.Errorf("the reason %q quotes the value", ev.Skip)
				}
			})
		}
	}
}

// An invalid explicit slug skips the event: it does not fall back to the
// cookie's slug, nor to a valid one in a less trusted place.
func TestInvalidExplicitSlugDoesNotFallBack(t *testing.T) {
	who := Who{Email: "ada@example.com", Looked: "email"}
	validCookie := "rl:" + clickAffiliate + "::pk:::mary:::sid:affiliate"
	tests := []struct {
		name     string
		places   []Place
		wantSkip string
	}{
		{"the cookie's slug", []Place{{"customer metadata", Metadata{"red": "jo\x00hn", "gr_id": validCookie}}},
			"invalid affiliate_slug (red in customer metadata)"},
		{"a slug in a later place", []Place{
			{"public_metadata", Metadata{"Affiliate_Slug": "jo\ufffdhn"}},
			{"unsafe_metadata", Metadata{"affiliate_slug": "mary"}},
		}, "invalid affiliate_slug (Affiliate_Slug in public_metadata)"},
		{"the cookie's slug for a bad advocate", []Place{{"the body", Metadata{"refby": strings.Repeat("x", 101), "gr_id": validCookie}}},
			"invalid advocate_slug (refby in the body): it is 101 bytes long"},
		{"a cookie's over-long slug", []Place{{"the body", Metadata{"gr_id": "rl:" + clickAffiliate + "::pk:::" + strings.Repeat("x", 101) + ":::sid:affiliate"}}},
			"invalid affiliate_slug (the gr_id cookie in the body): it is 101 bytes long"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev := Convert(Event{}, who, tt.places...)
			if !strings.HasPrefix(ev.Skip, tt.wantSkip) {
				t.Errorf("skip %q, conversion %+v; want a skip starting %q", ev.Skip, ev.Conversion, tt.wantSkip)
			}
		})
	}
}

// Values are sent trimmed, wherever they came from.
func TestFieldsAreTrimmed(t *testing.T) {
	ev := Convert(Event{},
		Who{Email: " ada@example.com\n", UID: "\tusr_1 ", Looked: "email and uid"},
		Place{"the body", Metadata{"red": " john ", "gr_id": " " + clickAffiliate + "\n"}})
	want := reditus.Conversion{AffiliateSlug: "john", GrID: clickAffiliate, Email: "ada@example.com", UID: "usr_1"}
	if ev.Skip != "" || ev.Conversion != want {
		t.Errorf("got %+v (skip %q), want %+v", ev.Conversion, ev.Skip, want)
	}
}
