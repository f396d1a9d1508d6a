package pruning

import (
	"cmp"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	"github.com/gomlx/gomlx/pkg/ml/context"
)

// Config says how to prune: what scores the weights, how they group, how the budget spreads over
// layers. The zero Config prunes unstructured weights by magnitude, layer by layer.
type Config struct {
	// Criterion scores weights; nil means [MagnitudeCriterion].
	Criterion Criterion
	// Structure groups weights pruned together; nil means [Unstructured].
	Structure Structure
	// Reduction aggregates element scores into group scores; default [ReduceSum].
	Reduction Reduction
	// Allocation spreads the amount over layers; nil means [LayerWise].
	Allocation Allocation
	// Skip lists patterns (see [Selector]) of masked variables to leave untouched: they are
	// neither pruned nor counted in the budget.
	Skip []string
	// MinKeep is the minimum number of weights every layer keeps (0: no minimum). A layer
	// smaller than MinKeep is never pruned. Guards against layer collapse under global pruning.
	MinKeep int
	// Regrow recomputes masks from scratch from the scores at every pruning, so pruned weights
	// may come back (at value 0). By default pruning is monotone: pruned weights stay pruned and
	// only remaining ones compete.
	Regrow bool
	// Gradients provides gradients to gradient-based criteria (Taylor, SNIP, movement).
	Gradients GradientSource
	// GradientBatches is the number of batches gradients are computed over for one pruning
	// (default 1).
	GradientBatches int
	// Seed seeds the random source of stochastic criteria.
	Seed uint64
	// Ties says which of several groups with equal scores are pruned when only some of them fit
	// the budget: [TiesByPosition] (default) or [TiesLikeTorch].
	Ties Ties
}

// Ties is a tie-breaking rule: which of several weights (or groups) with equal scores are
// pruned when the budget takes only some of them.
type Ties int

const (
	// TiesByPosition prunes tied groups in position order: the first masked variable first (in
	// the context's variable order), and within a variable the lowest row-major index (in the
	// variable's own layout) or group number first. Deterministic and independent of the
	// selection algorithm; the default.
	TiesByPosition Ties = iota
	// TiesLikeTorch reproduces the choice of torch.nn.utils.prune on the CPU (PyTorch 1.13,
	// whose topk runs libstdc++'s std::partial_sort when k·64 ≤ n and std::nth_element
	// otherwise; both are deterministic but not stable), on the scores laid out as PyTorch lays
	// them out: dense kernels transposed to [out, in] (nn.Linear.weight), channels-last
	// convolution kernels to [out, in, k...] (nn.Conv2d.weight), variables concatenated in
	// context order (global_unstructured's parameters_to_vector). Unstructured pruning chooses
	// the pruned weights as topk(scores, k, largest=False) (l1_unstructured,
	// global_unstructured); structured pruning chooses the kept groups as topk(norms, k,
	// largest=True) (ln_structured). With it, masks equal PyTorch's for the same weights and
	// amount, ties included. It applies when the budget counts whole groups of one size (always
	// true for unstructured pruning and for neurons and filters of fresh masks) and needs MinKeep
	// 0; it is slower (it sorts (score, index) pairs in float64) and meant for comparisons.
	TiesLikeTorch
)

// String returns "position" or "torch".
func (t Ties) String() string {
	if t == TiesLikeTorch {
		return "torch"
	}
	return "position"
}

func (c Config) criterion() Criterion {
	if c.Criterion == nil {
		return MagnitudeCriterion{}
	}
	return c.Criterion
}

func (c Config) structure() Structure {
	if c.Structure == nil {
		return Unstructured{}
	}
	return c.Structure
}

func (c Config) allocation() Allocation {
	if c.Allocation == nil {
		return LayerWise{}
	}
	return c.Allocation
}

// LayerResult is what one pruning did to one variable.
type LayerResult struct {
	Path         string  `json:"path"`
	Size         int     `json:"size"`
	PrunedBefore int     `json:"pruned_before"`
	PrunedAfter  int     `json:"pruned_after"`
	Sparsity     float64 `json:"sparsity"`
}

