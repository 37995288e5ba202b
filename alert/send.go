package alert

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	mail "github.com/wneessen/go-mail"

	"github.com/getreditus/reditus-bridge/config"
)

// Sending bounds: an attempt that gets no answer in attemptTimeout is a
// failure, and an alert is tried at most attempts times, backoff apart,
// doubling; about 20 s for a destination that hangs, during which only its
// own queue waits.
const (
	attemptTimeout = 5 * time.Second
	attempts       = 3
	backoff        = time.Second
)

// destination is where alerts go: a chat or JSON webhook, or email.
type destination interface {
	// deliver makes one attempt, and says how the destination answered.
	// Its errors never hold the destination's secrets.
	deliver(ctx context.Context, m Message) (answer string, err error)
	// String is the destination, masked, for logs and `alert test`.
	String() string
}

// permanent is a failure that a retry of the same alert cannot cure.
type permanent struct{ error }

// destinations are cfg's.
func destinations(cfg config.Config) ([]destination, error) {
	urls, err := cfg.AlertDestinations()
	if err != nil {
		return nil, err
	}
	var ds []destination
	client := &http.Client{
		// A redirect is not followed: it would carry the alert, and the
		// token in the URL's path, wherever the Location says.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	for _, u := range urls {
		ds = append(ds, &webhook{format: u.Format, url: u.URL, client: client})
	}
	s, ok, err := cfg.AlertSMTP()
	if err != nil {
		return nil, err
	}
	if ok {
		ds = append(ds, &email{server: s, to: cfg.AlertRecipients()})
	}
	return ds, nil
}

// webhook is an ALERT_URLS destination.
type webhook struct {
	format string
	url    config.Secret
	client *http.Client
}

func (w *webhook) String() string {
	return config.AlertDestination{Format: w.format, URL: w.url}.Masked()
}

func (w *webhook) deliver(ctx context.Context, m Message) (string, error) {
	body, err := m.body(w.format)
	if err != nil {
		return "", permanent{fmt.Errorf("encode: %w", err)}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.url.Reveal(), bytes.NewReader(body))
	if err != nil {
		return "", permanent{errors.New("not a URL")}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "reditus-bridge")
	resp, err := w.client.Do(req)
	if err != nil {
		return "", w.scrub(err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	answer := "HTTP " + resp.Status
	switch code := resp.StatusCode; {
	case code >= 200 && code < 300:
		return answer, nil
	case code >= 300 && code < 400:
		return answer, permanent{fmt.Errorf("redirected (%s), not followed", answer)}
	case code == http.StatusTooManyRequests || code >= 500:
		return answer, errors.New(answer)
	default:
		return answer, permanent{errors.New(answer)}
	}
}

// scrub is err without the URL: net/http's errors quote it, token and all.
func (w *webhook) scrub(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("no answer within %v", attemptTimeout)
	}
	raw := w.url.Reveal()
	text := strings.ReplaceAll(err.Error(), raw, w.String())
	if u, perr := url.Parse(raw); perr == nil && len(u.RequestURI()) > 1 {
		text = strings.ReplaceAll(text, u.RequestURI(), "/…")
	}
	return errors.New(text)
}

// email is ALERT_EMAIL through SMTP_URL.
type email struct {
	server config.SMTP
	to     []string
	// roots, when set, are the CAs the server's certificate is checked
	// against instead of the system's: tests use it.
	roots *tls.Config
}

func (e *email) String() string { return "email " + e.server.Masked() }

func (e *email) deliver(ctx context.Context, m Message) (string, error) {
	msg := mail.NewMsg()
	if err := msg.From(e.server.From); err != nil {
		return "", permanent{fmt.Errorf("from: %w", err)}
	}
	if err := msg.To(e.to...); err != nil {
		return "", permanent{fmt.Errorf("to: %w", err)}
	}
	msg.Subject(m.Subject())
	msg.SetBodyString(mail.TypeTextPlain, m.text(plain))
	opts := []mail.Option{
		mail.WithPort(e.server.Port), mail.WithTimeout(attemptTimeout),
		// The password never crosses the network in clear: no STARTTLS,
		// no email.
		mail.WithTLSPolicy(mail.TLSMandatory),
		mail.WithSMTPAuth(mail.SMTPAuthNoAuth),
	}
	if e.server.ImplicitTLS {
		opts = append(opts, mail.WithSSL())
	}
	if e.server.Username != "" {
		opts = append(opts, mail.WithSMTPAuth(mail.SMTPAuthAutoDiscover),
			mail.WithUsername(e.server.Username), mail.WithPassword(e.server.Password.Reveal()))
	}
	if e.roots != nil {
		tc := e.roots.Clone()
		tc.ServerName = e.server.Host
		opts = append(opts, mail.WithTLSConfig(tc))
	}
	client, err := mail.NewClient(e.server.Host, opts...)
	if err != nil {
		return "", permanent{e.scrub(err)}
	}
	if err := client.DialAndSendWithContext(ctx, msg); err != nil {
		return "", e.scrub(err)
	}
	return "accepted by " + e.server.Masked(), nil
}

// scrub is err without the credentials, should the server or the library
// have quoted them.
func (e *email) scrub(err error) error {
	text := err.Error()
	if p := e.server.Password.Reveal(); p != "" {
		text = strings.ReplaceAll(text, p, "[redacted]")
	}
	if errors.Is(err, context.DeadlineExceeded) {
		text = fmt.Sprintf("no answer within %v", attemptTimeout)
	}
	return errors.New(text)
}

// sender delivers one destination's alerts, in order.
type sender struct {
	dest    destination
	queue   chan Message
	timeout time.Duration // attemptTimeout; tests shorten it
	backoff time.Duration // backoff; tests shorten it
}

// run delivers what the queue holds until it is closed and empty, or ctx
// ends.
func (s *sender) run(ctx context.Context, a *Alerter) {
	for m := range s.queue {
		answer, err := s.send(ctx, m)
		if err != nil {
			a.metrics.Alert(string(m.Kind), "failed")
			a.log.Error("alert not delivered", "kind", m.Kind, "destination", s.dest.String(), "answer", answer, "err", err)
			continue
		}
		a.metrics.Alert(string(m.Kind), "sent")
	}
}

// send tries m up to attempts times, and returns the last answer.
func (s *sender) send(ctx context.Context, m Message) (string, error) {
	wait := s.backoff
	for i := 1; ; i++ {
		actx, cancel := context.WithTimeout(ctx, s.timeout)
		answer, err := s.dest.deliver(actx, m)
		cancel()
		var perm permanent
		if err == nil || errors.As(err, &perm) || i == attempts {
			return answer, err
		}
		select {
		case <-ctx.Done():
			return answer, err
		case <-time.After(wait):
		}
		wait *= 2
	}
}

// Answer is how one destination answered `alert test`.
type Answer struct {
	Destination string // masked
	Answer      string // the destination's answer, when one came
	Err         error
}

// Test sends a test alert to every destination at once, once each, and
// says how each answered, in the order of the configuration.
func (a *Alerter) Test(ctx context.Context) []Answer {
	m := Message{Kind: Test, Count: 1, First: a.now(), Last: a.now(), AdminURL: a.adminURL(Test, "", "")}
	answers := make([]Answer, len(a.senders))
	var wg sync.WaitGroup
	for i, s := range a.senders {
		wg.Go(func() {
			actx, cancel := context.WithTimeout(ctx, s.timeout)
			defer cancel()
			answer, err := s.dest.deliver(actx, m)
			answers[i] = Answer{Destination: s.dest.String(), Answer: answer, Err: err}
		})
	}
	wg.Wait()
	return answers
}
