// Package fakeapi is each provider's webhook endpoint API on loopback, for
// the tests of connect and doctor and the end-to-end run of the binary:
// Stripe, Polar, Paddle, Lemon Squeezy, WorkOS and Chargebee, one file each.
// Each fake is built from its provider's documentation and official SDK (the
// file says which): the paths and methods, the auth header, the request
// body's form, the answer's shape and the error's. It keeps the endpoints it
// was asked to make, so that a test can change them behind connect's back
// (trim the events, disable, delete) and see connect or doctor notice.
//
//	api := fakeapi.Polar(t)
//	cfg.PolarAccessToken, cfg.PolarAPIURL = config.Secret(api.Key), api.BaseURL
//	... connect.Run(ctx, cfg, []string{"polar", "--url", "https://bridge.example"}, &out) ...
//	eps := api.Endpoints()        // what the provider holds now
//	api.SetEvents(eps[0].ID, "order.paid") // someone trimmed the list
//	api.Fail(429, "")             // every later request answered 429
package fakeapi

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"sync"
	"testing"
)

// Endpoint is a webhook endpoint as a fake holds it.
type Endpoint struct {
	ID      string
	URL     string
	Events  []string
	Enabled bool
	Secret  string // the provider's, or the caller's (Lemon Squeezy)

	User, Password string // Chargebee's basic auth
	APIVersion     string // Stripe's
	Store          string // Lemon Squeezy's store id
}

// Request is one request a fake received.
type Request struct {
	Method        string
	Path          string
	Query         url.Values
	Authorization string
	ContentType   string
	Body          []byte
}

// Server is one provider's fake API. Its methods are safe for concurrent
// use.
type Server struct {
	*httptest.Server
	// BaseURL is what the provider's {NAME}_API_URL is set to.
	BaseURL string
	// Key is the API key the fake accepts.
	Key string

	api provider

	mu        sync.Mutex
	pageSize  int // the most a list answers at once; the provider's largest unless set
	endpoints []*Endpoint
	made      int // endpoints ever made, for ids
	writes    int
	requests  []Request
	fault     *fault
}

// provider is what differs between the fakes.
type provider struct {
	// authorized says whether r carries the key as the provider wants it.
	authorized func(r *http.Request, key string) bool
	// unauthorized is the provider's answer to a missing or wrong key.
	unauthorized string
	// serve answers an authorized request; s.mu is held.
	serve func(s *Server, w http.ResponseWriter, r *http.Request, body []byte)
	// path is where the API lives below the server's root.
	path string
}

type fault struct {
	status     int
	body       string
	writesOnly bool
}

// start runs the fake for p with key on loopback until the test ends.
func start(t testing.TB, p provider, key string) *Server {
	t.Helper()
	s := &Server{Key: key, api: p}
	s.Server = httptest.NewServer(http.HandlerFunc(s.handle))
	s.BaseURL = s.URL + p.path
	t.Cleanup(s.Close)
	return s
}

func (s *Server) handle(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = append(s.requests, Request{
		Method: r.Method, Path: r.URL.Path, Query: r.URL.Query(), Authorization: r.Header.Get("Authorization"),
		ContentType: r.Header.Get("Content-Type"), Body: body,
	})
	if f := s.fault; f != nil && (!f.writesOnly || r.Method != http.MethodGet) {
		if f.body == "" {
			f.body = `{"message":"fault"}`
		}
		write(w, f.status, f.body)
		return
	}
	if !s.api.authorized(r, s.Key) {
		write(w, http.StatusUnauthorized, s.api.unauthorized)
		return
	}
	if r.Method != http.MethodGet {
		s.writes++
	}
	s.api.serve(s, w, r, body)
}

// write answers status with body, JSON unless body does not start like it.
func write(w http.ResponseWriter, status int, body string) {
	if len(body) > 0 && (body[0] == '{' || body[0] == '[') {
		w.Header().Set("Content-Type", "application/json")
	}
	w.WriteHeader(status)
	io.WriteString(w, body)
}

