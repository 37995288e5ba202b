package redact

import (
	"strings"
	"testing"
)

func TestEmail(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"jane@example.com", "j***@example.com"},
		{"élodie@exemple.fr", "é***@exemple.fr"},
		{"@example.com", "***"},
		{"no-at-sign", "***"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			if got := Email(tt.in); got != tt.want {
				t.Errorf("Email(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestEmails(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"empty", "", ""},
		{"no address", "affiliate slug nope not found", "affiliate slug nope not found"},
		{"whole text", "jane@example.com", "j***@example.com"},
		{"at the start", "jane@example.com is taken", "j***@example.com is taken"},
		{"at the end", "referral exists: jane@example.com", "referral exists: j***@example.com"},
		{"end of a sentence", "Unknown email jane@example.com.", "Unknown email j***@example.com."},
		{"inside parentheses", "referral (jane@example.com) exists", "referral (j***@example.com) exists"},
		{"after a colon, before a comma", "email:jane@example.com, slug:john", "email:j***@example.com, slug:john"},
		{"double quotes", `email "jane.doe+ref@example.co.uk" is invalid`, `email "j***@example.co.uk" is invalid`},
		{"single quotes", "email 'jane@example.com' is invalid", "email 'j***@example.com' is invalid"},
		{"angle brackets", "Jane <jane@example.com>", "Jane <j***@example.com>"},
		{"JSON", `{"email":"jane@example.com"}`, `{"email":"j***@example.com"}`},
		{"after a key=", "email=jane@example.com", "email=j***@example.com"},
		{"several", "jane@example.com and bob_smith@test.org, x@y.io", "j***@example.com and b***@test.org, x***@y.io"},
		{"adjacent", "a@b.com,c@d.com", "a***@b.com,c***@d.com"},
		{"chained @", "a@b@c.com", "a***@b***@c.com"},
		{"leading dots", "...jane@example.com", "...j***@example.com"},
		{"no top-level domain", "jane@localhost", "j***@localhost"},
		{"UTF-8 local part", "élodie@exemple.fr refusé", "é***@exemple.fr refusé"},
		{"UTF-8 domain", "用户@例子.中国", "用***@例子.中国"},
		{"combining accent", "e\u0301lodie@exemple.fr", "e***@exemple.fr"},
		{"@ alone", "@", "@"},
		{"@ between spaces", "meet @ noon", "meet @ noon"},
		{"a handle", "ask @jane on slack", "ask @jane on slack"},
		{"nothing after", "jane@", "jane@"},
		{"punctuation after", "jane@.com", "jane@.com"},
		{"already masked", "j***@example.com", "j***@example.com"},
		{"invalid UTF-8 around", "\xffjane@example.com\xfe", "\xffj***@example.com\xfe"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Emails(tt.in); got != tt.want {
				t.Errorf("Emails(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

// Whatever surrounds it, the address itself never survives.
func TestEmailsNeverKeepsTheAddress(t *testing.T) {
	const addr = "jane.doe@example.com"
	for _, around := range []string{"", " ", "\"", "'", "(", "<", ":", ",", ";", "\n", "\t", "/", "|", "*", "é", "\xff"} {
		text := around + addr + around
		if got := Emails(text); strings.Contains(got, addr) {
			t.Errorf("Emails(%q) = %q, still holds the address", text, got)
		}
	}
}
