package bench

import (
	"crypto"
	"crypto/hmac"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"hash/crc32"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/getreditus/reditus-bridge/mapping"
	registry "github.com/getreditus/reditus-bridge/providers"
	"github.com/getreditus/reditus-bridge/simulate"
	"github.com/getreditus/reditus-bridge/verify"
)

// deliveryID is the id the schemes that sign one (Svix, Standard Webhooks,
// Polar) sign into their headers.
const deliveryID = "msg_bench"

// delivery is one provider's per-webhook work, ready to repeat: its default
// sample as simulate renders it, signed with a fresh secret by the
// provider's own scheme, as the bridge would receive it.
type delivery struct {
	p      registry.Provider
	body   []byte
	header http.Header
	check  verify.Func
	// floor computes only what no verifier of the scheme can skip.
	floor func() []byte
}

// newDelivery prepares p's default sample, signed at at. The benchmarks and
// their test take every provider from the registry, so that a provider added
// there is measured without an edit here.
func newDelivery(p registry.Provider, at time.Time) (delivery, error) {
	body, err := simulate.Render(p.Samples[0], "ana@example.com", simulate.SampleCookie, at)
	if err != nil {
		return delivery{}, err
	}
	secret := p.Scheme.NewSecret()
	header, err := p.Scheme.Sign(secret, deliveryID, body, at)
	if err != nil {
		return delivery{}, fmt.Errorf("sign: %w", err)
	}
	check, err := p.Scheme.Verifier([]string{secret})
	if err != nil {
		return delivery{}, fmt.Errorf("verifier: %w", err)
	}
	floor := floorOf(p.Scheme, secret, body, at)
	if floor == nil {
		return delivery{}, fmt.Errorf("no floor for scheme %T %+v: say in floorOf what its signature is a MAC of", p.Scheme, p.Scheme)
	}
	return delivery{p: p, body: body, header: header, check: check, floor: floor}, nil
}

// floorOf returns the least any verifier of scheme must compute for body,
// signed with secret at at: the HMAC-SHA256 over exactly the bytes the
// signature covers (the timestamp is formatted each time, as a verifier has
// to read it each time), or, for a scheme that sends its secret instead of
// a signature, the digests its constant-time comparison takes. It is nil for
// a scheme it does not know, rather than a guess that would make the ratio
// look better or worse than it is.
func floorOf(scheme verify.Scheme, secret string, body []byte, at time.Time) func() []byte {
	switch s := scheme.(type) {
	case verify.Timestamped: // WorkOS, Paddle: hex(HMAC(secret, ts + join + body))
		return func() []byte {
			return hmacSHA256([]byte(secret), []byte(strconv.FormatInt(at.UnixNano()/int64(s.Unit), 10)+s.Join), body)
		}
	case verify.BodyHMAC: // Lemon Squeezy: hex(HMAC(secret, body))
		return func() []byte { return hmacSHA256([]byte(secret), body) }
	case *verify.PayPalScheme: // RSA over id|time|webhook id|crc32(body), the certificate cached
		return payPalFloor(s, secret, body, at)
	}
	switch scheme {
	case verify.Mollie: // next-gen: hex(HMAC(secret, body))
		return func() []byte { return hmacSHA256([]byte(secret), body) }
	case verify.Stripe: // HMAC(whole secret, t + "." + body)
		return func() []byte {
			return hmacSHA256([]byte(secret), []byte(strconv.FormatInt(at.Unix(), 10)+"."), body)
		}
	case verify.Svix, verify.StandardWebhooks, verify.Polar: // HMAC(key, id + "." + t + "." + body)
		key := scheme.Key(secret)
		return func() []byte {
			return hmacSHA256(key, []byte(deliveryID+"."+strconv.FormatInt(at.Unix(), 10)+"."), body)
		}
	case verify.Bearer: // the token's digest
		return func() []byte {
			sum := sha256.Sum256([]byte(secret))
			return sum[:]
		}
	case verify.Basic: // the user's and the password's digests
		user, password, _ := strings.Cut(secret, ":")
		return func() []byte {
			u, p := sha256.Sum256([]byte(user)), sha256.Sum256([]byte(password))
			for i := range p {
				p[i] ^= u[i] // so that neither digest is unused
			}
			return p[:]
		}
	}
	return nil
}

