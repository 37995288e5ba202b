// Package fakereditus is Reditus's API on loopback for tests: the four
// endpoints the bridge calls (tracking, payments, refunds, churn), and the
// read-only GET doctor probes the key with (reditus.ProbePath), with the
// bearer key checked, every request recorded as the reditus package's types,
// and each endpoint answered by a Responder the test may replace. The default
// Responder, Server.Reditus, behaves like Reditus: 201 with a referral id for
// a conversion, 202 for a payment (recorded once per idempotency key), 200
// for a refund and a churn, 400 for what Reditus would refuse.
//
// Every test that needs a Reditus uses this one. How each kind of test does:
//
// A handler test (a bridge with a key, asserting what was sent):
//
//	red := fakereditus.New(t, fakereditus.WithKey(apiKey))
//	cfg.ReditusAPIURL = red.BaseURL
//	... send a webhook ...
//	if got := red.Conversions(); len(got) != 1 || got[0] != want { ... }
//
// Reditus failing in a given way, or only at first:
//
//	red.Respond(reditus.CallTrack, fakereditus.Status(400, `{"errors":[{"detail":"Affiliate john not found"}]}`))
//	red.Respond(reditus.CallTrack, fakereditus.FailFirst(4, 503, red.Reditus)) // every attempt of the first delivery
//	red.Respond(reditus.CallPay, fakereditus.Hang)                             // past the client's timeout
//	red.Respond(reditus.CallTrack, fakereditus.Redirect(307, target.URL))
//
// Deliveries held inside Reditus until the test lets them go (the in-flight
// repeat, graceful shutdown under load, a slow conversion):
//
//	gate := fakereditus.NewGate(1, red.Reditus)
//	red.Respond(reditus.CallTrack, gate.Respond)
//	... send a webhook ...
//	<-gate.Held() // it is inside Reditus now
//	... send it again, or SIGTERM the bridge ...
//	gate.Release()
//
// A Responder of the test's own, for what no helper here says (holding only
// one customer's conversion):
//
//	red.Respond(reditus.CallTrack, func(w http.ResponseWriter, r *fakereditus.Request) {
//		if r.Conversion.Email == slow {
//			gate.Respond(w, r)
//			return
//		}
//		red.Reditus(w, r)
//	})
//
// Faults under Reditus's own contract (the faults test): a referral created
// once and 409 after, 400 for an unknown slug, and faults injected around it:
//
//	red := fakereditus.New(t, fakereditus.WithKey(apiKey), fakereditus.Conflicts(), fakereditus.UnknownSlugs("unknown"))
//	red.RespondAll(func(w http.ResponseWriter, r *fakereditus.Request) {
//		switch fault() {
//		case "reset": fakereditus.Reset(w, r)
//		case "201 then drop": fakereditus.CutBody(red.Reditus)(w, r)
//		default: red.Reditus(w, r)
//		}
//	})
//	... if n := len(red.Created()); n != want { ... }
//
// End to end (the built binary, simulate, backfill and replay): point
// REDITUS_API_URL at BaseURL, and assert what Reditus holds: Created (each
// referral once, with Conflicts), Paid (each payment once, whatever the
// bridge re-sent), Refunded, Churned. NeedsReferral makes payments and churn
// for a customer with no conversion answer 404, as Reditus does, so that a
// test proves a payment is sent only after its conversion.
//
// A redirect target that must receive nothing: a second Server, and
// Requests() == 0 at the end.
package fakereditus

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/getreditus/reditus-bridge/reditus"
)

// Key is the API key a Server accepts unless WithKey says otherwise.
const Key = "rk_test_fakereditus"

// Server is the fake. Its methods are safe for concurrent use.
type Server struct {
	*httptest.Server
	// BaseURL is what REDITUS_API_URL (reditus.Options.BaseURL) is set to.
	BaseURL string

	key           string
	conflicts     bool
	needsReferral bool
	unknownSlugs  map[string]bool
	stop          context.Context // done when the test ends: hung answers return

	mu         sync.Mutex
	requests   int
	probes     int
	probeAs    int // the status the probe is answered with when the key is right; 200 when 0
	calls      map[reditus.Call]int
	responders map[reditus.Call]Responder
	bodies     map[reditus.Call][][]byte
	received   received
	held       held
}

