package viz

import (
	"fmt"
	"math"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
)

// HistogramOptions configure [WeightHistogram].
type HistogramOptions struct {
	// Title is the figure title; empty means none.
	Title string

	// Bins is the number of bins; zero means 60.
	Bins int

	// Signed bins the signed values w instead of the magnitudes |w|.
	Signed bool

	// KeepZeros counts values that are exactly zero (pruned weights).
	// By default they are left out, since after pruning they would dwarf
	// every other bin, and the legend says how many there were.
	KeepZeros bool

	// LogX spaces the bins of |w| logarithmically, from the smallest
	// non-zero magnitude to the largest, on a log axis. Zeros cannot be
	// shown and are left out. Ignored with Signed.
	LogX bool

	// LogY puts the counts on a log scale; empty bins are drawn at 0.5.
	LogY bool

	// Width and Height are the figure size; zero selects DefaultWidth and
	// DefaultHeight.
	Width, Height vg.Length
}

// WeightHistogram draws the histograms of one or more samples of weights
// on shared bins, as translucent overlaid step outlines, e.g. a layer's
// weights before and after pruning. Errors wrap [ErrNoData] when there is
// no sample or no value to bin.
func WeightHistogram(samples []Sample, o HistogramOptions) (Figure, error) {
	if len(samples) == 0 {
		return nil, fmt.Errorf("viz: WeightHistogram: %w: no samples", ErrNoData)
	}
	logX := o.LogX && !o.Signed
	keepZeros := o.KeepZeros && !logX
	bins := orInt(o.Bins, 60)

	// Values to bin, and the zeros left out of each sample.
	values := make([][]float64, len(samples))
	zeros := make([]int, len(samples))
	lo, hi := math.Inf(1), math.Inf(-1)
	for i, s := range samples {
		vs := make([]float64, 0, len(s.Values))
		for _, w := range s.Values {
			v := float64(w)
			if math.IsNaN(v) || math.IsInf(v, 0) {
				continue
			}
			if !o.Signed {
				v = math.Abs(v)
			}
			if v == 0 && !keepZeros {
				zeros[i]++
				continue
			}
			vs = append(vs, v)
			lo, hi = math.Min(lo, v), math.Max(hi, v)
		}
		values[i] = vs
	}
	if math.IsInf(lo, 1) {
		return nil, fmt.Errorf("viz: WeightHistogram: %w: no values to bin", ErrNoData)
	}
	var edges []float64
	switch {
	case logX:
		if lo == hi {
			lo, hi = lo/2, hi*2
		}
		edges = LogEdges(lo, hi, bins)
	case o.Signed:
		m := math.Max(math.Abs(lo), math.Abs(hi))
		if m == 0 {
			m = 1
		}
		edges = LinearEdges(-m, m, bins)
	default:
		if hi == 0 {
			hi = 1
		}
		edges = LinearEdges(0, hi, bins)
	}

	xLabel := "weight magnitude |w|"
	if o.Signed {
		xLabel = "weight w"
	}
	p := newPlot(o.Title, xLabel, "count")
	if logX {
		p.X.Scale = plot.LogScale{}
		p.X.Tick.Marker = logTicks{}
	}
	const floor = 0.5
	if o.LogY {
		p.Y.Scale = plot.LogScale{}
		p.Y.Tick.Marker = logTicks{}
	}
	addGrid(p, false, true)
	lf := &legendFigure{p: p, width: orDefault(o.Width, DefaultWidth), height: orDefault(o.Height, DefaultHeight)}
	var outlines []plot.Plotter
	for i, s := range samples {
		counts := BinCounts(values[i], edges)
		xy := make(plotter.XYs, len(edges))
		for j, e := range edges {
			c := float64(counts[min(j, len(counts)-1)])
			if o.LogY && c < floor {
				c = floor
			}
			xy[j] = plotter.XY{X: e, Y: c}
		}
		lineSty, _ := SeriesStyle(i)
		lineSty.Width = vg.Points(1.2)
		l := &plotter.Line{XYs: xy, StepStyle: plotter.PostStep, LineStyle: lineSty, FillColor: withAlpha(lineSty.Color, 0.22)}
		outlines = append(outlines, l)
		name := s.Name
		if name == "" {
			name = fmt.Sprintf("sample %d", i)
		}
		name += " (n=" + formatCount(len(values[i]))
		if zeros[i] > 0 {
			name += ", " + formatCount(zeros[i]) + " zeros omitted"
		}
		lf.add(name+")", l)
	}
	p.Add(outlines...)
	if o.LogY {
		p.Y.Min = floor
	} else {
		p.Y.Min = 0
	}
	p.X.Min, p.X.Max = edges[0], edges[len(edges)-1]
	return lf, nil
}
