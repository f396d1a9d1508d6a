package viz

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// HeatmapOptions configure [MaskHeatmap].
type HeatmapOptions struct {
	// Title replaces the default title: the layer name, its shape and the
	// percentage of weights kept.
	Title string

	// Magnitude shows weight magnitudes |w| (zero where pruned) instead of
	// kept fractions; the layer needs Weights.
	Magnitude bool

	// MaxCells bounds the number of cells along each axis: larger layers
	// are block-averaged (see [BlockAverage]), preferring blocks that
	// divide the axis evenly (784×300 becomes 28×30 blocks of 28×10).
	// Zero means 40; a negative value draws every weight.
	MaxCells int

	// Width and Height are the figure size; zero selects DefaultWidth and
	// DefaultHeight.
	Width, Height vg.Length
}

// MaskHeatmap draws one layer's mask as an image: inputs along the x axis,
// outputs along the y axis, each cell coloured by the fraction of its
// weights kept, from light (pruned) to dark (kept), with a colour bar.
// Convolution kernels [kh, kw, in, out] are drawn as an input-channel ×
// output-filter grid of kept fractions per kernel. Errors come from
// [Layer.Validate], or wrap [ErrNoData] when Magnitude is set and the
// layer has no Weights.
func MaskHeatmap(l Layer, o HeatmapOptions) (Figure, error) {
	panel, bar, err := layerPanel(l, o.Magnitude, false, orInt(o.MaxCells, 40))
	if err != nil {
		return nil, err
	}
	title := panel.p.Title.Text
	if o.Title != "" {
		title = o.Title
	}
	panel.p.Title.Text = ""
	return &heatFigure{
		width:  orDefault(o.Width, DefaultWidth),
		height: orDefault(o.Height, DefaultHeight),
		title:  title,
		cols:   1,
		panels: []heatPanel{panel},
		bar:    bar,
	}, nil
}

// PixelMapOptions configure [PixelMap].
type PixelMapOptions struct {
	// Title replaces the default title.
	Title string

	// Rows and Cols are the input image shape; zero means the square
	// root of the layer's input count (28×28 for 784 inputs).
	Rows, Cols int

	// Width and Height are the figure size; zero means 4 × 3.5 inches.
	Width, Height vg.Length
}

// PixelMap draws the classic "which pixels survive" picture: for a dense
// first layer whose inputs are image pixels, the fraction of each pixel's
// outgoing weights that are kept (see [PixelGrid]), as an image with square
// pixels, row 0 at the top, coloured from 0 to the largest fraction (rounded
// up to a tenth). Errors wrap [ErrShape] when the inputs do not form a Rows ×
// Cols image.
func PixelMap(l Layer, o PixelMapOptions) (Figure, error) {
	if err := l.Validate(); err != nil {
		return nil, err
	}
	rows, cols := o.Rows, o.Cols
	if rows <= 0 && cols <= 0 && len(l.Shape) == 2 {
		s := int(math.Round(math.Sqrt(float64(l.Shape[0]))))
		rows, cols = s, s
	} else if rows <= 0 && cols > 0 && len(l.Shape) == 2 {
		rows = l.Shape[0] / cols
	} else if cols <= 0 && rows > 0 && len(l.Shape) == 2 {
		cols = l.Shape[0] / rows
	}
	g, err := PixelGrid(l, rows, cols)
	if err != nil {
		return nil, err
	}
	c := l.Count()
	title := o.Title
	if title == "" {
		title = fmt.Sprintf("%s: %s kept, per input pixel", layerName(l), formatPercent(100*c.Density())+"%")
	}
	p := newPlot("", "pixel column", "pixel row")
	p.Y.Scale = plot.InvertedScale{Normalizer: plot.LinearScale{}}
	setHeatAxes(p)
	// The colour scale runs from 0 to the largest kept fraction (rounded up to a tenth), so that at
	// high sparsity, where every pixel keeps little, the pattern of which pixels keep more still shows.
	hi := 0.0
	for _, v := range g.Values {
		hi = max(hi, v)
	}
	hi = math.Min(1, math.Ceil(hi*10)/10)
	if hi == 0 {
		hi = 1
	}
	p.Add(&cells{g: g, xEdges: unitEdges(cols, 1), yEdges: unitEdges(rows, 1), lo: 0, hi: hi})
	return &heatFigure{
		width:  orDefault(o.Width, 4*vg.Inch),
		height: orDefault(o.Height, 3.5*vg.Inch),
		title:  title,
		cols:   1,
		panels: []heatPanel{{p: p, aspect: float64(cols) / float64(rows)}},
		bar:    colorBar{label: "fraction of outgoing weights kept", lo: 0, hi: hi},
	}, nil
}

