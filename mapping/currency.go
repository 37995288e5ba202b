package mapping

import (
	"fmt"
	"math"
	"strings"
)

// isoExponent is the minor unit of every currency code ISO 4217 lists: the
// number of decimals of its smallest unit (list one, published 2026-01-01 by
// SIX Group, the maintenance agency). Codes with no minor unit (gold,
// silver, the SDR, bond-market units, XTS for tests, XXX for no currency)
// are left out: nothing is paid in them. So are codes withdrawn since 2020,
// but for the few a provider may still send for a subscription that began
// before (ANG, BGN, CUC, HRK, SLL, ZWL, all with two decimals).
var isoExponent = func() map[string]int {
	m := make(map[string]int)
	for exp, codes := range [...]string{
		0: "bif clp djf gnf isk jpy kmf krw pyg rwf ugx uyi vnd vuv xaf xof xpf",
		2: "aed afn all amd ang aoa ars aud awg azn bam bbd bdt bgn bmd bnd bob bov brl bsd btn bwp byn bzd " +
			"cad cdf che chf chw cny cop cou crc cuc cup cve czk dkk dop dzd egp ern etb eur fjd fkp " +
			"gbp gel ghs gip gmd gtq gyd hkd hnl hrk htg huf idr ils inr irr jmd kes kgs khr kpw kyd kzt " +
			"lak lbp lkr lrd lsl mad mdl mga mkd mmk mnt mop mru mur mvr mwk mxn mxv myr mzn nad ngn nio nok npr nzd " +
			"pab pen pgk php pkr pln qar ron rsd rub sar sbd scr sdg sek sgd shp sle sll sos srd ssp stn svc syp szl " +
			"thb tjs tmt top try ttd twd tzs uah usd usn uyu uzs ved ves wst xad xcd xcg yer zar zmw zwg zwl",
		3: "bhd iqd jod kwd lyd omr tnd",
		4: "clf uyw",
	} {
		for _, code := range strings.Fields(codes) {
			m[code] = exp
		}
	}
	return m
}()

// Exponent returns the number of decimals of currency's minor unit in ISO
// 4217 (2 for USD, 0 for JPY, 3 for KWD), in any case; ok is false for a
// code ISO 4217 does not list or that has no minor unit.
func Exponent(currency string) (decimals int, ok bool) {
	decimals, ok = isoExponent[strings.ToLower(currency)]
	return decimals, ok
}

// currencyCode returns s, trimmed of ASCII spaces, as the code Reditus takes
// (ISO 4217, lower case), or why it is not one. A currency is exactly three
// ASCII letters: anything else (a zero-width space, a Cyrillic letter that
// looks Latin) would reach Reditus as a different currency that prints the
// same. The reason quotes s only once it is known to be three letters.
func currencyCode(s string) (code, why string) {
	s = strings.Trim(s, " \t\r\n")
	switch {
	case s == "":
		return "", "there is none"
	case len(s) != 3:
		return "", fmt.Sprintf("it is %d bytes long, not three letters", len(s))
	}
	for i := 0; i < len(s); i++ {
		if c := s[i] | 0x20; c < 'a' || c > 'z' {
			return "", "it is not three ASCII letters"
		}
	}
	code = strings.ToLower(s)
	if _, ok := isoExponent[code]; !ok {
		return "", fmt.Sprintf("%q is not an ISO 4217 currency", s)
	}
	return code, ""
}

// MinorUnits converts value, an amount written as a decimal string in
// currency's major unit ("10.00" euros, "1000" yen, "12.345" dinars: how
// Mollie and PayPal send amounts), to an integer of the currency's ISO 4217
// minor unit, exactly: no floats, and nothing rounded. Fewer decimals than
// the currency has are fine ("10.5" euros is 1050 cents), and so are extra
// zeros; a digit past the minor unit ("10.5" yen) is refused, as is anything
// but digits with at most one point and a leading minus, and an amount
// beyond int64. The error is an ErrInvalidPayload.
func MinorUnits(currency, value string) (int64, error) {
	code, why := currencyCode(currency)
	if why != "" {
		return 0, Invalid("currency: %s", why)
	}
	exp := isoExponent[code]
	digits, negative := strings.CutPrefix(value, "-")
	whole, frac, point := strings.Cut(digits, ".")
	switch {
	case whole == "" || (point && frac == "") || !allDigits(whole) || !allDigits(frac):
		return 0, Invalid("amount %q is not a decimal number", truncate(value))
	case len(strings.TrimRight(frac, "0")) > exp:
		return 0, Invalid("amount %q has more decimals than %s's %d", truncate(value), strings.ToUpper(code), exp)
	}
	frac = (frac + strings.Repeat("0", exp))[:exp]
	var n int64
	for _, d := range whole + frac {
		if n > (math.MaxInt64-int64(d-'0'))/10 {
			return 0, Invalid("amount %q is too large", truncate(value))
		}
		n = n*10 + int64(d-'0')
	}
	if negative {
		n = -n
	}
	return n, nil
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// truncate shortens s for a reason: a number longer than int64's 19 digits
// is refused anyway, and a reason must not carry a whole hostile body.
func truncate(s string) string {
	if len(s) > 32 {
		return s[:32] + "..."
	}
	return s
}

// rescale converts n, in units of 10^-from of a currency, to units of
// 10^-to, exactly: a fraction of the smaller unit, or a result beyond
// int64, is why it cannot be.
func rescale(n int64, from, to int) (int64, string) {
	for ; from < to; from++ {
		if n > math.MaxInt64/10 || n < math.MinInt64/10 {
			return 0, "it is too large"
		}
		n *= 10
	}
	for ; from > to; from-- {
		if n%10 != 0 {
			return 0, "it is not a whole number of the currency's minor unit"
		}
		n /= 10
	}
	return n, ""
}