// payPalFloor is what no verifier of PayPal's signature can skip once it
// holds the certificate: the body's CRC, the digest of the signed string,
// and the RSA verification, with the development certificate's key (what
// the scheme signs samples with).
func payPalFloor(s *verify.PayPalScheme, webhookID string, body []byte, at time.Time) func() []byte {
	h, err := s.Sign(webhookID, deliveryID, body, at)
	if err != nil {
		return nil
	}
	sig, _ := base64.StdEncoding.DecodeString(h.Get(verify.PayPalTransmissionSig))
	pemBytes, err := os.ReadFile("../verify/paypaldev/certificate.pem")
	if err != nil {
		return nil
	}
	block, _ := pem.Decode(pemBytes)
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil
	}
	key := cert.PublicKey.(*rsa.PublicKey)
	return func() []byte {
		crc := strconv.FormatUint(uint64(crc32.ChecksumIEEE(body)), 10)
		digest := sha256.Sum256([]byte(deliveryID + "|" + at.UTC().Format(time.RFC3339) + "|" + webhookID + "|" + crc))
		if rsa.VerifyPKCS1v15(key, crypto.SHA256, digest[:], sig) != nil {
			return nil
		}
		return digest[:]
	}
}

// signs says whether scheme's floor is a MAC over the body, rather than the
// digest of a secret sent as it is (which makes its ratio compare different
// things: all of the provider's cost is the JSON).
func signs(scheme verify.Scheme) bool { return scheme != verify.Bearer && scheme != verify.Basic }

func hmacSHA256(key []byte, parts ...[]byte) []byte {
	mac := hmac.New(sha256.New, key)
	for _, p := range parts {
		mac.Write(p)
	}
	return mac.Sum(nil)
}

// forEachProvider runs f in a sub-benchmark per registered provider, with
// its delivery prepared. Beside the wall time it reports the CPU time per
// operation, which other work on a shared machine disturbs far less, and
// which bench/bench.sh reads.
func forEachProvider(b *testing.B, f func(b *testing.B, w delivery)) {
	for _, p := range registry.All() {
		b.Run(p.Name, func(b *testing.B) {
			w, err := newDelivery(p, time.Now())
			if err != nil {
				b.Fatalf("%s: %v", p.Name, err)
			}
			b.SetBytes(int64(len(w.body)))
			b.ReportAllocs()
			cpu := cpuTime()
			f(b, w)
			b.ReportMetric(float64(cpuTime()-cpu)/float64(b.N), "cpu-ns/op")
		})
	}
}

// BenchmarkWebhook is the per-webhook work of each provider: verify the
// signature over the raw body, decode it, and map it to an event.
func BenchmarkWebhook(b *testing.B) {
	forEachProvider(b, func(b *testing.B, w delivery) {
		for b.Loop() {
			if err := w.check(w.header, w.body); err != nil {
				b.Fatal(err)
			}
			ev, err := w.p.Map(w.body, mapping.Options{})
			if err != nil || ev.Skip != "" {
				b.Fatalf("%+v %v", ev, err)
			}
		}
	})
}

// BenchmarkFloor computes only the provider's MAC over the same bytes (or,
// where the sender signs nothing, the digest of its secret): no verifier can
// be cheaper. The ratio of BenchmarkWebhook to it is the bridge's overhead.
// bench/bench.sh reads the token-digest metric to mark the ratios that
// compare different things.
func BenchmarkFloor(b *testing.B) {
	forEachProvider(b, func(b *testing.B, w delivery) {
		for b.Loop() {
			if len(w.floor()) != sha256.Size {
				b.Fatal("not a SHA-256 sum")
			}
		}
		if !signs(w.p.Scheme) {
			b.ReportMetric(1, "token-digest")
		}
	})
}

// The benchmarks must measure real work: every registered provider's sample
// verifies and converts, and has a floor.
func TestBenchmarkInputsConvert(t *testing.T) {
	all := registry.All()
	if len(all) == 0 {
		t.Fatal("no registered provider")
	}
	for _, p := range all {
		w, err := newDelivery(p, time.Now())
		if err != nil {
			t.Errorf("%s: %v", p.Name, err)
			continue
		}
		if err := w.check(w.header, w.body); err != nil {
			t.Errorf("%s: %v", p.Name, err)
		}
		if ev, err := w.p.Map(w.body, mapping.Options{}); err != nil || ev.Skip != "" {
			t.Errorf("%s: %+v %v", p.Name, ev, err)
		}
	}
}
