// Package fakestripe is a Stripe API on loopback for tests: the few
// endpoints the bridge reads, answering Stripe-shaped objects from maps the
// test fills, with Stripe's list format, pagination and errors.
package fakestripe

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// Key is the API key the fake accepts.
const Key = "sk_test_fakestripe"

// Server is the fake. Objects are JSON maps as Stripe renders them; each
// needs an "id", and listed objects a "created".
type Server struct {
	*httptest.Server

	mu            sync.Mutex
	Customers     map[string]map[string]any
	Subscriptions map[string]map[string]any
	Sessions      map[string]map[string]any
	Events        map[string]map[string]any // the undelivered ones
	requests      []string

	// Fail, if set, answers a request with this status instead (0: serve it).
	Fail func(r *http.Request) int
}

// New starts a fake that the test closes when it ends.
func New(t testing.TB) *Server {
	s := &Server{
		Customers:     map[string]map[string]any{},
		Subscriptions: map[string]map[string]any{},
		Sessions:      map[string]map[string]any{},
		Events:        map[string]map[string]any{},
	}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

// Requests returns the requests served so far, as "GET /v1/path?query".
func (s *Server) Requests() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.requests...)
}

// Customer returns a Stripe customer object.
func Customer(id, email string, created int64, metadata map[string]string) map[string]any {
	return map[string]any{
		"id": id, "object": "customer", "email": email, "created": created, "livemode": true,
		"metadata": metadata, "name": "Ada Lovelace", "balance": 0, "delinquent": false,
		"invoice_settings": map[string]any{"default_payment_method": nil}, "preferred_locales": []string{},
	}
}

// Subscription returns a Stripe subscription object.
func Subscription(id, customer string, metadata map[string]string) map[string]any {
	return map[string]any{
		"id": id, "object": "subscription", "customer": customer, "status": "active", "livemode": true,
		"created": 1732492900, "metadata": metadata,
		"items": map[string]any{"object": "list", "data": []any{}, "has_more": false, "url": "/v1/subscription_items"},
	}
}

// Session returns a completed Stripe Checkout Session object.
func Session(id, customer, subscription, email string, created int64, metadata map[string]string, clientReferenceID string) map[string]any {
	var sub any
	if subscription != "" {
		sub = subscription
	}
	var ref any
	if clientReferenceID != "" {
		ref = clientReferenceID
	}
	return map[string]any{
		"id": id, "object": "checkout.session", "customer": customer, "subscription": sub,
		"customer_details": map[string]any{"email": email}, "customer_email": nil,
		"client_reference_id": ref, "metadata": metadata, "mode": "subscription",
		"payment_status": "paid", "status": "complete", "created": created, "livemode": true,
	}
}

// Event returns a Stripe event object around object.
func Event(id, eventType string, created int64, object map[string]any) map[string]any {
	return map[string]any{
		"id": id, "object": "event", "type": eventType, "created": created, "livemode": true,
		"api_version": "2023-10-16", "pending_webhooks": 1, "data": map[string]any{"object": object},
	}
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.requests = append(s.requests, r.Method+" "+r.URL.Path+"?"+r.URL.RawQuery)
	s.mu.Unlock()
	if r.Header.Get("Authorization") != "Bearer "+Key {
		stripeError(w, http.StatusUnauthorized, "Invalid API Key provided")
		return
	}
	if s.Fail != nil {
		if code := s.Fail(r); code != 0 {
			stripeError(w, code, "fake failure")
			return
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	parts := strings.Split(strings.TrimPrefix(r.URL.Path, "/v1/"), "/")
	q := r.URL.Query()
	switch {
	case len(parts) == 2 && parts[0] == "customers":
		get(w, s.Customers, parts[1])
	case len(parts) == 2 && parts[0] == "subscriptions":
		get(w, s.Subscriptions, parts[1])
	case len(parts) == 1 && parts[0] == "customers":
		list(w, r, s.Customers, nil)
	case len(parts) == 1 && parts[0] == "subscriptions":
		list(w, r, s.Subscriptions, func(o map[string]any) bool { return o["customer"] == q.Get("customer") })
	case len(parts) == 2 && parts[0] == "checkout" && parts[1] == "sessions":
		list(w, r, s.Sessions, func(o map[string]any) bool { return q.Get("status") == "" || o["status"] == q.Get("status") })
	case len(parts) == 1 && parts[0] == "events":
		var types []string // stripe-go sends types[0], types[1], ...
		for k, v := range q {
			if strings.HasPrefix(k, "types[") {
				types = append(types, v...)
			}
		}
		list(w, r, s.Events, func(o map[string]any) bool {
			if q.Get("delivery_success") != "false" {
				return false // the fake holds undelivered events only
			}
			return len(types) == 0 || slices.Contains(types, o["type"].(string))
		})
	default:
		stripeError(w, http.StatusNotFound, "Unrecognized request URL ("+r.Method+": "+r.URL.Path+")")
	}
}

func get(w http.ResponseWriter, objects map[string]map[string]any, id string) {
	o, ok := objects[id]
	if !ok {
		stripeError(w, http.StatusNotFound, "No such object: '"+id+"'")
		return
	}
	writeJSON(w, http.StatusOK, o)
}

// list answers a list request as Stripe does: newest first, created[gte] and
// created[lt] honoured, limit and starting_after paginating.
func list(w http.ResponseWriter, r *http.Request, objects map[string]map[string]any, keep func(map[string]any) bool) {
	q := r.URL.Query()
	gte, _ := strconv.ParseInt(q.Get("created[gte]"), 10, 64)
	lt, _ := strconv.ParseInt(q.Get("created[lt]"), 10, 64)
	var all []map[string]any
	for _, o := range objects {
		created := toInt(o["created"])
		if created < gte || (lt != 0 && created >= lt) || (keep != nil && !keep(o)) {
			continue
		}
		all = append(all, o)
	}
	sort.Slice(all, func(i, j int) bool {
		ci, cj := toInt(all[i]["created"]), toInt(all[j]["created"])
		if ci != cj {
			return ci > cj
		}
		return all[i]["id"].(string) > all[j]["id"].(string)
	})
	if after := q.Get("starting_after"); after != "" {
		for i, o := range all {
			if o["id"] == after {
				all = all[i+1:]
				break
			}
		}
	}
	limit, _ := strconv.Atoi(q.Get("limit"))
	if limit <= 0 || limit > 100 {
		limit = 10
	}
	more := len(all) > limit
	if more {
		all = all[:limit]
	}
	if all == nil {
		all = []map[string]any{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"object": "list", "url": r.URL.Path, "has_more": more, "data": all})
}

// stripeError answers as Stripe does. A 429 is a plain rate limit: code
// rate_limit and no Stripe-Should-Retry header, which stripe-go does not retry.
func stripeError(w http.ResponseWriter, status int, message string) {
	e := map[string]any{"type": "invalid_request_error", "message": message}
	switch {
	case status == http.StatusTooManyRequests:
		e["code"] = "rate_limit"
	case status >= 500:
		e["type"] = "api_error"
	}
	writeJSON(w, status, map[string]any{"error": e})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Request-Id", fmt.Sprintf("req_fake_%d", status))
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func toInt(v any) int64 {
	switch n := v.(type) {
	case int64:
		return n
	case int:
		return int64(n)
	case float64:
		return int64(n)
	}
	return 0
}