// ModelHeatmapOptions configure [ModelHeatmaps].
type ModelHeatmapOptions struct {
	// Title replaces the default title: the number of layers and the
	// percentage of all their weights kept.
	Title string

	// Magnitude shows weight magnitudes, each layer scaled by its largest
	// magnitude, instead of kept fractions; every layer needs Weights.
	Magnitude bool

	// MaxCells bounds the cells along each axis of each panel, as in
	// [HeatmapOptions]; zero means 32.
	MaxCells int

	// Cols is the number of panels per row; zero means up to 3.
	Cols int

	// PanelWidth and PanelHeight are the size of each panel; zero means
	// 3 × 2.6 inches.
	PanelWidth, PanelHeight vg.Length
}

// ModelHeatmaps draws one [MaskHeatmap]-style panel per layer, each titled
// with its name, shape and percentage kept, with one shared colour bar.
// Errors wrap [ErrNoData] for no layers, or come from the layer at fault.
func ModelHeatmaps(layers []Layer, o ModelHeatmapOptions) (Figure, error) {
	if len(layers) == 0 {
		return nil, fmt.Errorf("viz: ModelHeatmaps: %w: no layers", ErrNoData)
	}
	f := &heatFigure{cols: o.Cols}
	if f.cols <= 0 {
		f.cols = min(len(layers), 3)
	}
	f.cols = min(f.cols, len(layers))
	var kept, total int
	for _, l := range layers {
		panel, bar, err := layerPanel(l, o.Magnitude, true, orInt(o.MaxCells, 32))
		if err != nil {
			return nil, err
		}
		panel.p.Title.TextStyle.Font.Size = labelSize
		f.panels = append(f.panels, panel)
		f.bar = bar
		c := l.Count()
		kept += c.Kept
		total += c.Total
	}
	f.bar.label = "kept fraction"
	if o.Magnitude {
		f.bar.label = "|w| / largest |w| of the layer"
	}
	f.title = o.Title
	if f.title == "" {
		f.title = fmt.Sprintf("%d layers: %s of %s weights kept", len(layers),
			formatPercent(100*float64(kept)/float64(total))+"%", formatCount(total))
	}
	rows := ceilDiv(len(layers), f.cols)
	pw, ph := orDefault(o.PanelWidth, 3*vg.Inch), orDefault(o.PanelHeight, 2.6*vg.Inch)
	f.width = pw*vg.Length(f.cols) + f.bar.width()
	f.height = ph*vg.Length(rows) + f.titleHeight()
	return f, nil
}

// layerPanel builds the heat-map plot of one layer and its colour bar.
// With normalize, magnitudes are divided by the layer's largest.
func layerPanel(l Layer, magnitude, normalize bool, maxCells int) (heatPanel, colorBar, error) {
	var g Grid
	var err error
	if magnitude {
		g, err = l.MagnitudeGrid()
	} else {
		g, err = l.KeptGrid()
	}
	if err != nil {
		return heatPanel{}, colorBar{}, err
	}
	conv := len(l.Shape) == 4
	in, out := g.Rows, g.Cols
	br, bc := blockSize(in, maxCells), blockSize(out, maxCells)
	if br > 1 || bc > 1 {
		g = BlockAverage(g, br, bc)
	}
	bar := colorBar{lo: 0, hi: 1}
	switch {
	case magnitude && normalize:
		if m := g.max(); m > 0 {
			for i := range g.Values {
				g.Values[i] /= m
			}
		}
	case magnitude:
		bar.hi = g.max()
		if bar.hi == 0 {
			bar.hi = 1
		}
	}
	bar.label = "kept fraction"
	if magnitude {
		bar.label = "|w|"
	}
	if conv {
		bar.label += " per kernel"
	}
	if br > 1 || bc > 1 {
		bar.label = "mean " + bar.label + fmt.Sprintf(", %d×%d blocks", br, bc)
	}

	c := l.Count()
	title := fmt.Sprintf("%s  %s: %s kept", layerName(l), shapeString(l.Shape), formatPercent(100*c.Density())+"%")
	xLabel, yLabel := "input unit", "output unit"
	if conv {
		xLabel, yLabel = "input channel", "output filter"
	}
	p := newPlot(title, xLabel, yLabel)
	setHeatAxes(p)
	p.Add(&cells{g: g.transpose(), xEdges: unitEdges(in, br), yEdges: unitEdges(out, bc), lo: bar.lo, hi: bar.hi})
	return heatPanel{p: p}, bar, nil
}

// setHeatAxes removes the axis padding so that cells touch the axes.
func setHeatAxes(p *plot.Plot) {
	p.X.Padding, p.Y.Padding = 0, 0
	p.X.Tick.Marker, p.Y.Tick.Marker = intTicks{}, intTicks{}
}

