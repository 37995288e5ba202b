package admin

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/getreditus/reditus-bridge/outcome"
)

// The per-day chart of the overview is an SVG drawn here, on the server, and
// written into the page by html/template like any other value: the page runs
// no script, and its Content-Security-Policy stays as it is. Each bar is one
// day, stacked by what became of the events (the legend's colours), with a
// title a browser shows on hover.

// dayCounts is one day of the chart: its UTC date and its counts by outcome.
type dayCounts struct {
	Date   string // 2006-01-02
	Counts map[outcome.Word]int
}

// chartData is what page.html draws.
type chartData struct {
	Width, Height int
	AxisX, AxisY  int // where the plot's baseline starts
	Bars          []bar
	Ticks         []tick // labels along the axes
	Max           int    // the top of the scale
	Legend        []chartKey
	Label         string // the chart, in words, for a screen reader
}

type bar struct {
	Title string // the day, and what its events became, in words
	Rects []rect
}

type rect struct {
	Class      string // the stack's colour: ok, muted, info, warn, bad
	X, Y, W, H string // in the viewBox's units
}

type tick struct {
	X, Y   string
	Text   string
	Anchor string // text-anchor: start, middle or end
}

type chartKey struct{ Class, Label string }

// stacks are the chart's colours, bottom up, and what each means: the
// legend's badges, grouped.
var stacks = []chartKey{
	{"ok", "in Reditus"},
	{"muted", "dry run or other"},
	{"info", "queued or being delivered"},
	{"warn", "skipped"},
	{"bad", "rejected, failed or unreadable"},
}

// The chart's geometry, in the viewBox's units.
const (
	chartWidth  = 960
	chartHeight = 170
	plotLeft    = 36 // room for the scale's labels
	plotTop     = 8
	plotBottom  = 22 // room for the dates
	barGap      = 2
)

// chart draws days, oldest first. A day with no events is an empty slot, so
// that a quiet day shows as one.
func chart(days []dayCounts) chartData {
	c := chartData{Width: chartWidth, Height: chartHeight, AxisX: plotLeft, AxisY: chartHeight - plotBottom, Legend: stacks}
	plotW, plotH := float64(chartWidth-plotLeft), float64(chartHeight-plotTop-plotBottom)
	top := 0
	for _, d := range days {
		top = max(top, total(d.Counts))
	}
	c.Max = niceCeil(top)
	slot := plotW / float64(max(len(days), 1))
	var events int
	for i, d := range days {
		x := float64(plotLeft) + float64(i)*slot
		b := bar{Title: dayTitle(d)}
		y := float64(plotTop) + plotH // stacks grow up from the axis
		for _, s := range stacks {
			n := stackCount(d.Counts, s.Class)
			if n == 0 {
				continue
			}
			h := plotH * float64(n) / float64(c.Max)
			y -= h
			b.Rects = append(b.Rects, rect{Class: s.Class, X: num(x + barGap/2), Y: num(y), W: num(max(slot-barGap, 1)), H: num(h)})
		}
		events += total(d.Counts)
		c.Bars = append(c.Bars, b)
		if i == 0 || i == len(days)-1 || (len(days)-1-i)%7 == 0 {
			c.Ticks = append(c.Ticks, tick{X: num(x + slot/2), Y: num(chartHeight - 6), Text: shortDate(d.Date), Anchor: "middle"})
		}
	}
	c.Ticks = append(c.Ticks,
		tick{X: num(plotLeft - 6), Y: num(plotTop + 8), Text: strconv.Itoa(c.Max), Anchor: "end"},
		tick{X: num(plotLeft - 6), Y: num(float64(plotTop) + plotH), Text: "0", Anchor: "end"})
	c.Label = fmt.Sprintf("Events per day, %d days: %d in all", len(days), events)
	return c
}

// stackCount is how many of counts fall in the stack of class.
func stackCount(counts map[outcome.Word]int, class string) int {
	n := 0
	for w, k := range counts {
		if outcomeOf(w).Badge == class {
			n += k
		}
	}
	return n
}

func total(counts map[outcome.Word]int) int {
	n := 0
	for _, k := range counts {
		n += k
	}
	return n
}

// dayTitle is a bar's title: "2025-03-04: 12 events: 9 in Reditus, 3 skipped".
func dayTitle(d dayCounts) string {
	n := total(d.Counts)
	if n == 0 {
		return d.Date + ": no events"
	}
	var parts []string
	for _, s := range stacks {
		if k := stackCount(d.Counts, s.Class); k > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", k, s.Label))
		}
	}
	return fmt.Sprintf("%s: %d %s: %s", d.Date, n, plural(n, "event", "events"), strings.Join(parts, ", "))
}

// niceCeil is the scale's top: n rounded up to a round number (1, 2, 3, 4,
// 5, 6 or 8 times a power of ten), and at least 1, so that an empty chart
// still has a scale.
func niceCeil(n int) int {
	for p := 1; ; p *= 10 {
		for _, m := range []int{1, 2, 3, 4, 5, 6, 8} {
			if m*p >= n {
				return m * p
			}
		}
	}
}

// shortDate is a date as the axis shows it: "Mar 4".
func shortDate(date string) string {
	t, err := time.Parse(time.DateOnly, date)
	if err != nil {
		return date
	}
	return t.Format("Jan 2")
}

func num(f float64) string { return strconv.FormatFloat(f, 'f', 1, 64) }

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
