package verify_test

import (
	"crypto/x509"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/getreditus/reditus-bridge/internal/paypaltest"
	"github.com/getreditus/reditus-bridge/outcome"
	"github.com/getreditus/reditus-bridge/verify"
)

const liveWebhookID = "8PT597110X687430L"

// javaVector reads a file of PayPal's Java SDK test vector
// (testdata/paypal-java-sdk/README.md).
func javaVector(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "paypal-java-sdk", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// certTransport answers every request with the PEM in cert, for the one URL
// it holds, and counts the requests: PayPal's host, without a network.
type certTransport struct {
	url, cert string
	requests  atomic.Int64
}

func (c *certTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.requests.Add(1)
	status, body := http.StatusOK, c.cert
	if r.URL.String() != c.url {
		status, body = http.StatusNotFound, "not found"
	}
	return &http.Response{StatusCode: status, Body: io.NopCloser(strings.NewReader(body)), Header: http.Header{}, Request: r}, nil
}

// PayPal's own test vector, from its Java SDK: a real signature by PayPal's
// sandbox certificate, which chains to the DigiCert CA the SDK bundles. The
// certificate expired in 2019, so the clock is the transmission time; on
// the real clock the same delivery is refused. The webhook id the SDK's
// testInvalidWebhookId uses is refused too.
func TestPayPalJavaSDKVector(t *testing.T) {
	const certURL = "https://api.sandbox.paypal.com/v1/notifications/certs/CERT-360caa42-fca2a594-a5cafa77"
	at := time.Date(2017, 3, 30, 20, 4, 5, 0, time.UTC)
	body := javaVector(t, "body.json")
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(javaVector(t, "DigiCertSHA2ExtendedValidationServerCA.pem")) {
		t.Fatal("the DigiCert CA does not parse")
	}
	header := http.Header{}
	header.Set("PAYPAL-TRANSMISSION-ID", "071f7d20-1584-11e7-abf0-6b62a8a99ac4")
	header.Set("PAYPAL-TRANSMISSION-TIME", "2017-03-30T20:04:05Z")
	header.Set("PAYPAL-TRANSMISSION-SIG", strings.TrimSpace(string(javaVector(t, "transmission-sig.b64"))))
	header.Set("PAYPAL-CERT-URL", certURL)
	header.Set("PAYPAL-AUTH-ALGO", "SHA256withRSA")

	scheme := func(now func() time.Time) (*verify.PayPalScheme, *certTransport) {
		tr := &certTransport{url: certURL, cert: string(javaVector(t, "messageverificationcerts.sandbox.paypal.com.pem"))}
		return &verify.PayPalScheme{Hosts: verify.PayPalCertHosts, Roots: roots, Client: &http.Client{Transport: tr}, Now: now}, tr
	}
	tests := []struct {
		name      string
		now       func() time.Time
		webhookID string
		ok        bool
	}{
		{"at the transmission time", func() time.Time { return at.Add(time.Minute) }, "96605875FF6516633", true},
		{"another webhook id (the SDK's testInvalidWebhookId)", func() time.Time { return at }, "NotToBeFound", false},
		{"the real clock: a transmission of 2017", nil, "96605875FF6516633", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, tr := scheme(tt.now)
			check, err := s.Verifier([]string{tt.webhookID})
			if err != nil {
				t.Fatal(err)
			}
			err = check(header, body)
			if (err == nil) != tt.ok || (err != nil && !errors.Is(err, verify.ErrSignature)) {
				t.Fatalf("got %v, want ok=%v", err, tt.ok)
			}
			if !tt.ok && tt.now == nil && tr.requests.Load() != 0 {
				t.Errorf("a stale transmission fetched the certificate %d times, want none", tr.requests.Load())
			}
		})
	}
	if got := string(javaVector(t, "signed-message.txt")); !strings.HasSuffix(got, "|3494065244") {
		t.Errorf("signed-message.txt %q: want the crc32 3494065244 the README gives", got)
	}
}