// received is every request body, decoded, in arrival order.
type received struct {
	conversions []reditus.Conversion
	payments    []reditus.Payment
	refunds     []reditus.Refund
	churns      []reditus.Churn
}

// held is what Reditus holds after the answers Server.Reditus gave.
type held struct {
	referrals []referral
	paid      []reditus.Payment
	refunded  []reditus.Refund
	churned   []reditus.Churn
}

type referral struct {
	id   string
	conv reditus.Conversion
}

// Option configures a Server.
type Option func(*Server)

// WithKey makes the Server accept key instead of Key.
func WithKey(key string) Option { return func(s *Server) { s.key = key } }

// Conflicts makes the Server answer 409 for a conversion whose email or uid
// belongs to a referral it holds, as Reditus does. Without it every valid
// conversion is created, which suits tests that send one conversion again
// and again.
func Conflicts() Option { return func(s *Server) { s.conflicts = true } }

// NeedsReferral makes the Server answer 404 for a payment or churn that
// names no referral it holds, and for a refund of a payment it does not
// hold, as Reditus does.
func NeedsReferral() Option { return func(s *Server) { s.needsReferral = true } }

// UnknownSlugs makes the Server answer 400 for a conversion whose affiliate
// or advocate slug is one of slugs, as Reditus does for a slug that names
// no one.
func UnknownSlugs(slugs ...string) Option {
	return func(s *Server) {
		for _, slug := range slugs {
			s.unknownSlugs[slug] = true
		}
	}
}

// Request is one authorised call to the Server, as a Responder sees it: the
// body is read, and decoded into the field for its call.
type Request struct {
	Call reditus.Call
	N    int           // this call's number on its endpoint, from 1
	HTTP *http.Request // its context ends when the client hangs up or the test ends
	Body []byte

	Conversion reditus.Conversion // Call is reditus.CallTrack
	Payment    reditus.Payment    // reditus.CallPay
	Refund     reditus.Refund     // reditus.CallRefund
	Churn      reditus.Churn      // reditus.CallChurn
	DecodeErr  error              // the body is not the call's JSON object
}

// Responder answers a Request.
type Responder func(w http.ResponseWriter, r *Request)

// New starts a Server on loopback that the test closes when it ends.
func New(t testing.TB, opts ...Option) *Server {
	t.Helper()
	stop, cancel := context.WithCancel(context.Background())
	s := &Server{
		key:          Key,
		unknownSlugs: map[string]bool{},
		stop:         stop,
		calls:        map[reditus.Call]int{},
		responders:   map[reditus.Call]Responder{},
		bodies:       map[reditus.Call][][]byte{},
	}
	for _, opt := range opts {
		opt(s)
	}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	s.BaseURL = s.URL + "/api"
	t.Cleanup(func() {
		cancel() // first, so that Close does not wait for a Hang
		s.Close()
	})
	return s
}

// Respond makes r answer every later call to endpoint call; nil restores
// Server.Reditus.
func (s *Server) Respond(call reditus.Call, r Responder) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.responders[call] = r
}

// RespondAll makes r answer every later call to every endpoint.
func (s *Server) RespondAll(r Responder) {
	for _, call := range reditus.Calls() {
		s.Respond(call, r)
	}
}

