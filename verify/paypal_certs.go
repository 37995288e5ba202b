package verify

import (
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/getreditus/reditus-bridge/outcome"
)

// Limits on PayPal's certificates: a PEM chain is a few KiB; a day bounds
// how long a revoked one would stay trusted; a bridge sees one or two URLs
// (live, sandbox) a year.
const (
	payPalCertPath     = "/v1/notifications/certs/"
	maxCertURL         = 500 // PayPal's verify API: cert_url maxLength
	maxCertBytes       = 64 << 10
	certCacheFor       = 24 * time.Hour
	maxCachedCerts     = 8
	payPalFetchTimeout = 3 * time.Second
)

// defaultCertClient fetches certificates when the scheme names no client.
// A redirect is not followed: it would lead off the allowed hosts.
var defaultCertClient = &http.Client{
	Timeout:       payPalFetchTimeout,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// certificate returns the public key of the certificate at raw, and whether
// it is the development certificate (which only some webhook ids trust).
func (s *PayPalScheme) certificate(certs *certCache, raw string) (*rsa.PublicKey, bool, error) {
	if raw == DevelopmentCertURL {
		// Held, never fetched, and checked as a fetched one is.
		key, err := checkChain(development.chain, development.roots, []string{developmentCertName}, s.now())
		return key, true, err
	}
	u, err := s.allowedCertURL(raw)
	if err != nil {
		return nil, false, err
	}
	if key := certs.get(u, s.now()); key != nil {
		return key, false, nil
	}
	// One fetch at a time: a miss is rare (PayPal renews its certificate
	// yearly), and a flood of forged URLs then waits rather than fans out.
	certs.fetching.Lock()
	defer certs.fetching.Unlock()
	if key := certs.get(u, s.now()); key != nil {
		return key, false, nil
	}
	chain, err := s.fetch(u)
	if err != nil {
		return nil, false, err
	}
	key, err := checkChain(chain, s.Roots, s.names(), s.now())
	if err != nil {
		return nil, false, err
	}
	until := s.now().Add(certCacheFor)
	if chain[0].NotAfter.Before(until) {
		until = chain[0].NotAfter
	}
	certs.put(u, key, until)
	return key, false, nil
}

// allowedCertURL returns raw as the URL to fetch, or why it may not be
// fetched: only https, on one of Hosts, under PayPal's certificate path,
// with nothing a request could smuggle (user, query, fragment, dot
// segments). The error quotes at most the host.
func (s *PayPalScheme) allowedCertURL(raw string) (string, error) {
	refused := func(why string) error {
		return fmt.Errorf("%w: %s %s; the bridge fetches PayPal's certificates only from https://{%s}%s...", ErrSignature, PayPalCertURL, why, strings.Join(s.Hosts, ","), payPalCertPath)
	}
	if len(raw) > maxCertURL {
		return "", refused("is too long")
	}
	u, err := url.Parse(raw)
	switch {
	case err != nil || u.Opaque != "":
		return "", refused("is not a URL")
	case u.Scheme != "https":
		return "", refused("is not https")
	case !s.allowedHost(u):
		return "", refused(fmt.Sprintf("names host %.60q", u.Host))
	case u.User != nil || u.RawQuery != "" || u.ForceQuery || u.Fragment != "":
		return "", refused("carries credentials, a query or a fragment")
	case !strings.HasPrefix(u.EscapedPath(), payPalCertPath) || strings.Contains(u.Path, "..") || strings.Contains(u.EscapedPath(), "%"):
		return "", refused("is not under " + payPalCertPath)
	}
	return u.String(), nil
}

// allowedHost reports whether u's host is one of Hosts: an entry without a
// port allows only https's own, 443.
func (s *PayPalScheme) allowedHost(u *url.URL) bool {
	for _, h := range s.Hosts {
		if _, _, err := net.SplitHostPort(h); err == nil {
			if u.Host == h {
				return true
			}
			continue
		}
		if strings.EqualFold(u.Hostname(), h) && (u.Port() == "" || u.Port() == "443") {
			return true
		}
	}
	return false
}

// fetch reads the PEM chain at u. A failure PayPal may recover from (its
// host down, slow or refusing the connection) is outcome.Unavailable, so
// that PayPal is asked to retry and no signature alert fires; an answer that
// can never hold a certificate is a signature failure.
func (s *PayPalScheme) fetch(u string) ([]*x509.Certificate, error) {
	client := s.Client
	if client == nil {
		client = defaultCertClient
	}
	resp, err := client.Get(u)
	if err != nil {
		return nil, &outcome.Error{Code: outcome.Unavailable, Message: "fetch PayPal's certificate", Err: errors.Unwrap(err)}
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
		return nil, outcome.New(outcome.Unavailable, "fetch PayPal's certificate: HTTP %d", resp.StatusCode)
	case resp.StatusCode != http.StatusOK:
		return nil, fmt.Errorf("%w: PayPal answered HTTP %d for %s", ErrSignature, resp.StatusCode, PayPalCertURL)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxCertBytes+1))
	if err != nil {
		return nil, &outcome.Error{Code: outcome.Unavailable, Message: "read PayPal's certificate", Err: err}
	}
	if len(b) > maxCertBytes {
		return nil, fmt.Errorf("%w: %s serves more than %d KiB", ErrSignature, PayPalCertURL, maxCertBytes>>10)
	}
	return parseChain(b)
}

