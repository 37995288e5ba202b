package admin_test

import (
	"bytes"
	"context"
	"net/http"
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/getreditus/reditus-bridge/admin"
	"github.com/getreditus/reditus-bridge/journal"
)

// Erasure deletes every record of one customer, by an email that matches
// exactly but for case: %, _ and * are letters, never patterns.
func TestForgetAPI(t *testing.T) {
	odd := []event{
		{provider: "generic", deliveryID: "msg_pct", email: "a%b@example.com", ago: time.Minute, outcome: "forwarded"},
		{provider: "generic", deliveryID: "msg_any", email: "axb@example.com", ago: time.Minute, outcome: "forwarded"},
		{provider: "generic", deliveryID: "msg_us", email: "a_b@example.com", ago: time.Minute, outcome: "forwarded"},
		{provider: "generic", deliveryID: "msg_star", email: "*@example.com", ago: time.Minute, outcome: "forwarded"},
	}
	s := newSite(t, append(slices.Clone(fixture), odd...)...)
	for _, tc := range []struct {
		email   string
		deleted string
		gone    []string // delivery ids no longer listed
	}{
		{"%@example.com", `{"deleted":0}`, nil},
		{"%@%", `{"deleted":0}`, nil},
		{"_@example.com", `{"deleted":0}`, nil},
		{"a_b@example.com", `{"deleted":1}`, []string{"msg_us"}},
		{"*@example.com", `{"deleted":1}`, []string{"msg_star"}},
		{"a%b@example.com", `{"deleted":1}`, []string{"msg_pct"}},
		{" JANE@example.COM ", `{"deleted":2}`, []string{"evt_jane_1", "ins_jane_2"}},
		{"jane@example.com", `{"deleted":0}`, nil},
	} {
		resp, body := s.do(t, http.MethodDelete, "/admin/api/events?"+url.Values{"email": {tc.email}}.Encode(), s.sameOrigin())
		if resp.StatusCode != http.StatusOK || body != tc.deleted {
			t.Errorf("erase %q: %d %s, want 200 %s", tc.email, resp.StatusCode, body, tc.deleted)
		}
		for _, id := range tc.gone {
			if recs, _ := s.store.List(context.Background(), journal.Filter{DeliveryID: id}); len(recs) != 0 {
				t.Errorf("erase %q: %s is still there", tc.email, id)
			}
		}
	}
	if recs, _ := s.store.List(context.Background(), journal.Filter{}); len(recs) != len(fixture)+len(odd)-5 {
		t.Errorf("%d records left, want %d", len(recs), len(fixture)+len(odd)-5)
	}
	if recs, _ := s.store.List(context.Background(), journal.Filter{Email: "axb@example.com"}); len(recs) != 1 {
		t.Error("a pattern erased axb@example.com")
	}
}

// Erasure changes state: a request another site made the operator's
// browser send is refused, and nothing is deleted. A request that names no
// customer is refused too.
func TestForgetRefuses(t *testing.T) {
	s := newSite(t, fixture...)
	for _, tc := range []struct {
		name   string
		query  string
		header http.Header
		status int
	}{
		{"another site's page", "email=jane@example.com", http.Header{"Origin": {"https://evil.example"}}, http.StatusForbidden},
		{"a cross-site fetch", "email=jane@example.com", http.Header{"Sec-Fetch-Site": {"cross-site"}, "Origin": {s.URL}}, http.StatusForbidden},
		{"no origin", "email=jane@example.com", http.Header{}, http.StatusForbidden},
		{"no email", "", s.sameOrigin(), http.StatusBadRequest},
		{"a blank email", "email=+", s.sameOrigin(), http.StatusBadRequest},
		{"not an email", "email=jane", s.sameOrigin(), http.StatusBadRequest},
		{"another parameter", "email=jane@example.com&outcome=failed", s.sameOrigin(), http.StatusBadRequest},
		{"not text", "email=" + url.QueryEscape("j\x00@example.com"), s.sameOrigin(), http.StatusBadRequest},
	} {
		resp, body := s.do(t, http.MethodDelete, "/admin/api/events?"+tc.query, tc.header)
		if resp.StatusCode != tc.status {
			t.Errorf("%s: %d %s, want %d", tc.name, resp.StatusCode, body, tc.status)
		}
	}
	if recs, _ := s.store.List(context.Background(), journal.Filter{}); len(recs) != len(fixture) {
		t.Errorf("%d records left, want all %d", len(recs), len(fixture))
	}
	if resp, _ := s.do(t, http.MethodDelete, "/admin/api/events?email=jane@example.com", noAuth()); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("without credentials: %d, want 401", resp.StatusCode)
	}
}

func TestForgetCommand(t *testing.T) {
	store := openJournal(t, fixture...)
	var out bytes.Buffer
	if err := admin.Forget(context.Background(), []string{"--email", "X@example.com"}, store, &out); err != nil {
		t.Fatal(err)
	}
	if out.String() != "deleted 2 events of X@example.com\n" {
		t.Errorf("printed %q", out.String())
	}
	out.Reset()
	if err := admin.Forget(context.Background(), []string{"--email", "x@example.com", "--json"}, store, &out); err != nil || out.String() != "{\"deleted\":0}\n" {
		t.Errorf("again: %v, %q", err, out.String())
	}
	for _, args := range [][]string{nil, {"--email", ""}, {"--email", "nobody"}, {"--email", "a@b.c", "extra"}, {"--mail", "a@b.c"}} {
		if err := admin.Forget(context.Background(), args, store, &out); err == nil {
			t.Errorf("%q: no error", args)
		}
	}
}