// maxBody bounds what the fake reads: the bridge's bodies are tiny.
const maxBody = 1 << 20

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.requests++
	s.mu.Unlock()
	if r.Method == http.MethodGet && r.URL.Path == "/api"+probePath {
		s.probe(w, r)
		return
	}
	call, ok := route(r.URL.Path)
	if !ok || r.Method != http.MethodPost {
		// What a wrong REDITUS_API_URL gets from a web server: not JSON.
		http.NotFound(w, r)
		return
	}
	if r.Header.Get("Authorization") != "Bearer "+s.key {
		writeJSON(w, http.StatusUnauthorized, `{"message":"Unauthenticated."}`)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody))
	if err != nil {
		return // the client went away
	}
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	defer context.AfterFunc(s.stop, cancel)()
	req := &Request{Call: call, HTTP: r.WithContext(ctx), Body: body}
	req.decode()

	s.mu.Lock()
	s.calls[call]++
	req.N = s.calls[call]
	s.bodies[call] = append(s.bodies[call], body)
	s.received.add(req)
	respond := s.responders[call]
	s.mu.Unlock()
	if respond == nil {
		respond = s.Reditus
	}
	respond(w, req)
}

// probePath is reditus.ProbePath without its query.
var probePath, _, _ = strings.Cut(reditus.ProbePath, "?")

// probe answers doctor's read-only GET (reditus.ProbePath): 401 for a wrong
// key, as the other endpoints do, else an empty page of partners, in the
// JSON:API form of Reditus's other answers, or the status ProbeAnswers set.
func (s *Server) probe(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.probes++
	status := s.probeAs
	s.mu.Unlock()
	switch {
	case r.Header.Get("Authorization") != "Bearer "+s.key:
		writeJSON(w, http.StatusUnauthorized, `{"message":"Unauthenticated."}`)
	case status != 0 && status != http.StatusOK:
		writeJSON(w, status, `{"error":"probe answered as the test asked"}`)
	default:
		writeJSON(w, http.StatusOK, `{"data":[],"meta":{"page":1,"per_page":1,"total":0}}`)
	}
}

// ProbeAnswers makes doctor's probe (reditus.ProbePath) answer status when
// the key is right, as a Reditus that moved the path (404) or is down (503)
// would; 0 restores 200.
func (s *Server) ProbeAnswers(status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.probeAs = status
}

// Probes counts doctor's probes, whatever they were answered.
func (s *Server) Probes() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.probes
}

// route finds the call whose endpoint path ends, below the base URL, p.
func route(p string) (reditus.Call, bool) {
	for _, call := range reditus.Calls() {
		if p == "/api"+call.Path() {
			return call, true
		}
	}
	return 0, false
}

// decode fills the Request's field for its call. Unknown fields and wrong
// types (an amount with a fraction, a number as a string) are errors, as
// they are to Reditus's validation.
func (r *Request) decode() {
	var v any
	switch r.Call {
	case reditus.CallTrack:
		v = &r.Conversion
	case reditus.CallPay:
		v = &r.Payment
	case reditus.CallRefund:
		v = &r.Refund
	case reditus.CallChurn:
		v = &r.Churn
	}
	dec := json.NewDecoder(bytes.NewReader(r.Body))
	dec.DisallowUnknownFields()
	r.DecodeErr = dec.Decode(v)
}

func (rc *received) add(r *Request) {
	switch r.Call {
	case reditus.CallTrack:
		rc.conversions = append(rc.conversions, r.Conversion)
	case reditus.CallPay:
		rc.payments = append(rc.payments, r.Payment)
	case reditus.CallRefund:
		rc.refunds = append(rc.refunds, r.Refund)
	case reditus.CallChurn:
		rc.churns = append(rc.churns, r.Churn)
	}
}

// Reditus answers r as Reditus does (docs/design.md, "Reditus", and Reditus's API
// reference for payments, refunds and churn), and keeps what it accepted.
// It is every endpoint's Responder until Respond replaces it, and the one a
// test's Responder calls for the answers it does not script.
func (s *Server) Reditus(w http.ResponseWriter, r *Request) {
	if r.DecodeErr != nil {
		writeError(w, http.StatusBadRequest, "invalid JSON body: "+r.DecodeErr.Error())
		return
	}
	if msg := invalid(r); msg != "" {
		writeError(w, http.StatusBadRequest, msg)
		return
	}
	s.mu.Lock()
	status, body := s.accept(r)
	s.mu.Unlock()
	writeJSON(w, status, body)
}

