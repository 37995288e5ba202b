package fakeapi

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
)

// Paddle is Paddle Billing's notification settings API, with key as the API
// key (bearer). Shapes: PaddleHQ/paddle-go-sdk notification_settings.go
// (routes GET and POST /notification-settings, GET and PATCH
// /notification-settings/{id}; the NotificationSetting entity, whose
// subscribed_events are objects with a name, and whose endpoint_secret_key
// Paddle shows on every read) and https://developer.paddle.com/api-reference/notification-settings
// (create takes description, type, destination and subscribed_events as
// names; a PATCH replaces the whole list). Answers wrap the entity in
// {"data", "meta": {"request_id"}}, a list adds meta.pagination; errors are
// {"error":{"type","code","detail","documentation_url","errors"}} (https://developer.paddle.com/api-reference/about/errors).
func Paddle(t testing.TB, key string) *Server {
	return start(t, provider{
		authorized:   bearer,
		unauthorized: `{"error":{"type":"request_error","code":"invalid_token","detail":"Authentication token is invalid.","documentation_url":"https://developer.paddle.com/v1/errors/shared/invalid_token"},"meta":{"request_id":"req_fake"}}`,
		serve:        servePaddle,
	}, key)
}

func servePaddle(s *Server, w http.ResponseWriter, r *http.Request, body []byte) {
	const base = "/notification-settings"
	id, one := strings.CutPrefix(r.URL.Path, base+"/")
	switch {
	case r.URL.Path == base && r.Method == http.MethodGet:
		s.paddleList(w, r)
	case r.URL.Path == base && r.Method == http.MethodPost:
		s.paddleWrite(w, nil, body)
	case one && r.Method == http.MethodPatch && s.find(id) != nil:
		s.paddleWrite(w, s.find(id), body)
	default:
		write(w, http.StatusNotFound, `{"error":{"type":"request_error","code":"not_found","detail":"Entity not found.","documentation_url":"https://developer.paddle.com/v1/errors/shared/not_found"},"meta":{"request_id":"req_fake"}}`)
	}
}

func (s *Server) paddleList(w http.ResponseWriter, r *http.Request) {
	perPage, _ := strconv.Atoi(r.URL.Query().Get("per_page"))
	if perPage <= 0 || perPage > 200 {
		perPage = 200
	}
	from := 0
	if after := r.URL.Query().Get("after"); after != "" {
		from = s.index(after) + 1
	}
	items, more := s.page(from, perPage)
	data := []map[string]any{}
	for _, e := range items {
		data = append(data, paddleEntity(e))
	}
	answer(w, http.StatusOK, map[string]any{"data": data, "meta": map[string]any{"request_id": "req_fake",
		"pagination": map[string]any{"per_page": perPage, "has_more": more, "estimated_total": len(s.endpoints), "next": ""}}})
}

// paddleWrite creates a setting (e nil) or updates e.
func (s *Server) paddleWrite(w http.ResponseWriter, e *Endpoint, body []byte) {
	var in struct {
		Description      string   `json:"description"`
		Type             string   `json:"type"`
		Destination      string   `json:"destination"`
		SubscribedEvents []string `json:"subscribed_events"`
		Active           *bool    `json:"active"`
	}
	err := json.Unmarshal(body, &in)
	if err != nil || e == nil && (in.Description == "" || in.Type != "url" || in.Destination == "" || len(in.SubscribedEvents) == 0) {
		write(w, http.StatusBadRequest, `{"error":{"type":"request_error","code":"bad_request","detail":"Invalid request.","errors":[{"field":"subscribed_events","message":"description, type, destination and subscribed_events are required"}]},"meta":{"request_id":"req_fake"}}`)
		return
	}
	status := http.StatusOK
	if e == nil {
		e = s.add(Endpoint{ID: "ntfset_01" + strings.ToLower(randomHex(12)), URL: in.Destination, Enabled: true, Secret: "pdl_ntfset_01" + randomHex(12) + "_" + randomHex(16)})
		status = http.StatusCreated
	}
	if in.SubscribedEvents != nil {
		e.Events = in.SubscribedEvents
	}
	if in.Active != nil {
		e.Enabled = *in.Active
	}
	answer(w, status, map[string]any{"data": paddleEntity(e), "meta": map[string]any{"request_id": "req_fake"}})
}

func paddleEntity(e *Endpoint) map[string]any {
	events := []map[string]any{}
	for _, name := range e.Events {
		events = append(events, map[string]any{"name": name, "description": "", "group": strings.SplitN(name, ".", 2)[0], "available_versions": []int{1}})
	}
	return map[string]any{
		"id": e.ID, "description": "reditus-bridge", "type": "url", "destination": e.URL, "active": e.Enabled, "api_version": 1,
		"include_sensitive_fields": false, "subscribed_events": events, "endpoint_secret_key": e.Secret, "traffic_source": "platform",
	}
}
