// Package admin shows the journal to the operator (docs/operating.md,
// "/admin"): GET /admin, a page a person can use without reading docs, with
// an overview of the last 30 days above the events; GET /admin/events/{id},
// everything about one event, every attempt at Reditus included; GET
// /admin/api/..., the same as JSON; POST /admin/api/events/{id}/retry, which
// runs a journaled event through the pipeline again; DELETE
// /admin/api/events?email=, which erases a customer's events; and the events
// command, the journal in a terminal. It answers "why was this signup not
// tracked?".
package admin

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/getreditus/reditus-bridge/journal"
	"github.com/getreditus/reditus-bridge/outcome"
)

// Lister reads the journal. *journal.DB is one.
type Lister interface {
	List(ctx context.Context, f journal.Filter) ([]journal.Record, error)
}

// Journal is what the admin pages read and erase. *journal.DB is one.
type Journal interface {
	Lister
	// Get returns one record, with its detail, or an error matching
	// journal.ErrNotFound.
	Get(ctx context.Context, id int64) (journal.Record, error)
	Summarizer
	Forgetter
}

// Summarizer counts the journal since each of sinces, in one pass: the
// overview, and GET /admin/api/summary.
type Summarizer interface {
	Overviews(ctx context.Context, sinces ...time.Time) ([]journal.Overview, error)
}

// Forgetter erases a customer's events: every record whose email is email,
// compared exactly but for case, and says how many it deleted.
type Forgetter interface {
	Forget(ctx context.Context, email string) (int64, error)
}

// Outcome is what a retry made of an event.
type Outcome struct {
	Outcome    outcome.Word // as journaled: forwarded, skipped, queued, ...
	Reason     string
	ReferralID string
}

// Options are what New serves.
type Options struct {
	// Token (ADMIN_TOKEN) is the password of the user "admin". Empty turns
	// the admin routes off: each answers 404 like a route that does not exist.
	Token string
	// Events is the journal; nil answers 503 (the journal could not be opened).
	Events Journal
	// Retry runs a journaled event through the pipeline again, while its
	// outcome is still was, the one the retry rule allowed. Its error
	// matches journal.ErrNotFound for an unknown id and journal.ErrBusy for an
	// event being delivered right now, or whose outcome changed meanwhile.
	// Nil: no retry button, no retry routes.
	Retry func(ctx context.Context, id int64, was outcome.Word) (Outcome, error)
	// Providers are offered in the page's provider filter (config.Providers);
	// when nil, the providers of the events shown are.
	Providers []string
	Log       *slog.Logger
	Now       func() time.Time // time.Now when nil
}

// retryBudget bounds one retry. A retry, once started, runs to its end even if
// the browser goes away: cut short, it would leave the event pending until its
// lease ran out.
const retryBudget = 30 * time.Second

// adminUser is the basic-auth user name (docs/operating.md, "/admin").
const adminUser = "admin"

// realm is named in the 401's WWW-Authenticate, which makes a browser ask for
// the user name and password.
const realm = `Basic realm="reditus-bridge admin"`

// contentSecurityPolicy lets the page do nothing but show itself, styled by
// its one style element (whose hash is added), and submit forms to the bridge.
// No script runs on the page, so an event that smuggled markup past the
// escaping still could not act.
const contentSecurityPolicy = "default-src 'none'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; style-src "

type server struct {
	events    Journal
	retry     func(ctx context.Context, id int64, was outcome.Word) (Outcome, error)
	providers []string
	log       *slog.Logger
	now       func() time.Time
	userSum   [sha256.Size]byte
	tokenSum  [sha256.Size]byte
	csp       string
}