// invalid says why Reditus would answer r with 400, or "".
func invalid(r *Request) string {
	switch r.Call {
	case reditus.CallTrack:
		c := r.Conversion
		if c.AffiliateSlug == "" && c.AdvocateSlug == "" {
			return "affiliate_slug or advocate_slug is required"
		}
		if c.Email == "" && c.UID == "" {
			return "email or uid is required"
		}
	case reditus.CallPay:
		p := r.Payment
		var fields map[string]json.RawMessage
		_ = json.Unmarshal(r.Body, &fields)
		switch {
		case fields["amount"] == nil:
			return "amount is required"
		case p.Currency == "" || p.Currency != strings.ToLower(p.Currency):
			return "currency is required, in lowercase"
		case p.IdempotencyKey == "":
			return "idempotency_key is required"
		case p.ReferralUID == "" && p.ReferralEmail == "" && p.ReferralID == "":
			return "referral_uid, referral_email or referral_id is required"
		case p.Interval != "" && p.Interval != "month" && p.Interval != "year":
			return "interval must be month or year"
		}
	case reditus.CallRefund:
		if r.Refund.PaymentID == "" {
			return "payment_id is required"
		}
	case reditus.CallChurn:
		c := r.Churn
		if c.ReferralUID == "" && c.ReferralEmail == "" && c.ReferralID == "" {
			return "referral_uid, referral_id or referral_email is required"
		}
	}
	return ""
}

// accept applies a valid r to what the Server holds and returns the answer.
// The caller holds s.mu.
func (s *Server) accept(r *Request) (status int, body string) {
	switch r.Call {
	case reditus.CallTrack:
		return s.track(r.Conversion)
	case reditus.CallPay:
		return s.pay(r.Payment)
	case reditus.CallRefund:
		return s.refund(r.Refund)
	default:
		return s.churn(r.Churn)
	}
}

func (s *Server) track(c reditus.Conversion) (int, string) {
	for _, slug := range []string{c.AffiliateSlug, c.AdvocateSlug} {
		if s.unknownSlugs[slug] {
			return http.StatusBadRequest, errorBody("Affiliate " + slug + " not found")
		}
	}
	if _, ok := s.referral(c.UID, "", c.Email); ok && s.conflicts {
		return http.StatusConflict, errorBody("Referral already exists")
	}
	id := fmt.Sprintf("ref_%d", len(s.held.referrals)+1)
	s.held.referrals = append(s.held.referrals, referral{id: id, conv: c})
	return http.StatusCreated, fmt.Sprintf(`{"data":{"id":%q,"type":"referral","attributes":{"state":"lead"}}}`, id)
}

// pay records p once per idempotency key. A repeated key is answered 202
// again and recorded no second time: Reditus's reference says only that the
// key "is used to prevent double payments", and lists no other success
// status than 202 and no 409.
func (s *Server) pay(p reditus.Payment) (int, string) {
	if _, ok := s.referral(p.ReferralUID, p.ReferralID, p.ReferralEmail); !ok && s.needsReferral {
		return http.StatusNotFound, `{"error":"Referral not found"}`
	}
	if !s.paid(p.IdempotencyKey) {
		s.held.paid = append(s.held.paid, p)
	}
	return http.StatusAccepted, fmt.Sprintf(`{"data":{"id":%q,"type":"payment","attributes":{"amount":%d,"currency":%q}}}`,
		p.IdempotencyKey, p.Amount, p.Currency)
}

func (s *Server) refund(r reditus.Refund) (int, string) {
	if !s.paid(r.PaymentID) && s.needsReferral {
		return http.StatusNotFound, `{"error":"Payment transaction not found"}`
	}
	for _, done := range s.held.refunded {
		if done == r {
			return http.StatusOK, `{"message":"ok"}`
		}
	}
	s.held.refunded = append(s.held.refunded, r)
	return http.StatusOK, `{"message":"ok"}`
}

