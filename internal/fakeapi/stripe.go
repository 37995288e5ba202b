package fakeapi

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
)

// Stripe is Stripe's webhook endpoint API, with key as the secret key.
// Shapes: https://docs.stripe.com/api/webhook_endpoints (the object, create,
// update, list) and stripe-go v76 webhookendpoint.go, whose form encoding
// (enabled_events[0]=...) it reads; errors as
// https://docs.stripe.com/api/errors ({"error":{"type","message","param","code"}}).
// Stripe answers a create 200, with the secret, and never shows the secret
// again. Its real API validates far more: stripe-mock checks connect's
// requests against Stripe's OpenAPI spec (connect's tests).
func Stripe(t testing.TB, key string) *Server {
	return start(t, provider{
		authorized:   bearer,
		unauthorized: `{"error":{"type":"invalid_request_error","message":"Invalid API Key provided: sk_test_****"}}`,
		serve:        serveStripe,
	}, key)
}

func serveStripe(s *Server, w http.ResponseWriter, r *http.Request, body []byte) {
	id, one := strings.CutPrefix(r.URL.Path, "/v1/webhook_endpoints/")
	switch {
	case r.URL.Path == "/v1/webhook_endpoints" && r.Method == http.MethodGet:
		s.stripeList(w, r.URL.Query())
	case r.URL.Path == "/v1/webhook_endpoints" && r.Method == http.MethodPost:
		s.stripeCreate(w, form(body))
	case one && r.Method == http.MethodPost && s.find(id) != nil:
		s.stripeUpdate(w, s.find(id), form(body))
	case one:
		write(w, http.StatusNotFound, fmt.Sprintf(`{"error":{"type":"invalid_request_error","code":"resource_missing","message":"No such webhook endpoint: '%s'","param":"id"}}`, id))
	default:
		write(w, http.StatusNotFound, `{"error":{"type":"invalid_request_error","message":"Unrecognized request URL"}}`)
	}
}

func form(body []byte) url.Values {
	v, _ := url.ParseQuery(string(body))
	return v
}

func (s *Server) stripeList(w http.ResponseWriter, q url.Values) {
	limit, _ := strconv.Atoi(q.Get("limit"))
	if limit == 0 {
		limit = 10 // Stripe's default
	}
	from := 0
	if after := q.Get("starting_after"); after != "" {
		from = s.index(after) + 1
	}
	page, more := s.page(from, min(limit, 100))
	data := []map[string]any{}
	for _, e := range page {
		data = append(data, stripeObject(e, false))
	}
	answer(w, http.StatusOK, map[string]any{"object": "list", "url": "/v1/webhook_endpoints", "has_more": more, "data": data})
}

func (s *Server) stripeCreate(w http.ResponseWriter, f url.Values) {
	events, _ := formList(f, "enabled_events")
	switch {
	case f.Get("url") == "":
		write(w, http.StatusBadRequest, `{"error":{"type":"invalid_request_error","message":"Missing required param: url.","param":"url"}}`)
		return
	case len(events) == 0:
		write(w, http.StatusBadRequest, `{"error":{"type":"invalid_request_error","message":"Missing required param: enabled_events.","param":"enabled_events"}}`)
		return
	}
	e := s.add(Endpoint{
		ID: "we_" + randomHex(12), URL: f.Get("url"), Events: events, Enabled: true,
		Secret: "whsec_" + randomHex(16), APIVersion: f.Get("api_version"),
	})
	answer(w, http.StatusOK, stripeObject(e, true))
}

func (s *Server) stripeUpdate(w http.ResponseWriter, e *Endpoint, f url.Values) {
	if f.Has("api_version") { // settable at creation only
		write(w, http.StatusBadRequest, `{"error":{"type":"invalid_request_error","message":"Received unknown parameter: api_version","param":"api_version"}}`)
		return
	}
	if events, ok := formList(f, "enabled_events"); ok {
		e.Events = events
	}
	if d := f.Get("disabled"); d != "" {
		e.Enabled = d != "true"
	}
	answer(w, http.StatusOK, stripeObject(e, false))
}

// stripeObject is a webhook_endpoint; its secret only when it was created.
func stripeObject(e *Endpoint, withSecret bool) map[string]any {
	status := "disabled"
	if e.Enabled {
		status = "enabled"
	}
	o := map[string]any{
		"id": e.ID, "object": "webhook_endpoint", "api_version": e.APIVersion, "application": nil, "created": 1700000000,
		"description": nil, "enabled_events": e.Events, "livemode": false, "metadata": map[string]any{}, "status": status, "url": e.URL,
	}
	if withSecret {
		o["secret"] = e.Secret
	}
	return o
}

// answer writes v as JSON.
func answer(w http.ResponseWriter, status int, v any) {
	b, _ := json.Marshal(v)
	write(w, status, string(b))
}
