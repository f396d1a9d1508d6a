package viz

import (
	"fmt"
	"math"
	"slices"
)

// Layer is one layer's pruning mask and, optionally, its weights, as plain
// row-major data.
//
// Shape is [in, out] for a dense kernel or [kh, kw, in, out] for a
// convolution kernel (GoMLX's layouts). At least one of Kept and Weights
// must be set; when Kept is nil a weight counts as kept when it is non-zero.
type Layer struct {
	// Name labels the layer in titles and axes.
	Name string

	// Shape is the kernel shape: [in, out] or [kh, kw, in, out].
	Shape []int

	// Kept holds one entry per weight, true where the weight survives
	// pruning.
	Kept []bool

	// Weights optionally holds the weight values in the same layout;
	// heat maps can show their magnitudes.
	Weights []float32
}

// size returns the product of the dimensions of l.Shape.
func (l Layer) size() int {
	n := 1
	for _, d := range l.Shape {
		n *= d
	}
	return n
}

// Validate reports whether l is drawable: a shape of rank 2 or 4 with
// positive dimensions, and Kept and Weights (whichever are set) holding one
// entry per weight. Errors wrap [ErrShape] or [ErrNoData].
func (l Layer) Validate() error {
	if len(l.Shape) != 2 && len(l.Shape) != 4 {
		return fmt.Errorf("viz: layer %q: %w: shape %v, want [in, out] or [kh, kw, in, out]", l.Name, ErrShape, l.Shape)
	}
	for _, d := range l.Shape {
		if d <= 0 {
			return fmt.Errorf("viz: layer %q: %w: shape %v has a non-positive dimension", l.Name, ErrShape, l.Shape)
		}
	}
	if l.Kept == nil && l.Weights == nil {
		return fmt.Errorf("viz: layer %q: %w: neither Kept nor Weights is set", l.Name, ErrNoData)
	}
	n := l.size()
	if l.Kept != nil && len(l.Kept) != n {
		return fmt.Errorf("viz: layer %q: %w: shape %v needs %d entries, Kept has %d", l.Name, ErrShape, l.Shape, n, len(l.Kept))
	}
	if l.Weights != nil && len(l.Weights) != n {
		return fmt.Errorf("viz: layer %q: %w: shape %v needs %d entries, Weights has %d", l.Name, ErrShape, l.Shape, n, len(l.Weights))
	}
	return nil
}

// isKept reports whether weight i survives.
func (l Layer) isKept(i int) bool {
	if l.Kept != nil {
		return l.Kept[i]
	}
	return l.Weights[i] != 0
}

// magnitude returns |w_i|, zero where the weight is pruned.
func (l Layer) magnitude(i int) float64 {
	if l.Weights == nil || !l.isKept(i) {
		return 0
	}
	return math.Abs(float64(l.Weights[i]))
}

// LayerCount is the number of weights a layer keeps.
type LayerCount struct {
	Name        string
	Kept, Total int
}

// Density returns the fraction of weights kept, Kept/Total (0 when Total
// is 0).
func (c LayerCount) Density() float64 {
	if c.Total == 0 {
		return 0
	}
	return float64(c.Kept) / float64(c.Total)
}

// Count returns how many of l's weights are kept. l must be valid (see
// [Layer.Validate]); Count panics if Kept or Weights is too short.
func (l Layer) Count() LayerCount {
	c := LayerCount{Name: l.Name, Total: l.size()}
	for i := range c.Total {
		if l.isKept(i) {
			c.Kept++
		}
	}
	return c
}

// Grid is a dense row-major matrix of values: the data behind every heat
// map. Values[r*Cols+c] is the value of row r, column c.
type Grid struct {
	Rows, Cols int
	Values     []float64
}

// At returns the value at row r, column c; it panics when they are out of
// range.
func (g Grid) At(r, c int) float64 { return g.Values[r*g.Cols+c] }

// transpose returns g with rows and columns swapped.
func (g Grid) transpose() Grid {
	t := Grid{Rows: g.Cols, Cols: g.Rows, Values: make([]float64, len(g.Values))}
	for r := range g.Rows {
		for c := range g.Cols {
			t.Values[c*t.Cols+r] = g.Values[r*g.Cols+c]
		}
	}
	return t
}