// Result is what one pruning did, per layer and in total (over the layers pruned).
type Result struct {
	Criterion    string        `json:"criterion"`
	Structure    string        `json:"structure"`
	Allocation   string        `json:"allocation"`
	Amount       Amount        `json:"amount"`
	Layers       []LayerResult `json:"layers"`
	Size         int           `json:"size"`
	PrunedBefore int           `json:"pruned_before"`
	PrunedAfter  int           `json:"pruned_after"`
	Sparsity     float64       `json:"sparsity"`
}

// PruneOnce prunes the masked variables of ctx once by amount a, as configured, and applies the
// new masks (zeroing the pruned weights). It returns what it did; on error nothing changes.
func PruneOnce(ctx *context.Context, cfg Config, a Amount) (*Result, error) {
	p := newPruner(cfg)
	return p.prune(ctx, a, nil)
}

// ComputeMasks returns the masks PruneOnce would set, without changing ctx: a pure
// "prune(weights, current masks) -> masks" in the OpenLTH sense.
func ComputeMasks(ctx *context.Context, cfg Config, a Amount) (MaskSet, *Result, error) {
	p := newPruner(cfg)
	return p.compute(ctx, a, nil)
}

// ComputeScores returns the criterion's element scores of every variable that would be pruned,
// keyed by path (SNIP scores normalized over all of them).
func ComputeScores(ctx *context.Context, cfg Config) (map[string][]float64, error) {
	p := newPruner(cfg)
	targets, err := p.targets(ctx)
	if err != nil {
		return nil, err
	}
	st, err := p.gather(ctx, targets, nil)
	if err != nil {
		return nil, err
	}
	out := make(map[string][]float64, len(st))
	for _, l := range st {
		out[l.target.Path()] = l.scores
	}
	return out, nil
}

// pruner carries the state kept across prunings: the random source, the gradient accumulators.
type pruner struct {
	cfg  Config
	rng  *rand.Rand
	only string // if set, prune only this path
}

func newPruner(cfg Config) *pruner {
	return &pruner{cfg: cfg, rng: rand.New(rand.NewPCG(cfg.Seed, 0x5eed))}
}

// layerState is one variable during a pruning.
type layerState struct {
	target  Target
	weights []float64
	mask    *Mask
	scores  []float64
}

// accumulated holds per-path criterion accumulators fed by a Driver (nil if none).
type accumulated struct {
	sums  map[string][]float64
	steps int
}

