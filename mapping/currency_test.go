package mapping

import (
	"errors"
	"math"
	"strings"
	"testing"
)

func TestExponent(t *testing.T) {
	tests := []struct {
		currency string
		want     int
		ok       bool
	}{
		{"usd", 2, true}, {"EUR", 2, true}, {"jpy", 0, true}, {"KRW", 0, true}, {"isk", 0, true},
		{"kwd", 3, true}, {"BHD", 3, true}, {"tnd", 3, true}, {"clf", 4, true}, {"mga", 2, true},
		{"xcg", 2, true}, {"zwg", 2, true}, {"hrk", 2, true}, // a new code, and a withdrawn one
		{"xau", 0, false}, {"xts", 0, false}, {"xxx", 0, false}, {"abc", 0, false}, {"", 0, false}, {"usdt", 0, false},
	}
	for _, tt := range tests {
		if got, ok := Exponent(tt.currency); got != tt.want || ok != tt.ok {
			t.Errorf("Exponent(%q) = %d, %v; want %d, %v", tt.currency, got, ok, tt.want, tt.ok)
		}
	}
	// Every code is three lower-case ASCII letters, and every exponent one
	// that ISO 4217 uses.
	for code, exp := range isoExponent {
		if len(code) != 3 || strings.Trim(code, "abcdefghijklmnopqrstuvwxyz") != "" || exp < 0 || exp > 4 || exp == 1 {
			t.Errorf("isoExponent[%q] = %d", code, exp)
		}
	}
}

func TestCurrencyCode(t *testing.T) {
	tests := []struct{ in, want string }{
		{"usd", "usd"}, {"USD", "usd"}, {" Usd\t", "usd"}, {"JPY", "jpy"},
		{"", ""}, {"  ", ""}, {"us", ""}, {"usdd", ""}, {"u5d", ""}, {"us-", ""}, {"u d", ""},
		{"usd\u200b", ""}, {"\u0443sd", ""}, {"\uff55sd", ""}, {"us\x00", ""}, {"\xffsd", ""},
		{"\u00a0usd", ""}, // only ASCII whitespace is trimmed
		{strings.Repeat("usd", 100), ""}, {"abc", ""},
	}
	for _, tt := range tests {
		got, why := currencyCode(tt.in)
		if got != tt.want || (got == "") == (why == "") {
			t.Errorf("currencyCode(%q) = %q, %q; want %q", tt.in, got, why, tt.want)
		}
		if strings.ContainsAny(why, "\x00\u200b\u0443") || len(why) > 80 {
			t.Errorf("currencyCode(%q): the reason %q quotes what it refused", tt.in, why)
		}
	}
}

// Mollie and PayPal send amounts as decimal strings in the major unit.
func TestMinorUnits(t *testing.T) {
	tests := []struct {
		currency, value string
		want            int64
		ok              bool
	}{
		{"EUR", "10.00", 1000, true}, // Mollie's form
		{"eur", "0.01", 1, true},
		{"EUR", "10.5", 1050, true},
		{"EUR", "10", 1000, true},
		{"EUR", "10.500", 1050, true}, // extra zeros are exact
		{"EUR", "0010.00", 1000, true},
		{"EUR", "-10.00", -1000, true},
		{"EUR", "-0", 0, true},
		{"JPY", "1000", 1000, true},
		{"JPY", "1000.0", 1000, true},
		{"KRW", "15000", 15000, true},
		{"HUF", "1000", 100000, true}, // PayPal sends forints without decimals; ISO has two
		{"KWD", "12.345", 12345, true},
		{"BHD", "0.5", 500, true},
		{"CLF", "1.2345", 12345, true},
		{"USD", "92233720368547758.07", math.MaxInt64, true},
		{"JPY", "9223372036854775807", math.MaxInt64, true},

		{"JPY", "10.5", 0, false}, // a fraction of a yen: refused, not rounded
		{"EUR", "10.001", 0, false},
		{"KWD", "1.2345", 0, false},
		{"USD", "92233720368547758.08", 0, false},
		{"JPY", "99999999999999999999999", 0, false},
		{"EUR", "", 0, false},
		{"EUR", "-", 0, false},
		{"EUR", ".50", 0, false},
		{"EUR", "10.", 0, false},
		{"EUR", "+10.00", 0, false},
		{"EUR", " 10.00", 0, false},
		{"EUR", "10,00", 0, false},
		{"EUR", "1e3", 0, false},
		{"EUR", "1.0.0", 0, false},
		{"EUR", "NaN", 0, false},
		{"EUR", "١٠", 0, false}, // Arabic-Indic digits
		{"XYZ", "10.00", 0, false},
		{"EU", "10.00", 0, false},
		{"usd\u200b", "10.00", 0, false},
	}
	for _, tt := range tests {
		got, err := MinorUnits(tt.currency, tt.value)
		switch {
		case tt.ok && (err != nil || got != tt.want):
			t.Errorf("MinorUnits(%q, %q) = %d, %v; want %d", tt.currency, tt.value, got, err, tt.want)
		case !tt.ok && !errors.Is(err, ErrInvalidPayload):
			t.Errorf("MinorUnits(%q, %q) = %d, %v; want ErrInvalidPayload", tt.currency, tt.value, got, err)
		}
	}
	if _, err := MinorUnits("EUR", strings.Repeat("9", 10000)); err == nil || len(err.Error()) > 120 {
		t.Errorf("a huge amount: %v (the reason must be short)", err)
	}
}

func TestRescale(t *testing.T) {
	tests := []struct {
		n        int64
		from, to int
		want     int64
		ok       bool
	}{
		{1250, 2, 3, 12500, true},
		{700000, 2, 0, 7000, true},
		{3000, 0, 2, 300000, true},
		{-700, 2, 0, -7, true},
		{999, 2, 2, 999, true},
		{700050, 2, 0, 0, false},
		{math.MaxInt64 / 10, 0, 1, math.MaxInt64 / 10 * 10, true},
		{math.MaxInt64/10 + 1, 0, 1, 0, false},
		{math.MinInt64 / 10, 0, 1, math.MinInt64 / 10 * 10, true},
		{math.MinInt64/10 - 1, 0, 1, 0, false},
	}
	for _, tt := range tests {
		got, why := rescale(tt.n, tt.from, tt.to)
		if got != tt.want || (why == "") != tt.ok {
			t.Errorf("rescale(%d, %d, %d) = %d, %q; want %d, ok %v", tt.n, tt.from, tt.to, got, why, tt.want, tt.ok)
		}
	}
}