// max returns the largest value of g (0 for an empty grid).
func (g Grid) max() float64 {
	m := 0.0
	for _, v := range g.Values {
		m = math.Max(m, v)
	}
	return m
}

// KeptGrid returns the layer's mask as a grid of kept fractions with one
// row per input and one column per output: 0 or 1 per weight for a dense
// layer, and for a convolution the fraction of each kernel's kh×kw weights
// kept, with in rows and out columns. Errors come from [Layer.Validate].
func (l Layer) KeptGrid() (Grid, error) {
	return l.grid(func(i int) float64 {
		if l.isKept(i) {
			return 1
		}
		return 0
	})
}

// MagnitudeGrid is like [Layer.KeptGrid] but holds weight magnitudes |w|
// (zero for pruned weights), averaged over each kernel for a convolution.
// Errors wrap [ErrNoData] when l has no Weights.
func (l Layer) MagnitudeGrid() (Grid, error) {
	if l.Weights == nil {
		return Grid{}, fmt.Errorf("viz: layer %q: %w: magnitudes need Weights", l.Name, ErrNoData)
	}
	return l.grid(l.magnitude)
}

func (l Layer) grid(value func(i int) float64) (Grid, error) {
	if err := l.Validate(); err != nil {
		return Grid{}, err
	}
	if len(l.Shape) == 2 {
		g := Grid{Rows: l.Shape[0], Cols: l.Shape[1], Values: make([]float64, l.size())}
		for i := range g.Values {
			g.Values[i] = value(i)
		}
		return g, nil
	}
	// [kh, kw, in, out]: the kernel of (in c, out o) is the set of
	// positions (i, j) at flat index ((i*kw+j)*in+c)*out+o.
	kh, kw, in, out := l.Shape[0], l.Shape[1], l.Shape[2], l.Shape[3]
	g := Grid{Rows: in, Cols: out, Values: make([]float64, in*out)}
	for p := range kh * kw {
		for k := range in * out {
			g.Values[k] += value(p*in*out + k)
		}
	}
	for k := range g.Values {
		g.Values[k] /= float64(kh * kw)
	}
	return g, nil
}

// BlockAverage shrinks g by averaging blocks of blockRows × blockCols
// cells. When a dimension is not a multiple of its block size the last
// block of that dimension is smaller and is averaged over the cells it
// holds, so every output cell is the exact mean of its block: for a 0/1
// mask, the kept fraction of the block. Block sizes below 1 count as 1.
// BlockAverage panics if g.Values holds fewer than g.Rows*g.Cols values.
func BlockAverage(g Grid, blockRows, blockCols int) Grid {
	blockRows, blockCols = max(blockRows, 1), max(blockCols, 1)
	out := Grid{Rows: ceilDiv(g.Rows, blockRows), Cols: ceilDiv(g.Cols, blockCols)}
	out.Values = make([]float64, out.Rows*out.Cols)
	counts := make([]int, len(out.Values))
	for r := range g.Rows {
		for c := range g.Cols {
			k := (r/blockRows)*out.Cols + c/blockCols
			out.Values[k] += g.Values[r*g.Cols+c]
			counts[k]++
		}
	}
	for k := range out.Values {
		out.Values[k] /= float64(counts[k])
	}
	return out
}

func ceilDiv(a, b int) int { return (a + b - 1) / b }

// blockSize returns the block size that reduces n cells to at most
// maxCells: the smallest size that does, or a slightly larger one that
// divides n evenly (up to twice the smallest), so that blocks are equal
// where possible (784 inputs and 40 cells give blocks of 28).
func blockSize(n, maxCells int) int {
	if maxCells <= 0 || n <= maxCells {
		return 1
	}
	b := ceilDiv(n, maxCells)
	for d := b; d <= 2*b && d <= n; d++ {
		if n%d == 0 {
			return d
		}
	}
	return b
}

