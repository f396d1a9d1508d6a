package main

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

// writeLotteryFigures draws a lottery run's figures into its directory (SVG and PNG each) and returns
// their file names: test accuracy and early-stopping iteration against weights remaining (mean ± std
// over replicates), and, for the sparsest finished ticket, the per-layer masks, the first layer's
// surviving input pixels and the per-layer sparsities.
func writeLotteryFigures(dir string, sum *lottery.Summary) ([]string, error) {
	levels, err := lottery.ReadLevels(dir)
	if err != nil {
		return nil, err
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
	var written []string
	save := func(name string, f viz.Figure, err error) error {
		if err != nil {
			return fmt.Errorf("figure %s: %w", name, err)
		}
		for _, ext := range []string{".svg", ".png"} {
			if err := viz.Save(filepath.Join(dir, name+ext), f); err != nil {
				return err
			}
		}
		written = append(written, name+".{svg,png}")
		return nil
	}
	f, err := viz.AccuracyVsWeights(accSeries, viz.CurveOptions{Title: "Test accuracy at early stopping", YLabel: "test accuracy (%)"})
	if err := save("accuracy_vs_weights", f, err); err != nil {
		return nil, err
	}
	f, err = viz.EarlyStopVsWeights(iterSeries, viz.CurveOptions{Title: "Early-stopping iteration"})
	if err := save("early_stop_vs_weights", f, err); err != nil {
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
		return written, nil
	}
	masks, err := pruning.LoadMasks(filepath.Join(lottery.LevelDir(dir, 1, last, lottery.Main), lottery.MaskFile))
	if err != nil {
		return nil, err
	}
	var layers []viz.Layer
	var counts []viz.LayerCount
	for _, p := range masks.Paths() {
		m := masks[p]
		layers = append(layers, viz.Layer{Name: p, Shape: m.Shape, Kept: m.Keep})
		counts = append(counts, viz.LayerCount{Name: p, Kept: m.NumKept(), Total: m.Size()})
	}
	f, err = viz.ModelHeatmaps(layers, viz.ModelHeatmapOptions{})
	if err := save("masks", f, err); err != nil {
		return nil, err
	}
	f, err = viz.SparsityBars(counts, viz.BarOptions{})
	if err := save("sparsity_by_layer", f, err); err != nil {
		return nil, err
	}
	if first := layers[0]; len(first.Shape) == 2 && first.Shape[0] == 784 {
		row, _ := sum.Row(lottery.Main, last)
		f, err = viz.PixelMap(first, viz.PixelMapOptions{Title: fmt.Sprintf("Surviving input pixels at %.1f%% of weights", row.WeightsRemaining)})
		if err := save("first_layer_pixels", f, err); err != nil {
			return nil, err
		}
	}
	return written, nil
}

func nan() float64 { return math.NaN() }
