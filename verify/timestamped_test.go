package verify

import (
	"time"
)

// signWorkOS is the WorkOS-Signature header WorkOS.Sign makes.
func signWorkOS(secret string, body []byte, at time.Time) string {
	h, _ := WorkOS.Sign(secret, "", body, at)
	return h.Get("WorkOS-Signature")
}

func workOSMAC(secret, t string, body []byte) []byte { return WorkOS.mac(secret, t, body) }