// PixelGrid returns, for a dense layer whose inputs are the pixels of a
// rows × cols image (e.g. the 784 inputs of an MNIST model as 28×28), the
// fraction of each pixel's outgoing weights that are kept, laid out as the
// image (row-major pixels, as MNIST stores them). Errors wrap [ErrShape]
// when l is not dense or its input count is not rows*cols.
func PixelGrid(l Layer, rows, cols int) (Grid, error) {
	g, err := l.KeptGrid()
	if err != nil {
		return Grid{}, err
	}
	if len(l.Shape) != 2 || rows <= 0 || cols <= 0 || l.Shape[0] != rows*cols {
		return Grid{}, fmt.Errorf("viz: layer %q: %w: shape %v is not a dense layer with %d×%d inputs", l.Name, ErrShape, l.Shape, rows, cols)
	}
	b := BlockAverage(g, 1, g.Cols) // one value per input: its kept fraction
	return Grid{Rows: rows, Cols: cols, Values: b.Values}, nil
}

// Series is one named curve. Y holds one slice per replicate run, each
// aligned with X; figures draw the mean over replicates and, with two or
// more, a ± one standard deviation band. NaN marks a missing value.
type Series struct {
	Name string
	X    []float64
	Y    [][]float64
}

// Validate reports whether s is drawable: points, and every replicate as
// long as X. Errors wrap [ErrNoData] or [ErrShape].
func (s Series) Validate() error {
	if len(s.X) == 0 || len(s.Y) == 0 {
		return fmt.Errorf("viz: series %q: %w", s.Name, ErrNoData)
	}
	for r, y := range s.Y {
		if len(y) != len(s.X) {
			return fmt.Errorf("viz: series %q: %w: replicate %d has %d values for %d x values", s.Name, ErrShape, r, len(y), len(s.X))
		}
	}
	for i, x := range s.X {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return fmt.Errorf("viz: series %q: %w: X[%d] is %v", s.Name, ErrShape, i, x)
		}
	}
	return nil
}

// MeanStd returns, for each X, the mean of the replicates and their sample
// standard deviation (normalised by n−1; 0 for a single replicate). NaN
// values are skipped; a point with no values has a NaN mean and std.
// Replicates shorter than X count as missing at the end.
func (s Series) MeanStd() (mean, std []float64) {
	mean = make([]float64, len(s.X))
	std = make([]float64, len(s.X))
	for i := range s.X {
		var sum float64
		var n int
		for _, y := range s.Y {
			if i < len(y) && !math.IsNaN(y[i]) {
				sum += y[i]
				n++
			}
		}
		if n == 0 {
			mean[i], std[i] = math.NaN(), math.NaN()
			continue
		}
		m := sum / float64(n)
		var ss float64
		for _, y := range s.Y {
			if i < len(y) && !math.IsNaN(y[i]) {
				ss += (y[i] - m) * (y[i] - m)
			}
		}
		mean[i] = m
		if n > 1 {
			std[i] = math.Sqrt(ss / float64(n-1))
		}
	}
	return mean, std
}

// Sample is a named set of values for a histogram, such as a layer's
// weights before or after pruning.
type Sample struct {
	Name   string
	Values []float32
}

// LinearEdges returns n+1 equally spaced bin edges from lo to hi.
func LinearEdges(lo, hi float64, n int) []float64 {
	n = max(n, 1)
	e := make([]float64, n+1)
	for i := range e {
		e[i] = lo + (hi-lo)*float64(i)/float64(n)
	}
	e[n] = hi
	return e
}

// LogEdges returns n+1 bin edges from lo to hi, equally spaced in log
// scale. lo and hi must be positive.
func LogEdges(lo, hi float64, n int) []float64 {
	n = max(n, 1)
	a, b := math.Log10(lo), math.Log10(hi)
	e := make([]float64, n+1)
	for i := range e {
		e[i] = math.Pow(10, a+(b-a)*float64(i)/float64(n))
	}
	e[0], e[n] = lo, hi
	return e
}

// BinCounts counts values into the bins delimited by the increasing edges:
// counts[i] is the number of values v with edges[i] ≤ v < edges[i+1], the
// last bin also holding v == edges[len(edges)-1]. Values outside the edges
// and NaNs are not counted.
func BinCounts(values []float64, edges []float64) []int {
	if len(edges) < 2 {
		return nil
	}
	counts := make([]int, len(edges)-1)
	last := edges[len(edges)-1]
	for _, v := range values {
		if math.IsNaN(v) || v < edges[0] || v > last {
			continue
		}
		i, found := slices.BinarySearch(edges, v)
		if !found {
			i-- // edges[i] < v < edges[i+1]
		}
		counts[min(i, len(counts)-1)]++
	}
	return counts
}