// Through a certificate authority made for the test and an HTTPS server on
// 127.0.0.1 that serves its certificates where PayPal serves its own: what
// is accepted, what is refused, and when a request is made at all.
func TestPayPalCertificates(t *testing.T) {
	ca := paypaltest.New(t)
	other := paypaltest.New(t) // another host, on which nothing may be fetched
	body := []byte(`{"id":"WH-1","event_type":"PAYMENT.SALE.COMPLETED"}`)
	now := time.Now()
	onHost := func(host string, s *paypaltest.Signer, path string) *paypaltest.Signer {
		return &paypaltest.Signer{Key: s.Key, CertURL: host + path}
	}
	tests := []struct {
		name    string
		header  http.Header
		body    []byte
		ok      bool
		fetches bool   // whether a request may reach the CA's server
		why     string // a part of the refusal
	}{
		{"signed by PayPal's certificate", ca.Leaf.Sign(t, liveWebhookID, "tx-1", body, now), body, true, true, ""},
		{"the body changed after signing", ca.Leaf.Sign(t, liveWebhookID, "tx-1", body, now), append([]byte(" "), body...), false, true, "matches no configured webhook id"},
		{"signed for another webhook id", ca.Leaf.Sign(t, "WH0THER0000000000", "tx-1", body, now), body, false, true, "matches no configured webhook id"},
		{"an expired certificate", ca.Expired.Sign(t, liveWebhookID, "tx-1", body, now), body, false, true, "expired"},
		{"a self-signed certificate", ca.SelfSigned.Sign(t, liveWebhookID, "tx-1", body, now), body, false, true, "unknown authority"},
		{"a certificate issued to another name", ca.WrongName.Sign(t, liveWebhookID, "tx-1", body, now), body, false, true, "not issued to"},
		{"a replayed transmission, 10 minutes old", ca.Leaf.Sign(t, liveWebhookID, "tx-1", body, now.Add(-10*time.Minute)), body, false, false, "old"},
		{"a transmission 10 minutes ahead", ca.Leaf.Sign(t, liveWebhookID, "tx-1", body, now.Add(10*time.Minute)), body, false, false, "future"},
		{"the certificate URL on another host", onHost(other.Server.URL, ca.Leaf, paypaltest.CertPath).Sign(t, liveWebhookID, "tx-1", body, now), body, false, false, "names host"},
		{"the certificate URL over http", onHost("http://"+ca.Host(), ca.Leaf, paypaltest.CertPath).Sign(t, liveWebhookID, "tx-1", body, now), body, false, false, "not https"},
		{"the certificate URL with a query", onHost(ca.Server.URL, ca.Leaf, paypaltest.CertPath+"?x=1").Sign(t, liveWebhookID, "tx-1", body, now), body, false, false, "query"},
		{"the certificate URL off PayPal's path", onHost(ca.Server.URL, ca.Leaf, "/v1/notifications/certs/../../admin").Sign(t, liveWebhookID, "tx-1", body, now), body, false, false, "not under"},
		{"the certificate URL with credentials", onHost("https://user:pw@"+ca.Host(), ca.Leaf, paypaltest.CertPath).Sign(t, liveWebhookID, "tx-1", body, now), body, false, false, "credentials"},
		{"no signature", http.Header{}, body, false, false, "no Paypal-"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			check, err := ca.Scheme(nil).Verifier([]string{liveWebhookID})
			if err != nil {
				t.Fatal(err)
			}
			before, otherBefore := ca.Requests(), other.Requests()
			err = check(tt.header, tt.body)
			if (err == nil) != tt.ok || (err != nil && !errors.Is(err, verify.ErrSignature)) {
				t.Fatalf("got %v, want ok=%v and any refusal a signature failure", err, tt.ok)
			}
			if err != nil && !strings.Contains(err.Error(), tt.why) {
				t.Errorf("got %v, want it to say %q", err, tt.why)
			}
			if !tt.fetches && ca.Requests() != before {
				t.Errorf("%d requests reached the certificate server, want none", ca.Requests()-before)
			}
			if other.Requests() != otherBefore {
				t.Errorf("%d requests reached another host, want none", other.Requests()-otherBefore)
			}
		})
	}
	// A changed header a test could forget: the algorithm.
	h := ca.Leaf.Sign(t, liveWebhookID, "tx-1", body, now)
	h.Set("PAYPAL-AUTH-ALGO", "SHA1withRSA")
	check, _ := ca.Scheme(nil).Verifier([]string{liveWebhookID})
	if err := check(h, body); !errors.Is(err, verify.ErrSignature) {
		t.Errorf("SHA1withRSA: got %v, want refused", err)
	}
}

