package journal

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"
	"time"
)

// Forget leaves no byte of an erased customer's records in the journal's
// files, also of a body too large for one page: SQLite keeps such a body on
// pages of its own, and a row it rewrites or deletes leaves its old bytes on
// the pages it frees unless they are overwritten (when bodies were in their
// records, every Finish did). A prune before, whose deletes overwrite
// nothing, changes nothing to that.
func TestForgetLeavesNoCopyOfALargeBody(t *testing.T) {
	ctx := context.Background()
	s := openSQLiteForTest(t, t.TempDir())
	if _, err := s.Prune(ctx, time.Now().Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	const email = "large.body@example.com"
	body := []byte(`{"note":"` + strings.Repeat("x", 6000) + `","customer":{"email":"` + email + `"}}`)
	rec, _, err := s.Begin(ctx, Record{Provider: "stripe", DeliveryID: "evt_large", Email: email, Body: body}, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Finish(ctx, rec.ID, Finish{Outcome: "forwarded", ReferralID: "ref_1", EventType: "invoice.paid", Attempts: 1}); err != nil {
		t.Fatal(err)
	}
	if n, err := s.Forget(ctx, email); n != 1 || err != nil {
		t.Fatalf("Forget: %d, %v; want 1", n, err)
	}
	for _, f := range []string{s.where, s.where + "-wal"} {
		b, err := os.ReadFile(f)
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		if bytes.Contains(b, []byte(email)) {
			t.Errorf("%s still holds the erased address", f)
		}
	}
}