// New returns the handler of every /admin route. It expects the full request
// path (gin.WrapH keeps it).
func New(o Options) http.Handler {
	if o.Token == "" {
		return http.HandlerFunc(noSuchRoute)
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	s := &server{
		events:    o.Events,
		retry:     o.Retry,
		providers: o.Providers,
		log:       o.Log,
		now:       o.Now,
		// Comparing hashes keeps the comparison constant-time in the length
		// of the token too, which subtle.ConstantTimeCompare alone is not.
		userSum:  sha256.Sum256([]byte(adminUser)),
		tokenSum: sha256.Sum256([]byte(o.Token)),
		csp:      contentSecurityPolicy + styleHash,
	}

	return s.secure(s.authenticate(s.routes()))
}

// routes is every admin route, in one place. A path asked for with a method
// it does not take is answered 405, with the methods it takes.
func (s *server) routes() *http.ServeMux {
	mux := http.NewServeMux()
	var paths []string
	allowed := map[string][]string{}
	route := func(method, path string, h http.HandlerFunc) {
		mux.HandleFunc(method+" "+path, h)
		if allowed[path] == nil {
			paths = append(paths, path)
		}
		allowed[path] = append(allowed[path], method)
	}
	route(http.MethodGet, "/admin", s.page)
	route(http.MethodGet, "/admin/{$}", s.page)
	route(http.MethodGet, "/admin/events/{id}", s.eventPage)
	route(http.MethodGet, "/admin/api/events", s.list)
	route(http.MethodDelete, "/admin/api/events", s.sameOrigin(s.forgetAPI))
	route(http.MethodGet, "/admin/api/events/{id}", s.eventAPI)
	route(http.MethodGet, "/admin/api/summary", s.summaryAPI)
	if s.retry != nil {
		route(http.MethodPost, "/admin/api/events/{id}/retry", s.sameOrigin(s.retryAPI))
		route(http.MethodPost, "/admin/events/{id}/retry", s.sameOrigin(s.retryForm))
	}
	for _, path := range paths {
		mux.HandleFunc(path, methodNotAllowed(allowed[path]...))
	}
	mux.HandleFunc("/", noSuchRoute)
	return mux
}

// secure sets the headers every admin answer carries.
func (s *server) secure(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", s.csp)
		h.Set("X-Content-Type-Options", "nosniff")
		// frame-ancestors says the same to current browsers; older ones
		// (and some embedded views) read only this.
		h.Set("X-Frame-Options", "DENY")
		// same-origin, not no-referrer: under no-referrer a browser sends
		// "Origin: null" with the page's own retry form, which sameOrigin
		// would have to refuse. Cross-origin, nothing is sent, so the
		// emails in the page's address never leave it.
		h.Set("Referrer-Policy", "same-origin")
		h.Set("Cache-Control", "no-store")
		next.ServeHTTP(w, r)
	})
}

// authenticate lets through requests from the user admin with the token as
// password, and asks everyone else to log in, whatever the route, so that
// nothing about the routes shows before that.
func (s *server) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, pass, ok := r.BasicAuth()
		if ok {
			u, p := sha256.Sum256([]byte(user)), sha256.Sum256([]byte(pass))
			if subtle.ConstantTimeCompare(u[:], s.userSum[:])&subtle.ConstantTimeCompare(p[:], s.tokenSum[:]) == 1 {
				next.ServeHTTP(w, r)
				return
			}
			// A browser's first request has no credentials; only wrong
			// ones are worth a line. Neither the user nor the password
			// is logged: either may be the token, mistyped.
			s.log.Warn("admin: wrong user name or password", "remote", r.RemoteAddr, "path", r.URL.Path)
		}
		w.Header().Set("WWW-Authenticate", realm)
		writeError(w, http.StatusUnauthorized, "log in as admin, with ADMIN_TOKEN as the password")
	})
}

// sameOrigin refuses a state change that a browser made for another site
// (cross-site request forgery: the browser would send the operator's
// credentials with it). A request must say where it comes from: a browser
// always does, and a script can send Origin itself.
func (s *server) sameOrigin(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := checkSameOrigin(r); err != nil {
			s.log.Warn("admin: refused a cross-origin request", "path", r.URL.Path, "why", err.Error())
			writeError(w, http.StatusForbidden, "cross-origin request refused: "+err.Error())
			return
		}
		next(w, r)
	}
}

