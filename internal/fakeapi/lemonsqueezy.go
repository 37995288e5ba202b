package fakeapi

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
)

// LemonSqueezy is Lemon Squeezy's webhooks API, with key as the API key
// (bearer). Shapes: https://docs.lemonsqueezy.com/api/webhooks (create,
// retrieve, update, list: JSON:API with Accept and Content-Type
// application/vnd.api+json; a create names its store in
// relationships.store; the list is filtered by filter[store_id] and paged
// by page[number] and page[size], with meta.page.lastPage), and
// lmsqueezy/lemonsqueezy.js src/webhooks/types.ts (the attributes; "the
// secret is never returned"). The secret must be 6 to 40 characters
// (https://docs.lemonsqueezy.com/help/webhooks). Errors are JSON:API's
// {"errors":[{"detail","status","title"}]}.
func LemonSqueezy(t testing.TB, key string) *Server {
	return start(t, provider{
		authorized:   bearer,
		unauthorized: `{"jsonapi":{"version":"1.0"},"errors":[{"detail":"Unauthenticated.","status":"401","title":"Unauthorized"}]}`,
		serve:        serveLemonSqueezy,
	}, key)
}

const jsonAPI = "application/vnd.api+json"

func serveLemonSqueezy(s *Server, w http.ResponseWriter, r *http.Request, body []byte) {
	id, one := strings.CutPrefix(r.URL.Path, "/v1/webhooks/")
	switch {
	case r.Method != http.MethodGet && r.Header.Get("Content-Type") != jsonAPI:
		lsError(w, http.StatusUnsupportedMediaType, "Unsupported Media Type", "Content-Type must be "+jsonAPI)
	case r.URL.Path == "/v1/webhooks" && r.Method == http.MethodGet:
		s.lsList(w, r)
	case r.URL.Path == "/v1/webhooks" && r.Method == http.MethodPost:
		s.lsWrite(w, nil, body)
	case one && r.Method == http.MethodPatch && s.find(id) != nil:
		s.lsWrite(w, s.find(id), body)
	default:
		lsError(w, http.StatusNotFound, "Not Found", "Not Found")
	}
}

func lsError(w http.ResponseWriter, status int, title, detail string) {
	answer(w, status, map[string]any{"jsonapi": map[string]any{"version": "1.0"},
		"errors": []map[string]any{{"detail": detail, "status": strconv.Itoa(status), "title": title}}})
}

func (s *Server) lsList(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	number, _ := strconv.Atoi(q.Get("page[number]"))
	size, _ := strconv.Atoi(q.Get("page[size]"))
	number, size = max(number, 1), min(max(size, 1), 100)
	if s.pageSize > 0 {
		size = min(size, s.pageSize)
	}
	var store []*Endpoint
	for _, e := range s.endpoints {
		if f := q.Get("filter[store_id]"); f == "" || f == e.Store {
			store = append(store, e)
		}
	}
	data := []map[string]any{}
	for i := (number - 1) * size; i < min(number*size, len(store)); i++ {
		data = append(data, lsResource(store[i]))
	}
	last := max((len(store)+size-1)/size, 1)
	answer(w, http.StatusOK, map[string]any{"jsonapi": map[string]any{"version": "1.0"}, "data": data,
		"meta": map[string]any{"page": map[string]any{"currentPage": number, "lastPage": last, "perPage": size, "total": len(store)}}})
}

// lsWrite creates a webhook (e nil) or updates e.
func (s *Server) lsWrite(w http.ResponseWriter, e *Endpoint, body []byte) {
	var in struct {
		Data struct {
			Type       string `json:"type"`
			ID         string `json:"id"`
			Attributes struct {
				URL    string   `json:"url"`
				Events []string `json:"events"`
				Secret *string  `json:"secret"`
			} `json:"attributes"`
			Relationships struct {
				Store struct {
					Data struct{ Type, ID string } `json:"data"`
				} `json:"store"`
			} `json:"relationships"`
		} `json:"data"`
	}
	if json.Unmarshal(body, &in) != nil || in.Data.Type != "webhooks" || e != nil && in.Data.ID != e.ID {
		lsError(w, http.StatusBadRequest, "Bad Request", "data.type must be webhooks, and data.id the webhook's")
		return
	}
	a := in.Data.Attributes
	if a.Secret != nil && (len(*a.Secret) < 6 || len(*a.Secret) > 40) {
		lsError(w, http.StatusUnprocessableEntity, "Unprocessable Entity", "The secret must be between 6 and 40 characters.")
		return
	}
	status := http.StatusOK
	if e == nil {
		if a.URL == "" || len(a.Events) == 0 || a.Secret == nil || in.Data.Relationships.Store.Data.ID == "" {
			lsError(w, http.StatusUnprocessableEntity, "Unprocessable Entity", "The url, events, secret and store are required.")
			return
		}
		e = s.add(Endpoint{URL: a.URL, Enabled: true, Store: in.Data.Relationships.Store.Data.ID})
		status = http.StatusCreated
	}
	if a.Events != nil {
		e.Events = a.Events
	}
	if a.Secret != nil {
		e.Secret = *a.Secret
	}
	answer(w, status, map[string]any{"jsonapi": map[string]any{"version": "1.0"}, "data": lsResource(e)})
}

// lsResource is a webhook resource, never with its secret.
func lsResource(e *Endpoint) map[string]any {
	store, _ := strconv.Atoi(e.Store)
	return map[string]any{"type": "webhooks", "id": e.ID,
		"attributes": map[string]any{"store_id": store, "url": e.URL, "events": e.Events, "last_sent_at": nil,
			"created_at": "2026-10-01T10:00:00.000000Z", "updated_at": "2026-10-01T10:00:00.000000Z", "test_mode": false},
		"links": map[string]any{"self": fmt.Sprintf("https://api.lemonsqueezy.com/v1/webhooks/%s", e.ID)}}
}
