// Package report turns run directories into figures and self-contained HTML reports. It is where
// experiment results (lottery, pruning) meet the plain-data figures of package viz; the CLI and the
// notebooks both call it.
package report

import (
	"fmt"
	"math"
	"path/filepath"
	"sort"

	"github.com/prunelab/prunelab/lottery"
	"github.com/prunelab/prunelab/pruning"
	"github.com/prunelab/prunelab/viz"
)

// branchTitles names the lottery branches in figures.
var branchTitles = map[string]string{
	lottery.Main:       "winning ticket",
	lottery.Reinit:     "random reinit",
	lottery.RandomMask: "random pruning",
}

// Figure is a figure with the file name (without extension) it is saved under.
type Figure struct {
	Name   string
	Title  string
	Figure viz.Figure
}

// WriteFigures saves each figure into dir as NAME.svg and NAME.png (atomically) and returns the
// names written, as "NAME.{svg,png}".
func WriteFigures(dir string, figs []Figure) ([]string, error) {
	var written []string
	for _, f := range figs {
		for _, ext := range []string{".svg", ".png"} {
			if err := viz.Save(filepath.Join(dir, f.Name+ext), f.Figure); err != nil {
				return nil, fmt.Errorf("report: %w", err)
			}
		}
		written = append(written, f.Name+".{svg,png}")
	}
	return written, nil
}

// LotteryFigures draws a lottery run's figures: test accuracy and early-stopping iteration against
// weights remaining (mean ± std over replicates, one series per branch), and, for the sparsest
// finished ticket of replicate 1, the per-layer masks, the per-layer sparsities and (for a first layer
// with 784 inputs) the surviving input pixels.
func LotteryFigures(dir string) ([]Figure, error) {
	levels, err := lottery.ReadLevels(dir)
	if err != nil {
		return nil, err
	}
	if len(levels) == 0 {
		return nil, fmt.Errorf("report: %s has no finished lottery level", dir)
	}
	// One series per branch: X = weights remaining, Y[replicate][level].
	type cell struct{ acc, iter float64 }
	byBranch := map[string]map[int]map[int]cell{} // branch → level → replicate
	weights := map[int]float64{}
	var branches []string
	for _, l := range levels {
		if byBranch[l.Branch] == nil {
			byBranch[l.Branch] = map[int]map[int]cell{}
			branches = append(branches, l.Branch)
		}
		if byBranch[l.Branch][l.Level] == nil {
			byBranch[l.Branch][l.Level] = map[int]cell{}
		}
		byBranch[l.Branch][l.Level][l.Replicate] = cell{100 * l.EarlyStopTest.Accuracy, float64(l.EarlyStopIteration)}
		weights[l.Level] = l.WeightsRemaining
	}
	var accSeries, iterSeries []viz.Series
	for _, b := range branches {
		var lvls []int
		reps := map[int]bool{}
		for lv, rs := range byBranch[b] {
			lvls = append(lvls, lv)
			for r := range rs {
				reps[r] = true
			}
		}
		sort.Ints(lvls)
		acc := viz.Series{Name: branchTitles[b]}
		iter := viz.Series{Name: branchTitles[b]}
		var repList []int
		for r := range reps {
			repList = append(repList, r)
		}
		sort.Ints(repList)
		for _, lv := range lvls {
			acc.X = append(acc.X, weights[lv])
		}
		iter.X = acc.X
		for _, r := range repList {
			var ya, yi []float64
			for _, lv := range lvls {
				c, ok := byBranch[b][lv][r]
				if !ok {
					ya, yi = append(ya, nan()), append(yi, nan())
					continue
				}
				ya, yi = append(ya, c.acc), append(yi, c.iter)
			}
			acc.Y, iter.Y = append(acc.Y, ya), append(iter.Y, yi)
		}
		accSeries, iterSeries = append(accSeries, acc), append(iterSeries, iter)
	}
	var figs []Figure
	save := func(name, title string, f viz.Figure, err error) error {
		if err != nil {
			return fmt.Errorf("report: figure %s: %w", name, err)
		}
		figs = append(figs, Figure{Name: name, Title: title, Figure: f})
		return nil
	}
	f, err := viz.AccuracyVsWeights(accSeries, viz.CurveOptions{Title: "Test accuracy at early stopping", YLabel: "test accuracy (%)"})
	if err := save("accuracy_vs_weights", "Test accuracy at the early-stopping iteration against weights remaining", f, err); err != nil {
		return nil, err
	}
	f, err = viz.EarlyStopVsWeights(iterSeries, viz.CurveOptions{Title: "Early-stopping iteration"})
	if err := save("early_stop_vs_weights", "Early-stopping iteration against weights remaining", f, err); err != nil {
		return nil, err
	}
	// The sparsest finished ticket of replicate 1.
	last := -1
	for _, l := range levels {
		if l.Branch == lottery.Main && l.Replicate == 1 && l.Level > last {
			last = l.Level
		}
	}
	if last < 1 {
		return figs, nil
	}
	masks, err := pruning.LoadMasks(filepath.Join(lottery.LevelDir(dir, 1, last, lottery.Main), lottery.MaskFile))
	if err != nil {
		return nil, err
	}
	more, err := MaskFigures(masks)
	if err != nil {
		return nil, err
	}
	return append(figs, more...), nil
}

