package config

import (
	"errors"
	"fmt"
	"net/mail"
	"net/url"
	"strconv"
	"strings"

	"github.com/getreditus/reditus-bridge/internal/redact"
)

// The formats an alert destination takes: what its body looks like.
const (
	AlertSlack   = "slack"   // {"text": ...}
	AlertDiscord = "discord" // {"content": ...}
	AlertJSON    = "json"    // the alert's fields, for anything else
)

// AlertDestination is one item of ALERT_URLS.
type AlertDestination struct {
	Format string // AlertSlack, AlertDiscord or AlertJSON
	// URL is what alerts are posted to. A webhook URL is its own
	// credential (Slack's and Discord's hold their token in the path), so
	// it is a Secret; Masked is what may be printed of it.
	URL Secret
}

// Masked is the destination as logs, errors and `check` show it: its
// format, scheme and host, never its path or query, which hold the token.
func (d AlertDestination) Masked() string {
	u, err := url.Parse(d.URL.Reveal())
	if err != nil || u.Host == "" {
		return d.Format + " [redacted URL]"
	}
	return d.Format + " " + u.Scheme + "://" + u.Host + "/…"
}

// AlertDestinations reads ALERT_URLS: comma-separated URLs, each
// `slack+URL`, `discord+URL`, `json+URL`, or a bare URL whose host names its
// format (hooks.slack.com: slack; discord.com, discordapp.com: discord;
// any other: json). Errors say which item, never what it holds.
func (c Config) AlertDestinations() ([]AlertDestination, error) {
	items := c.AlertURLs
	if len(items) == 1 && items[0] == "" {
		return nil, nil // ALERT_URLS= in an env file: none
	}
	var dests []AlertDestination
	for i, item := range items {
		d, err := parseAlertURL(item.Reveal())
		if err != nil {
			return nil, fmt.Errorf("ALERT_URLS: item %d of %d %w (the URL is not shown: it holds a token)", i+1, len(items), err)
		}
		dests = append(dests, d)
	}
	return dests, nil
}

// parseAlertURL reads one item of ALERT_URLS. Its errors complete the
// sentence "item N of M ...".
func parseAlertURL(item string) (AlertDestination, error) {
	if item == "" {
		return AlertDestination{}, errors.New("is empty (a stray comma?)")
	}
	format := ""
	for _, f := range []string{AlertSlack, AlertDiscord, AlertJSON} {
		if rest, ok := strings.CutPrefix(item, f+"+"); ok {
			format, item = f, rest
		}
	}
	u, err := url.Parse(item)
	switch {
	case err != nil:
		return AlertDestination{}, errors.New("is not a URL")
	case u.Scheme != "http" && u.Scheme != "https", u.Host == "":
		return AlertDestination{}, errors.New("is not an absolute http(s) URL, optionally after slack+, discord+ or json+")
	case u.User != nil:
		return AlertDestination{}, errors.New("holds credentials (user:password@), which would travel in every alert's request line: put a token in the path or query instead")
	}
	if format == "" {
		format = formatOfHost(u.Hostname())
	}
	return AlertDestination{Format: format, URL: Secret(item)}, nil
}

// formatOfHost is the format a bare URL's host implies.
func formatOfHost(host string) string {
	switch strings.ToLower(host) {
	case "hooks.slack.com":
		return AlertSlack
	case "discord.com", "discordapp.com", "canary.discord.com", "ptb.discord.com":
		return AlertDiscord
	}
	return AlertJSON
}

// SMTP is SMTP_URL read: how alerts are sent by email.
type SMTP struct {
	Host     string
	Port     int
	Username string
	Password Secret
	// ImplicitTLS: smtps://, TLS from the first byte (port 465). Otherwise
	// the connection must be upgraded with STARTTLS before anything is
	// sent, the password included.
	ImplicitTLS bool
	// From is the sender's address: SMTP_URL's ?from=, else ALERT_EMAIL's
	// first address.
	From string
}

// Masked is the server as `check` and errors show it: never the password.
func (s SMTP) Masked() string {
	scheme := "smtp"
	if s.ImplicitTLS {
		scheme = "smtps"
	}
	return scheme + "://" + s.Host + ":" + strconv.Itoa(s.Port)
}

