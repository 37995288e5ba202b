package fakeapi

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
)

// Chargebee is a Chargebee site's webhook endpoints API, with key as the API
// key (the basic-auth user, no password), under /api/v2 as on
// https://{site}.chargebee.com. Shapes: https://apidocs.chargebee.com/docs/api/webhook_endpoints
// and chargebee/chargebee-node types/resources/WebhookEndpoint.d.ts: forms
// (enabled_events[0]=...), POST /webhook_endpoints to create (name and url
// required), POST /webhook_endpoints/{id} to update, GET /webhook_endpoints
// with limit and offset; answers {"webhook_endpoint":{...}} and
// {"list":[{"webhook_endpoint":{...}}],"next_offset"}; the object never
// carries the basic-auth fields. "You can create up to five webhook
// endpoints per site". Errors: {"message","type","api_error_code",
// "http_status_code"} (chargebee-node's ChargebeeError).
func Chargebee(t testing.TB, key string) *Server {
	return start(t, provider{
		authorized: func(r *http.Request, key string) bool {
			user, password, ok := r.BasicAuth()
			return ok && user == key && password == ""
		},
		unauthorized: `{"message":"Sorry, authentication failed. Invalid api key","type":"invalid_request","api_error_code":"api_authentication_failed","http_status_code":401}`,
		serve:        serveChargebee,
		path:         "/api/v2",
	}, key)
}

func serveChargebee(s *Server, w http.ResponseWriter, r *http.Request, body []byte) {
	const base = "/api/v2/webhook_endpoints"
	id, one := strings.CutPrefix(r.URL.Path, base+"/")
	switch {
	case r.Method == http.MethodPost && !strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded"):
		chargebeeError(w, http.StatusBadRequest, "invalid_request", "param_wrong_value", "the body must be a form")
	case r.URL.Path == base && r.Method == http.MethodGet:
		s.chargebeeList(w, r.URL.Query())
	case r.URL.Path == base && r.Method == http.MethodPost:
		s.chargebeeWrite(w, nil, form(body))
	case one && r.Method == http.MethodPost && s.find(id) != nil:
		s.chargebeeWrite(w, s.find(id), form(body))
	default:
		chargebeeError(w, http.StatusNotFound, "invalid_request", "resource_not_found", "Sorry, we couldn't find that resource")
	}
}

func chargebeeError(w http.ResponseWriter, status int, typ, code, msg string) {
	answer(w, status, map[string]any{"message": msg, "type": typ, "api_error_code": code, "http_status_code": status})
}

func (s *Server) chargebeeList(w http.ResponseWriter, q url.Values) {
	limit, _ := strconv.Atoi(q.Get("limit"))
	if limit <= 0 || limit > 100 {
		limit = 10
	}
	from, _ := strconv.Atoi(q.Get("offset"))
	items, more := s.page(from, limit)
	list := []map[string]any{}
	for _, e := range items {
		list = append(list, map[string]any{"webhook_endpoint": chargebeeObject(e)})
	}
	out := map[string]any{"list": list}
	if more {
		out["next_offset"] = strconv.Itoa(from + len(items))
	}
	answer(w, http.StatusOK, out)
}

// chargebeeWrite creates an endpoint (e nil) or updates e.
func (s *Server) chargebeeWrite(w http.ResponseWriter, e *Endpoint, f url.Values) {
	if e == nil {
		switch {
		case f.Get("name") == "" || f.Get("url") == "":
			chargebeeError(w, http.StatusBadRequest, "invalid_request", "param_wrong_value", "name and url cannot be blank")
			return
		case len(s.endpoints) >= 5:
			chargebeeError(w, http.StatusBadRequest, "invalid_request", "param_wrong_value", "You can create up to five webhook endpoints per site")
			return
		}
		e = s.add(Endpoint{ID: "whv2_" + randomHex(8), URL: f.Get("url"), Enabled: true,
			User: f.Get("basic_auth_username"), Password: f.Get("basic_auth_password"),
			Secret: f.Get("basic_auth_username") + ":" + f.Get("basic_auth_password")})
	}
	if events, ok := formList(f, "enabled_events"); ok {
		e.Events = events
	}
	if d := f.Get("disabled"); d != "" {
		e.Enabled = d != "true"
	}
	answer(w, http.StatusOK, map[string]any{"webhook_endpoint": chargebeeObject(e)})
}

func chargebeeObject(e *Endpoint) map[string]any {
	return map[string]any{"id": e.ID, "name": "reditus-bridge", "url": e.URL, "send_card_resource": false, "disabled": !e.Enabled,
		"primary_url": false, "api_version": "v2", "chargebee_response_schema_type": "webhooks_schema_version_2",
		"enabled_events": e.Events, "object": "webhook_endpoint"}
}
