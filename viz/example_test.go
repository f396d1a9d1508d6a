package viz_test

import (
	"fmt"
	"io"
	"log"
	"os"
	"path/filepath"
	"strings"

	"gonum.org/v1/plot/vg"

	"github.com/prunelab/prunelab/viz"
)

// The examples draw synthetic data from fixtures_test.go: a LeNet-300-100
// first layer whose central pixels keep more weights, lottery-ticket
// accuracy curves with 5 replicates, and so on.

func ExampleMaskHeatmap() {
	layer := mnistLayer() // Shape [784, 300]: inputs × outputs
	fig, err := viz.MaskHeatmap(layer, viz.HeatmapOptions{})
	if err != nil {
		log.Fatal(err)
	}
	dir, _ := os.MkdirTemp("", "viz-example")
	defer os.RemoveAll(dir)
	if err := viz.Save(filepath.Join(dir, "fc1.svg"), fig); err != nil {
		log.Fatal(err)
	}
	c := layer.Count()
	fmt.Printf("%s: %d of %d weights kept (%.1f%%)\n", c.Name, c.Kept, c.Total, 100*c.Density())
	// Output: fc1: 42019 of 235200 weights kept (17.9%)
}

// Magnitude heat maps show |w| of the kept weights instead of the mask.
func ExampleMaskHeatmap_magnitude() {
	fig, err := viz.MaskHeatmap(mnistLayer(), viz.HeatmapOptions{Magnitude: true})
	if err != nil {
		log.Fatal(err)
	}
	if err := viz.WritePNG(io.Discard, fig, 96); err != nil {
		log.Fatal(err)
	}
}

// A convolution kernel [kh, kw, in, out] is drawn as an input-channel ×
// output-filter grid of kept fractions per kernel.
func ExampleMaskHeatmap_convolution() {
	conv := convLayer("conv2", 3, 3, 16, 32, 7)
	fig, err := viz.MaskHeatmap(conv, viz.HeatmapOptions{})
	if err != nil {
		log.Fatal(err)
	}
	if err := viz.WriteSVG(io.Discard, fig); err != nil {
		log.Fatal(err)
	}
	g, _ := conv.KeptGrid()
	fmt.Printf("%v kernel → %d×%d grid\n", conv.Shape, g.Rows, g.Cols)
	// Output: [3 3 16 32] kernel → 16×32 grid
}

func ExamplePixelMap() {
	fig, err := viz.PixelMap(mnistLayer(), viz.PixelMapOptions{}) // 784 inputs: 28×28
	if err != nil {
		log.Fatal(err)
	}
	if err := viz.WritePNG(io.Discard, fig, 96); err != nil {
		log.Fatal(err)
	}
	g, _ := viz.PixelGrid(mnistLayer(), 28, 28)
	fmt.Printf("corner pixel keeps %.2f, centre pixel keeps %.2f of its weights\n", g.At(0, 0), g.At(14, 14))
	// Output: corner pixel keeps 0.01, centre pixel keeps 0.54 of its weights
}

func ExampleModelHeatmaps() {
	fig, err := viz.ModelHeatmaps(modelLayers(), viz.ModelHeatmapOptions{Cols: 2})
	if err != nil {
		log.Fatal(err)
	}
	w, h := fig.Size()
	fmt.Printf("%.1f × %.1f inches\n", w/vg.Inch, h/vg.Inch)
	if err := viz.WriteSVG(io.Discard, fig); err != nil {
		log.Fatal(err)
	}
	// Output: 6.9 × 5.5 inches
}

func ExampleSparsityBars() {
	layers := []viz.Layer{mnistLayer(), denseLayer("fc2", 300, 100, 0.3, 3), denseLayer("fc3", 100, 10, 0.6, 4)}
	var counts []viz.LayerCount
	for _, l := range layers {
		counts = append(counts, l.Count())
	}
	fig, err := viz.SparsityBars(counts, viz.BarOptions{})
	if err != nil {
		log.Fatal(err)
	}
	if err := viz.WritePNG(io.Discard, fig, 96); err != nil {
		log.Fatal(err)
	}
	for _, c := range counts {
		fmt.Printf("%s %.1f%%\n", c.Name, 100*c.Density())
	}
	// Output:
	// fc1 17.9%
	// fc2 30.0%
	// fc3 59.3%
}