// The certificate is fetched once and reused; rotation between webhook ids
// (a live and a sandbox webhook on one bridge) accepts either.
func TestPayPalCertificateIsCachedAndIDsRotate(t *testing.T) {
	ca := paypaltest.New(t)
	const sandboxID = "3RN13029J36659323"
	check, err := ca.Scheme(nil).Verifier([]string{liveWebhookID, sandboxID})
	if err != nil {
		t.Fatal(err)
	}
	for i, id := range []string{liveWebhookID, sandboxID, liveWebhookID} {
		body := []byte(`{"n":` + string(rune('0'+i)) + `}`)
		if err := check(ca.Leaf.Sign(t, id, "tx", body, time.Now()), body); err != nil {
			t.Fatalf("delivery %d for %s: %v", i, id, err)
		}
	}
	if n := ca.Requests(); n != 1 {
		t.Errorf("the certificate was fetched %d times, want once", n)
	}
}

// PayPal's certificate host down is an outage (503: PayPal retries, no
// signature alert), not a forgery; a path PayPal does not serve is one.
func TestPayPalCertificateFetchFailures(t *testing.T) {
	ca := paypaltest.New(t)
	body := []byte(`{}`)
	check, _ := ca.Scheme(nil).Verifier([]string{liveWebhookID})
	missing := &paypaltest.Signer{Key: ca.Leaf.Key, CertURL: ca.Server.URL + "/v1/notifications/certs/CERT-none"}
	if err := check(missing.Sign(t, liveWebhookID, "tx", body, time.Now()), body); !errors.Is(err, verify.ErrSignature) {
		t.Errorf("a certificate PayPal does not have: got %v, want a signature failure", err)
	}
	failing := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusBadGateway) }))
	defer failing.Close()
	s := &verify.PayPalScheme{Hosts: []string{failing.Listener.Addr().String()}, Client: failing.Client()}
	check, _ = s.Verifier([]string{liveWebhookID})
	down := &paypaltest.Signer{Key: ca.Leaf.Key, CertURL: failing.URL + paypaltest.CertPath}
	err := check(down.Sign(t, liveWebhookID, "tx", body, time.Now()), body)
	if outcome.Of(err) != outcome.Unavailable || errors.Is(err, verify.ErrSignature) {
		t.Errorf("a 502 from the certificate host: got %v, want outcome.Unavailable", err)
	}
	failing.Close()
	if err := check(down.Sign(t, liveWebhookID, "tx", body, time.Now()), body); outcome.Of(err) != outcome.Unavailable {
		t.Errorf("a certificate host that refuses connections: got %v, want outcome.Unavailable", err)
	}
}

