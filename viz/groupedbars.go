package viz

import (
	"fmt"
	"image/color"
	"math"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// BarSeries is one named set of bars for [GroupedBars]: one value per
// category, e.g. the measured speedup of each model.
type BarSeries struct {
	Name string

	// Values holds one value per category; NaN leaves a gap.
	Values []float64

	// Labels optionally holds the text written above each bar (such as
	// "2.12×" or "26 KB"); nil or an empty string writes none.
	Labels []string
}

// GroupedBarOptions configure [GroupedBars].
type GroupedBarOptions struct {
	// Title is the figure title; empty means none.
	Title string

	// YLabel labels the value axis.
	YLabel string

	// LogY puts the values on a log scale, for quantities that span
	// decades (file sizes, error rates); every value must then be
	// positive. Bars rise from the bottom of the axis.
	LogY bool

	// Width and Height are the figure size; zero selects DefaultWidth and
	// DefaultHeight.
	Width, Height vg.Length
}

// GroupedBars draws vertical bars grouped by category: one group per
// category along the x axis, one bar per series in each group, coloured by
// series with a legend when there are several, each bar optionally labelled
// with its value. It shows a few quantities side by side, such as the
// theoretical and measured speedups of compacted models, or the sizes of a
// model stored in several ways. Category names may hold "\n" to break
// long labels. Errors wrap [ErrNoData] for no categories or series and
// [ErrShape] for series whose lengths differ from the categories', infinite
// values, or non-positive values on a log axis.
func GroupedBars(categories []string, series []BarSeries, o GroupedBarOptions) (Figure, error) {
	if len(categories) == 0 || len(series) == 0 {
		return nil, fmt.Errorf("viz: GroupedBars: %w: %d categories, %d series", ErrNoData, len(categories), len(series))
	}
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, s := range series {
		if len(s.Values) != len(categories) || (s.Labels != nil && len(s.Labels) != len(categories)) {
			return nil, fmt.Errorf("viz: series %q: %w: %d values and %d labels for %d categories", s.Name, ErrShape,
				len(s.Values), len(s.Labels), len(categories))
		}
		for i, v := range s.Values {
			switch {
			case math.IsNaN(v):
				continue
			case math.IsInf(v, 0) || (o.LogY && v <= 0):
				return nil, fmt.Errorf("viz: series %q: %w: value %v for %q", s.Name, ErrShape, v, categories[i])
			}
			lo, hi = math.Min(lo, v), math.Max(hi, v)
		}
	}
	if math.IsInf(lo, 1) {
		return nil, fmt.Errorf("viz: GroupedBars: %w: every value is NaN", ErrNoData)
	}

	p := newPlot(o.Title, "", o.YLabel)
	n := len(categories)
	ticks := make(plot.ConstantTicks, n)
	for i, c := range categories {
		ticks[i] = plot.Tick{Value: float64(i), Label: c}
	}
	p.X.Tick.Marker = ticks
	p.X.Tick.Length = 0
	p.X.Min, p.X.Max = -0.5, float64(n)-0.5
	p.X.Padding = 0
	p.Y.Padding = 0
	// Room above the tallest bar for its label: a fraction of the axis per line of text.
	lines := 0
	for _, s := range series {
		for _, l := range s.Labels {
			lines = max(lines, strings.Count(l, "\n")+1)
		}
	}
	room := 0.04 + 0.08*float64(lines)
	if o.LogY {
		p.Y.Scale = plot.LogScale{}
		p.Y.Tick.Marker = barLogTicks{}
		// Bars rise from a power of ten at least a tenth of a decade below the smallest value, so
		// that every bar shows.
		p.Y.Min = math.Pow(10, math.Floor(math.Log10(lo)-0.1))
		p.Y.Max = hi * math.Pow(hi/p.Y.Min, room)
	} else {
		p.Y.Min = math.Min(0, lo)
		p.Y.Max = math.Max(0, hi)
		span := p.Y.Max - p.Y.Min
		if span == 0 {
			span = 1
		}
		p.Y.Max += room * span
	}
	addGrid(p, false, true)
	bars := &vbars{series: series, logY: o.LogY}
	p.Add(bars)
	lf := &legendFigure{p: p, width: orDefault(o.Width, DefaultWidth), height: orDefault(o.Height, DefaultHeight)}
	if len(series) > 1 {
		for i, s := range series {
			lf.add(s.Name, swatch{OkabeIto[i%len(OkabeIto)]})
		}
	}
	return lf, nil
}

// vbars draws grouped vertical bars: with w = 0.8/len(series), the bar of
// series i in category c fills most of [c − 0.4 + i·w, c − 0.4 + (i+1)·w],
// with its label above it (below it for a negative value).
type vbars struct {
	series []BarSeries
	logY   bool
}

func (b *vbars) Plot(c draw.Canvas, p *plot.Plot) {
	trX, trY := p.Transforms(&c)
	label := textStyle(sansFont, tickSize)
	label.YAlign = draw.YBottom
	width := 0.8 / float64(len(b.series))
	base := 0.0
	if b.logY {
		base = p.Y.Min
	}
	for i, s := range b.series {
		col := OkabeIto[i%len(OkabeIto)]
		for cat, v := range s.Values {
			if math.IsNaN(v) {
				continue
			}
			x0 := float64(cat) - 0.4 + float64(i)*width
			x1 := x0 + width*0.92
			px0, px1 := trX(x0), trX(x1)
			py0, py1 := trY(base), trY(v)
			c.FillPolygon(col, []vg.Point{{X: px0, Y: py0}, {X: px1, Y: py0}, {X: px1, Y: py1}, {X: px0, Y: py1}})
			if s.Labels == nil || s.Labels[cat] == "" {
				continue
			}
			pt := vg.Point{X: (px0 + px1) / 2, Y: max(py0, py1) + vg.Points(2)}
			sty := label
			if v < base {
				pt.Y, sty.YAlign = min(py0, py1)-vg.Points(2), draw.YTop
			}
			c.FillText(sty, pt, s.Labels[cat])
		}
	}
}

// swatch is a legend thumbnail: a filled square of the series colour.
type swatch struct{ color color.Color }

func (s swatch) Thumbnail(c *draw.Canvas) {
	h := c.Max.Y - c.Min.Y
	x0 := c.Min.X + (c.Max.X-c.Min.X-h)/2
	c.FillPolygon(s.color, []vg.Point{{X: x0, Y: c.Min.Y}, {X: x0 + h, Y: c.Min.Y}, {X: x0 + h, Y: c.Max.Y}, {X: x0, Y: c.Max.Y}})
}

// barLogTicks are the log-axis ticks of [GroupedBars]: powers of ten, and
// when fewer than three of those fall on the axis, 2 and 5 times each power
// labelled too, so that an axis spanning about one decade still reads.
type barLogTicks struct{}

func (barLogTicks) Ticks(lo, hi float64) []plot.Tick {
	ts := logTicks{}.Ticks(lo, hi)
	labelled := 0
	for _, t := range ts {
		if t.Label != "" {
			labelled++
		}
	}
	if labelled >= 3 {
		return ts
	}
	for i, t := range ts {
		if m := t.Value / math.Pow(10, math.Floor(math.Log10(t.Value)+1e-9)); t.Label == "" && (math.Abs(m-2) < 1e-9 || math.Abs(m-5) < 1e-9) {
			ts[i].Label = strconv.FormatFloat(t.Value, 'g', -1, 64)
		}
	}
	return ts
}