func ExampleGroupedBars() {
	// Theoretical and measured speedups of three compacted models, each
	// bar labelled with its value.
	categories := []string{"LeNet-300-100\n50%", "LeNet-300-100\n70%", "LeNet-5\n50%"}
	theoretical := viz.BarSeries{Name: "theoretical (MACs)", Values: []float64{2.12, 3.62, 3.11}}
	measured := viz.BarSeries{Name: "measured, batch 256", Values: []float64{2.36, 3.84, 1.55}}
	for _, s := range []*viz.BarSeries{&theoretical, &measured} {
		for _, v := range s.Values {
			s.Labels = append(s.Labels, fmt.Sprintf("%.2f×", v))
		}
	}
	fig, err := viz.GroupedBars(categories, []viz.BarSeries{theoretical, measured}, viz.GroupedBarOptions{YLabel: "speedup (×)"})
	if err != nil {
		log.Fatal(err)
	}
	if err := viz.WriteSVG(io.Discard, fig); err != nil {
		log.Fatal(err)
	}
	for i, c := range categories {
		fmt.Printf("%s: %.0f%% of the theoretical speedup\n", strings.ReplaceAll(c, "\n", " "), 100*measured.Values[i]/theoretical.Values[i])
	}
	// Output:
	// LeNet-300-100 50%: 111% of the theoretical speedup
	// LeNet-300-100 70%: 106% of the theoretical speedup
	// LeNet-5 50%: 50% of the theoretical speedup
}

func ExampleWeightHistogram() {
	// Magnitudes before and after pruning, on log axes; the pruned zeros
	// are left out and counted in the legend.
	fig, err := viz.WeightHistogram(weightSamples(), viz.HistogramOptions{LogX: true, LogY: true})
	if err != nil {
		log.Fatal(err)
	}
	if err := viz.WriteSVG(io.Discard, fig); err != nil {
		log.Fatal(err)
	}
}

func ExampleAccuracyVsWeights() {
	// Percentages of weights remaining after k rounds of pruning 20%:
	// 100, 80.1, 64.2, 51.3, ..., 1.9.
	series := lotterySeries() // ticket, random reinit, random pruning; 5 replicates each
	fig, err := viz.AccuracyVsWeights(series, viz.CurveOptions{
		YLabel: "test accuracy (%)",
		XTicks: []float64{100, 51.3, 21.1, 7.0, 3.6, 1.9},
	})
	if err != nil {
		log.Fatal(err)
	}
	if err := viz.WriteSVG(io.Discard, fig); err != nil {
		log.Fatal(err)
	}
	mean, std := series[0].MeanStd()
	fmt.Printf("%s at %.1f%%: %.2f ± %.2f\n", series[0].Name, series[0].X[7], mean[7], std[7])
	// Output: winning ticket at 21.1%: 98.31 ± 0.08
}

func ExampleEarlyStopVsWeights() {
	fig, err := viz.EarlyStopVsWeights(earlyStopSeries(), viz.CurveOptions{})
	if err != nil {
		log.Fatal(err)
	}
	if err := viz.WritePNG(io.Discard, fig, 96); err != nil {
		log.Fatal(err)
	}
}

func ExampleSensitivityCurves() {
	fig, err := viz.SensitivityCurves(sensitivitySeries(), viz.CurveOptions{YLabel: "test accuracy (%)"})
	if err != nil {
		log.Fatal(err)
	}
	if err := viz.WriteSVG(io.Discard, fig); err != nil {
		log.Fatal(err)
	}
}

// One line per pruning method, error bars over calibration seeds; the 2:4
// pattern is a single marker at its 50% sparsity.
func ExamplePerplexityVsSparsity() {
	series := perplexitySeries()
	fig, err := viz.PerplexityVsSparsity(series, viz.CurveOptions{Title: "gpt-tiny pruned in one shot"})
	if err != nil {
		log.Fatal(err)
	}
	if err := viz.WriteSVG(io.Discard, fig); err != nil {
		log.Fatal(err)
	}
	mean, std := series[0].MeanStd()
	fmt.Printf("%s at %.0f%%: %.1f ± %.1f over %d seeds\n", series[0].Name, series[0].X[2], mean[2], std[2], len(series[0].Y))
	// Output: magnitude at 50%: 16.3 ± 0.0 over 3 seeds
}

