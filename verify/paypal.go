package verify

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"hash/crc32"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// PayPal's webhook headers (PayPal-Java-SDK, Constants.java; PayPal's
// "Integrate webhooks" page), as net/http spells them.
const (
	PayPalTransmissionID   = "Paypal-Transmission-Id"
	PayPalTransmissionTime = "Paypal-Transmission-Time"
	PayPalTransmissionSig  = "Paypal-Transmission-Sig"
	PayPalCertURL          = "Paypal-Cert-Url"
	PayPalAuthAlgo         = "Paypal-Auth-Algo"
)

// payPalAlgo is the one algorithm PayPal signs with; any other is refused,
// so that a sender cannot pick a weaker one.
const payPalAlgo = "SHA256withRSA"

// PayPalCertHosts are the hosts the bridge fetches PayPal's certificates
// from: PayPal's API hosts, live and sandbox, old and current names. No
// PayPal SDK keeps such a list (the Java SDK fetches any URL); this one is
// the bridge's policy, so that a forged PAYPAL-CERT-URL can make it request
// nothing but PayPal's own certificate paths.
var PayPalCertHosts = []string{"api.paypal.com", "api-m.paypal.com", "api.sandbox.paypal.com", "api-m.sandbox.paypal.com"}

// payPalCertNames are the names PayPal's message-verification certificates
// are issued to, live and sandbox (the Java SDK's SSLUtil checks for
// CN=messageverificationcerts... .paypal.com).
var payPalCertNames = []string{"messageverificationcerts.paypal.com", "messageverificationcerts.sandbox.paypal.com"}

// PayPalScheme verifies PayPal's webhooks offline, as PayPal's "self
// verification method" describes: PAYPAL-TRANSMISSION-SIG is SHA256withRSA
// over transmission id|transmission time|webhook id|crc32 of the body (IEEE,
// unsigned decimal), made with the key of the certificate at PAYPAL-CERT-URL.
// The webhook id, PAYPAL_WEBHOOK_ID, is this scheme's secret: it is not
// secret, but it binds a signature to the one webhook that sent it.
//
// The certificate is fetched only over https from Hosts, under PayPal's
// certificate path; any other URL is refused before a request is made. It
// must chain to Roots, be valid now, and be issued to PayPal's
// message-verification name; it is then cached (a few, for a day at most).
// The transmission time must be within Tolerance.
//
// Its HTTP client, roots, hosts and clock are fields, so that tests inject a
// certificate authority of their own; PayPal is the production value.
type PayPalScheme struct {
	Hosts  []string         // where certificates may come from: "host" (port 443) or "host:port"
	Roots  *x509.CertPool   // what they must chain to; nil: the system's roots
	Client *http.Client     // fetches them; nil: 3 s, redirects refused
	Now    func() time.Time // nil: time.Now
	Names  []string         // the names they must carry; nil: PayPal's

	// DevelopmentForEveryID trusts the development certificate, which the
	// bridge holds and anybody can sign with, for every webhook id, not only
	// for the development one. It is set in binaries that `go test` builds
	// and in those built with -tags e2e, so that a test can sign PayPal's
	// webhooks; never in a binary built for use (docs/development.md,
	// "PayPal in tests").
	DevelopmentForEveryID bool
}

// PayPal verifies PayPal's webhooks against PayPal's hosts and the system's
// roots.
//
// Beside them it trusts the development certificate (paypal_development.go)
// for the development webhook id, DevelopmentSecret, which config accepts
// only in the local default: that is how `go run . simulate paypal` signs.
var PayPal = &PayPalScheme{Hosts: PayPalCertHosts, DevelopmentForEveryID: testing.Testing()}

var _ Scheme = (*PayPalScheme)(nil)

// ErrOnlyPayPalSigns is Sign's error for a webhook id that no certificate
// the bridge holds is trusted for: only PayPal can sign those.
var ErrOnlyPayPalSigns = errors.New("only PayPal signs PayPal's webhooks, with its own certificate: the bridge can sign a sample only for the local default's development webhook id (run `go run .` with nothing configured), or use PayPal's webhook simulator")

// payPalWebhookID is the form of PayPal's webhook ids (notifications API:
// letters and digits, at most 50), and of "WEBHOOK_ID", the id PayPal's
// webhook simulator signs its mock events for.
var payPalWebhookID = regexp.MustCompile(`^[A-Za-z0-9_]{1,50}$`)

// Verifier implements Scheme: ids are the webhook ids a delivery may be
// signed for (a live and a sandbox webhook may share a bridge).
func (s *PayPalScheme) Verifier(ids []string) (Func, error) {
	if err := noEmpty(ids); err != nil {
		return nil, err
	}
	for i, id := range ids {
		if !payPalWebhookID.MatchString(id) {
			return nil, fmt.Errorf("secret %d of %d is not a PayPal webhook id (letters and digits, as the app's Webhooks list shows it)", i+1, len(ids))
		}
	}
	certs := newCertCache()
	return func(header http.Header, body []byte) error {
		return s.verify(ids, certs, header, body)
	}, nil
}

