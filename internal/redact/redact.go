// Package redact masks email addresses in text that reaches a log line or an
// error: enough stays for the address's owner to recognise it
// ("j***@example.com"), never the address itself (docs/decisions.md, "The journal keeps whole emails; the logs never do").
package redact

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// Email masks one address: "jane@example.com" becomes "j***@example.com".
// A value without a local part before its '@' is masked whole, since it is
// not known which part of it identifies someone.
func Email(email string) string {
	if email == "" {
		return ""
	}
	local, domain, ok := strings.Cut(email, "@")
	if !ok || local == "" {
		return "***"
	}
	_, first := utf8.DecodeRuneInString(local)
	return local[:first] + "***@" + domain
}

// Emails masks every email-looking substring of text as Email does, and
// leaves the rest as it was, so that a sentence such as Reditus's "referral
// jane@example.com already exists" stays readable. An '@' counts as part of an
// address when a local part (letters, digits, ".", "_", "%", "+", "-") comes
// right before it and a domain starting with a letter or digit right after it.
// Every '@' it masks gets "***" just before it, so no address survives whole
// however the text around it is punctuated.
func Emails(text string) string {
	if !strings.Contains(text, "@") {
		return text
	}
	var out strings.Builder
	out.Grow(len(text) + 8)
	written := 0 // text[:written] is in out
	for at := strings.IndexByte(text, '@'); at >= 0; {
		if start := localStart(text, at); start < at && hasDomain(text[at+1:]) {
			_, first := utf8.DecodeRuneInString(text[start:at])
			out.WriteString(text[written : start+first])
			out.WriteString("***")
			written = at // the '@' and the domain are kept
		}
		next := strings.IndexByte(text[at+1:], '@')
		if next < 0 {
			break
		}
		at += 1 + next
	}
	out.WriteString(text[written:])
	return out.String()
}

// localStart is where the local part ending at text[at] begins: at itself
// when there is none. Leading dots are not part of it (no address starts
// with one), so "...jane@" keeps its 'j'.
func localStart(text string, at int) int {
	start := at
	for start > 0 {
		r, size := utf8.DecodeLastRuneInString(text[:start])
		if !isLocal(r) {
			break
		}
		start -= size
	}
	for start < at && text[start] == '.' {
		start++
	}
	return start
}

func isLocal(r rune) bool {
	switch r {
	case '.', '_', '%', '+', '-':
		return true
	}
	return isAlnum(r)
}

// hasDomain reports whether rest begins with something that can be a domain:
// a letter or digit (punctuation after an '@', or nothing, is not one).
func hasDomain(rest string) bool {
	r, _ := utf8.DecodeRuneInString(rest)
	return isAlnum(r)
}

// isAlnum accepts any script's letters and digits, and combining marks, so
// that internationalised addresses ("élodie@exemple.fr", "用户@例子.中国") are
// recognised too. utf8.RuneError is neither.
func isAlnum(r rune) bool {
	return unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.Is(unicode.Mn, r)
}
