package verify

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Timestamped is the scheme of a header that carries a timestamp and an
// HMAC-SHA256 of the timestamp, a separator and the body, keyed with the
// secret string, in hex: WorkOS's "t=<ms>, v1=<hex>" and Paddle's
// "ts=<s>;h1=<hex>" are two values of it.
type Timestamped struct {
	Header  string        // "WorkOS-Signature"
	Sep     string        // how the provider joins the parts: ", " for WorkOS
	TimeKey string        // "t"
	MACKey  string        // "v1"; several may be present (rotation): any one may match
	Unit    time.Duration // of the timestamp: time.Millisecond for WorkOS
	Join    string        // between timestamp and body in what is MACed: "."
}

// WorkOS verifies the WorkOS-Signature header, "t=<unix milliseconds>,
// v1=<hex>", where the hex is HMAC-SHA256 of t + "." + body keyed with the
// secret string.
var WorkOS = Timestamped{Header: "WorkOS-Signature", Sep: ", ", TimeKey: "t", MACKey: "v1", Unit: time.Millisecond, Join: "."}

// Paddle verifies Paddle Billing's Paddle-Signature header, "ts=<unix
// seconds>;h1=<hex>", where the hex is HMAC-SHA256 of ts + ":" + body keyed
// with the notification destination's secret string. Any h1 may match:
// Paddle's docs say a header holds "at least one".
var Paddle = Timestamped{Header: "Paddle-Signature", Sep: ";", TimeKey: "ts", MACKey: "h1", Unit: time.Second, Join: ":"}

// Verifier implements Scheme. Any string but the empty one is a usable secret.
func (s Timestamped) Verifier(secrets []string) (Func, error) {
	if err := noEmpty(secrets); err != nil {
		return nil, err
	}
	return func(header http.Header, body []byte) error {
		return s.verify(secrets, header, body, time.Now())
	}, nil
}

// verify checks one delivery against secrets at time now.
func (s Timestamped) verify(secrets []string, header http.Header, body []byte, now time.Time) error {
	if len(secrets) == 0 {
		return errNoSecret
	}
	t, macs, err := s.parse(header.Get(s.Header))
	if err != nil {
		return err
	}
	n, _ := strconv.ParseInt(t, 10, 64) // parse checked it
	if err := withinTolerance(time.Unix(0, 0).Add(time.Duration(n)*s.Unit), now); err != nil {
		return err
	}
	for _, secret := range secrets {
		want := s.mac(secret, t, body)
		for _, mac := range macs {
			if hmac.Equal(mac, want) {
				return nil
			}
		}
	}
	return fmt.Errorf("%w: no signature matched any configured secret", ErrSignature)
}

// Sign implements Scheme: the header the provider would send for body at
// time at. id is not part of this scheme.
func (s Timestamped) Sign(secret, _ string, body []byte, at time.Time) (http.Header, error) {
	t := strconv.FormatInt(at.UnixNano()/int64(s.Unit), 10)
	h := http.Header{}
	h.Set(s.Header, s.TimeKey+"="+t+s.Sep+s.MACKey+"="+hex.EncodeToString(s.mac(secret, t, body)))
	return h, nil
}

// Key implements Scheme: the secret string is the HMAC key.
func (Timestamped) Key(secret string) []byte { return []byte(secret) }

// UserChosen implements Scheme: the provider generates these secrets.
func (Timestamped) UserChosen() bool { return false }

// NewSecret implements Scheme.
func (Timestamped) NewSecret() string { return "sk_" + randomHex(24) }

func (s Timestamped) mac(secret, t string, body []byte) []byte {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(t))
	mac.Write([]byte(s.Join))
	mac.Write(body)
	return mac.Sum(nil)
}

// parse reads the timestamp and every MAC of the header. A second timestamp
// is refused: the parts are not ordered, and two readers (this one and the
// provider's SDK) could take different ones.
func (s Timestamped) parse(header string) (t string, macs [][]byte, err error) {
	malformed := fmt.Errorf("%w: malformed %s header, want %s=<time>%s%s=<hex>", ErrSignature, s.Header, s.TimeKey, s.Sep, s.MACKey)
	if header == "" {
		return "", nil, fmt.Errorf("%w: no %s header", ErrSignature, s.Header)
	}
	for _, part := range strings.Split(header, strings.TrimSpace(s.Sep)) {
		key, value, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch key {
		case s.TimeKey:
			if t != "" {
				return "", nil, malformed
			}
			t = value
		case s.MACKey:
			if mac, err := hex.DecodeString(value); err == nil {
				macs = append(macs, mac) // a bad hex simply matches nothing
			}
		}
	}
	if _, err := strconv.ParseInt(t, 10, 64); err != nil || len(macs) == 0 {
		return "", nil, malformed
	}
	return t, macs, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return hex.EncodeToString(b)
}