// verify checks one delivery: the headers and the time first, then the
// certificate, then the signature for each id.
func (s *PayPalScheme) verify(ids []string, certs *certCache, header http.Header, body []byte) error {
	if len(ids) == 0 {
		return errNoSecret
	}
	t, err := readTransmission(header)
	if err != nil {
		return err
	}
	if err := withinTolerance(t.at, s.now()); err != nil {
		return err
	}
	key, development, err := s.certificate(certs, t.certURL)
	if err != nil {
		return err
	}
	crc := strconv.FormatUint(uint64(crc32.ChecksumIEEE(body)), 10)
	trusted := false
	for _, id := range ids {
		if development && id != DevelopmentSecret && !s.DevelopmentForEveryID {
			continue
		}
		trusted = true
		digest := sha256.Sum256([]byte(t.id + "|" + t.time + "|" + id + "|" + crc))
		if rsa.VerifyPKCS1v15(key, crypto.SHA256, digest[:], t.sig) == nil {
			return nil
		}
	}
	if !trusted {
		return fmt.Errorf("%w: signed with the bridge's development certificate, which is trusted only in the local default", ErrSignature)
	}
	return fmt.Errorf("%w: %s matches no configured webhook id (PAYPAL_WEBHOOK_ID), or the body changed", ErrSignature, PayPalTransmissionSig)
}

// transmission is what PayPal's headers say of one delivery.
type transmission struct {
	id, time, certURL string
	at                time.Time
	sig               []byte
}

// readTransmission reads PayPal's headers. A field holding "|" is refused: it
// would move the others within the signed string.
func readTransmission(h http.Header) (transmission, error) {
	t := transmission{id: h.Get(PayPalTransmissionID), time: h.Get(PayPalTransmissionTime), certURL: h.Get(PayPalCertURL)}
	for name, v := range map[string]string{PayPalTransmissionID: t.id, PayPalTransmissionTime: t.time, PayPalCertURL: t.certURL, PayPalTransmissionSig: h.Get(PayPalTransmissionSig)} {
		if v == "" {
			return t, fmt.Errorf("%w: no %s header", ErrSignature, name)
		}
	}
	if algo := h.Get(PayPalAuthAlgo); !strings.EqualFold(algo, payPalAlgo) {
		return t, fmt.Errorf("%w: %s is %.40q, want %s", ErrSignature, PayPalAuthAlgo, algo, payPalAlgo)
	}
	if len(t.id) > 100 || strings.Contains(t.id, "|") || strings.Contains(t.time, "|") {
		return t, fmt.Errorf("%w: malformed %s or %s", ErrSignature, PayPalTransmissionID, PayPalTransmissionTime)
	}
	var err error
	if t.at, err = time.Parse(time.RFC3339, t.time); err != nil {
		return t, fmt.Errorf("%w: %s is not an RFC 3339 time", ErrSignature, PayPalTransmissionTime)
	}
	if t.sig, err = base64.StdEncoding.DecodeString(h.Get(PayPalTransmissionSig)); err != nil {
		return t, fmt.Errorf("%w: %s is not base64", ErrSignature, PayPalTransmissionSig)
	}
	return t, nil
}

// Sign implements Scheme: the headers of a delivery of body at time at,
// transmission id (fresh when empty), signed with the development
// certificate for webhook id. It fails with ErrOnlyPayPalSigns for an id that
// certificate is not trusted for.
func (s *PayPalScheme) Sign(webhookID, id string, body []byte, at time.Time) (http.Header, error) {
	if webhookID != DevelopmentSecret && !s.DevelopmentForEveryID {
		return nil, ErrOnlyPayPalSigns
	}
	if id == "" {
		id = randomHex(16)
	}
	ts := at.UTC().Format(time.RFC3339)
	crc := strconv.FormatUint(uint64(crc32.ChecksumIEEE(body)), 10)
	digest := sha256.Sum256([]byte(id + "|" + ts + "|" + webhookID + "|" + crc))
	sig, err := rsa.SignPKCS1v15(rand.Reader, development.key, crypto.SHA256, digest[:])
	if err != nil {
		return nil, fmt.Errorf("sign with the development certificate: %w", err)
	}
	h := http.Header{}
	h.Set(PayPalTransmissionID, id)
	h.Set(PayPalTransmissionTime, ts)
	h.Set(PayPalTransmissionSig, base64.StdEncoding.EncodeToString(sig))
	h.Set(PayPalCertURL, DevelopmentCertURL)
	h.Set(PayPalAuthAlgo, payPalAlgo)
	return h, nil
}

// Key implements Scheme: the webhook id, which the checks for empty and
// development secrets read.
func (*PayPalScheme) Key(webhookID string) []byte { return []byte(webhookID) }

// UserChosen implements Scheme: PayPal makes webhook ids.
func (*PayPalScheme) UserChosen() bool { return false }

// NewSecret implements Scheme: a webhook id of PayPal's form, 17 letters and
// digits.
func (*PayPalScheme) NewSecret() string { return strings.ToUpper(randomHex(9))[:17] }

func (s *PayPalScheme) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}
