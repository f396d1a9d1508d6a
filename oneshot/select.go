package oneshot

import (
	"cmp"
	"slices"
)

// Magnitude returns the mask (true: kept, layout [In][Out] as l.W) that prunes, for every output
// j, the weights W[i][j] of smallest |W[i][j]| (Han et al. 2015): round(p.Sparsity·In) of them
// for an unstructured pattern, M−N of every M consecutive inputs for an N:M pattern. Equal
// magnitudes are pruned in input order.
//
// The quota is per output, as Wanda compares weights, so that the two criteria differ only by
// their score. (The magnitude baseline of the Wanda code, and pruning.MagnitudeCriterion with
// pruning.LayerWise, rank all the weights of the layer together instead.)
//
// Errors wrap [ErrShape], [ErrNotFinite] or [ErrInvalidPattern].
func Magnitude(l Layer, p Pattern) ([]bool, error) {
	if err := l.check(); err != nil {
		return nil, err
	}
	if err := p.checkFor(l); err != nil {
		return nil, err
	}
	return perOutput(l, p, func(i, j int) float64 { return abs32(l.W[i*l.Out+j]) }), nil
}

// MagnitudeLayer returns the mask (true: kept, layout [In][Out] as l.W) that prunes the
// round(p.Sparsity·In·Out) weights of smallest |W[i][j]| of the whole layer, ranked together: the
// layer-wise magnitude baseline of the Wanda and SparseGPT papers' tables (Sun et al. 2023, Table
// 2: LLaMA-7B at 50%, perplexity 17.29) and of pruning.MagnitudeCriterion with pruning.LayerWise.
// Outputs may then lose different numbers of weights. For an N:M pattern, whose groups lie within
// one output, it is [Magnitude]. Equal magnitudes are pruned in storage order.
//
// Errors wrap [ErrShape], [ErrNotFinite] or [ErrInvalidPattern].
func MagnitudeLayer(l Layer, p Pattern) ([]bool, error) {
	if p.IsNM() {
		return Magnitude(l, p)
	}
	if err := l.check(); err != nil {
		return nil, err
	}
	if err := p.checkFor(l); err != nil {
		return nil, err
	}
	cands := make([]scored, len(l.W))
	for k, w := range l.W {
		cands[k] = scored{abs32(w), k}
	}
	keep := make([]bool, len(l.W))
	for k := range keep {
		keep[k] = true
	}
	for _, c := range lowest(cands, p.perOutput(len(l.W))) {
		keep[c.index] = false
	}
	return keep, nil
}

// Wanda returns the mask (true: kept, layout [In][Out] as l.W) that prunes, for every output j,
// the weights of smallest |W[i][j]|·‖X_i‖₂, where ‖X_i‖₂ is the norm of input i over the
// calibration rows ([Stats.ColumnNorms]), with the quotas of [Magnitude]: round(p.Sparsity·In)
// per output, or M−N of every M consecutive inputs. Weights are compared per output, as in
// the paper (Sun et al. 2023, "A Simple and Effective Pruning Approach for Large Language
// Models"). Equal scores are pruned in input order. Inputs that were always zero score 0 and
// are pruned first.
//
// Errors wrap [ErrShape], [ErrNotFinite], [ErrInvalidPattern] or [ErrNoCalibration].
func Wanda(l Layer, s *Stats, p Pattern) ([]bool, error) {
	if err := l.check(); err != nil {
		return nil, err
	}
	if err := l.checkStats(s); err != nil {
		return nil, err
	}
	if err := p.checkFor(l); err != nil {
		return nil, err
	}
	norms := s.ColumnNorms()
	return perOutput(l, p, func(i, j int) float64 { return abs32(l.W[i*l.Out+j]) * norms[i] }), nil
}

// perOutput prunes, for every output j, the inputs of lowest score(i, j) under pattern p.
func perOutput(l Layer, p Pattern, score func(i, j int) float64) []bool {
	keep := make([]bool, l.In*l.Out)
	for k := range keep {
		keep[k] = true
	}
	group, prune := l.In, p.perOutput(l.In)
	if p.IsNM() {
		group, prune = p.M, p.M-p.N
	}
	cands := make([]scored, group)
	for j := range l.Out {
		for g := 0; g < l.In; g += group {
			for k := range cands {
				cands[k] = scored{score(g+k, j), g + k}
			}
			for _, c := range lowest(cands, prune) {
				keep[c.index*l.Out+j] = false
			}
		}
	}
	return keep
}

// scored is a candidate for pruning: its score and its position (an input, or a flat index).
type scored struct {
	score float64
	index int
}

// lowest sorts cands by score, then position, and returns the first k.
func lowest(cands []scored, k int) []scored {
	slices.SortFunc(cands, func(a, b scored) int {
		if c := cmp.Compare(a.score, b.score); c != 0 {
			return c
		}
		return cmp.Compare(a.index, b.index)
	})
	return cands[:k]
}

func abs32(w float32) float64 {
	if w < 0 {
		return float64(-w)
	}
	return float64(w)
}
