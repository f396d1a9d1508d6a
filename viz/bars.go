package viz

import (
	"fmt"
	"image/color"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// BarOptions configure [SparsityBars].
type BarOptions struct {
	// Title replaces the default title, which gives the overall
	// percentage.
	Title string

	// Sparsity plots the percentage of weights pruned instead of the
	// percentage remaining.
	Sparsity bool

	// Width and Height are the figure size; zero selects DefaultWidth and
	// a height that grows with the number of layers.
	Width, Height vg.Length
}

// SparsityBars draws one horizontal bar per layer, first layer at the top,
// with the percentage of its weights remaining (or pruned, with
// o.Sparsity) written at the end of the bar, and a dashed line at the
// percentage over all layers. Errors wrap [ErrNoData] for no layers or
// [ErrShape] for counts with Kept outside [0, Total].
func SparsityBars(layers []LayerCount, o BarOptions) (Figure, error) {
	if len(layers) == 0 {
		return nil, fmt.Errorf("viz: SparsityBars: %w: no layers", ErrNoData)
	}
	var kept, total int
	values := make([]float64, len(layers))
	names := make([]string, len(layers))
	for i, l := range layers {
		if l.Total <= 0 || l.Kept < 0 || l.Kept > l.Total {
			return nil, fmt.Errorf("viz: layer %q: %w: %d of %d weights kept", l.Name, ErrShape, l.Kept, l.Total)
		}
		kept += l.Kept
		total += l.Total
		values[i] = 100 * l.Density()
		names[i] = l.Name
		if names[i] == "" {
			names[i] = fmt.Sprintf("layer %d", i)
		}
	}
	overall := 100 * float64(kept) / float64(total)
	what, xLabel := "remaining", "weights remaining (%)"
	if o.Sparsity {
		for i := range values {
			values[i] = 100 - values[i]
		}
		overall = 100 - overall
		what, xLabel = "pruned", "weights pruned (%)"
	}
	title := o.Title
	if title == "" {
		title = fmt.Sprintf("Weights %s per layer (all layers: %s%%)", what, formatPercent(overall))
	}
	p := newPlot(title, xLabel, "")
	n := len(layers)
	ticks := make([]plot.Tick, n)
	for i, name := range names {
		ticks[i] = plot.Tick{Value: float64(n - 1 - i), Label: name}
	}
	p.Y.Tick.Marker = plot.ConstantTicks(ticks)
	p.Y.Tick.Length = 0
	p.Y.Tick.Label.Font.Size = labelSize
	p.Y.Min, p.Y.Max = -0.6, float64(n)-0.4
	p.Y.Padding = 0
	p.X.Min, p.X.Max = 0, 100
	p.X.Padding = 0
	p.X.Tick.Marker = plot.ConstantTicks{{Value: 0, Label: "0"}, {Value: 20, Label: "20"}, {Value: 40, Label: "40"}, {Value: 60, Label: "60"}, {Value: 80, Label: "80"}, {Value: 100, Label: "100"}}
	addGrid(p, true, false)
	p.Add(&hbars{values: values, overall: overall, color: OkabeIto[0]})
	return PlotFigure{
		Plot:   p,
		Width:  orDefault(o.Width, DefaultWidth),
		Height: orDefault(o.Height, vg.Inch*vg.Length(1.1+0.32*float64(n))),
	}, nil
}

// hbars draws horizontal bars of values in percent, the first at the top,
// each labelled with its value, and a dashed line at overall.
type hbars struct {
	values  []float64
	overall float64
	color   color.Color
}

func (h *hbars) Plot(c draw.Canvas, p *plot.Plot) {
	trX, trY := p.Transforms(&c)
	n := len(h.values)
	label := textStyle(sansFont, tickSize)
	label.YAlign = draw.YCenter
	// The overall line goes first, under the bars and their labels.
	x := trX(h.overall)
	line := draw.LineStyle{Color: textColor, Width: vg.Points(1), Dashes: []vg.Length{vg.Points(4), vg.Points(3)}}
	c.StrokeLine2(line, x, c.Min.Y, x, c.Max.Y)
	for i, v := range h.values {
		y := float64(n - 1 - i)
		y0, y1 := trY(y-0.32), trY(y+0.32)
		x0, x1 := trX(0), trX(v)
		c.FillPolygon(h.color, []vg.Point{{X: x0, Y: y0}, {X: x1, Y: y0}, {X: x1, Y: y1}, {X: x0, Y: y1}})
		text := formatPercent(v) + "%"
		sty := label
		pt := vg.Point{X: x1 + vg.Points(3), Y: trY(y)}
		sty.XAlign = draw.XLeft
		if pt.X+sty.Width(text) > c.Max.X {
			// No room right of the bar: write inside it, in white.
			pt.X = x1 - vg.Points(3)
			sty.XAlign = draw.XRight
			sty.Color = color.White
		}
		c.FillText(sty, pt, text)
	}
}