// checkSameOrigin says why r is not known to come from the bridge's own
// origin, or nil. Sec-Fetch-Site, which no page can forge, decides when a
// browser sent it; else the Origin header, or the Referer without one, must
// name the origin r was sent to.
//
// That origin's scheme is https when the bridge terminates TLS, or when the
// proxy in front of it did and says so in X-Forwarded-Proto (Fly's does): the
// bridge then sees http, while the browser's Origin is https. Trusting the
// header costs nothing here: a forged request comes from a victim's browser,
// and a page cannot set X-Forwarded-Proto on the requests it makes a browser
// send.
func checkSameOrigin(r *http.Request) error {
	switch site := r.Header.Get("Sec-Fetch-Site"); site {
	case "same-origin":
		return nil
	case "":
	default:
		return errors.New("Sec-Fetch-Site is " + strconv.Quote(site))
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	} else if p, _, _ := strings.Cut(r.Header.Get("X-Forwarded-Proto"), ","); strings.EqualFold(strings.TrimSpace(p), "https") {
		scheme = "https"
	}
	want := origin(scheme, r.Host)

	from, header := r.Header.Get("Origin"), "Origin"
	if from == "" || from == "null" {
		from, header = r.Header.Get("Referer"), "Referer"
	}
	if from == "" {
		return errors.New("the request has neither Origin nor Referer; send Origin: " + want)
	}
	u, err := url.Parse(from)
	if err != nil || u.Host == "" {
		return errors.New(header + " is not a URL")
	}
	if got := origin(u.Scheme, u.Host); got != want {
		return errors.New(header + " " + strconv.Quote(got) + " is not " + strconv.Quote(want))
	}
	return nil
}

// origin is scheme://host in the one spelling that compares: lower case, and
// without the scheme's default port.
func origin(scheme, host string) string {
	scheme, host = strings.ToLower(scheme), strings.ToLower(host)
	switch {
	case scheme == "http":
		host = strings.TrimSuffix(host, ":80")
	case scheme == "https":
		host = strings.TrimSuffix(host, ":443")
	}
	return scheme + "://" + host
}

// noSuchRoute is the bridge's answer to a route that does not exist
// (handlers.New's NoRoute), so that a disabled /admin cannot be told apart
// from none.
func noSuchRoute(w http.ResponseWriter, _ *http.Request) {
	writeError(w, http.StatusNotFound, "no such route")
}

func methodNotAllowed(methods ...string) http.HandlerFunc {
	var allow []string
	for _, m := range methods {
		allow = append(allow, m)
		if m == http.MethodGet {
			allow = append(allow, http.MethodHead)
		}
	}
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Allow", strings.Join(allow, ", "))
		writeError(w, http.StatusMethodNotAllowed, "method not allowed")
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	// Marshal escapes <, > and &, so no JSON answer can be read as markup;
	// escapeC1, what a terminal would act on (curl, jq).
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":"internal error"}`)
	}
	b = escapeC1(b)
	// gin's c.JSON writes the same header, and no newline after the body:
	// a disabled /admin answers byte for byte like a route that is not there.
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(b) // the client went away; nothing to do
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}

// errNoJournal answers when the journal could not be opened at start.
const errNoJournal = "the journal is not available; the bridge's log says why"

// list is GET /admin/api/events.
func (s *server) list(w http.ResponseWriter, r *http.Request) {
	if s.events == nil {
		writeError(w, http.StatusServiceUnavailable, errNoJournal)
		return
	}
	q, err := parseQuery(r.URL.Query(), nil)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	f, err := q.filter(s.now())
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	recs, err := s.events.List(r.Context(), f)
	if err != nil {
		s.log.Error("admin: list the journal", "err", err)
		writeError(w, http.StatusInternalServerError, "could not read the journal; the bridge's log says why")
		return
	}
	writeJSON(w, http.StatusOK, eventsJSON(recs))
}

// retryAPI is POST /admin/api/events/{id}/retry, for scripts. It takes the
// parameters of a search, as the page's button does, and ignores them; any
// other is refused rather than ignored, as a search's are: a script that
// sends ?force=1 must learn that there is no such thing.
func (s *server) retryAPI(w http.ResponseWriter, r *http.Request) {
	if _, err := parseQuery(r.URL.Query(), nil); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	id, out, err := s.retryEvent(r)
	var refused *notRetryable
	switch {
	case errors.Is(err, journal.ErrNotFound):
		writeError(w, http.StatusNotFound, "no such event")
	case errors.Is(err, journal.ErrBusy):
		writeError(w, http.StatusConflict, "the event is being delivered right now; look again in a moment")
	case errors.Is(err, journal.ErrNoBody):
		writeError(w, http.StatusConflict, "the bridge kept no body for this event, of a type it does not handle: there is nothing to retry")
	case errors.As(err, &refused):
		writeError(w, http.StatusConflict, refused.Error())
	case errors.Is(err, errNoEvents):
		writeError(w, http.StatusServiceUnavailable, errNoJournal)
	case err != nil:
		writeError(w, http.StatusInternalServerError, "the retry failed; the bridge's log says why")
	default:
		writeJSON(w, http.StatusOK, retryJSON{ID: id, Outcome: out.Outcome, Reason: out.Reason, ReferralID: out.ReferralID})
	}
}