func (s *Server) churn(c reditus.Churn) (int, string) {
	ref, ok := s.referral(c.ReferralUID, c.ReferralID, c.ReferralEmail)
	if !ok && s.needsReferral {
		return http.StatusNotFound, `{"error":"Referral not found"}`
	}
	s.held.churned = append(s.held.churned, c)
	return http.StatusOK, fmt.Sprintf(`{"data":{"id":%q,"type":"referral","attributes":{"state":"churned"}}}`, ref.id)
}

// referral finds a held referral by uid, Reditus id or email, in the order
// Reditus matches them; empty values match nothing.
func (s *Server) referral(uid, id, email string) (referral, bool) {
	for _, match := range []func(referral) bool{
		func(r referral) bool { return uid != "" && r.conv.UID == uid },
		func(r referral) bool { return id != "" && r.id == id },
		func(r referral) bool { return email != "" && r.conv.Email == email },
	} {
		for _, r := range s.held.referrals {
			if match(r) {
				return r, true
			}
		}
	}
	return referral{}, false
}

func (s *Server) paid(key string) bool {
	for _, p := range s.held.paid {
		if p.IdempotencyKey == key {
			return true
		}
	}
	return false
}

// Requests counts every HTTP request the Server got, including those for a
// wrong path or with a wrong key, which are not calls.
func (s *Server) Requests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests
}

// Calls counts the authorised requests to call's endpoint, whatever they
// were answered.
func (s *Server) Calls(call reditus.Call) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[call]
}

// Bodies returns the raw bodies of the calls to call's endpoint, for tests
// of the wire format (fields left out, integer amounts).
func (s *Server) Bodies(call reditus.Call) [][]byte {
	return locked(s, func() [][]byte { return s.bodies[call] })
}

// locked returns a copy of the slice get reads, read under the Server's
// lock, so that a test may keep it while calls go on.
func locked[T any](s *Server, get func() []T) []T {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]T(nil), get()...)
}

// Conversions returns every conversion received, however it was answered.
func (s *Server) Conversions() []reditus.Conversion {
	return locked(s, func() []reditus.Conversion { return s.received.conversions })
}

// Payments returns every payment received, however it was answered.
func (s *Server) Payments() []reditus.Payment {
	return locked(s, func() []reditus.Payment { return s.received.payments })
}

// Refunds returns every refund received, however it was answered.
func (s *Server) Refunds() []reditus.Refund {
	return locked(s, func() []reditus.Refund { return s.received.refunds })
}

// Churns returns every churn received, however it was answered.
func (s *Server) Churns() []reditus.Churn {
	return locked(s, func() []reditus.Churn { return s.received.churns })
}

// Created returns the conversions Server.Reditus created, in order: with
// Conflicts, one per referral however often it was sent.
func (s *Server) Created() []reditus.Conversion {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]reditus.Conversion, len(s.held.referrals))
	for i, r := range s.held.referrals {
		out[i] = r.conv
	}
	return out
}

// Paid returns the payments Server.Reditus recorded: one per idempotency
// key, however often it was sent.
func (s *Server) Paid() []reditus.Payment {
	return locked(s, func() []reditus.Payment { return s.held.paid })
}

// Refunded returns the refunds Server.Reditus accepted, one per payment.
func (s *Server) Refunded() []reditus.Refund {
	return locked(s, func() []reditus.Refund { return s.held.refunded })
}

// Churned returns the churns Server.Reditus accepted, in order.
func (s *Server) Churned() []reditus.Churn {
	return locked(s, func() []reditus.Churn { return s.held.churned })
}

// Status answers with code and body (JSON, or text Reditus's client must
// cope with), and headers given as name, value pairs.
func Status(code int, body string, headers ...string) Responder {
	return func(w http.ResponseWriter, _ *Request) {
		for i := 0; i+1 < len(headers); i += 2 {
			w.Header().Set(headers[i], headers[i+1])
		}
		writeJSON(w, code, body)
	}
}

// Sequence answers the Nth call to an endpoint with rs[N-1]; the last one
// answers every call after. It takes at least one Responder.
func Sequence(rs ...Responder) Responder {
	return func(w http.ResponseWriter, r *Request) {
		rs[min(r.N, len(rs))-1](w, r)
	}
}