// AlertSMTP reads SMTP_URL, `smtp://user:password@host:port` (STARTTLS,
// port 587 by default) or `smtps://...` (TLS, port 465 by default); ok is
// false when alerts are not sent by email. Errors never quote the URL.
func (c Config) AlertSMTP() (s SMTP, ok bool, err error) {
	raw := c.SMTPURL.Reveal()
	if raw == "" && c.AlertEmail == "" {
		return SMTP{}, false, nil
	}
	if raw == "" || c.AlertEmail == "" {
		return SMTP{}, false, errors.New("ALERT_EMAIL and SMTP_URL: set both to send alerts by email, or neither")
	}
	to, err := mail.ParseAddressList(c.AlertEmail)
	if err != nil {
		return SMTP{}, false, errors.New("ALERT_EMAIL: want an email address, or several separated by commas")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return SMTP{}, false, errors.New("SMTP_URL: not a URL: want smtp://user:password@host:port (percent-encode the password's special characters; the URL is not shown)")
	}
	s = SMTP{Host: u.Hostname(), ImplicitTLS: u.Scheme == "smtps", From: to[0].Address, Port: 587}
	if s.ImplicitTLS {
		s.Port = 465
	}
	if u.Scheme != "smtp" && u.Scheme != "smtps" || s.Host == "" {
		return SMTP{}, false, errors.New("SMTP_URL: want smtp://user:password@host:port (STARTTLS) or smtps://... (TLS); the URL is not shown")
	}
	if p := u.Port(); p != "" {
		if s.Port, err = strconv.Atoi(p); err != nil || s.Port < 1 || s.Port > 65535 {
			return SMTP{}, false, errors.New("SMTP_URL: the port is not a TCP port (1-65535)")
		}
	}
	if u.User != nil {
		s.Username = u.User.Username()
		password, _ := u.User.Password()
		s.Password = Secret(password)
	}
	if from := u.Query().Get("from"); from != "" {
		addr, err := mail.ParseAddress(from)
		if err != nil {
			return SMTP{}, false, errors.New("SMTP_URL: ?from= is not an email address")
		}
		s.From = addr.Address
	}
	return s, true, nil
}

// AlertRecipients are ALERT_EMAIL's addresses; AlertSMTP has checked them.
func (c Config) AlertRecipients() []string {
	list, err := mail.ParseAddressList(c.AlertEmail)
	if err != nil {
		return nil
	}
	to := make([]string, len(list))
	for i, a := range list {
		to[i] = a.Address
	}
	return to
}

// validateAlerts checks the alerts' variables; validateAPIs checks
// PUBLIC_URL, which they link to.
func (c Config) validateAlerts() error {
	if c.AlertInterval <= 0 || c.AlertUnavailableAfter <= 0 {
		return errors.New("ALERT_INTERVAL and ALERT_UNAVAILABLE_AFTER: want positive durations, such as 1h and 5m")
	}
	if _, err := c.AlertDestinations(); err != nil {
		return err
	}
	_, _, err := c.AlertSMTP()
	return err
}

// alertWarnings are the alerts' lines of Warnings.
func (c Config) alertWarnings() []string {
	var w []string
	dests, _ := c.AlertDestinations()
	for i, d := range dests {
		if u, err := url.Parse(d.URL.Reveal()); err == nil && u.Scheme != "https" {
			w = append(w, fmt.Sprintf("ALERT_URLS: item %d of %d is not https: its token travels in clear text", i+1, len(dests)))
		}
	}
	if _, ok, _ := c.AlertSMTP(); len(dests) > 0 || ok {
		if c.PublicURL == "" {
			w = append(w, "PUBLIC_URL is not set: alerts cannot link to /admin")
		}
	}
	return w
}

// alertReport is the alerts' line of Report.
func (c Config) alertReport() string {
	dests, _ := c.AlertDestinations()
	var where []string
	for _, d := range dests {
		where = append(where, d.Masked())
	}
	if s, ok, _ := c.AlertSMTP(); ok {
		var to []string
		for _, addr := range c.AlertRecipients() {
			to = append(to, redact.Email(addr))
		}
		where = append(where, "email to "+strings.Join(to, ", ")+" via "+s.Masked())
	}
	if len(where) == 0 {
		return "off (set ALERT_URLS, or ALERT_EMAIL and SMTP_URL)"
	}
	return fmt.Sprintf("%s; at most one per kind and provider every %v", strings.Join(where, ", "), c.AlertInterval)
}