// verify.PayPal, the value the bridge registers, fetches from PayPal's
// hosts alone and trusts the system's roots: the test's CA and its server on
// 127.0.0.1 are refused before any request.
func TestPayPalProductionValueRefusesTestHosts(t *testing.T) {
	ca := paypaltest.New(t)
	if verify.PayPal.Roots != nil || verify.PayPal.Client != nil || strings.Join(verify.PayPal.Hosts, ",") != strings.Join(verify.PayPalCertHosts, ",") {
		t.Fatalf("verify.PayPal is %+v, want PayPal's hosts and the system's roots", verify.PayPal)
	}
	check, err := verify.PayPal.Verifier([]string{liveWebhookID})
	if err != nil {
		t.Fatal(err)
	}
	body := []byte(`{}`)
	if err := check(ca.Leaf.Sign(t, liveWebhookID, "tx", body, time.Now()), body); !errors.Is(err, verify.ErrSignature) || !strings.Contains(err.Error(), "names host") {
		t.Errorf("got %v, want the test host refused", err)
	}
	if n := ca.Requests(); n != 0 {
		t.Errorf("%d requests reached the test host", n)
	}
}

// The development certificate, which anybody can sign with, is trusted for
// the development webhook id only: that id is accepted only in the local
// default (config), so that nowhere else does the trust exist. A test binary
// (and a binary built with -tags e2e) trusts it for every id; a value built
// like production's does not, and refuses its URL before any request.
func TestPayPalDevelopmentCertificateOnlyForTheDevelopmentID(t *testing.T) {
	if !verify.PayPal.DevelopmentForEveryID {
		t.Fatal("verify.PayPal in a test binary: DevelopmentForEveryID false, want true (testing.Testing)")
	}
	body := []byte(`{"id":"WH-dev"}`)
	var fetched atomic.Int64
	noNetwork := &http.Client{Transport: roundTripFunc(func(*http.Request) (*http.Response, error) {
		fetched.Add(1)
		return nil, errors.New("no network in this test")
	})}
	production := &verify.PayPalScheme{Hosts: verify.PayPalCertHosts, Client: noNetwork}

	dev := verify.DevelopmentSecret
	header, err := production.Sign(dev, "tx-dev", body, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	check, _ := production.Verifier([]string{dev})
	if err := check(header, body); err != nil {
		t.Errorf("the development webhook id: got %v, want accepted", err)
	}
	if _, err := production.Sign(liveWebhookID, "tx", body, time.Now()); !errors.Is(err, verify.ErrOnlyPayPalSigns) {
		t.Errorf("signing for a live webhook id: got %v, want ErrOnlyPayPalSigns", err)
	}
	// Anybody can forge this: the development key is public.
	forged, err := verify.PayPal.Sign(liveWebhookID, "tx", body, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	check, _ = production.Verifier([]string{liveWebhookID})
	if err := check(forged, body); !errors.Is(err, verify.ErrSignature) || !strings.Contains(err.Error(), "development certificate") {
		t.Errorf("a live webhook id and the development certificate: got %v, want refused", err)
	}
	forged.Set("PAYPAL-CERT-URL", "https://api.paypal.com/v1/notifications/certs/CERT-reditus-bridge-development")
	if err := check(forged, body); err == nil {
		t.Error("the development signature with PayPal's certificate URL: accepted, want refused")
	}
	if n := fetched.Load(); n != 1 {
		t.Errorf("%d fetches, want exactly the one of PayPal's URL (the development URL is never fetched)", n)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// Webhook ids are PayPal's form, letters and digits; anything else (the
// client secret pasted in the wrong variable) is refused at start.
func TestPayPalWebhookIDs(t *testing.T) {
	for _, ids := range [][]string{{"WH-1"}, {""}, {liveWebhookID, "EK3X:secret"}, {"id with spaces"}} {
		if _, err := verify.PayPal.Verifier(ids); err == nil {
			t.Errorf("%q: accepted, want refused", ids)
		}
	}
	if _, err := verify.PayPal.Verifier([]string{"WEBHOOK_ID"}); err != nil {
		t.Errorf("WEBHOOK_ID, the simulator's: %v", err)
	}
	if id := verify.PayPal.NewSecret(); len(id) != 17 || strings.ToUpper(id) != id {
		t.Errorf("NewSecret: %q, want 17 upper-case letters and digits", id)
	}
}
