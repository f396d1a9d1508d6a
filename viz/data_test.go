package viz_test

import (
	"errors"
	"math"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/prunelab/prunelab/viz"
)

func TestBlockAverageKeepsKeptFractionPerBlock(t *testing.T) {
	l := mnistLayer() // 784×300
	g, err := l.KeptGrid()
	if err != nil {
		t.Fatal(err)
	}
	const br, bc = 28, 10
	b := viz.BlockAverage(g, br, bc)
	if b.Rows != 28 || b.Cols != 30 || len(b.Values) != 28*30 {
		t.Fatalf("BlockAverage(784×300, 28, 10) is %d×%d with %d values, want 28×30", b.Rows, b.Cols, len(b.Values))
	}
	var total float64
	for r := range b.Rows {
		for c := range b.Cols {
			kept := 0
			for i := r * br; i < (r+1)*br; i++ {
				for o := c * bc; o < (c+1)*bc; o++ {
					if l.Kept[i*300+o] {
						kept++
					}
				}
			}
			if want, got := float64(kept)/(br*bc), b.At(r, c); got != want {
				t.Errorf("block (%d, %d): kept fraction %v, want exactly %d/%d = %v", r, c, got, kept, br*bc, want)
			}
			total += b.At(r, c) * br * bc
		}
	}
	if want := l.Count().Kept; math.Round(total) != float64(want) {
		t.Errorf("blocks hold %v kept weights, layer keeps %d", total, want)
	}
}

func TestBlockAverageRaggedBlocks(t *testing.T) {
	// 5×7 grid with value r*10+c, blocks of 2×3: the last row block holds
	// one row and the last column block one column.
	g := viz.Grid{Rows: 5, Cols: 7}
	for r := range 5 {
		for c := range 7 {
			g.Values = append(g.Values, float64(r*10+c))
		}
	}
	got := viz.BlockAverage(g, 2, 3)
	want := viz.Grid{Rows: 3, Cols: 3, Values: []float64{
		6, 9, 11, // rows 0–1: mean 10r = 5, plus mean c of {0,1,2}, {3,4,5}, {6}
		26, 29, 31, // rows 2–3
		41, 44, 46, // row 4
	}}
	if diff := cmp.Diff(want, got, cmpopts.EquateApprox(0, 1e-12)); diff != "" {
		t.Errorf("BlockAverage(5×7, 2, 3) mismatch (-want +got):\n%s", diff)
	}
	// Block sizes below one leave the grid as it is.
	if diff := cmp.Diff(g, viz.BlockAverage(g, 0, -1)); diff != "" {
		t.Errorf("BlockAverage(g, 0, -1) changed g (-want +got):\n%s", diff)
	}
}

func TestPixelGrid(t *testing.T) {
	// Pixel i keeps its first i%301 outgoing weights.
	l := viz.Layer{Name: "fc1", Shape: []int{784, 300}, Kept: make([]bool, 784*300)}
	for i := range 784 {
		for o := range i % 301 {
			l.Kept[i*300+o] = true
		}
	}
	g, err := viz.PixelGrid(l, 28, 28)
	if err != nil {
		t.Fatal(err)
	}
	if g.Rows != 28 || g.Cols != 28 || len(g.Values) != 784 {
		t.Fatalf("PixelGrid is %d×%d with %d values, want 28×28", g.Rows, g.Cols, len(g.Values))
	}
	for i := range 784 {
		if want, got := float64(i%301)/300, g.At(i/28, i%28); got != want {
			t.Errorf("pixel (%d, %d): %v, want %v", i/28, i%28, got, want)
		}
	}

	for _, tc := range []struct {
		name       string
		l          viz.Layer
		rows, cols int
	}{
		{"wrong image size", l, 20, 20},
		{"convolution", viz.Layer{Shape: []int{1, 1, 784, 2}, Kept: make([]bool, 784*2)}, 28, 28},
	} {
		if _, err := viz.PixelGrid(tc.l, tc.rows, tc.cols); !errors.Is(err, viz.ErrShape) {
			t.Errorf("%s: PixelGrid error %v, want ErrShape", tc.name, err)
		}
	}
}

func TestKeptGridConvolution(t *testing.T) {
	// Kernel (c, o) of a [3, 3, 4, 5] layer keeps its first (c+o)%10
	// positions (capped at 9).
	const kh, kw, in, out = 3, 3, 4, 5
	l := viz.Layer{Name: "conv", Shape: []int{kh, kw, in, out}, Kept: make([]bool, kh*kw*in*out)}
	for c := range in {
		for o := range out {
			for p := range min((c+o)%10, 9) {
				l.Kept[(p*in+c)*out+o] = true
			}
		}
	}
	g, err := l.KeptGrid()
	if err != nil {
		t.Fatal(err)
	}
	if g.Rows != in || g.Cols != out {
		t.Fatalf("KeptGrid of [3 3 4 5] is %d×%d, want %d×%d (in × out)", g.Rows, g.Cols, in, out)
	}
	for c := range in {
		for o := range out {
			if want, got := float64(min((c+o)%10, 9))/9, g.At(c, o); math.Abs(got-want) > 1e-12 {
				t.Errorf("kernel (%d, %d): kept fraction %v, want %v", c, o, got, want)
			}
		}
	}
}

