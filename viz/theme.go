package viz

import (
	"image/color"
	"math"
	"strconv"

	xfont "golang.org/x/image/font"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// Default figure sizes. A zero width or height in an options struct selects
// these.
const (
	DefaultWidth  = 5 * vg.Inch
	DefaultHeight = 3.5 * vg.Inch
)

// OkabeIto is the colour-blind-safe palette of Okabe and Ito (2008), "Color
// Universal Design", ordered for lines on a white background: the yellow
// comes last because it is faint on white.
var OkabeIto = []color.NRGBA{
	{0x00, 0x72, 0xB2, 0xFF}, // blue
	{0xD5, 0x5E, 0x00, 0xFF}, // vermillion
	{0x00, 0x9E, 0x73, 0xFF}, // bluish green
	{0xCC, 0x79, 0xA7, 0xFF}, // reddish purple
	{0xE6, 0x9F, 0x00, 0xFF}, // orange
	{0x56, 0xB4, 0xE9, 0xFF}, // sky blue
	{0x00, 0x00, 0x00, 0xFF}, // black
	{0xF0, 0xE4, 0x42, 0xFF}, // yellow
}

// dashes are the dash patterns of successive series; together with the
// markers they keep series apart when colour is lost (greyscale print).
var dashes = [][]vg.Length{
	nil,                            // solid
	{vg.Points(6), vg.Points(3)},   // dashed
	{vg.Points(1.5), vg.Points(2)}, // dotted
	{vg.Points(7), vg.Points(2.5), vg.Points(1.5), vg.Points(2.5)}, // dash-dot
	{vg.Points(12), vg.Points(3)},                                  // long dash
	{vg.Points(3), vg.Points(2)},                                   // short dash
}

// markers are the glyph shapes of successive series.
var markers = []draw.GlyphDrawer{
	draw.CircleGlyph{},
	draw.SquareGlyph{},
	draw.PyramidGlyph{},
	draw.CrossGlyph{},
	draw.RingGlyph{},
	draw.BoxGlyph{},
	draw.TriangleGlyph{},
	draw.PlusGlyph{},
}

// SeriesStyle returns the line and marker style of the i-th series of a
// figure: an [OkabeIto] colour, a dash pattern and a marker shape. Colours,
// dashes and markers cycle with different periods, so the first 24 series
// all differ in at least one cue besides colour.
func SeriesStyle(i int) (draw.LineStyle, draw.GlyphStyle) {
	if i < 0 {
		i = -i
	}
	c := OkabeIto[i%len(OkabeIto)]
	line := draw.LineStyle{Color: c, Width: vg.Points(1.5), Dashes: dashes[i%len(dashes)]}
	glyph := draw.GlyphStyle{Color: c, Radius: vg.Points(2.6), Shape: markers[i%len(markers)]}
	return line, glyph
}

// withAlpha returns c with the given opacity (0–1).
func withAlpha(c color.Color, a float64) color.Color {
	r, g, b, _ := c.RGBA()
	return color.NRGBA{uint8(r >> 8), uint8(g >> 8), uint8(b >> 8), uint8(math.Round(a * 255))}
}

var (
	textColor = color.NRGBA{0x22, 0x22, 0x22, 0xFF}
	gridColor = color.NRGBA{0xE3, 0xE3, 0xE3, 0xFF}

	sansFont = font.Font{Typeface: "Liberation", Variant: "Sans"}
	boldFont = font.Font{Typeface: "Liberation", Variant: "Sans", Weight: xfont.WeightBold}
)

// Font sizes of the theme.
const (
	titleSize  = 11
	labelSize  = 10
	tickSize   = 8.5
	legendSize = 9
)

func textStyle(f font.Font, size vg.Length) text.Style {
	return text.Style{
		Color:   textColor,
		Font:    font.From(f, size),
		XAlign:  draw.XCenter,
		YAlign:  draw.YTop,
		Handler: plot.DefaultTextHandler,
	}
}

// newPlot returns a gonum plot dressed in the package theme.
func newPlot(title, xLabel, yLabel string) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	p.Title.TextStyle = textStyle(boldFont, titleSize)
	p.Title.Padding = vg.Points(6)
	for _, a := range []*plot.Axis{&p.X, &p.Y} {
		a.Label.TextStyle = textStyle(sansFont, labelSize)
		a.Label.TextStyle.YAlign = draw.YBottom
		a.Label.Padding = vg.Points(3)
		a.Tick.Label.Color = textColor
		a.Tick.Label.Font = font.From(sansFont, tickSize)
		a.Tick.Length = vg.Points(4)
		a.Tick.LineStyle.Color = textColor
		a.LineStyle.Color = textColor
		a.LineStyle.Width = vg.Points(0.75)
		a.Padding = vg.Points(4)
	}
	p.X.Tick.Marker, p.Y.Tick.Marker = linearTicks{n: 5}, linearTicks{n: 6}
	p.X.Label.Text = xLabel
	p.Y.Label.Text = yLabel
	p.Legend.TextStyle = legendStyle()
	p.Legend.ThumbnailWidth = vg.Points(26)
	p.Legend.Left = true
	p.Legend.Top = true
	return p
}

// addGrid adds light major grid lines behind the data.
func addGrid(p *plot.Plot, vertical, horizontal bool) {
	g := plotter.NewGrid()
	g.Vertical = draw.LineStyle{}
	g.Horizontal = draw.LineStyle{}
	if vertical {
		g.Vertical = draw.LineStyle{Color: gridColor, Width: vg.Points(0.5)}
	}
	if horizontal {
		g.Horizontal = draw.LineStyle{Color: gridColor, Width: vg.Points(0.5)}
	}
	p.Add(g)
}

