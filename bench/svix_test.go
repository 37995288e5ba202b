package bench

import (
	"encoding/base64"
	"strings"
)

// decodeSvix is the key a Svix secret stands for: base64 after "whsec_".
func decodeSvix(secret string) ([]byte, error) {
	return base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
}
