package viz

import (
	"fmt"
	"image/color"
	"math"
	"slices"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// CurveOptions configure the line figures: [AccuracyVsWeights],
// [EarlyStopVsWeights], [SensitivityCurves], [PerplexityVsSparsity] and
// [TrainingCurves].
type CurveOptions struct {
	// Title is the figure title; empty means none.
	Title string

	// XLabel and YLabel replace the axis labels each figure chooses.
	XLabel, YLabel string

	// LogY puts the y axis on a log scale (e.g. for losses); every mean
	// must then be positive.
	LogY bool

	// YMin and YMax fix the y range when YMin < YMax; otherwise it fits
	// the data.
	YMin, YMax float64

	// XTicks, for the weights-remaining figures, are the percentages to
	// label on the x axis. Empty means a readable subset of the data's x
	// values (such as 100, 51.3, 21.1, 7.0, 3.6); the others get unlabelled
	// ticks.
	XTicks []float64

	// Width and Height are the figure size; zero selects DefaultWidth and
	// DefaultHeight.
	Width, Height vg.Length
}

// AccuracyVsWeights draws a metric (usually test accuracy) against the
// percentage of weights remaining, as in Frankle & Carbin (2019), "The
// Lottery Ticket Hypothesis": the x axis is logarithmic and reversed so
// that sparsity grows from left to right, and each series (e.g. winning
// ticket, random re-initialisation, random pruning) is drawn as the mean
// over its replicates with a ± one standard deviation band.
//
// X values are percentages of weights remaining (100 = dense) and must be
// positive. Errors wrap [ErrNoData] for no series and [ErrShape] for
// invalid series or non-positive x values.
func AccuracyVsWeights(series []Series, o CurveOptions) (Figure, error) {
	return weightsRemaining(series, o, "accuracy")
}

// EarlyStopVsWeights draws the early-stopping iteration (the iteration of
// minimum validation loss, Frankle & Carbin's measure of learning speed)
// against the percentage of weights remaining, with the same axes as
// [AccuracyVsWeights].
func EarlyStopVsWeights(series []Series, o CurveOptions) (Figure, error) {
	return weightsRemaining(series, o, "early-stop iteration")
}

func weightsRemaining(series []Series, o CurveOptions, yLabel string) (Figure, error) {
	var xs []float64
	for _, s := range series {
		for i, x := range s.X {
			if x <= 0 {
				return nil, fmt.Errorf("viz: series %q: %w: X[%d] = %v, weights remaining must be positive", s.Name, ErrShape, i, x)
			}
		}
		xs = append(xs, s.X...)
	}
	return lineFigure(series, o, "weights remaining (%)", yLabel, false, func(p *plot.Plot) {
		p.X.Scale = plot.InvertedScale{Normalizer: plot.LogScale{}}
		p.X.Tick.Marker = remainingTicks(xs, o.XTicks)
	})
}

// SensitivityCurves draws a metric against the sparsity (percentage
// pruned) of one layer at a time, one series per layer: the layer-wise
// sensitivity analysis of Han et al. (2015), "Learning both Weights and
// Connections for Efficient Neural Networks".
func SensitivityCurves(series []Series, o CurveOptions) (Figure, error) {
	return lineFigure(series, o, "sparsity (% of the layer pruned)", "accuracy", false, nil)
}

// PerplexityVsSparsity draws a language model's perplexity against the
// sparsity it was pruned to (percentage of weights pruned), one line per
// series (e.g. per pruning method: magnitude, Wanda, SparseGPT), as in the
// Wanda and SparseGPT papers' figures. With replicates (e.g. calibration
// seeds) each point is their mean with a ± one standard deviation error
// bar. A series of one point (an N:M pattern beside the unstructured
// levels) is drawn as a marker.
func PerplexityVsSparsity(series []Series, o CurveOptions) (Figure, error) {
	return lineFigure(series, o, "sparsity (% of weights pruned)", "perplexity", true, nil)
}

// TrainingCurves draws losses or accuracies against the training step, one
// line per series (e.g. train loss and test loss, or several runs); with
// replicates, their mean and a ± one standard deviation band.
func TrainingCurves(series []Series, o CurveOptions) (Figure, error) {
	return lineFigure(series, o, "step", "loss", false, nil)
}

// maxMarkers is the largest number of points of a series drawn with
// markers; denser series are lines only.
const maxMarkers = 40

// lineFigure draws series as mean lines with std bands (error bars with
// errorBars) and the legend right of the plot; setX configures the x axis.
func lineFigure(series []Series, o CurveOptions, xLabel, yLabel string, errorBars bool, setX func(*plot.Plot)) (Figure, error) {
	if len(series) == 0 {
		return nil, fmt.Errorf("viz: %w: no series", ErrNoData)
	}
	if o.XLabel != "" {
		xLabel = o.XLabel
	}
	if o.YLabel != "" {
		yLabel = o.YLabel
	}
	p := newPlot(o.Title, xLabel, yLabel)
	if setX != nil {
		setX(p)
	}
	if o.LogY {
		p.Y.Scale = plot.LogScale{}
		p.Y.Tick.Marker = logTicks{}
	}
	addGrid(p, true, true)

	var bands, lines, marks []plot.Plotter
	lf := &legendFigure{p: p, width: orDefault(o.Width, DefaultWidth), height: orDefault(o.Height, DefaultHeight)}
	for i, s := range series {
		if err := s.Validate(); err != nil {
			return nil, err
		}
		mean, std := s.MeanStd()
		if o.LogY {
			for j, m := range mean {
				if m <= 0 {
					return nil, fmt.Errorf("viz: series %q: %w: mean %v at x=%v on a log y axis", s.Name, ErrShape, m, s.X[j])
				}
			}
		}
		lineSty, glyphSty := SeriesStyle(i)
		var thumbs []plot.Thumbnailer
		withBand := len(s.Y) > 1
		var finite int
		for _, seg := range segments(mean) {
			xy := make(plotter.XYs, len(seg))
			for k, j := range seg {
				xy[k] = plotter.XY{X: s.X[j], Y: mean[j]}
			}
			finite += len(seg)
			if withBand && errorBars {
				eb := &plotter.YErrorBars{XYs: xy, YErrors: make(plotter.YErrors, len(seg)),
					LineStyle: draw.LineStyle{Color: lineSty.Color, Width: lineSty.Width}, CapWidth: vg.Points(5)}
				for k, j := range seg {
					eb.YErrors[k].Low, eb.YErrors[k].High = std[j], std[j]
					if o.LogY {
						eb.YErrors[k].Low = math.Min(std[j], mean[j]-mean[j]/10)
					}
				}
				bands = append(bands, eb)
			} else if withBand {
				b := &band{color: withAlpha(lineSty.Color, 0.2)}
				for _, j := range seg {
					b.upper = append(b.upper, plotter.XY{X: s.X[j], Y: mean[j] + std[j]})
					lo := mean[j] - std[j]
					if o.LogY {
						lo = math.Max(lo, mean[j]/10)
					}
					b.lower = append(b.lower, plotter.XY{X: s.X[j], Y: lo})
				}
				bands = append(bands, b)
				if len(thumbs) == 0 {
					thumbs = append(thumbs, b)
				}
			}
			lines = append(lines, &plotter.Line{XYs: xy, LineStyle: lineSty})
		}
		thumbs = append(thumbs, &plotter.Line{LineStyle: lineSty})
		if finite <= maxMarkers {
			for _, seg := range segments(mean) {
				xy := make(plotter.XYs, len(seg))
				for k, j := range seg {
					xy[k] = plotter.XY{X: s.X[j], Y: mean[j]}
				}
				marks = append(marks, &plotter.Scatter{XYs: xy, GlyphStyle: glyphSty})
			}
			thumbs = append(thumbs, &plotter.Scatter{GlyphStyle: glyphSty})
		}
		name := s.Name
		if withBand {
			name = fmt.Sprintf("%s (n=%d)", name, len(s.Y))
		}
		if s.Name != "" {
			lf.add(name, thumbs...)
		}
	}
	p.Add(bands...)
	p.Add(lines...)
	p.Add(marks...)
	if o.YMin < o.YMax {
		p.Y.Min, p.Y.Max = o.YMin, o.YMax
	}
	return lf, nil
}

// segments splits the indices of v into runs of finite values.
func segments(v []float64) [][]int {
	var segs [][]int
	var cur []int
	for i, x := range v {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			if len(cur) > 0 {
				segs = append(segs, cur)
				cur = nil
			}
			continue
		}
		cur = append(cur, i)
	}
	if len(cur) > 0 {
		segs = append(segs, cur)
	}
	return segs
}