// YlGnBu is ColorBrewer's nine-class sequential yellow–green–blue scheme
// (Cynthia Brewer, colorbrewer2.org): colour-blind safe, lightness falls
// monotonically from the first colour to the last, so it survives
// greyscale.
var ylGnBu = []color.NRGBA{
	{0xFF, 0xFF, 0xD9, 0xFF},
	{0xED, 0xF8, 0xB1, 0xFF},
	{0xC7, 0xE9, 0xB4, 0xFF},
	{0x7F, 0xCD, 0xBB, 0xFF},
	{0x41, 0xB6, 0xC4, 0xFF},
	{0x1D, 0x91, 0xC0, 0xFF},
	{0x22, 0x5E, 0xA8, 0xFF},
	{0x25, 0x34, 0x94, 0xFF},
	{0x08, 0x1D, 0x58, 0xFF},
}

// sequential maps t in [0, 1] (clamped) to the heat-map colour map by
// linear interpolation between the YlGnBu anchors: 0 is the lightest
// colour (pruned), 1 the darkest (kept).
func sequential(t float64) color.NRGBA {
	switch {
	case math.IsNaN(t) || t <= 0:
		return ylGnBu[0]
	case t >= 1:
		return ylGnBu[len(ylGnBu)-1]
	}
	x := t * float64(len(ylGnBu)-1)
	i := int(x)
	f := x - float64(i)
	a, b := ylGnBu[i], ylGnBu[i+1]
	mix := func(u, v uint8) uint8 { return uint8(math.Round(float64(u) + f*(float64(v)-float64(u)))) }
	return color.NRGBA{mix(a.R, b.R), mix(a.G, b.G), mix(a.B, b.B), 0xFF}
}

// legendStyle is the text style of legend entries. Legends measure entry
// heights above the baseline, so the text is bottom-aligned.
func legendStyle() text.Style {
	s := textStyle(sansFont, legendSize)
	s.XAlign, s.YAlign = draw.XLeft, draw.YBottom
	return s
}

// intTicks labels integers at a round step giving at most six labels,
// for axes that count units, channels or pixels.
type intTicks struct{}

func (intTicks) Ticks(lo, hi float64) []plot.Tick { return roundTicks(lo, hi, 6, true) }

// roundTicks returns labelled ticks at multiples of the smallest round step
// (1, 2, 2.5 or 5 times a power of ten) that gives at most maxLabels
// labels between lo and hi; with integer, only integer steps are used.
func roundTicks(lo, hi float64, maxLabels int, integer bool) []plot.Tick {
	if !(hi > lo) || math.IsInf(hi-lo, 0) {
		return nil
	}
	var step float64
	var decimals int
search:
	for e := math.Floor(math.Log10((hi-lo)/float64(maxLabels))) - 1; ; e++ {
		for _, m := range []float64{1, 2, 2.5, 5} {
			step = m * math.Pow(10, e)
			if integer && step != math.Trunc(step) {
				continue
			}
			if math.Floor(hi/step+1e-9)-math.Ceil(lo/step-1e-9)+1 <= float64(maxLabels) {
				decimals = max(0, int(-e))
				if m == 2.5 {
					decimals = max(0, int(-e)+1)
				}
				break search
			}
		}
	}
	var ts []plot.Tick
	for k := math.Ceil(lo/step - 1e-9); k*step <= hi+1e-9*step; k++ {
		v := k * step
		if v == 0 {
			v = 0 // not -0
		}
		ts = append(ts, plot.Tick{Value: v, Label: strconv.FormatFloat(v, 'f', decimals, 64)})
	}
	return ts
}

// linearTicks labels round values, at most n (6 when n is 0), on a linear
// axis.
type linearTicks struct{ n int }

func (t linearTicks) Ticks(lo, hi float64) []plot.Tick {
	return roundTicks(lo, hi, orInt(t.n, 6), false)
}

// logTicks labels powers of ten on a log axis (every second or third one
// when the axis spans many decades) and adds unlabelled minor ticks at 2–9
// times each power when it spans few.
type logTicks struct{}

func (logTicks) Ticks(lo, hi float64) []plot.Tick {
	if !(lo > 0) || !(hi > lo) {
		return nil
	}
	first, last := int(math.Floor(math.Log10(lo))), int(math.Ceil(math.Log10(hi)))
	every := max(1, ceilDiv(last-first, 6))
	var ts []plot.Tick
	for e := first; e <= last; e++ {
		v := math.Pow(10, float64(e))
		if v >= lo*(1-1e-9) && v <= hi*(1+1e-9) {
			t := plot.Tick{Value: v}
			if e%every == 0 {
				t.Label = formatPower(e)
			}
			ts = append(ts, t)
		}
		if last-first <= 4 {
			for m := 2.0; m < 10; m++ {
				if u := m * v; u >= lo && u <= hi {
					ts = append(ts, plot.Tick{Value: u})
				}
			}
		}
	}
	return ts
}

// formatPower writes 10^e plainly (0.001 … 10000) or as 1e-5.
func formatPower(e int) string {
	if e >= -3 && e <= 4 {
		return strconv.FormatFloat(math.Pow(10, float64(e)), 'f', -1, 64)
	}
	return "1e" + strconv.Itoa(e)
}
