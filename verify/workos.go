package verify

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// WorkOS verifies the WorkOS-Signature header, "t=<unix milliseconds>,
// v1=<hex>", where the hex is HMAC-SHA256 of t + "." + body keyed with the
// secret string. Any string but the empty one is a usable WorkOS secret.
func WorkOS(secrets []string) (Func, error) {
	if err := noEmpty(secrets); err != nil {
		return nil, err
	}
	return func(header http.Header, body []byte) error {
		if len(secrets) == 0 {
			return errNoSecret
		}
		t, sig, err := parseWorkOS(header.Get("WorkOS-Signature"))
		if err != nil {
			return err
		}
		ms, _ := strconv.ParseInt(t, 10, 64) // parseWorkOS checked it
		if err := withinTolerance(time.UnixMilli(ms), time.Now()); err != nil {
			return err
		}
		for _, secret := range secrets {
			if hmac.Equal(sig, workOSMAC(secret, t, body)) {
				return nil
			}
		}
		return fmt.Errorf("%w: no signature matched any configured secret", ErrSignature)
	}, nil
}

// SignWorkOS returns the WorkOS-Signature header WorkOS would send for body
// at time at. simulate and the tests sign with it.
func SignWorkOS(secret string, body []byte, at time.Time) string {
	t := strconv.FormatInt(at.UnixMilli(), 10)
	return "t=" + t + ", v1=" + hex.EncodeToString(workOSMAC(secret, t, body))
}

func workOSMAC(secret, t string, body []byte) []byte {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(t))
	mac.Write([]byte("."))
	mac.Write(body)
	return mac.Sum(nil)
}

func parseWorkOS(header string) (t string, sig []byte, err error) {
	if header == "" {
		return "", nil, fmt.Errorf("%w: no WorkOS-Signature header", ErrSignature)
	}
	for _, part := range strings.Split(header, ",") {
		key, value, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch key {
		case "t":
			t = value
		case "v1":
			sig, _ = hex.DecodeString(value) // a bad hex simply matches nothing
		}
	}
	if _, err := strconv.ParseInt(t, 10, 64); err != nil || sig == nil {
		return "", nil, fmt.Errorf("%w: malformed WorkOS-Signature header, want t=<ms>, v1=<hex>", ErrSignature)
	}
	return t, sig, nil
}