func TestMagnitudeGrid(t *testing.T) {
	l := viz.Layer{Shape: []int{2, 2}, Kept: []bool{true, false, true, true}, Weights: []float32{-0.5, 3, 0.25, -1}}
	g, err := l.MagnitudeGrid()
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]float64{0.5, 0, 0.25, 1}, g.Values); diff != "" {
		t.Errorf("MagnitudeGrid values (-want +got):\n%s", diff)
	}
	// Without Kept, non-zero weights count as kept.
	l.Kept = nil
	l.Weights[3] = 0
	if c := l.Count(); c.Kept != 3 || c.Total != 4 || c.Density() != 0.75 {
		t.Errorf("Count() = %+v (density %v), want 3 of 4", c, c.Density())
	}
	if _, err := (viz.Layer{Shape: []int{1, 1}, Kept: []bool{true}}).MagnitudeGrid(); !errors.Is(err, viz.ErrNoData) {
		t.Errorf("MagnitudeGrid without weights: error %v, want ErrNoData", err)
	}
}

func TestLayerValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		l    viz.Layer
		want error
	}{
		{"dense", viz.Layer{Shape: []int{2, 3}, Kept: make([]bool, 6)}, nil},
		{"conv weights only", viz.Layer{Shape: []int{1, 2, 1, 3}, Weights: make([]float32, 6)}, nil},
		{"rank 3", viz.Layer{Shape: []int{2, 3, 1}, Kept: make([]bool, 6)}, viz.ErrShape},
		{"zero dimension", viz.Layer{Shape: []int{0, 3}, Kept: []bool{}}, viz.ErrShape},
		{"short mask", viz.Layer{Shape: []int{2, 3}, Kept: make([]bool, 5)}, viz.ErrShape},
		{"long weights", viz.Layer{Shape: []int{2, 3}, Weights: make([]float32, 7)}, viz.ErrShape},
		{"no data", viz.Layer{Shape: []int{2, 3}}, viz.ErrNoData},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.l.Validate(); !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Errorf("Validate() = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestBinCounts(t *testing.T) {
	edges := []float64{0, 1, 2, 3}
	values := []float64{-1, 0, 0.5, 1, 2.999, 3, 3.5, math.NaN()}
	// -1, 3.5 and NaN fall outside; 3 is in the closed last bin.
	if diff := cmp.Diff([]int{2, 1, 2}, viz.BinCounts(values, edges)); diff != "" {
		t.Errorf("BinCounts (-want +got):\n%s", diff)
	}
	if got := viz.BinCounts(values, []float64{1}); got != nil {
		t.Errorf("BinCounts with one edge = %v, want nil", got)
	}
}

func TestEdges(t *testing.T) {
	approx := cmpopts.EquateApprox(1e-12, 0)
	if diff := cmp.Diff([]float64{-1, -0.5, 0, 0.5, 1}, viz.LinearEdges(-1, 1, 4), approx); diff != "" {
		t.Errorf("LinearEdges (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]float64{0.001, 0.01, 0.1, 1}, viz.LogEdges(0.001, 1, 3), approx); diff != "" {
		t.Errorf("LogEdges (-want +got):\n%s", diff)
	}
}

func TestSeriesMeanStd(t *testing.T) {
	s := viz.Series{
		X: []float64{1, 2, 3, 4},
		Y: [][]float64{
			{1, 2, 3, math.NaN()},
			{3, 4, math.NaN(), math.NaN()},
			{2, 6, 5, math.NaN()},
		},
	}
	mean, std := s.MeanStd()
	wantMean := []float64{2, 4, 4, math.NaN()}
	wantStd := []float64{1, 2, math.Sqrt(2), math.NaN()} // sample std (n−1)
	opts := []cmp.Option{cmpopts.EquateApprox(0, 1e-12), cmpopts.EquateNaNs()}
	if diff := cmp.Diff(wantMean, mean, opts...); diff != "" {
		t.Errorf("mean (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(wantStd, std, opts...); diff != "" {
		t.Errorf("std (-want +got):\n%s", diff)
	}

	one := viz.Series{X: []float64{1}, Y: [][]float64{{7}}}
	if mean, std := one.MeanStd(); mean[0] != 7 || std[0] != 0 {
		t.Errorf("one replicate: mean %v std %v, want 7 and 0", mean, std)
	}
}

func TestSeriesValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		s    viz.Series
		want error
	}{
		{"ok", viz.Series{X: []float64{1, 2}, Y: [][]float64{{1, 2}, {3, math.NaN()}}}, nil},
		{"empty", viz.Series{}, viz.ErrNoData},
		{"no replicates", viz.Series{X: []float64{1}}, viz.ErrNoData},
		{"short replicate", viz.Series{X: []float64{1, 2}, Y: [][]float64{{1, 2}, {3}}}, viz.ErrShape},
		{"NaN x", viz.Series{X: []float64{math.NaN()}, Y: [][]float64{{1}}}, viz.ErrShape},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.s.Validate(); !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Errorf("Validate() = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestFigureErrors(t *testing.T) {
	good := []viz.Series{{Name: "a", X: []float64{100, 50}, Y: [][]float64{{1, 2}}}}
	for _, tc := range []struct {
		name string
		err  func() error
		want error
	}{
		{"no layers", func() error { _, err := viz.ModelHeatmaps(nil, viz.ModelHeatmapOptions{}); return err }, viz.ErrNoData},
		{"bad layer", func() error {
			_, err := viz.MaskHeatmap(viz.Layer{Shape: []int{2, 2}, Kept: make([]bool, 3)}, viz.HeatmapOptions{})
			return err
		}, viz.ErrShape},
		{"magnitude without weights", func() error {
			_, err := viz.MaskHeatmap(viz.Layer{Shape: []int{2, 2}, Kept: make([]bool, 4)}, viz.HeatmapOptions{Magnitude: true})
			return err
		}, viz.ErrNoData},
		{"pixel map of 100 inputs as 28×28", func() error {
			_, err := viz.PixelMap(viz.Layer{Shape: []int{100, 2}, Kept: make([]bool, 200)}, viz.PixelMapOptions{Rows: 28, Cols: 28})
			return err
		}, viz.ErrShape},
		{"no series", func() error { _, err := viz.AccuracyVsWeights(nil, viz.CurveOptions{}); return err }, viz.ErrNoData},
		{"zero weights remaining", func() error {
			_, err := viz.AccuracyVsWeights([]viz.Series{{X: []float64{100, 0}, Y: [][]float64{{1, 2}}}}, viz.CurveOptions{})
			return err
		}, viz.ErrShape},
		{"negative loss on log axis", func() error {
			_, err := viz.TrainingCurves([]viz.Series{{X: []float64{0, 1}, Y: [][]float64{{1, -2}}}}, viz.CurveOptions{LogY: true})
			return err
		}, viz.ErrShape},
		{"no counts", func() error { _, err := viz.SparsityBars(nil, viz.BarOptions{}); return err }, viz.ErrNoData},
		{"kept above total", func() error {
			_, err := viz.SparsityBars([]viz.LayerCount{{Name: "x", Kept: 5, Total: 4}}, viz.BarOptions{})
			return err
		}, viz.ErrShape},
		{"only zeros", func() error {
			_, err := viz.WeightHistogram([]viz.Sample{{Values: []float32{0, 0}}}, viz.HistogramOptions{})
			return err
		}, viz.ErrNoData},
		{"no bar categories", func() error {
			_, err := viz.GroupedBars(nil, []viz.BarSeries{{Values: []float64{}}}, viz.GroupedBarOptions{})
			return err
		}, viz.ErrNoData},
		{"bar values and categories disagree", func() error {
			_, err := viz.GroupedBars([]string{"a", "b"}, []viz.BarSeries{{Values: []float64{1}}}, viz.GroupedBarOptions{})
			return err
		}, viz.ErrShape},
		{"bar labels and categories disagree", func() error {
			_, err := viz.GroupedBars([]string{"a"}, []viz.BarSeries{{Values: []float64{1}, Labels: []string{"x", "y"}}}, viz.GroupedBarOptions{})
			return err
		}, viz.ErrShape},
		{"zero bar on log axis", func() error {
			_, err := viz.GroupedBars([]string{"a", "b"}, []viz.BarSeries{{Values: []float64{1, 0}}}, viz.GroupedBarOptions{LogY: true})
			return err
		}, viz.ErrShape},
		{"only NaN bars", func() error {
			_, err := viz.GroupedBars([]string{"a"}, []viz.BarSeries{{Values: []float64{math.NaN()}}}, viz.GroupedBarOptions{})
			return err
		}, viz.ErrNoData},
		{"good bars", func() error {
			_, err := viz.GroupedBars([]string{"a", "b"}, []viz.BarSeries{{Values: []float64{-1, math.NaN()}}}, viz.GroupedBarOptions{})
			return err
		}, nil},
		{"good", func() error { _, err := viz.EarlyStopVsWeights(good, viz.CurveOptions{}); return err }, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.err(); !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Errorf("error %v, want %v", err, tc.want)
			}
		})
	}
}