func ExampleTrainingCurves() {
	fig, err := viz.TrainingCurves(trainingSeries(), viz.CurveOptions{LogY: true, Title: "LeNet-300-100, dense"})
	if err != nil {
		log.Fatal(err)
	}
	if err := viz.WritePNG(io.Discard, fig, 96); err != nil {
		log.Fatal(err)
	}
}

// Tile puts figures side by side, here the two Lottery Ticket plots.
func ExampleTile() {
	acc, _ := viz.AccuracyVsWeights(lotterySeries(), viz.CurveOptions{})
	stop, _ := viz.EarlyStopVsWeights(earlyStopSeries(), viz.CurveOptions{})
	w, h := viz.Tile(2, acc, stop).Size()
	fmt.Printf("%.0f × %.1f inches\n", w/vg.Inch, h/vg.Inch)
	// Output: 10 × 3.5 inches
}

func ExampleBlockAverage() {
	// A 4×6 mask in blocks of 2×3: each output cell is the kept fraction
	// of its block.
	g := viz.Grid{Rows: 4, Cols: 6, Values: []float64{
		1, 1, 1, 0, 0, 0,
		1, 0, 1, 0, 0, 1,
		0, 0, 0, 1, 1, 1,
		0, 0, 0, 1, 1, 1,
	}}
	b := viz.BlockAverage(g, 2, 3)
	fmt.Printf("%d×%d %.3f\n", b.Rows, b.Cols, b.Values)
	// Output: 2×2 [0.833 0.167 0.000 1.000]
}

func ExampleSeries_MeanStd() {
	s := viz.Series{
		Name: "ticket",
		X:    []float64{100, 51.3, 21.1},
		Y:    [][]float64{{98.1, 98.3, 98.4}, {97.9, 98.1, 98.2}, {98.0, 98.2, 98.6}},
	}
	mean, std := s.MeanStd()
	fmt.Printf("mean %.2f\nstd  %.2f\n", mean, std)
	// Output:
	// mean [98.00 98.20 98.40]
	// std  [0.10 0.10 0.20]
}

func ExampleBinCounts() {
	fmt.Println(viz.BinCounts([]float64{0.1, 0.5, 1.2, 2, 3, 7}, viz.LinearEdges(0, 3, 3)))
	// Output: [2 1 2]
}

func ExampleWriteHTMLReport() {
	acc, err := viz.AccuracyVsWeights(lotterySeries(), viz.CurveOptions{})
	if err != nil {
		log.Fatal(err)
	}
	report := viz.Report{
		Title: "Lottery tickets in LeNet-300-100",
		Sections: []viz.Section{{
			Heading: "Results",
			Blocks: []viz.Block{
				viz.Text("Iterative magnitude pruning, **20%** per round, rewound to `init`."),
				viz.Table{Header: []string{"weights remaining", "accuracy"}, Rows: [][]string{{"100%", "98.0"}, {"21.1%", "98.4"}}},
				viz.FigureBlock{Caption: "Accuracy against weights remaining, mean ± std of 5 runs.", Figure: acc},
			},
		}},
	}
	dir, _ := os.MkdirTemp("", "viz-example")
	defer os.RemoveAll(dir)
	f, err := os.Create(filepath.Join(dir, "report.html"))
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	if err := viz.WriteHTMLReport(f, report); err != nil {
		log.Fatal(err)
	}
}

// Show displays a figure in a GoNB notebook cell; elsewhere, as here, it
// does nothing.
func ExampleShow() {
	fig, err := viz.PixelMap(mnistLayer(), viz.PixelMapOptions{})
	if err != nil {
		log.Fatal(err)
	}
	if err := viz.Show(fig); err != nil {
		log.Fatal(err)
	}
}

// Live redraws training curves in place in a notebook every Every points;
// call Add from the training loop's per-step hook.
func ExampleLive() {
	live := &viz.Live{Every: 100, Options: viz.CurveOptions{LogY: true}}
	for step := range 1000 {
		loss := 2.3 / float64(step+1)
		live.Add("train loss", float64(step), loss)
		if step%100 == 0 {
			live.Add("test loss", float64(step), 1.1*loss)
		}
	}
	if err := live.Done(); err != nil { // the final figure stays in the notebook
		log.Fatal(err)
	}
	fig, err := live.Figure() // the same figure, to save with the run
	if err != nil {
		log.Fatal(err)
	}
	_ = viz.WriteSVG(io.Discard, fig)
}
