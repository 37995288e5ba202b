package verify

import (
	"crypto/rsa"
	"crypto/x509"
	"embed"
	"encoding/pem"
)

// DevelopmentCertURL is the PAYPAL-CERT-URL of deliveries signed with the
// development certificate. Its host is under .invalid, which no DNS
// resolves, and on no allowed host: a bridge that does not trust the
// development certificate refuses the URL before any request.
const DevelopmentCertURL = "https://paypal-development.invalid" + payPalCertPath + "CERT-reditus-bridge-development"

// developmentCertName is the name the development certificate is issued to.
const developmentCertName = "messageverificationcerts.development.invalid"

// The development certificate: a key pair and a root the bridge holds
// itself, made for this repository (paypaldev/, valid 2025 to 2125). The
// private key is public, like DevelopmentSecret, which is why the
// certificate is trusted only for the development webhook id, that is, only
// in the local default (PayPalScheme.verify), and in test builds.
//
//go:embed paypaldev/*.pem
var paypaldev embed.FS

var development = func() (d struct {
	chain []*x509.Certificate
	roots *x509.CertPool
	key   *rsa.PrivateKey
}) {
	read := func(name string) []byte {
		b, err := paypaldev.ReadFile("paypaldev/" + name)
		if err != nil {
			panic("verify: " + err.Error()) // embedded: cannot happen
		}
		return b
	}
	var err error
	if d.chain, err = parseChain(read("certificate.pem")); err != nil {
		panic("verify: the development certificate: " + err.Error())
	}
	root, err := parseChain(read("root.pem"))
	if err != nil {
		panic("verify: the development root: " + err.Error())
	}
	d.roots = x509.NewCertPool()
	d.roots.AddCert(root[0])
	block, _ := pem.Decode(read("key.pem"))
	if block == nil {
		panic("verify: the development key is not PEM")
	}
	key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if d.key, _ = key.(*rsa.PrivateKey); err != nil || d.key == nil {
		panic("verify: the development key is not an RSA key")
	}
	return d
}()
