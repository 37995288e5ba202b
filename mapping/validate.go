package mapping

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/getreditus/reditus-bridge/reditus"
)

// The longest value of each field that is sent to Reditus, in bytes. A gr_id
// is a UUID, so it has no limit of its own.
const (
	maxSlugBytes  = 100 // a link parameter (?red=john): a short word, never a paragraph
	maxEmailBytes = 254 // the longest address SMTP can deliver to (RFC 5321 path, less "<>")
	maxUIDBytes   = 255 // an id: generous for any provider's or app's own ids
)

// checkConversion returns the first field of c that must not be sent to
// Reditus and why, or "" when every field may be. It is the one gate every
// provider's conversion passes (convert applies it), so what reaches Reditus
// is trimmed, valid UTF-8 text, without control characters, within a length.
// The reason never quotes the value: it may be an email, or bytes that would
// garble a log line.
func CheckConversion(c reditus.Conversion) (field, why string) {
	for _, f := range []struct {
		name, value string
		check       func(string) string
	}{
		{"affiliate_slug", c.AffiliateSlug, checkSlug},
		{"advocate_slug", c.AdvocateSlug, checkSlug},
		{"gr_id", c.GrID, checkGrID},
		{"email", c.Email, checkEmail},
		{"uid", c.UID, checkUID},
	} {
		if f.value == "" {
			continue // left out of the request
		}
		if why := f.check(f.value); why != "" {
			return f.name, why
		}
	}
	return "", ""
}

func checkSlug(s string) string { return checkText(s, maxSlugBytes) }

func checkUID(s string) string { return checkText(s, maxUIDBytes) }

// checkGrID accepts a click id: the UUID that the Reditus script puts in the
// cookie's field 1 (ParseCookie refuses a cookie with anything else there).
func checkGrID(s string) string {
	if why := checkText(s, len("00000000-0000-0000-0000-000000000000")); why != "" {
		return why
	}
	if !isUUID(s) {
		return "it is not a click id (a UUID)"
	}
	return ""
}

// checkEmail accepts what looks like an address: one @ with something on each
// side, and no whitespace. Deliverability is not the bridge's to judge; a
// value that cannot be an address is most likely a mapping mistake.
func checkEmail(s string) string {
	if why := checkText(s, maxEmailBytes); why != "" {
		return why
	}
	if strings.ContainsFunc(s, unicode.IsSpace) {
		return "it contains whitespace"
	}
	switch n := strings.Count(s, "@"); n {
	case 0:
		return "it has no @"
	case 1:
	default:
		return fmt.Sprintf("it has %d @ signs, want one", n)
	}
	if local, domain, _ := strings.Cut(s, "@"); local == "" || domain == "" {
		return "nothing before or after its @"
	}
	return ""
}

// checkText is the rule for every field: trimmed, valid UTF-8, at most max
// bytes, and nothing invisible that would make two values look alike or
// break a line (control characters: C0 with NUL, DEL, C1; format characters
// such as bidi overrides and zero-width spaces; line and paragraph
// separators). U+FFFD is refused as well: Go's JSON decoder puts it where
// the body had bytes that were not UTF-8, so it marks a value that was
// mangled before the bridge saw it.
func checkText(s string, max int) string {
	switch {
	case !utf8.ValidString(s):
		return "it is not valid UTF-8"
	case len(s) > max:
		return fmt.Sprintf("it is %d bytes long, over the limit of %d", len(s), max)
	case s != strings.TrimSpace(s):
		return "it starts or ends with whitespace"
	}
	for _, r := range s {
		switch {
		case r == utf8.RuneError:
			return "it holds U+FFFD, which stands in for bytes that were not valid UTF-8"
		case unicode.In(r, unicode.Cc, unicode.Cf, unicode.Zl, unicode.Zp):
			return fmt.Sprintf("it holds the invisible control character %U", r)
		}
	}
	return ""
}
