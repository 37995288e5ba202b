//go:build e2e

package verify

// A binary built with -tags e2e, as the end-to-end tests build theirs, and
// no other: PayPal trusts the development certificate for every webhook id,
// so that `simulate paypal` and the tests can sign PayPal's webhooks for the
// webhook id a test configures, as a test binary can (PayPalScheme's
// DevelopmentForEveryID). The Dockerfile builds without the tag.
func init() { PayPal.DevelopmentForEveryID = true }
