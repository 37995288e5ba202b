package handlers

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

func TestTooLarge(t *testing.T) {
	big := bytes.Repeat([]byte("x"), MaxBody+1)
	t.Run("declared length", func(t *testing.T) {
		b := newBridge(t, nil)
		b.do(t, stripeRequest(big, stripeSecret, time.Now())).Is(t, http.StatusRequestEntityTooLarge, "too_large")
	})
	t.Run("chunked, no length", func(t *testing.T) {
		b := newBridge(t, nil)
		req := stripeRequest(big, stripeSecret, time.Now())
		req.ContentLength = -1
		req.Body = io.NopCloser(bytes.NewReader(big))
		b.do(t, req).Is(t, http.StatusRequestEntityTooLarge, "too_large")
	})
	t.Run("exactly the limit is read", func(t *testing.T) {
		b := newBridge(t, nil)
		body := append([]byte(`{"id":"evt_1","type":"ping","pad":"`), bytes.Repeat([]byte("x"), MaxBody)...)
		body = append(body[:MaxBody-2], `"}`...)
		b.do(t, stripeRequest(body, stripeSecret, time.Now())).Is(t, http.StatusOK, "skipped")
	})
}

func TestRoutes(t *testing.T) {
	b := newBridge(t, nil)
	for _, tt := range []struct {
		method, path string
		status       int
	}{
		{http.MethodGet, "/healthz", 200},
		{http.MethodGet, "/nope", 404},
		{http.MethodGet, "/webhooks/stripe", 405},
	} {
		rec := httptest.NewRecorder()
		b.handler.ServeHTTP(rec, httptest.NewRequest(tt.method, tt.path, nil))
		if rec.Code != tt.status || !json.Valid(rec.Body.Bytes()) {
			t.Errorf("%s %s = %d %q, want %d with a JSON body", tt.method, tt.path, rec.Code, rec.Body, tt.status)
		}
	}
	if n := len(b.reditus.Conversions()); n != 0 {
		t.Errorf("routes called Reditus %d times", n)
	}
}