// retryForm is the page's Retry button: it retries, then sends the browser
// back to the page it came from (its query), which shows the event's new
// outcome. A reload of that page shows it again rather than retrying again.
// A search it cannot read is dropped, not refused: the answer only says
// where the browser goes back to, and a 400 would strand the operator.
func (s *server) retryForm(w http.ResponseWriter, r *http.Request) {
	id, _, err := s.retryEvent(r)
	back := url.Values{}
	if q, qerr := parseQuery(r.URL.Query(), []string{"back"}); qerr == nil {
		back = q.values()
	}
	if id > 0 {
		back.Set("retried", strconv.FormatInt(id, 10))
	}
	var refused *notRetryable
	switch {
	case errors.Is(err, journal.ErrNotFound):
		back.Set("retry", "gone")
	case errors.Is(err, journal.ErrBusy):
		back.Set("retry", "busy")
	case errors.Is(err, journal.ErrNoBody):
		back.Set("retry", "nobody")
	case errors.As(err, &refused):
		back.Set("retry", "refused")
	case err != nil:
		back.Set("retry", "error")
	}
	to := "/admin?"
	if r.URL.Query().Get("back") == "event" && id > 0 && !errors.Is(err, journal.ErrNotFound) {
		// The event's own page, which shows the attempt just made.
		to = fmt.Sprintf("/admin/events/%d?", id)
		back.Del("retried")
		if err == nil {
			back.Set("retried", strconv.FormatInt(id, 10))
		}
	}
	http.Redirect(w, r, to+back.Encode(), http.StatusSeeOther)
}

// errNoEvents: the journal could not be opened, so no event can be retried.
var errNoEvents = errors.New(errNoJournal)

// notRetryable is a retry refused because of the event's outcome: the same
// rule (outcomes.go's Retry) that decides whether the page offers a Retry
// button decides what a script may retry. A forwarded payment retried would
// be sent again, and a refund or churn too.
type notRetryable struct {
	id      int64
	outcome outcome.Word
}

func (e *notRetryable) Error() string {
	return fmt.Sprintf("event %d is %s, which a retry cannot change: %s Only %s events are retried",
		e.id, e.outcome, outcomeOf(e.outcome).Meaning, strings.Join(retryableNames(), ", "))
}

// retryEvent retries the event the path names, if its outcome is one a
// retry can change. An id that is not a number names no event.
func (s *server) retryEvent(r *http.Request) (int64, Outcome, error) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, Outcome{}, journal.ErrNotFound
	}
	if s.events == nil {
		return id, Outcome{}, errNoEvents
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), retryBudget)
	defer cancel()
	rec, err := s.events.Get(ctx, id)
	switch {
	case err != nil:
	case rec.Outcome == journal.Pending:
		err = journal.ErrBusy // its holder, or the worker once its lease ends, finishes it
	case !outcomeOf(rec.Outcome).Retry:
		err = &notRetryable{id: id, outcome: rec.Outcome}
	}
	var out Outcome
	if err == nil {
		out, err = s.retry(ctx, id, rec.Outcome) // not if it changed since
	}
	var refused *notRetryable
	switch {
	case errors.Is(err, journal.ErrNotFound), errors.Is(err, journal.ErrBusy), errors.Is(err, journal.ErrNoBody), errors.As(err, &refused):
	case err != nil:
		s.log.Error("admin: retry", "id", id, "err", err)
	default:
		s.log.Info("admin: retried an event", "id", id, "outcome", out.Outcome)
	}
	return id, out, err
}

// retryJSON is the retry route's answer.
type retryJSON struct {
	ID         int64        `json:"id"`
	Outcome    outcome.Word `json:"outcome"`
	Reason     string       `json:"reason"`
	ReferralID string       `json:"referral_id"`
}
