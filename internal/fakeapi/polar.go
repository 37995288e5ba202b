package fakeapi

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
)

// Polar is Polar's webhook endpoint API, with key as the organization
// access token (bearer). Shapes: polarsource/polar
// server/polar/webhook/endpoints.py (routes: GET and POST
// /v1/webhooks/endpoints, PATCH /v1/webhooks/endpoints/{id}; a create
// answers 201) and schemas.py (WebhookEndpointCreate: url, format, events
// required; WebhookEndpointUpdate: any of url, format, events, enabled),
// the kit's ListResource ({items, pagination: {total_count, max_page}}),
// and polar-js docs/models/components/webhookendpoint.md for the object,
// whose secret Polar shows on every read. Errors: polar-js
// docs/models/errors ({"error","detail"}), and FastAPI's 422
// ({"detail":[{"loc","msg","type"}]}).
func Polar(t testing.TB, key string) *Server {
	return start(t, provider{
		authorized:   bearer,
		unauthorized: `{"error":"Unauthorized","detail":"Unauthorized"}`,
		serve:        servePolar,
	}, key)
}

func servePolar(s *Server, w http.ResponseWriter, r *http.Request, body []byte) {
	const base = "/v1/webhooks/endpoints"
	id, one := strings.CutPrefix(r.URL.Path, base+"/")
	switch {
	case r.URL.Path == base && r.Method == http.MethodGet:
		s.polarList(w, r)
	case r.URL.Path == base && r.Method == http.MethodPost:
		s.polarCreate(w, body)
	case one && r.Method == http.MethodPatch && s.find(id) != nil:
		s.polarUpdate(w, s.find(id), body)
	default:
		write(w, http.StatusNotFound, `{"error":"ResourceNotFound","detail":"Not found"}`)
	}
}

func (s *Server) polarList(w http.ResponseWriter, r *http.Request) {
	page, _ := strconv.Atoi(r.URL.Query().Get("page"))
	limit, _ := strconv.Atoi(r.URL.Query().Get("limit"))
	page, limit = max(page, 1), min(max(limit, 1), 100)
	if s.pageSize > 0 {
		limit = min(limit, s.pageSize)
	}
	items, _ := s.page((page-1)*limit, limit)
	list := []map[string]any{}
	for _, e := range items {
		list = append(list, polarObject(e))
	}
	maxPage := (len(s.endpoints) + limit - 1) / limit
	answer(w, http.StatusOK, map[string]any{"items": list, "pagination": map[string]any{"total_count": len(s.endpoints), "max_page": maxPage}})
}

func (s *Server) polarCreate(w http.ResponseWriter, body []byte) {
	var in struct {
		URL    string   `json:"url"`
		Format string   `json:"format"`
		Events []string `json:"events"`
	}
	if err := json.Unmarshal(body, &in); err != nil || in.URL == "" || in.Events == nil || (in.Format != "raw" && in.Format != "discord" && in.Format != "slack") {
		write(w, http.StatusUnprocessableEntity, `{"detail":[{"loc":["body"],"msg":"url, format (raw, discord or slack) and events are required","type":"missing"}]}`)
		return
	}
	e := s.add(Endpoint{ID: "7c1a9e52-" + randomHex(4), URL: in.URL, Events: in.Events, Enabled: true, Secret: "polar_whs_" + randomHex(20)})
	answer(w, http.StatusCreated, polarObject(e))
}

func (s *Server) polarUpdate(w http.ResponseWriter, e *Endpoint, body []byte) {
	var in struct {
		Events  []string `json:"events"`
		Enabled *bool    `json:"enabled"`
	}
	if err := json.Unmarshal(body, &in); err != nil {
		write(w, http.StatusUnprocessableEntity, `{"detail":[{"loc":["body"],"msg":"invalid JSON","type":"json_invalid"}]}`)
		return
	}
	if in.Events != nil {
		e.Events = in.Events
	}
	if in.Enabled != nil {
		e.Enabled = *in.Enabled
	}
	answer(w, http.StatusOK, polarObject(e))
}

func polarObject(e *Endpoint) map[string]any {
	return map[string]any{
		"id": e.ID, "created_at": "2026-10-01T10:00:00Z", "modified_at": nil, "url": e.URL, "name": "reditus-bridge",
		"format": "raw", "secret": e.Secret, "organization_id": "1dbfc517-0bbf-4301-9ba8-555ca42b9737", "events": e.Events, "enabled": e.Enabled,
	}
}