// parseChain reads every certificate of a PEM chain, the leaf first.
func parseChain(b []byte) ([]*x509.Certificate, error) {
	var chain []*x509.Certificate
	for block, rest := pem.Decode(b); block != nil; block, rest = pem.Decode(rest) {
		if block.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%w: %s serves a certificate that does not parse", ErrSignature, PayPalCertURL)
		}
		chain = append(chain, c)
	}
	if len(chain) == 0 {
		return nil, fmt.Errorf("%w: %s serves no PEM certificate", ErrSignature, PayPalCertURL)
	}
	return chain, nil
}

// checkChain returns the RSA key of chain's leaf once the leaf chains to
// roots (nil: the system's) through the rest of chain, is valid at now, and
// is issued to one of names.
func checkChain(chain []*x509.Certificate, roots *x509.CertPool, names []string, now time.Time) (*rsa.PublicKey, error) {
	leaf, intermediates := chain[0], x509.NewCertPool()
	for _, c := range chain[1:] {
		intermediates.AddCert(c)
	}
	opts := x509.VerifyOptions{Roots: roots, Intermediates: intermediates, CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}
	if _, err := leaf.Verify(opts); err != nil {
		return nil, fmt.Errorf("%w: the certificate at %s is not trusted: %v", ErrSignature, PayPalCertURL, err)
	}
	named := false
	for _, n := range names {
		named = named || leaf.VerifyHostname(n) == nil
	}
	if !named {
		return nil, fmt.Errorf("%w: the certificate at %s is not issued to %s", ErrSignature, PayPalCertURL, strings.Join(names, " or "))
	}
	key, ok := leaf.PublicKey.(*rsa.PublicKey)
	if !ok {
		return nil, fmt.Errorf("%w: the certificate at %s holds no RSA key", ErrSignature, PayPalCertURL)
	}
	return key, nil
}

func (s *PayPalScheme) names() []string {
	if s.Names != nil {
		return s.Names
	}
	return payPalCertNames
}

// certCache keeps the keys of the certificates a verifier fetched, by URL,
// until each expires or a day passes; at most maxCachedCerts, so that
// forged URLs on PayPal's hosts cannot grow it.
type certCache struct {
	mu       sync.Mutex
	entries  map[string]cachedCert
	fetching sync.Mutex // one fetch at a time
}

type cachedCert struct {
	key   *rsa.PublicKey
	until time.Time
}

func newCertCache() *certCache { return &certCache{entries: map[string]cachedCert{}} }

func (c *certCache) get(u string, now time.Time) *rsa.PublicKey {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[u]
	if !ok || !now.Before(e.until) {
		return nil
	}
	return e.key
}

// put caches key for u until until, making room by dropping the entry that
// expires first.
func (c *certCache) put(u string, key *rsa.PublicKey, until time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.entries) >= maxCachedCerts {
		var first string
		for k, e := range c.entries {
			if first == "" || e.until.Before(c.entries[first].until) {
				first = k
			}
		}
		delete(c.entries, first)
	}
	c.entries[u] = cachedCert{key: key, until: until}
}
