package fakeapi

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
)

// WorkOS is WorkOS's webhook endpoints API, with key as the secret key
// (bearer). Shapes: https://workos.com/docs/reference/webhooks and
// workos/workos-node src/webhooks/webhooks-endpoints.ts (GET and POST
// /webhook_endpoints, PATCH and DELETE /webhook_endpoints/{id}; a create
// takes endpoint_url and events, an update also status) with its fixtures
// src/webhooks/fixtures/{create,list,update}-webhook-endpoint.json (the
// object, whose secret is in every answer, lists included, and the list's
// {data, list_metadata: {before, after}}). A create for a URL that has an
// endpoint already answers 409. Errors are {"message","code"}.
func WorkOS(t testing.TB, key string) *Server {
	return start(t, provider{
		authorized:   bearer,
		unauthorized: `{"message":"Unauthorized","code":"unauthorized"}`,
		serve:        serveWorkOS,
	}, key)
}

func serveWorkOS(s *Server, w http.ResponseWriter, r *http.Request, body []byte) {
	id, one := strings.CutPrefix(r.URL.Path, "/webhook_endpoints/")
	switch {
	case r.URL.Path == "/webhook_endpoints" && r.Method == http.MethodGet:
		s.workOSList(w, r)
	case r.URL.Path == "/webhook_endpoints" && r.Method == http.MethodPost:
		s.workOSWrite(w, nil, body)
	case one && r.Method == http.MethodPatch && s.find(id) != nil:
		s.workOSWrite(w, s.find(id), body)
	default:
		write(w, http.StatusNotFound, `{"message":"Webhook endpoint not found","code":"entity_not_found"}`)
	}
}

func (s *Server) workOSList(w http.ResponseWriter, r *http.Request) {
	limit, _ := strconv.Atoi(r.URL.Query().Get("limit"))
	if limit <= 0 || limit > 100 {
		limit = 10
	}
	from := 0
	if after := r.URL.Query().Get("after"); after != "" {
		from = s.index(after) + 1
	}
	items, more := s.page(from, limit)
	data := []map[string]any{}
	for _, e := range items {
		data = append(data, workOSObject(e))
	}
	var after any
	if more {
		after = items[len(items)-1].ID
	}
	answer(w, http.StatusOK, map[string]any{"object": "list", "data": data, "list_metadata": map[string]any{"before": nil, "after": after}})
}

// workOSWrite creates an endpoint (e nil) or updates e.
func (s *Server) workOSWrite(w http.ResponseWriter, e *Endpoint, body []byte) {
	var in struct {
		EndpointURL string   `json:"endpoint_url"`
		Events      []string `json:"events"`
		Status      string   `json:"status"`
	}
	if json.Unmarshal(body, &in) != nil || e == nil && (in.EndpointURL == "" || len(in.Events) == 0) ||
		in.Status != "" && in.Status != "enabled" && in.Status != "disabled" {
		write(w, http.StatusUnprocessableEntity, `{"message":"Validation failed","code":"invalid_request_parameters","errors":[{"field":"events","code":"required"}]}`)
		return
	}
	status := http.StatusOK
	if e == nil {
		for _, other := range s.endpoints {
			if other.URL == in.EndpointURL {
				write(w, http.StatusConflict, `{"message":"A webhook endpoint with this URL already exists","code":"conflict"}`)
				return
			}
		}
		e = s.add(Endpoint{ID: "we_01" + strings.ToUpper(randomHex(12)), URL: in.EndpointURL, Enabled: true, Secret: "whsec_" + randomHex(12)})
		status = http.StatusCreated
	}
	if in.Events != nil {
		e.Events = in.Events
	}
	if in.Status != "" {
		e.Enabled = in.Status == "enabled"
	}
	answer(w, status, workOSObject(e))
}

func workOSObject(e *Endpoint) map[string]any {
	status := "disabled"
	if e.Enabled {
		status = "enabled"
	}
	return map[string]any{"object": "webhook_endpoint", "id": e.ID, "endpoint_url": e.URL, "secret": e.Secret, "status": status,
		"events": e.Events, "created_at": "2026-10-01T10:00:00.000Z", "updated_at": "2026-10-01T10:00:00.000Z"}
}
