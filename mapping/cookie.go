package mapping

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"unicode"
	"unicode/utf8"
)

// ErrNotCookie is returned by ParseCookie for a value that is neither a
// Reditus _gr_id cookie nor a click id.
var ErrNotCookie = errors.New("not a Reditus _gr_id cookie or click id")

// ClientReferencePrefix starts a _gr_id cookie carried in a Stripe
// client_reference_id, which allows only letters, digits, '-' and '_'.
const ClientReferencePrefix = "gr_"

// The fields of a _gr_id cookie that the bridge reads (docs/referral.md, "The cookie").
const (
	cookieFields         = 11
	fieldClickID         = 1
	fieldSlug            = 6
	fieldCompetitorSlug  = 7
	fieldProgramType     = 10
	programTypeReferrals = "referral"
)

// Referral is what a visitor's click says about who referred them.
type Referral struct {
	GrID          string // the click id
	AffiliateSlug string
	AdvocateSlug  string
}

func (r Referral) hasSlug() bool { return r.AffiliateSlug != "" || r.AdvocateSlug != "" }

// ParseCookie decodes a _gr_id cookie value: raw or percent-encoded, a bare
// click id (a UUID), or the client_reference_id form ("gr_" + base64url).
// Field 1, the click id, is empty or a UUID. Field 6 is the advocate slug in
// a referral program and the affiliate slug otherwise; when it is empty the
// competitor slug (field 7) is the affiliate slug.
func ParseCookie(value string) (Referral, error) {
	v := strings.TrimSpace(value)
	if strings.HasPrefix(v, ClientReferencePrefix) {
		decoded, err := base64.RawURLEncoding.DecodeString(v[len(ClientReferencePrefix):])
		if err != nil {
			return Referral{}, fmt.Errorf("%w: %s... is not base64url", ErrNotCookie, ClientReferencePrefix)
		}
		v = string(decoded)
	}
	if strings.Contains(v, "%") {
		unescaped, err := url.PathUnescape(v)
		if err != nil {
			return Referral{}, fmt.Errorf("%w: bad percent-encoding", ErrNotCookie)
		}
		v = unescaped
	}
	// A cookie is printable text; anything else would reach Reditus mangled.
	if !utf8.ValidString(v) || strings.ContainsFunc(v, unicode.IsControl) {
		return Referral{}, fmt.Errorf("%w: not printable text", ErrNotCookie)
	}
	if isUUID(v) {
		return Referral{GrID: v}, nil
	}

	fields := strings.Split(v, ":")
	if len(fields) != cookieFields {
		return Referral{}, fmt.Errorf("%w: %d colon-separated fields, want %d", ErrNotCookie, len(fields), cookieFields)
	}
	for i := range fields {
		fields[i] = strings.TrimSpace(fields[i])
	}
	ref := Referral{GrID: fields[fieldClickID]}
	// The script writes a UUID there; anything else was not written by it,
	// and would reach Reditus as a click id that matches nothing.
	if ref.GrID != "" && !isUUID(ref.GrID) {
		return Referral{}, fmt.Errorf("%w: its click id (field %d) is not a UUID", ErrNotCookie, fieldClickID)
	}
	switch slug := fields[fieldSlug]; {
	case slug == "":
		ref.AffiliateSlug = fields[fieldCompetitorSlug]
	case fields[fieldProgramType] == programTypeReferrals:
		ref.AdvocateSlug = slug
	default:
		ref.AffiliateSlug = slug
	}
	if ref.GrID == "" && !ref.hasSlug() {
		return Referral{}, fmt.Errorf("%w: it has neither a click id nor a slug", ErrNotCookie)
	}
	return ref, nil
}

// ClientReferenceID encodes a _gr_id cookie value for a Stripe
// client_reference_id. ParseCookie reverses it.
func ClientReferenceID(cookie string) string {
	return ClientReferencePrefix + base64.RawURLEncoding.EncodeToString([]byte(cookie))
}

// isUUID reports whether s has the 8-4-4-4-12 hex form of a UUID.
func isUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
				return false
			}
		}
	}
	return true
}