// Fail makes the fake answer every later request with status and body (a
// generic JSON error when body is empty), before checking the key; status 0
// makes it answer as the provider again.
func (s *Server) Fail(status int, body string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fault = nil
	if status != 0 {
		s.fault = &fault{status, body, false}
	}
}

// SetPageSize makes lists answer at most n endpoints at once, so that a test
// of a few endpoints walks several pages.
func (s *Server) SetPageSize(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pageSize = n
}

// FailWrites is Fail for the requests that create or change an endpoint
// only, so that a test can see what connect says when its list succeeded
// and its write did not.
func (s *Server) FailWrites(status int, body string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fault = &fault{status, body, true}
}

// Endpoints returns a copy of the endpoints the fake holds, oldest first.
func (s *Server) Endpoints() []Endpoint {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Endpoint
	for _, e := range s.endpoints {
		c := *e
		c.Events = slices.Clone(e.Events)
		out = append(out, c)
	}
	return out
}

// Writes counts the requests that were not GETs and passed the key check.
func (s *Server) Writes() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.writes
}

// Requests returns every request the fake received, in order.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.requests)
}

// Add puts an endpoint into the fake, as if made in the provider's
// dashboard, and returns its id.
func (s *Server) Add(e Endpoint) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.add(e).ID
}

// SetEvents changes endpoint id's events behind connect's back.
func (s *Server) SetEvents(id string, events ...string) {
	s.change(id, func(e *Endpoint) { e.Events = events })
}

// Disable disables endpoint id behind connect's back.
func (s *Server) Disable(id string) { s.change(id, func(e *Endpoint) { e.Enabled = false }) }

// Delete deletes endpoint id behind connect's back.
func (s *Server) Delete(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.endpoints = slices.DeleteFunc(s.endpoints, func(e *Endpoint) bool { return e.ID == id })
}

func (s *Server) change(id string, f func(*Endpoint)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e := s.find(id); e != nil {
		f(e)
	}
}

// add keeps e, giving it an id in the provider's form when it has none.
// s.mu is held.
func (s *Server) add(e Endpoint) *Endpoint {
	s.made++
	if e.ID == "" {
		e.ID = fmt.Sprint(s.made)
	}
	s.endpoints = append(s.endpoints, &e)
	return &e
}

// find returns the endpoint id, or nil. s.mu is held.
func (s *Server) find(id string) *Endpoint {
	for _, e := range s.endpoints {
		if e.ID == id {
			return e
		}
	}
	return nil
}

// page returns the endpoints from index from, at most n (and at most the
// page size), and whether more follow. s.mu is held.
func (s *Server) page(from, n int) ([]*Endpoint, bool) {
	if s.pageSize > 0 && (n <= 0 || n > s.pageSize) {
		n = s.pageSize
	}
	if from >= len(s.endpoints) || n <= 0 {
		return nil, false
	}
	end := min(from+n, len(s.endpoints))
	return s.endpoints[from:end], end < len(s.endpoints)
}

// index is the position of endpoint id in the list, or -1. s.mu is held.
func (s *Server) index(id string) int {
	return slices.IndexFunc(s.endpoints, func(e *Endpoint) bool { return e.ID == id })
}

// formList reads a list a form sends as name[0], name[1], ... (stripe-go,
// Chargebee), in index order; ok is false when the form has none of it.
func formList(form url.Values, name string) (list []string, ok bool) {
	for i := 0; ; i++ {
		v, found := form[fmt.Sprintf("%s[%d]", name, i)]
		if !found {
			return list, ok
		}
		list, ok = append(list, v[0]), true
	}
}

// randomHex is n random bytes in hex, for the secrets a fake makes.
func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// bearer checks "Authorization: Bearer KEY".
func bearer(r *http.Request, key string) bool { return r.Header.Get("Authorization") == "Bearer "+key }
