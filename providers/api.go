package providers

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/getreditus/reditus-bridge/mapping"
	"github.com/getreditus/reditus-bridge/outcome"
)

// API is a provider's own API, which the bridge reads after a delivery is
// verified when the delivery does not carry all it is judged by: Mollie's
// classic webhooks name a payment and nothing else, and Mollie's payments
// keep their email on the customer; PayPal's refunds do not say whether
// they emptied the payment. The pipeline calls Resolve's step between
// verification and the mapping, and the journal keeps what it returns, so
// that a retry or the worker maps the same body without calling the API
// again.
type API struct {
	// Variable holds the credentials: MOLLIE_API_KEY,
	// PAYPAL_API_CREDENTIALS.
	Variable string
	// TurnsOn says that Variable turns the provider on, and its secret
	// variable is then optional (Mollie: the API alone makes a classic
	// webhook authentic). Otherwise the API is optional.
	TurnsOn bool
	// URL is the API's base, which {NAME}_API_URL overrides (tests point it
	// at a fake).
	URL string
	// Check refuses credentials that cannot be right, at start; nil
	// accepts any. Its error never quotes them.
	Check func(credentials string) error
	// Resolve makes the step for a client of the configured API. It is
	// called only when Variable is set; without it a route has no step, and
	// the mapping reads the verified body as it came.
	Resolve func(*APIClient) Resolver
}

// Resolver turns a verified delivery into the body the provider's Map
// reads: the objects it names, as the provider's API returns them. Its
// error is an outcome: a delivery whose object the API does not have is
// outcome.InvalidSignature (a forged id), an API that is down is
// outcome.Unavailable (the sender retries), a refused key
// outcome.Misconfigured.
type Resolver func(ctx context.Context, header http.Header, body []byte) ([]byte, error)

// Limits on a provider's API, for one delivery: a call takes at most
// apiCallTimeout (the pipeline bounds all of a delivery's calls together),
// an answer at most maxAPIAnswer, and at most maxAPIInFlight calls run at
// once, so that a flood of unsigned classic webhooks cannot make the
// bridge flood the provider with its key.
const (
	apiCallTimeout = 1500 * time.Millisecond
	maxAPIAnswer   = 1 << 20
	maxAPIInFlight = 16
)

// ErrNotFound is what an APIClient returns when the API has no such object
// (HTTP 404).
var ErrNotFound = errors.New("not found")

// APIClient reads one provider's API with the bridge's limits. Its methods
// classify every failure as an outcome (Do).
type APIClient struct {
	Name        string // the provider's Title, for errors
	Variable    string // the credentials' variable, for errors
	URLVariable string // the base's variable, for errors
	URL         string // the base, without a trailing slash
	Credentials string
	HTTP        *http.Client
	inFlight    chan struct{}
}

// NewAPIClient returns a client of the API at base for provider p, with
// credentials. client nil is one with apiCallTimeout that follows no
// redirect: an API that redirects is misconfigured, and the key must not
// travel to wherever it points.
func NewAPIClient(p Provider, base, credentials string, client *http.Client) *APIClient {
	if client == nil {
		client = &http.Client{
			Timeout:       apiCallTimeout,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	return &APIClient{
		Name: p.Title, Variable: p.API.Variable, URLVariable: p.APIURLVar(), URL: strings.TrimRight(base, "/"),
		Credentials: credentials, HTTP: client, inFlight: make(chan struct{}, maxAPIInFlight),
	}
}

// PathEscape escapes one segment of an API path: ids come from deliveries.
func PathEscape(segment string) string { return url.PathEscape(segment) }

// Do sends method path (under the base) with header and body, and decodes
// a 2xx answer's JSON into v (a *json.RawMessage keeps it as it came). A 404
// is ErrNotFound; 401 and 403 are outcome.Misconfigured (the credentials are
// refused), and so are a redirect and any other answer; a timeout, a network
// error, 429 and 5xx are outcome.Unavailable; more than maxAPIInFlight calls
// at once is outcome.Busy.
func (c *APIClient) Do(ctx context.Context, method, path string, header http.Header, body io.Reader, v any) error {
	select {
	case c.inFlight <- struct{}{}:
		defer func() { <-c.inFlight }()
	default:
		return outcome.New(outcome.Busy, "too many %s API calls in flight", c.Name)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.URL+path, body)
	if err != nil {
		return outcome.New(outcome.Misconfigured, "%s API request: %v", c.Name, err)
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.HTTP.Do(req)
	if err != nil {
		// err names the URL: the base, set by the operator, and an id that
		// the caller escaped.
		return &outcome.Error{Code: outcome.Unavailable, Message: c.Name + " API unreachable", Err: err}
	}
	defer resp.Body.Close()
	if err := c.classify(method, path, resp.StatusCode); err != nil {
		return err
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxAPIAnswer+1))
	switch {
	case err != nil:
		return &outcome.Error{Code: outcome.Unavailable, Message: c.Name + " API answer cut off", Err: err}
	case len(b) > maxAPIAnswer:
		return outcome.New(outcome.Unavailable, "%s API answered more than %d KiB to %s %s", c.Name, maxAPIAnswer>>10, method, path)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return outcome.New(outcome.Unavailable, "%s API answered %s %s with what is not JSON: %v", c.Name, method, path, err)
	}
	return nil
}

// classify turns a status that is not 2xx into its outcome.
func (c *APIClient) classify(method, path string, status int) error {
	switch {
	case status >= 200 && status < 300:
		return nil
	case status == http.StatusNotFound:
		return fmt.Errorf("%s API, %s %s: %w", c.Name, method, path, ErrNotFound)
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		return outcome.New(outcome.Misconfigured, "%s API refused %s (HTTP %d): check the key", c.Name, c.Variable, status)
	case status == http.StatusTooManyRequests || status >= 500:
		return outcome.New(outcome.Unavailable, "%s API answered HTTP %d to %s %s", c.Name, status, method, path)
	default:
		return outcome.New(outcome.Misconfigured, "%s API answered HTTP %d to %s %s (check %s)", c.Name, status, method, path, c.URLVariable)
	}
}

// embedRelated adds related to the object's _embedded, where Mollie's API
// embeds related objects (HAL), and where the bridge puts what a Resolver
// read from any provider's API beside what the provider sent. The object's
// own fields keep their bytes.
func embedRelated(object json.RawMessage, related map[string]json.RawMessage) ([]byte, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(object, &fields); err != nil {
		return nil, mapping.Invalid("not a JSON object: %v", err)
	}
	embedded := map[string]json.RawMessage{}
	if raw, ok := fields["_embedded"]; ok && !bytes.Equal(raw, []byte("null")) {
		_ = json.Unmarshal(raw, &embedded)
	}
	for name, obj := range related {
		embedded[name] = obj
	}
	fields["_embedded"], _ = json.Marshal(embedded)
	return json.Marshal(fields)
}