// unitEdges returns the cell edges of n units grouped in blocks of b: 0,
// b, 2b, ..., n.
func unitEdges(n, b int) []float64 {
	var e []float64
	for x := 0; x < n; x += b {
		e = append(e, float64(x))
	}
	return append(e, float64(n))
}

func orInt(v, def int) int {
	if v == 0 {
		return def
	}
	return v
}

func layerName(l Layer) string {
	if l.Name == "" {
		return "layer"
	}
	return l.Name
}

func shapeString(shape []int) string {
	s := make([]string, len(shape))
	for i, d := range shape {
		s[i] = strconv.Itoa(d)
	}
	return strings.Join(s, "×")
}

// formatPercent formats a percentage the way pruning papers label
// weights remaining: 100, 51.3, 7.0, 0.52.
func formatPercent(v float64) string {
	switch {
	case v >= 99.95:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case v >= 0.995:
		return strconv.FormatFloat(v, 'f', 1, 64)
	case v == 0:
		return "0"
	default:
		return strconv.FormatFloat(v, 'g', 2, 64)
	}
}

// formatCount writes n with thousands separators: 266,200.
func formatCount(n int) string {
	s := strconv.Itoa(n)
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 && s[i-1] != '-' {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// cells is a plotter that fills one rectangle per grid cell, with exact
// cell edges (unlike plotter.HeatMap, which centres cells on coordinates),
// so that ragged last blocks keep their true extent. Row r spans
// yEdges[r]..yEdges[r+1], column c spans xEdges[c]..xEdges[c+1].
type cells struct {
	g              Grid
	xEdges, yEdges []float64
	lo, hi         float64
}

// Plot implements plot.Plotter. Runs of equal colour in a row are merged
// into one rectangle, which keeps SVG output small for binary masks, and
// rectangles overlap their neighbours by a hairline so that anti-aliasing
// leaves no seams.
func (cs *cells) Plot(c draw.Canvas, p *plot.Plot) {
	trX, trY := p.Transforms(&c)
	const seam = vg.Length(0.3)
	clampX := func(x vg.Length) vg.Length { return min(max(x, c.Min.X), c.Max.X) }
	clampY := func(y vg.Length) vg.Length { return min(max(y, c.Min.Y), c.Max.Y) }
	for r := range cs.g.Rows {
		y0, y1 := trY(cs.yEdges[r]), trY(cs.yEdges[r+1])
		if y0 > y1 {
			y0, y1 = y1, y0
		}
		y0, y1 = clampY(y0-seam), clampY(y1+seam)
		for start := 0; start < cs.g.Cols; {
			col := sequential((cs.g.At(r, start) - cs.lo) / (cs.hi - cs.lo))
			end := start + 1
			for end < cs.g.Cols && sequential((cs.g.At(r, end)-cs.lo)/(cs.hi-cs.lo)) == col {
				end++
			}
			x0, x1 := trX(cs.xEdges[start]), trX(cs.xEdges[end])
			if x0 > x1 {
				x0, x1 = x1, x0
			}
			x0, x1 = clampX(x0-seam), clampX(x1+seam)
			c.FillPolygon(col, []vg.Point{{X: x0, Y: y0}, {X: x1, Y: y0}, {X: x1, Y: y1}, {X: x0, Y: y1}})
			start = end
		}
	}
}

// DataRange implements plot.DataRanger.
func (cs *cells) DataRange() (xmin, xmax, ymin, ymax float64) {
	return cs.xEdges[0], cs.xEdges[len(cs.xEdges)-1], cs.yEdges[0], cs.yEdges[len(cs.yEdges)-1]
}

// heatPanel is one heat-map plot; aspect > 0 asks for data area of that
// width/height ratio (square cells), centred in the panel.
type heatPanel struct {
	p      *plot.Plot
	aspect float64
}

// draw draws the panel and returns its data area.
func (hp heatPanel) draw(c draw.Canvas) vg.Rectangle {
	if hp.aspect > 0 {
		da := hp.p.DataCanvas(c)
		w, h := da.Max.X-da.Min.X, da.Max.Y-da.Min.Y
		if want := h * vg.Length(hp.aspect); w > want {
			c.Min.X += (w - want) / 2
			c.Max.X -= (w - want) / 2
		} else if want := w / vg.Length(hp.aspect); h > want {
			c.Min.Y += (h - want) / 2
			c.Max.Y -= (h - want) / 2
		}
	}
	hp.p.Draw(c)
	return hp.p.DataCanvas(c).Rectangle
}

// heatFigure lays out heat-map panels in a grid with one colour bar on the
// right and an optional title above.
type heatFigure struct {
	width, height vg.Length
	title         string
	cols          int
	panels        []heatPanel
	bar           colorBar
}

func (f *heatFigure) Size() (vg.Length, vg.Length) { return f.width, f.height }

func (f *heatFigure) titleHeight() vg.Length {
	if f.title == "" {
		return 0
	}
	sty := textStyle(boldFont, titleSize)
	return sty.Height(f.title) + vg.Points(8)
}

func (f *heatFigure) Draw(c draw.Canvas) {
	if f.title != "" {
		sty := textStyle(boldFont, titleSize)
		c.FillText(sty, vg.Point{X: c.Center().X, Y: c.Max.Y - vg.Points(3)}, f.title)
		c.Max.Y -= f.titleHeight()
	}
	barW := f.bar.width()
	area := draw.Crop(c, 0, -barW, 0, 0)
	rows := ceilDiv(len(f.panels), f.cols)
	tiles := draw.Tiles{Cols: f.cols, Rows: rows, PadX: vg.Points(6), PadY: vg.Points(4)}
	top, bottom := c.Min.Y, c.Max.Y
	for i, p := range f.panels {
		da := p.draw(tiles.At(area, i%f.cols, i/f.cols))
		top, bottom = max(top, da.Max.Y), min(bottom, da.Min.Y)
	}
	f.bar.draw(draw.Crop(c, c.Max.X-c.Min.X-barW, 0, 0, 0), bottom, top)
}

// colorBar is a vertical colour scale drawn right of the panels, with
// ticks and a rotated label on its right.
type colorBar struct {
	label  string
	lo, hi float64
}

const (
	barGap   = vg.Length(8)  // space left of the bar
	barWidth = vg.Length(10) // width of the colour strip
)

func (cb colorBar) ticks() []plot.Tick {
	if cb.lo == 0 && cb.hi == 1 {
		return []plot.Tick{{Value: 0, Label: "0"}, {Value: 0.25, Label: "0.25"}, {Value: 0.5, Label: "0.5"}, {Value: 0.75, Label: "0.75"}, {Value: 1, Label: "1"}}
	}
	return roundTicks(cb.lo, cb.hi, 5, false)
}

func (cb colorBar) width() vg.Length {
	tick := textStyle(sansFont, tickSize)
	var w vg.Length
	for _, t := range cb.ticks() {
		w = max(w, tick.Width(t.Label))
	}
	label := textStyle(sansFont, labelSize)
	return barGap + barWidth + vg.Points(3) + vg.Points(3) + w + vg.Points(6) + label.FontExtents().Height + vg.Points(4)
}

// draw draws the bar in c between heights y0 and y1.
func (cb colorBar) draw(c draw.Canvas, y0, y1 vg.Length) {
	if y1-y0 < vg.Points(20) {
		return
	}
	x0 := c.Min.X + barGap
	const steps = 64
	for i := range steps {
		t := (float64(i) + 0.5) / steps
		a := y0 + (y1-y0)*vg.Length(i)/steps
		b := y0 + (y1-y0)*vg.Length(i+1)/steps + vg.Points(0.3)
		b = min(b, y1)
		c.FillPolygon(sequential(t), []vg.Point{{X: x0, Y: a}, {X: x0 + barWidth, Y: a}, {X: x0 + barWidth, Y: b}, {X: x0, Y: b}})
	}
	frame := draw.LineStyle{Color: textColor, Width: vg.Points(0.5)}
	c.StrokeLines(frame, []vg.Point{{X: x0, Y: y0}, {X: x0 + barWidth, Y: y0}, {X: x0 + barWidth, Y: y1}, {X: x0, Y: y1}, {X: x0, Y: y0}})

	tick := textStyle(sansFont, tickSize)
	tick.XAlign, tick.YAlign = draw.XLeft, draw.YCenter
	var labelW vg.Length
	for _, t := range cb.ticks() {
		y := y0 + (y1-y0)*vg.Length((t.Value-cb.lo)/(cb.hi-cb.lo))
		c.StrokeLine2(frame, x0+barWidth, y, x0+barWidth+vg.Points(3), y)
		c.FillText(tick, vg.Point{X: x0 + barWidth + vg.Points(5), Y: y}, t.Label)
		labelW = max(labelW, tick.Width(t.Label))
	}
	label := textStyle(sansFont, labelSize)
	label.Rotation = math.Pi / 2
	label.XAlign, label.YAlign = draw.XCenter, draw.YTop
	x := x0 + barWidth + vg.Points(5) + labelW + vg.Points(6)
	c.FillText(label, vg.Point{X: x, Y: (y0 + y1) / 2}, cb.label)
}