// targets lists the masked variables this pruning concerns: all masked variables minus
// Config.Skip (each pattern must match a masked variable), or only p.only.
func (p *pruner) targets(ctx *context.Context) ([]Target, error) {
	all := Targets(ctx)
	if len(all) == 0 {
		return nil, fmt.Errorf("%w: no masked variables to prune (build the model with WrapModelFn first)", ErrNoMask)
	}
	skipped := make([]bool, len(all))
	for _, pattern := range p.cfg.Skip {
		matched := false
		for i, t := range all {
			ok, err := MatchPattern(pattern, t.Path())
			if err != nil {
				return nil, err
			}
			if ok {
				skipped[i], matched = true, true
			}
		}
		if !matched {
			return nil, fmt.Errorf("%w: skip pattern %q matches no masked variable; masked variables: %s",
				ErrUnknownLayer, pattern, maskedPaths(ctx))
		}
	}
	var out []Target
	for i, t := range all {
		if !skipped[i] && (p.only == "" || t.Path() == p.only) {
			out = append(out, t)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: every masked variable is skipped", ErrNoMask)
	}
	return out, nil
}

// gather reads weights and masks of the layers to prune and scores them.
func (p *pruner) gather(ctx *context.Context, targets []Target, acc *accumulated) ([]*layerState, error) {
	var layers []*layerState
	for _, t := range targets {
		w, _, err := weightAndMask(ctx, t.Path())
		if err != nil {
			return nil, err
		}
		weights, err := variableFloats(w)
		if err != nil {
			return nil, err
		}
		if i := firstNonFinite(weights); i >= 0 {
			return nil, fmt.Errorf("%w: %s: weight %d is %g", ErrNotFinite, t.Path(), i, weights[i])
		}
		mask, err := GetMask(ctx, t.Path())
		if err != nil {
			return nil, err
		}
		layers = append(layers, &layerState{target: t, weights: weights, mask: mask})
	}

	// Gradients are computed once for all layers, on first request.
	var gradCache map[string][][]float64
	gradFn := func(path string) ([][]float64, error) {
		if p.cfg.Gradients == nil {
			return nil, ErrNoGradients
		}
		if gradCache == nil {
			paths := make([]string, len(layers))
			for i, l := range layers {
				paths[i] = l.target.Path()
			}
			gradCache = make(map[string][][]float64, len(paths))
			for range max(1, p.cfg.GradientBatches) {
				g, err := p.cfg.Gradients.Gradients(paths)
				if err != nil {
					gradCache = nil
					return nil, err
				}
				for _, path := range paths {
					if len(g[path]) == 0 {
						gradCache = nil
						return nil, fmt.Errorf("pruning: gradient source returned no gradient for %s", path)
					}
					gradCache[path] = append(gradCache[path], g[path])
				}
			}
		}
		return gradCache[path], nil
	}

	crit := p.cfg.criterion()
	total := 0.0
	for _, l := range layers {
		in := &ScoreInput{Target: l.target, Weights: l.weights, Mask: l.mask, Rand: p.rng, grads: gradFn}
		if acc != nil && acc.steps > 0 {
			in.Accumulated, in.AccumulatedSteps = acc.sums[l.target.Path()], acc.steps
		}
		scores, err := crit.Scores(in)
		if err != nil {
			return nil, fmt.Errorf("pruning: %s: criterion %s: %w", l.target.Path(), crit.Name(), err)
		}
		if len(scores) != len(l.weights) {
			return nil, fmt.Errorf("pruning: %s: criterion %s returned %d scores for %d weights", l.target.Path(),
				crit.Name(), len(scores), len(l.weights))
		}
		if i := firstNonFinite(scores); i >= 0 {
			return nil, fmt.Errorf("%w: %s: criterion %s gave score %g to weight %d", ErrNotFinite, l.target.Path(),
				crit.Name(), scores[i], i)
		}
		for _, s := range scores {
			total += math.Abs(s)
		}
		l.scores = scores
	}
	if _, ok := crit.(SNIPCriterion); ok && total > 0 {
		for _, l := range layers {
			for i := range l.scores {
				l.scores[i] /= total
			}
		}
	}
	return layers, nil
}

func (p *pruner) prune(ctx *context.Context, a Amount, acc *accumulated) (*Result, error) {
	masks, res, err := p.compute(ctx, a, acc)
	if err != nil {
		return nil, err
	}
	if err := SetMasks(ctx, masks); err != nil {
		return nil, err
	}
	return res, nil
}

func (p *pruner) compute(ctx *context.Context, a Amount, acc *accumulated) (MaskSet, *Result, error) {
	if err := a.Validate(); err != nil {
		return nil, nil, err
	}
	if p.cfg.MinKeep < 0 || p.cfg.GradientBatches < 0 {
		return nil, nil, fmt.Errorf("%w: MinKeep=%d, GradientBatches=%d must not be negative", ErrInvalidAmount,
			p.cfg.MinKeep, p.cfg.GradientBatches)
	}
	if p.cfg.Ties != TiesByPosition && p.cfg.Ties != TiesLikeTorch {
		return nil, nil, fmt.Errorf("pruning: unknown tie-breaking rule %d", p.cfg.Ties)
	}
	targets, err := p.targets(ctx)
	if err != nil {
		return nil, nil, err
	}
	structure := p.cfg.structure()
	res := &Result{Criterion: p.cfg.criterion().Name(), Structure: structure.Name(),
		Allocation: p.cfg.allocation().Name(), Amount: a}

	var prunedBefore []int
	var after []*Mask
	if ranksByMagnitude(p.cfg.criterion()) && isUnstructured(structure) && p.cfg.Ties == TiesByPosition {
		prunedBefore, after, err = p.computeMagnitude32(ctx, targets, a)
		if err != nil {
			return nil, nil, err
		}
	}
	if after == nil { // the general path: scores as float64, any criterion and structure
		prunedBefore, after, err = p.computeGeneral(ctx, targets, a, acc)
		if err != nil {
			return nil, nil, err
		}
	}

	masks := make(MaskSet, len(targets))
	for i, t := range targets {
		masks[t.Path()] = after[i]
		lr := LayerResult{Path: t.Path(), Size: after[i].Size(), PrunedBefore: prunedBefore[i],
			PrunedAfter: after[i].NumPruned()}
		if lr.Size > 0 {
			lr.Sparsity = float64(lr.PrunedAfter) / float64(lr.Size)
		}
		res.Layers = append(res.Layers, lr)
		res.Size += lr.Size
		res.PrunedBefore += lr.PrunedBefore
		res.PrunedAfter += lr.PrunedAfter
	}
	if res.Size > 0 {
		res.Sparsity = float64(res.PrunedAfter) / float64(res.Size)
	}
	return masks, res, nil
}

// isUnstructured reports whether s prunes single weights.
func isUnstructured(s Structure) bool {
	switch s := s.(type) {
	case Unstructured:
		return true
	case Blocks:
		return s.In == 1 && s.Out == 1
	}
	return false
}

// computeGeneral scores the weights with the criterion and prunes groups; it returns the numbers
// of weights pruned before and the masks after, in the order of targets.
func (p *pruner) computeGeneral(ctx *context.Context, targets []Target, a Amount, acc *accumulated) (
	prunedBefore []int, after []*Mask, err error) {
	layers, err := p.gather(ctx, targets, acc)
	if err != nil {
		return nil, nil, err
	}
	structure := p.cfg.structure()
	// base: the mask pruning starts from (all ones when regrowing).
	base := make([]*Mask, len(layers))
	prunedBefore = make([]int, len(layers))
	for i, l := range layers {
		prunedBefore[i] = l.mask.NumPruned()
		if p.cfg.Regrow {
			base[i] = NewMask(l.target.Shape...)
		} else {
			base[i] = l.mask.Clone()
		}
	}
	groups := make([][]int32, len(layers))
	numGroups := make([]int, len(layers))
	for i, l := range layers {
		groups[i], numGroups[i], err = structure.Groups(l.target)
		if err != nil {
			return nil, nil, err
		}
	}
	if nm, ok := structure.(NM); ok {
		for i, l := range layers {
			pruneNM(l.scores, groups[i], numGroups[i], base[i], nm.N)
		}
		return prunedBefore, base, nil
	}
	if err := p.allocate(layers, base, groups, numGroups, a); err != nil {
		return nil, nil, err
	}
	return prunedBefore, base, nil
}

// pruneNM keeps, in each group, the n kept elements of highest score (of equal scores, the
// higher index is kept).
func pruneNM(scores []float64, group []int32, numGroups int, mask *Mask, n int) {
	members := make([][]int, numGroups)
	for i, g := range group {
		if mask.Keep[i] {
			members[g] = append(members[g], i)
		}
	}
	for _, m := range members {
		if len(m) <= n {
			continue
		}
		slices.SortStableFunc(m, func(a, b int) int { return cmp.Compare(scores[a], scores[b]) })
		for _, i := range m[:len(m)-n] {
			mask.Keep[i] = false
		}
	}
}

// roundHalfEven rounds to the nearest integer, ties to even, as Python's round (which
// torch.nn.utils.prune uses for amounts): round(0.5·5) = 2, round(0.5·7) = 4.
func roundHalfEven(x float64) int { return int(math.RoundToEven(x)) }

// budgetOf returns the number of units (weights or groups) of n that must be pruned after a
// pruning, given prunedNow units pruned before it (fractional when counting groups of a mask
// that prunes parts of groups): round(s·n) for a target sparsity s, round(prunedNow +
// p·(n − prunedNow)) for a fraction p of the remaining units. sparsity ≥ 0 overrides a with a
// layer's sparsity from an allocation.
func budgetOf(a Amount, sparsity float64, prunedNow float64, n int) int {
	switch {
	case sparsity >= 0:
		return roundHalfEven(sparsity * float64(n))
	case a.Mode == OfRemaining:
		return roundHalfEven(prunedNow + a.Value*(float64(n)-prunedNow))
	default:
		return roundHalfEven(a.Value * float64(n))
	}
}

// candidate is a group that may be pruned.
type candidate struct {
	layer, group int
	score        float64
	kept         int // elements currently kept in the group
}

// allocate prunes groups from base masks to the allocation's budget.
func (p *pruner) allocate(layers []*layerState, base []*Mask, groups [][]int32, numGroups []int, a Amount) error {
	// Allocations see the current masks, also when regrowing from all-ones base masks, so that
	// FractionOfRemaining is relative to what is pruned now.
	infos := make([]Layer, len(layers))
	for i, l := range layers {
		infos[i] = Layer{Target: l.target, Pruned: l.mask.NumPruned()}
	}
	alloc := p.cfg.allocation()
	sparsities, err := alloc.LayerSparsities(infos, a)
	if err != nil {
		return err
	}
	var pools [][]int // layers pruned against one budget
	poolSparsity := []float64{-1}
	switch {
	case sparsities == nil: // global
		all := make([]int, len(layers))
		for i := range all {
			all[i] = i
		}
		pools = [][]int{all}
	default:
		poolSparsity = poolSparsity[:0]
		_, layerWise := alloc.(LayerWise)
		for i, l := range layers {
			s, ok := sparsities[l.target.Path()]
			if !ok {
				return fmt.Errorf("pruning: allocation %s gave no sparsity for %s", alloc.Name(), l.target.Path())
			}
			if !(s >= 0 && s <= 1) {
				return fmt.Errorf("%w: allocation %s gave sparsity %g for %s", ErrInvalidAmount, alloc.Name(), s,
					l.target.Path())
			}
			if layerWise {
				s = -1 // budget from the amount itself, in integers
			}
			pools = append(pools, []int{i})
			poolSparsity = append(poolSparsity, s)
		}
	}
	for pi, pool := range pools {
		if err := p.prunePool(layers, base, groups, numGroups, pool, a, poolSparsity[pi]); err != nil {
			return err
		}
	}
	return nil
}

// prunePool prunes the groups of the layers in pool against one budget: a's, or the given
// sparsity if ≥ 0.
func (p *pruner) prunePool(layers []*layerState, base []*Mask, groups [][]int32, numGroups []int, pool []int,
	a Amount, sparsity float64) error {
	// Group scores and sizes; the budget counts groups when all have one size and each is either
	// wholly kept or wholly pruned, weights otherwise.
	type layerGroups struct {
		scores      []float64
		size, count []int
	}
	lg := make([]layerGroups, len(layers))
	uniform, groupSize := true, 0
	for _, i := range pool {
		gs, size, kept := groupScores(layers[i].scores, groups[i], numGroups[i], base[i].Keep, p.cfg.Reduction)
		lg[i] = layerGroups{gs, size, kept}
		for g := range gs {
			if groupSize == 0 {
				groupSize = size[g]
			}
			if size[g] != groupSize || (kept[g] != 0 && kept[g] != size[g]) {
				uniform = false
			}
		}
	}
	unit := 1
	if uniform && groupSize > 0 {
		unit = groupSize
	} else {
		uniform = false
	}
	n, prunedBase, prunedNow := 0, 0, 0
	for _, i := range pool {
		n += base[i].Size()
		prunedBase += base[i].NumPruned()
		prunedNow += layers[i].mask.NumPruned()
	}
	want := budgetOf(a, sparsity, float64(prunedNow)/float64(unit), n/unit) * unit
	if want <= prunedBase {
		return nil // pruning is monotone: a target below the current sparsity changes nothing
	}

	var cands []candidate
	for _, i := range pool {
		for g, k := range lg[i].count {
			if k > 0 {
				cands = append(cands, candidate{layer: i, group: g, score: lg[i].scores[g], kept: k})
			}
		}
	}
	// What each layer may still lose under MinKeep.
	capacity := make(map[int]int, len(pool))
	for _, i := range pool {
		capacity[i] = base[i].NumKept() - min(p.cfg.MinKeep, base[i].Size())
	}
	apply := func(chosen []candidate) {
		prunedGroups := make(map[int][]bool, len(pool))
		for _, i := range pool {
			prunedGroups[i] = make([]bool, numGroups[i])
		}
		for _, c := range chosen {
			prunedGroups[c.layer][c.group] = true
		}
		for _, i := range pool {
			for e, g := range groups[i] {
				if prunedGroups[i][g] {
					base[i].Keep[e] = false
				}
			}
		}
	}

	if p.cfg.Ties == TiesLikeTorch && uniform {
		if p.cfg.MinKeep > 0 {
			return fmt.Errorf("%w: TiesLikeTorch reproduces torch.nn.utils.prune, which has no MinKeep; set MinKeep "+
				"to 0", ErrInvalidAmount)
		}
		apply(torchChoice(layers, base, groups, pool, cands, unit, (want-prunedBase)/unit))
		return nil
	}

	slices.SortStableFunc(cands, func(x, y candidate) int {
		if c := cmp.Compare(x.score, y.score); c != 0 {
			return c
		}
		if c := cmp.Compare(x.layer, y.layer); c != 0 {
			return c
		}
		return cmp.Compare(x.group, y.group)
	})
	pruned, largest := prunedBase, 0
	var chosen []candidate
	for _, c := range cands {
		largest = max(largest, c.kept)
		if uniform && pruned >= want {
			break
		}
		if !uniform && 2*pruned+c.kept >= 2*want { // would not bring pruned closer to want
			continue
		}
		if capacity[c.layer] < c.kept {
			continue
		}
		capacity[c.layer] -= c.kept
		pruned += c.kept
		chosen = append(chosen, c)
	}
	if uniform && pruned < want || !uniform && 2*(want-pruned) > largest {
		what := "global"
		if len(pool) == 1 {
			what = layers[pool[0]].target.Path()
		}
		return fmt.Errorf("%w: %s: wanted %d pruned weights, reached %d (MinKeep=%d, structure %s)",
			ErrUnreachable, what, want, pruned, p.cfg.MinKeep, p.cfg.structure().Name())
	}
	apply(chosen)
	return nil
}

// torchChoice returns the need candidates (groups of unit weights, all wholly kept) that
// torch.nn.utils.prune would prune (see [TiesLikeTorch]).
func torchChoice(layers []*layerState, base []*Mask, groups [][]int32, pool []int, cands []candidate, unit,
	need int) []candidate {
	if unit == 1 {
		// l1_unstructured / global_unstructured: topk(scores, need, largest=False) over the kept
		// weights in PyTorch's layout, variables concatenated.
		var vals []float64
		var where []candidate
		for _, i := range pool {
			l := layers[i]
			for _, e := range torchLayout(l.target) {
				if base[i].Keep[e] {
					vals = append(vals, l.scores[e])
					where = append(where, candidate{layer: i, group: int(groups[i][e]), kept: 1})
				}
			}
		}
		var out []candidate
		for _, j := range torchTopK(vals, need, false) {
			out = append(out, where[j])
		}
		return out
	}
	// ln_structured: keep topk(norms, kept groups − need, largest=True), in group order.
	vals := make([]float64, len(cands))
	for j, c := range cands {
		vals[j] = c.score
	}
	keep := make([]bool, len(cands))
	for _, j := range torchTopK(vals, len(cands)-need, true) {
		keep[j] = true
	}
	var out []candidate
	for j, c := range cands {
		if !keep[j] {
			out = append(out, c)
		}
	}
	return out
}

// torchLayout returns, for each position of t's weights in PyTorch's layout (row-major), the
// index of that weight in t's own layout. Dense kernels [in, out...] are [out..., in] in PyTorch
// (nn.Linear.weight), channels-last convolution kernels [k..., in, out] are [out, in, k...]
// (nn.Conv2d.weight); channels-first kernels and other variables are laid out alike.
func torchLayout(t Target) []int {
	rank := len(t.Shape)
	perm := make([]int, rank) // PyTorch axis j is axis perm[j] of t
	for j := range perm {
		perm[j] = j
	}
	switch {
	case t.Kind == KindDense && t.In.Len() == 1 && t.In.Begin == 0:
		for j := 0; j < rank-1; j++ {
			perm[j] = j + 1
		}
		perm[rank-1] = 0
	case t.Kind == KindConv && t.Out.Begin == rank-1:
		perm[0], perm[1] = rank-1, rank-2
		for j := 2; j < rank; j++ {
			perm[j] = j - 2
		}
	}
	strides := make([]int, rank)
	stride := 1
	for ax := rank - 1; ax >= 0; ax-- {
		strides[ax] = stride
		stride *= t.Shape[ax]
	}
	out := make([]int, 0, t.Size())
	coords := make([]int, rank)
	for range t.Size() {
		idx := 0
		for j, ax := range perm {
			idx += coords[j] * strides[ax]
		}
		out = append(out, idx)
		for j := rank - 1; j >= 0; j-- {
			coords[j]++
			if coords[j] < t.Shape[perm[j]] {
				break
			}
			coords[j] = 0
		}
	}
	return out
}