// remainingTicks returns the ticks of a weights-remaining axis: the
// explicit values when given, otherwise a subset of the data's values
// spaced far enough apart on the log axis for their labels to be read,
// always including the largest and, where it fits, the smallest; the other
// data values get unlabelled minor ticks.
func remainingTicks(xs, explicit []float64) plot.Ticker {
	const maxLabels = 6
	vals := slices.Clone(xs)
	slices.Sort(vals)
	vals = slices.Compact(vals)
	slices.Reverse(vals) // largest (densest) first, as on the axis
	labelled := map[float64]bool{}
	if len(explicit) > 0 {
		for _, x := range explicit {
			labelled[x] = true
		}
	} else if len(vals) > 0 {
		span := math.Log10(vals[0]) - math.Log10(vals[len(vals)-1])
		gap := span / maxLabels
		kept := []float64{vals[0]}
		for _, x := range vals[1:] {
			if math.Log10(kept[len(kept)-1])-math.Log10(x) >= gap*0.999 {
				kept = append(kept, x)
			}
		}
		if last := vals[len(vals)-1]; kept[len(kept)-1] != last && len(kept) > 1 {
			kept[len(kept)-1] = last // prefer labelling the sparsest point
		}
		for _, x := range kept {
			labelled[x] = true
		}
	}
	var ticks plot.ConstantTicks
	for _, x := range vals {
		if !labelled[x] {
			ticks = append(ticks, plot.Tick{Value: x})
		}
	}
	for x := range labelled {
		ticks = append(ticks, plot.Tick{Value: x, Label: formatPercent(x)})
	}
	slices.SortFunc(ticks, func(a, b plot.Tick) int { return -cmpFloat(a.Value, b.Value) })
	return ticks
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// band fills the area between two curves: a mean ± std band.
type band struct {
	upper, lower plotter.XYs
	color        color.Color
}

func (b *band) Plot(c draw.Canvas, p *plot.Plot) {
	trX, trY := p.Transforms(&c)
	pts := make([]vg.Point, 0, len(b.upper)+len(b.lower))
	for _, q := range b.upper {
		pts = append(pts, vg.Point{X: trX(q.X), Y: trY(q.Y)})
	}
	for i := len(b.lower) - 1; i >= 0; i-- {
		pts = append(pts, vg.Point{X: trX(b.lower[i].X), Y: trY(b.lower[i].Y)})
	}
	c.FillPolygon(b.color, c.ClipPolygonXY(pts))
}

func (b *band) DataRange() (xmin, xmax, ymin, ymax float64) {
	xmin, xmax, ymin, ymax = math.Inf(1), math.Inf(-1), math.Inf(1), math.Inf(-1)
	for _, xy := range [...]plotter.XYs{b.upper, b.lower} {
		for _, q := range xy {
			xmin, xmax = math.Min(xmin, q.X), math.Max(xmax, q.X)
			ymin, ymax = math.Min(ymin, q.Y), math.Max(ymax, q.Y)
		}
	}
	return
}

// Thumbnail fills the middle half of the legend icon.
func (b *band) Thumbnail(c *draw.Canvas) {
	h := (c.Max.Y - c.Min.Y) / 4
	c.FillPolygon(b.color, []vg.Point{{X: c.Min.X, Y: c.Min.Y + h}, {X: c.Max.X, Y: c.Min.Y + h}, {X: c.Max.X, Y: c.Max.Y - h}, {X: c.Min.X, Y: c.Max.Y - h}})
}

// legendFigure is a plot with its legend outside the data area: on the
// right, or below when a right-hand legend would take too much width.
type legendFigure struct {
	p             *plot.Plot
	legend        plot.Legend
	n             int
	width, height vg.Length
}

func (f *legendFigure) add(name string, thumbs ...plot.Thumbnailer) {
	if f.n == 0 {
		f.legend = plot.NewLegend()
		f.legend.TextStyle = legendStyle()
		f.legend.ThumbnailWidth = vg.Points(26)
		f.legend.Left, f.legend.Top = true, true
		f.legend.Padding = vg.Points(3)
	}
	f.legend.Add(name, thumbs...)
	f.n++
}

func (f *legendFigure) Size() (vg.Length, vg.Length) { return f.width, f.height }

func (f *legendFigure) Draw(c draw.Canvas) {
	if f.n == 0 {
		f.p.Draw(c)
		return
	}
	const pad = vg.Length(8)
	lr := f.legend.Rectangle(c)
	lw, lh := lr.Max.X-lr.Min.X, lr.Max.Y-lr.Min.Y
	if w := c.Max.X - c.Min.X; lw+pad <= 0.3*w {
		plotC := draw.Crop(c, 0, -(lw + 2*pad), 0, 0)
		f.p.Draw(plotC)
		da := f.p.DataCanvas(plotC)
		lc := c
		lc.Min.X = c.Max.X - lw - pad
		lc.Max.Y = da.Max.Y
		f.legend.Draw(lc)
		return
	}
	// Too wide: legend below the plot, under the data area.
	plotC := draw.Crop(c, 0, 0, lh+pad, 0)
	f.p.Draw(plotC)
	da := f.p.DataCanvas(plotC)
	lc := c
	lc.Min.X = da.Min.X
	lc.Max.Y = c.Min.Y + lh + pad/2
	f.legend.Draw(lc)
}
