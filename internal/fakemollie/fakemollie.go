// Package fakemollie is Mollie's API as the bridge reads it, for tests: an
// HTTP server on 127.0.0.1 that answers GET /v2/payments/{id},
// /v2/customers/{id} and /v2/customers/{id}/subscriptions/{id} with the
// objects a test put there, requires the API key as Mollie does (Bearer),
// and answers errors in Mollie's shapes, taken from Mollie's own SDK
// fixtures (mollie/mollie-api-python tests/responses/customer_doesnotexist.json
// for 404, error_unauthorized.json for 401). Down makes it answer 503, as
// Mollie does in an outage.
package fakemollie

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
)

// Server is the fake API. Its URL is what MOLLIE_API_URL is set to.
type Server struct {
	*httptest.Server
	key string

	mu       sync.Mutex
	objects  map[string]json.RawMessage // by path
	down     bool
	requests []string
}

// New starts a fake Mollie API that takes key, closed when t ends.
func New(t testing.TB, key string) *Server {
	s := &Server{key: key, objects: map[string]json.RawMessage{}}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.requests = append(s.requests, r.Method+" "+r.URL.Path)
	obj, found := s.objects[r.URL.Path]
	down := s.down
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/hal+json")
	switch {
	case down:
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte(`{"status":503,"title":"Service Unavailable","detail":"The service is temporarily unavailable."}`))
	case r.Header.Get("Authorization") != "Bearer "+s.key:
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = w.Write([]byte(`{"status":401,"title":"Unauthorized Request","detail":"Missing authentication, or failed to authenticate","_links":{"documentation":{"href":"https://docs.mollie.com/overview/authentication","type":"text/html"}}}`))
	case r.Method != http.MethodGet || !found:
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write([]byte(`{"status":404,"title":"Not Found","detail":"No object exists with token ` + r.URL.Path + `.","_links":{"documentation":{"href":"https://docs.mollie.com/guides/handling-errors","type":"text/html"}}}`))
	default:
		_, _ = w.Write(obj)
	}
}

// Put serves object at path.
func (s *Server) Put(path string, object []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.objects[path] = append(json.RawMessage(nil), object...)
}

// AddResolved serves what a payment as the bridge keeps it holds (the
// payment with its customer and subscription under _embedded): the payment,
// without _embedded, and each embedded object at its own path, as Mollie's
// API serves them.
func (s *Server) AddResolved(t testing.TB, resolved []byte) {
	t.Helper()
	var payment map[string]json.RawMessage
	if err := json.Unmarshal(resolved, &payment); err != nil {
		t.Fatalf("fakemollie: %v", err)
	}
	var embedded struct{ Customer, Subscription json.RawMessage }
	_ = json.Unmarshal(payment["_embedded"], &embedded)
	delete(payment, "_embedded")
	var ids struct{ ID, CustomerID, SubscriptionID string }
	_ = json.Unmarshal(resolved, &ids)
	plain, _ := json.Marshal(payment)
	s.Put("/v2/payments/"+ids.ID, plain)
	if embedded.Customer != nil {
		s.Put("/v2/customers/"+ids.CustomerID, embedded.Customer)
	}
	if embedded.Subscription != nil {
		s.Put("/v2/customers/"+ids.CustomerID+"/subscriptions/"+ids.SubscriptionID, embedded.Subscription)
	}
}

// Down makes every answer 503 while down is true.
func (s *Server) Down(down bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.down = down
}

// Requests lists the requests made, "GET /v2/payments/tr_...", in order.
func (s *Server) Requests() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.requests...)
}