// MaskFigures draws a model's masks: every matrix or kernel mask as a heatmap (kept fraction per
// block, the layer's sparsity in its title; masks of rank 1, such as a transformer's head gates, are
// not drawn there), the weights remaining per layer, and, when the first layer has 784 inputs (MNIST
// pixels), which input pixels keep their outgoing weights.
func MaskFigures(masks pruning.MaskSet) ([]Figure, error) {
	var figs []Figure
	save := func(name, title string, f viz.Figure, err error) error {
		if err != nil {
			return fmt.Errorf("report: figure %s: %w", name, err)
		}
		figs = append(figs, Figure{Name: name, Title: title, Figure: f})
		return nil
	}
	layers := MaskLayers(masks)
	var counts []viz.LayerCount
	for _, p := range masks.Paths() {
		counts = append(counts, viz.LayerCount{Name: p, Kept: masks[p].NumKept(), Total: masks[p].Size()})
	}
	if len(layers) == 0 {
		return nil, fmt.Errorf("report: no masks to draw")
	}
	var matrices []viz.Layer
	for _, l := range layers {
		if len(l.Shape) >= 2 {
			matrices = append(matrices, l)
		}
	}
	if len(matrices) > 0 {
		f, err := viz.ModelHeatmaps(matrices, viz.ModelHeatmapOptions{})
		if err := save("masks", "Masks (kept fraction per block)", f, err); err != nil {
			return nil, err
		}
	}
	f, err := viz.SparsityBars(counts, viz.BarOptions{})
	if err := save("sparsity_by_layer", "Weights remaining per layer", f, err); err != nil {
		return nil, err
	}
	if first := layers[0]; len(first.Shape) == 2 && first.Shape[0] == 784 {
		title := fmt.Sprintf("Surviving input pixels at %.1f%% of weights", 100*(1-masks.Sparsity()))
		f, err = viz.PixelMap(first, viz.PixelMapOptions{Title: title})
		if err := save("first_layer_pixels", "Input pixels whose first-layer weights survive", f, err); err != nil {
			return nil, err
		}
	}
	return figs, nil
}

// MaskLayers turns masks into what viz draws ([viz.ModelHeatmaps], [viz.PixelMap]): one layer per
// mask, in path order.
func MaskLayers(masks pruning.MaskSet) []viz.Layer {
	var layers []viz.Layer
	for _, p := range masks.Paths() {
		layers = append(layers, viz.Layer{Name: p, Shape: masks[p].Shape, Kept: masks[p].Keep})
	}
	return layers
}

// LayerCounts turns a pruning report into what [viz.SparsityBars] draws: each layer's non-zero and
// total parameters.
func LayerCounts(r *pruning.Report) []viz.LayerCount {
	var counts []viz.LayerCount
	for _, l := range r.Layers {
		counts = append(counts, viz.LayerCount{Name: l.Path, Kept: l.NonZero, Total: l.Params})
	}
	return counts
}

// SensitivitySeries turns a sensitivity table into what [viz.SensitivityCurves] draws: one line per
// layer, the metric (×100, as a percentage) against the sparsity of that layer (×100), starting at
// the baseline for sparsity 0.
func SensitivitySeries(t *pruning.SensitivityTable) []viz.Series {
	var curves []viz.Series
	for _, row := range t.Layers {
		c := viz.Series{Name: row.Path, X: []float64{0}, Y: [][]float64{{100 * t.Baseline}}}
		for i, sp := range t.Sparsities {
			c.X = append(c.X, 100*sp)
			c.Y[0] = append(c.Y[0], 100*row.Metrics[i])
		}
		curves = append(curves, c)
	}
	return curves
}

func nan() float64 { return math.NaN() }
