package handlers

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/getreditus/reditus-bridge/config"
	"github.com/getreditus/reditus-bridge/internal/fakereditus"
	"github.com/getreditus/reditus-bridge/internal/webhooktest"
)

// An event skipped for want of configuration (test mode) is delivered by
// the operator's retry in /admin once the configuration is fixed and the
// bridge restarted with it.
func TestJournalRetryOfASkippedEventAfterAFix(t *testing.T) {
	webhooktest.EachBackend(t, func(t *testing.T, be webhooktest.Backend) {
		const token = "admin-token-for-the-retry-test"
		red := fakereditus.New(t, fakereditus.WithKey(apiKey))
		place := be.Place(t)
		store := webhooktest.OpenStore(t, place)
		before := journaledBridge(t, red, store, nil)
		before.do(t, stripeRequest(stripeFixture(t, "customer.created.test_mode.json"), stripeSecret, time.Now())).
			Is(t, http.StatusOK, "skipped")
		rec := webhooktest.RecordOf(t, store, "evt_1QcustCreated05")
		if rec.Outcome != "skipped" || !strings.Contains(rec.Reason, "STRIPE_ACCEPT_TEST_EVENTS") {
			t.Fatalf("record: %q %q, want skipped, naming STRIPE_ACCEPT_TEST_EVENTS", rec.Outcome, rec.Reason)
		}

		afterStore := webhooktest.OpenStore(t, place)
		after := journaledBridge(t, red, afterStore, func(c *config.Config) {
			webhooktest.SetWebhook(c, "stripe", func(w *config.Webhook) { w.AcceptTestEvents = true })
			c.AdminToken = config.Secret(token)
		})
		req := httptest.NewRequest(http.MethodPost, fmt.Sprintf("/admin/api/events/%d/retry", rec.ID), nil)
		req.SetBasicAuth("admin", token)
		req.Header.Set("Origin", "http://"+req.Host)
		w := httptest.NewRecorder()
		after.handler.ServeHTTP(w, req)
		var got struct {
			Outcome    string `json:"outcome"`
			ReferralID string `json:"referral_id"`
		}
		_ = json.Unmarshal(w.Body.Bytes(), &got)
		if w.Code != http.StatusOK || got.Outcome != "forwarded" || got.ReferralID != "ref_1" {
			t.Fatalf("retry: %d %s, want 200 forwarded ref_1", w.Code, w.Body)
		}
		if conv := red.Conversions(); len(conv) != 1 || conv[0].Email != "jane.doe@example.com" {
			t.Errorf("Reditus received %+v, want jane.doe's conversion", conv)
		}
		rec = webhooktest.RecordOf(t, afterStore, "evt_1QcustCreated05") // the bridge that retried it
		if rec.Outcome != "forwarded" || rec.ReferralID != "ref_1" || rec.Attempts != 1 || rec.Email != "jane.doe@example.com" {
			t.Errorf("record after the retry: %q, referral %q, %d attempts, email %q; want forwarded, ref_1, 1, jane.doe@example.com",
				rec.Outcome, rec.ReferralID, rec.Attempts, rec.Email)
		}
	})
}
