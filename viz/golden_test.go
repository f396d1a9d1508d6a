package viz_test

import (
	"bytes"
	"cmp"
	"os"
	"path/filepath"
	"testing"

	"git.sr.ht/~sbinet/cmpimg"
	"gonum.org/v1/plot/vg"

	"github.com/prunelab/prunelab/viz"
)

// Golden-image tests: each figure is drawn as a small PNG and compared with
// testdata/<name>_golden.png within a tolerance. Regenerate the golden files
// with
//
//	go test ./viz/ -run TestGolden -regen
//
// and look at them before committing.

const (
	goldenDPI   = 100
	goldenDelta = 0.05 // cmpimg's normalised YIQ tolerance per pixel
)

// goldenDPIs lowers the resolution of large figures to keep golden files
// small (under 60 KB).
var goldenDPIs = map[string]int{"model_heatmaps": 72}

var (
	w4 = 4 * vg.Inch
	h3 = 3 * vg.Inch
)

func TestGolden(t *testing.T) {
	for _, tc := range []struct {
		name string
		fig  func() (viz.Figure, error)
	}{
		{"mask_heatmap", func() (viz.Figure, error) {
			return viz.MaskHeatmap(mnistLayer(), viz.HeatmapOptions{Width: w4, Height: h3})
		}},
		{"magnitude_heatmap", func() (viz.Figure, error) {
			return viz.MaskHeatmap(mnistLayer(), viz.HeatmapOptions{Magnitude: true, Width: w4, Height: h3})
		}},
		{"conv_heatmap", func() (viz.Figure, error) {
			return viz.MaskHeatmap(convLayer("conv2", 3, 3, 16, 32, 7), viz.HeatmapOptions{Width: w4, Height: h3})
		}},
		{"pixel_map", func() (viz.Figure, error) {
			return viz.PixelMap(mnistLayer(), viz.PixelMapOptions{Width: w4, Height: h3})
		}},
		{"model_heatmaps", func() (viz.Figure, error) {
			return viz.ModelHeatmaps(modelLayers(), viz.ModelHeatmapOptions{Cols: 2, MaxCells: 24, PanelWidth: 3 * vg.Inch, PanelHeight: 2.2 * vg.Inch})
		}},
		{"sparsity_bars", func() (viz.Figure, error) {
			return viz.SparsityBars(layerCounts(), viz.BarOptions{Width: w4})
		}},
		{"weight_histogram", func() (viz.Figure, error) {
			return viz.WeightHistogram(weightSamples(), viz.HistogramOptions{Width: w4, Height: h3})
		}},
		{"weight_histogram_log", func() (viz.Figure, error) {
			return viz.WeightHistogram(weightSamples(), viz.HistogramOptions{LogX: true, LogY: true, Bins: 40, Width: w4, Height: h3})
		}},
		{"accuracy_vs_weights", func() (viz.Figure, error) {
			return viz.AccuracyVsWeights(lotterySeries(), viz.CurveOptions{YLabel: "test accuracy (%)", Width: w4, Height: h3})
		}},
		{"early_stop_vs_weights", func() (viz.Figure, error) {
			return viz.EarlyStopVsWeights(earlyStopSeries(), viz.CurveOptions{Width: w4, Height: h3})
		}},
		{"sensitivity", func() (viz.Figure, error) {
			return viz.SensitivityCurves(sensitivitySeries(), viz.CurveOptions{YLabel: "test accuracy (%)", Width: w4, Height: h3})
		}},
		{"perplexity_vs_sparsity", func() (viz.Figure, error) {
			return viz.PerplexityVsSparsity(perplexitySeries(), viz.CurveOptions{Width: w4, Height: h3})
		}},
		{"training_curves", func() (viz.Figure, error) {
			return viz.TrainingCurves(trainingSeries(), viz.CurveOptions{LogY: true, Width: w4, Height: h3})
		}},
		{"grouped_bars", func() (viz.Figure, error) {
			categories, series := speedupBars()
			return viz.GroupedBars(categories, series, viz.GroupedBarOptions{YLabel: "speedup (×)", Width: w4, Height: h3})
		}},
		{"grouped_bars_log", func() (viz.Figure, error) {
			// Test errors within about one decade, with two-line labels.
			return viz.GroupedBars([]string{"dense", "pruned", "fine-tuned", "INT8"},
				[]viz.BarSeries{{Values: []float64{1.6, 9.5, 2.1, 2.2}, Labels: []string{"1.6%\nbest", "9.5%", "2.1%", "2.2%\nfile"}}},
				viz.GroupedBarOptions{YLabel: "test error (%)", LogY: true, Width: w4, Height: h3})
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fig, err := tc.fig()
			if err != nil {
				t.Fatal(err)
			}
			checkGolden(t, tc.name, fig, goldenDPIs[tc.name])
		})
	}
}

// checkGolden compares fig, drawn as PNG, with testdata/<name>_golden.png,
// or rewrites that file under -regen.
func checkGolden(t *testing.T, name string, fig viz.Figure, dpi int) {
	t.Helper()
	var got bytes.Buffer
	if err := viz.WritePNG(&got, fig, cmp.Or(dpi, goldenDPI)); err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", name+"_golden.png")
	if *cmpimg.GenerateTestData {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(golden, got.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with -regen to create it)", err)
	}
	ok, err := cmpimg.EqualApprox("png", got.Bytes(), want, goldenDelta)
	if err != nil {
		t.Fatal(err)
	}
	if !ok {
		dir, err := os.MkdirTemp("", "viz-golden-")
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, name+".png")
		_ = os.WriteFile(path, got.Bytes(), 0o644)
		t.Errorf("%s differs from %s beyond tolerance %v; got image written to %s", name, golden, goldenDelta, path)
	}
}
