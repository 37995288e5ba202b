package paypaltest

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
)

// API is PayPal's REST API as the bridge reads it, on 127.0.0.1: an OAuth
// token for the app's client credentials (POST /v1/oauth2/token, basic
// auth, grant_type=client_credentials), and the captures and sales a test
// put there (GET /v2/payments/captures/{id}, GET /v1/payments/sale/{id}),
// for that token only. Shapes from paypal/paypal-rest-api-specifications
// (payments_payment_v2.json "capture", payments_payment_v1.json "sale").
type API struct {
	*httptest.Server
	id, secret string

	mu       sync.Mutex
	objects  map[string]json.RawMessage
	requests []string
}

const apiToken = "A21AAFakeAccessTokenForTests"

// NewAPI starts the fake API for client id and secret, closed when t ends.
func NewAPI(t testing.TB, id, secret string) *API {
	a := &API{id: id, secret: secret, objects: map[string]json.RawMessage{}}
	a.Server = httptest.NewServer(http.HandlerFunc(a.serve))
	t.Cleanup(a.Close)
	return a
}

// Credentials is PAYPAL_API_CREDENTIALS for this API.
func (a *API) Credentials() string { return a.id + ":" + a.secret }

func (a *API) serve(w http.ResponseWriter, r *http.Request) {
	a.mu.Lock()
	a.requests = append(a.requests, r.Method+" "+r.URL.Path)
	obj, found := a.objects[r.URL.Path]
	a.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	if r.Method == http.MethodPost && r.URL.Path == "/v1/oauth2/token" {
		id, secret, ok := r.BasicAuth()
		if !ok || id != a.id || secret != a.secret || r.FormValue("grant_type") != "client_credentials" {
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"error":"invalid_client","error_description":"Client Authentication failed"}`))
			return
		}
		_, _ = w.Write([]byte(`{"scope":"https://uri.paypal.com/services/payments/payment","access_token":"` + apiToken + `","token_type":"Bearer","app_id":"APP-80W284485P519543T","expires_in":32400,"nonce":"2024-03-04T10:15:31Zabc"}`))
		return
	}
	switch {
	case r.Header.Get("Authorization") != "Bearer "+apiToken:
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = w.Write([]byte(`{"error":"invalid_token","error_description":"Token signature verification failed"}`))
	case r.Method != http.MethodGet || !found:
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write([]byte(`{"name":"RESOURCE_NOT_FOUND","message":"The specified resource does not exist."}`))
	default:
		_, _ = w.Write(obj)
	}
}

// Put serves object at path.
func (a *API) Put(path string, object []byte) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.objects[path] = append(json.RawMessage(nil), object...)
}

// Requests lists the requests made, "GET /v2/payments/captures/...", in
// order.
func (a *API) Requests() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.requests...)
}