// FailFirst answers the first n calls to an endpoint with an empty code,
// and the rest with then.
func FailFirst(n, code int, then Responder) Responder {
	return func(w http.ResponseWriter, r *Request) {
		if r.N <= n {
			w.WriteHeader(code)
			return
		}
		then(w, r)
	}
}

// Hang answers nothing until the client gives up or the test ends; then it
// drops the connection, so that a client still waiting gets an error and not
// the empty 200 a returning handler would send.
func Hang(w http.ResponseWriter, r *Request) {
	<-r.HTTP.Context().Done()
	if conn, _, err := w.(http.Hijacker).Hijack(); err == nil {
		_ = conn.Close()
	}
}

// Gate holds the first calls it answers inside Reditus until Release, so that
// a test can act while a delivery is in flight: send it again, stop the
// bridge. Its methods are safe for concurrent use.
type Gate struct {
	n       int
	then    Responder
	held    chan struct{} // closed once n calls are held
	release chan struct{} // closed by Release

	mu      sync.Mutex
	arrived int
	once    sync.Once
}

// NewGate returns a Gate that holds the first n calls given to its Respond
// and answers each with then once released; later calls are answered by then
// at once. n is at least 1.
func NewGate(n int, then Responder) *Gate {
	return &Gate{n: max(n, 1), then: then, held: make(chan struct{}), release: make(chan struct{})}
}

// Respond is the Gate as a Responder. A held call whose client hangs up, or
// whose test ends, before Release is dropped as Hang drops it.
func (g *Gate) Respond(w http.ResponseWriter, r *Request) {
	g.mu.Lock()
	g.arrived++
	hold := g.arrived <= g.n
	if g.arrived == g.n {
		close(g.held)
	}
	g.mu.Unlock()
	if hold {
		select {
		case <-g.release:
		case <-r.HTTP.Context().Done():
			Hang(w, r)
			return
		}
	}
	g.then(w, r)
}

// Held is closed once the Gate holds n calls.
func (g *Gate) Held() <-chan struct{} { return g.held }

// Release lets the held calls, and every later one, through to then. It may
// be called more than once, so that a deferred Release is safe.
func (g *Gate) Release() { g.once.Do(func() { close(g.release) }) }

// Redirect answers with a redirect of code to location.
func Redirect(code int, location string) Responder {
	return func(w http.ResponseWriter, r *Request) {
		http.Redirect(w, r.HTTP, location, code)
	}
}

// Reset closes the connection with a TCP RST, before any answer.
func Reset(w http.ResponseWriter, _ *Request) {
	conn, _, err := w.(http.Hijacker).Hijack()
	if err != nil {
		return
	}
	if tcp, ok := conn.(*net.TCPConn); ok {
		_ = tcp.SetLinger(0) // RST, not FIN
	}
	_ = conn.Close()
}

// CutBody answers as inner decides (and keeps what inner accepts), but the
// connection drops after the status line and a part of the body: a 201
// whose body is lost.
func CutBody(inner Responder) Responder {
	return func(w http.ResponseWriter, r *Request) {
		rec := httptest.NewRecorder()
		inner(rec, r)
		conn, buf, err := w.(http.Hijacker).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		writeCut(buf, rec)
	}
}

func writeCut(buf *bufio.ReadWriter, rec *httptest.ResponseRecorder) {
	body := rec.Body.Bytes()
	_, _ = fmt.Fprintf(buf, "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n",
		rec.Code, http.StatusText(rec.Code), len(body)+100)
	_, _ = buf.Write(body[:len(body)/2])
	_ = buf.Flush()
}

func writeJSON(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, body)
}

func writeError(w http.ResponseWriter, status int, detail string) {
	writeJSON(w, status, errorBody(detail))
}

// errorBody is a JSON:API error list, as Reditus's tracking errors are.
func errorBody(detail string) string {
	b, _ := json.Marshal(map[string]any{"errors": []map[string]string{{"detail": detail}}})
	return string(b)
}
