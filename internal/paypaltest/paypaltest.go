// Package paypaltest is a certificate authority for PayPal's webhook
// signatures that exists only in tests: a root made with crypto/x509 when a
// test starts, leaf certificates issued to PayPal's message-verification
// name (and an expired one, and a self-signed one), an HTTPS server on
// 127.0.0.1 that serves them where PayPal serves its own, a signer that
// signs as PayPal does, independently of the bridge's verify.PayPalScheme,
// and that scheme pointed at this server and root. Nothing here is in the
// bridge's binary: a test sets the allowed host and the root on a scheme
// value of its own, never on verify.PayPal.
package paypaltest

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"hash/crc32"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/getreditus/reditus-bridge/verify"
)

// The paths the server serves certificates at, under PayPal's own.
const (
	CertPath        = "/v1/notifications/certs/CERT-test-360caa42"
	ExpiredPath     = "/v1/notifications/certs/CERT-test-expired"
	SelfSignedPath  = "/v1/notifications/certs/CERT-test-self-signed"
	WrongNamePath   = "/v1/notifications/certs/CERT-test-wrong-name"
	payPalCertName  = "messageverificationcerts.sandbox.paypal.com"
	serverValidity  = 24 * time.Hour
	leafKeyBits     = 2048
	rootCommonName  = "paypaltest root"
	validityOverlap = time.Hour
)

// CA is a test certificate authority, its leaves, and the server that
// serves them.
type CA struct {
	Root   *x509.Certificate
	Roots  *x509.CertPool
	Server *httptest.Server
	// Leaf signs as PayPal does; its certificate is at CertPath, issued by
	// Root. Expired and SelfSigned sign with certificates at ExpiredPath
	// and SelfSignedPath, WrongName with one issued by Root to another name.
	Leaf, Expired, SelfSigned, WrongName *Signer

	requests atomic.Int64
}

// Signer is a key and the URL of its certificate.
type Signer struct {
	Key     *rsa.PrivateKey
	CertURL string
}

// New starts a CA and its server, closed when t ends.
func New(t testing.TB) *CA {
	t.Helper()
	now := time.Now()
	rootKey := newKey(t)
	root := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: rootCommonName},
		NotBefore: now.Add(-validityOverlap), NotAfter: now.Add(serverValidity),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	rootDER, err := x509.CreateCertificate(rand.Reader, root, root, &rootKey.PublicKey, rootKey)
	if err != nil {
		t.Fatal(err)
	}
	ca := &CA{Roots: x509.NewCertPool()}
	ca.Root, _ = x509.ParseCertificate(rootDER)
	ca.Roots.AddCert(ca.Root)
	served := map[string][]byte{}
	valid, expired := [2]time.Time{now.Add(-validityOverlap), now.Add(serverValidity)}, [2]time.Time{now.Add(-48 * time.Hour), now.Add(-24 * time.Hour)}
	ca.Leaf = issue(t, served, CertPath, payPalCertName, valid, ca.Root, rootKey)
	ca.Expired = issue(t, served, ExpiredPath, payPalCertName, expired, ca.Root, rootKey)
	ca.SelfSigned = issue(t, served, SelfSignedPath, payPalCertName, valid, nil, nil)
	ca.WrongName = issue(t, served, WrongNamePath, "api.paypal.com", valid, ca.Root, rootKey)
	ca.serve(t, served, ca.Root, rootKey)
	for path, s := range map[string]*Signer{CertPath: ca.Leaf, ExpiredPath: ca.Expired, SelfSignedPath: ca.SelfSigned, WrongNamePath: ca.WrongName} {
		s.CertURL = ca.Server.URL + path
	}
	return ca
}

// issue makes a key and a certificate for it, issued to name for the span
// valid by parent (itself when nil), and serves the certificate at path.
func issue(t testing.TB, served map[string][]byte, path, name string, valid [2]time.Time, parent *x509.Certificate, parentKey *rsa.PrivateKey) *Signer {
	key := newKey(t)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: name},
		DNSNames: []string{name}, NotBefore: valid[0], NotAfter: valid[1], KeyUsage: x509.KeyUsageDigitalSignature,
	}
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		t.Fatal(err)
	}
	served[path] = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	return &Signer{Key: key}
}

// serve starts the HTTPS server on 127.0.0.1 with a certificate the root
// issued, serving each PEM at its path and counting every request.
func (ca *CA) serve(t testing.TB, served map[string][]byte, root *x509.Certificate, rootKey *rsa.PrivateKey) {
	key := newKey(t)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		NotBefore:   time.Now().Add(-validityOverlap), NotAfter: time.Now().Add(serverValidity),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, root, &key.PublicKey, rootKey)
	if err != nil {
		t.Fatal(err)
	}
	ca.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ca.requests.Add(1)
		b, ok := served[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/x-pem-file")
		_, _ = w.Write(b)
	}))
	ca.Server.TLS = &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}
	ca.Server.StartTLS()
	t.Cleanup(ca.Server.Close)
}

// Requests is how many requests the server has had.
func (ca *CA) Requests() int64 { return ca.requests.Load() }

// Host is the server's host:port, the one entry of the allow-list a test
// scheme gets.
func (ca *CA) Host() string { return ca.Server.Listener.Addr().String() }

// Scheme is a PayPal scheme that fetches certificates from this CA's server
// alone, trusts its root alone, and reads the time from now (nil: the
// clock). It does not trust the development certificate for any id but the
// development one, as production does not.
func (ca *CA) Scheme(now func() time.Time) *verify.PayPalScheme {
	client := &http.Client{
		Timeout:   5 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Roots}},
	}
	return &verify.PayPalScheme{Hosts: []string{ca.Host()}, Roots: ca.Roots, Client: client, Now: now}
}

// Sign makes the headers PayPal sends with body, for webhookID, transmission
// id and time at, signed by s: SHA256withRSA over id|time|webhook id|crc32,
// as PayPal's documentation and Java SDK have it, computed here and not by
// the bridge's code.
func (s *Signer) Sign(t testing.TB, webhookID, id string, body []byte, at time.Time) http.Header {
	t.Helper()
	ts := at.UTC().Format(time.RFC3339)
	msg := id + "|" + ts + "|" + webhookID + "|" + strconv.FormatUint(uint64(crc32.ChecksumIEEE(body)), 10)
	digest := sha256.Sum256([]byte(msg))
	sig, err := rsa.SignPKCS1v15(rand.Reader, s.Key, crypto.SHA256, digest[:])
	if err != nil {
		t.Fatal(err)
	}
	h := http.Header{}
	h.Set("PAYPAL-TRANSMISSION-ID", id)
	h.Set("PAYPAL-TRANSMISSION-TIME", ts)
	h.Set("PAYPAL-TRANSMISSION-SIG", base64.StdEncoding.EncodeToString(sig))
	h.Set("PAYPAL-CERT-URL", s.CertURL)
	h.Set("PAYPAL-AUTH-ALGO", "SHA256withRSA")
	return h
}

func newKey(t testing.TB) *rsa.PrivateKey {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, leafKeyBits)
	if err != nil {
		t.Fatal(err)
	}
	return key
}
