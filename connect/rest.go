package connect

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"unicode/utf8"
)

// Error is a failed call to a provider's API, worded as one line a person can
// act on. It never holds an API key or a secret: the provider's own message
// is scrubbed of them before it is kept.
type Error struct {
	Provider string // the provider's Title
	Op       string // what the call was for: "list the webhook endpoints"
	Status   int    // the HTTP status; 0 when no answer arrived
	Message  string // the provider's own error message, cut short
	KeyVar   string // the variable of the key, which a 401 or 403 refused
	BaseVar  string // the variable of the API's base URL
	// Garbage: a 2xx whose body is not the API's JSON.
	Garbage bool
	// Write: the call creates or changes an endpoint.
	Write bool
	Err   error // the transport's error, when no answer arrived
}

func (e *Error) Error() string {
	api := e.Provider + "'s API"
	msg := ""
	if e.Message != "" {
		msg = ": " + e.Message
	}
	switch {
	case e.Status == 0:
		return fmt.Sprintf("%s did not answer when asked to %s (is %s right?): %v", api, e.Op, e.BaseVar, e.Err)
	case e.Garbage:
		return fmt.Sprintf("%s answered %d when asked to %s, but not with its JSON (is %s right?)", api, e.Status, e.Op, e.BaseVar)
	case e.Status == http.StatusUnauthorized || e.Status == http.StatusForbidden:
		return fmt.Sprintf("%s refused %s (HTTP %d) when asked to %s%s; check the key and its permissions", api, e.KeyVar, e.Status, e.Op, msg)
	case e.Status == http.StatusTooManyRequests:
		return fmt.Sprintf("%s is rate limiting (HTTP 429) and did not %s%s; wait a minute and run it again", api, e.Op, msg)
	case e.Status >= 500:
		return fmt.Sprintf("%s failed (HTTP %d) to %s%s; try again later", api, e.Status, e.Op, msg)
	default:
		return fmt.Sprintf("%s refused to %s (HTTP %d)%s", api, e.Op, e.Status, msg)
	}
}

func (e *Error) Unwrap() error { return e.Err }

// MayHaveWritten reports whether the call wrote, or may have, although it
// failed: a write that got no answer, a 5xx, or an answer that could not be
// read. A 4xx refused it: nothing was written.
func (e *Error) MayHaveWritten() bool {
	return e.Write && (e.Status == 0 || e.Status >= 500 || e.Garbage)
}

// maxAnswer bounds what is read of an answer: endpoint lists are small.
const maxAnswer = 4 << 20

// rest is a provider's JSON API over HTTP: where it is, how a request
// authenticates, and what an error names.
type rest struct {
	title   string // the provider's Title
	base    string // the API base URL, without a trailing slash
	keyVar  string
	baseVar string
	hc      *http.Client
	// auth sets a request's credentials.
	auth func(*http.Request)
	// accept and contentType are the media types of answers and request
	// bodies; JSON when empty.
	accept, contentType string
	// secrets never appear in an error: the key, and a secret being set.
	secrets []string
}

// bearer is the rest of an API at base that takes key as
// "Authorization: Bearer <key>", the variables keyVar and baseVar named in
// its errors.
func bearer(title, base, keyVar, baseVar string, key string, hc *http.Client) rest {
	return rest{
		title: title, base: strings.TrimRight(base, "/"), keyVar: keyVar, baseVar: baseVar, hc: hc,
		auth: func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+key) }, secrets: []string{key},
	}
}

// endpointer is an endpoint as a provider's API answers it.
type endpointer interface{ endpoint() Endpoint }

// inData is an answer that wraps its object in "data" (Paddle, Lemon
// Squeezy).
type inData[T endpointer] struct {
	Data T `json:"data"`
}

func (d inData[T]) endpoint() Endpoint { return d.Data.endpoint() }

// written makes a call that creates or changes an endpoint, answered as
// one T.
func written[T endpointer](ctx context.Context, r rest, op, method, path string, body []byte) (Endpoint, error) {
	var answer T
	if err := r.call(ctx, op, method, path, body, &answer); err != nil {
		return Endpoint{}, err
	}
	return answer.endpoint(), nil
}

// call sends method path (below base) with body, when not nil, and decodes
// a 2xx answer into out, when not nil. op says what the call is for, in
// errors.
func (r rest) call(ctx context.Context, op, method, path string, body []byte, out any) error {
	fail := &Error{Provider: r.title, Op: op, KeyVar: r.keyVar, BaseVar: r.baseVar, Write: method != http.MethodGet}
	var reader io.Reader
	if body != nil {
		reader = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, r.base+path, reader)
	if err != nil {
		fail.Err = err
		return fail
	}
	r.auth(req)
	req.Header.Set("Accept", cmp.Or(r.accept, "application/json"))
	req.Header.Set("User-Agent", "reditus-bridge connect")
	if body != nil {
		req.Header.Set("Content-Type", cmp.Or(r.contentType, "application/json"))
	}
	resp, err := r.hc.Do(req)
	if err != nil {
		fail.Err = errors.New(scrub(err.Error(), r.secrets))
		return fail
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	fail.Status = resp.StatusCode
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		fail.Message = scrub(errorMessage(raw), r.secrets)
		return fail
	}
	if out != nil && json.Unmarshal(raw, out) != nil {
		fail.Garbage = true
		return fail
	}
	return nil
}

// errorMessage finds the message in a provider's error answer: each names
// it differently, so the shapes are tried in turn. Stripe
// {"error":{"message"}}; Paddle {"error":{"detail"}}; Polar {"detail":"..."}
// or, for a validation error, {"detail":[{"msg"}]}; Lemon Squeezy (JSON:API)
// {"errors":[{"detail"}]}; WorkOS and Chargebee {"message"}. An answer that
// is none of these gives "".
func errorMessage(raw []byte) string {
	var shapes struct {
		Error   json.RawMessage `json:"error"`
		Detail  json.RawMessage `json:"detail"`
		Errors  []struct{ Detail, Title string }
		Message string `json:"message"`
	}
	if json.Unmarshal(raw, &shapes) != nil {
		return ""
	}
	var nested struct{ Message, Detail string }
	var text string
	var list []struct{ Msg string }
	switch {
	case json.Unmarshal(shapes.Error, &nested) == nil && (nested.Message != "" || nested.Detail != ""):
		return cmp.Or(nested.Message, nested.Detail)
	case json.Unmarshal(shapes.Error, &text) == nil && text != "":
		return text
	case json.Unmarshal(shapes.Detail, &text) == nil && text != "":
		return text
	case json.Unmarshal(shapes.Detail, &list) == nil && len(list) > 0:
		return list[0].Msg
	case len(shapes.Errors) > 0:
		return cmp.Or(shapes.Errors[0].Detail, shapes.Errors[0].Title)
	}
	return shapes.Message
}

// scrub makes s safe for an error line: every secret replaced, on one line,
// at most 200 characters.
func scrub(s string, secrets []string) string {
	for _, secret := range secrets {
		if secret != "" {
			s = strings.ReplaceAll(s, secret, "[redacted]")
		}
	}
	s = strings.Join(strings.Fields(s), " ")
	if utf8.RuneCountInString(s) > 200 {
		s = string([]rune(s)[:200]) + "..."
	}
	return s
}
