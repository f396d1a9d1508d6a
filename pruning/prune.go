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
	st, err := p.gather(ctx, nil)
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

// gather reads weights and masks of the layers to prune and scores them.
func (p *pruner) gather(ctx *context.Context, acc *accumulated) ([]*layerState, error) {
	var layers []*layerState
	for _, t := range Targets(ctx) {
		skip, err := matchAny(p.cfg.Skip, t.Path())
		if err != nil {
			return nil, err
		}
		if skip || (p.only != "" && t.Path() != p.only) {
			continue
		}
		w, _, err := weightAndMask(ctx, t.Path())
		if err != nil {
			return nil, err
		}
		weights, err := variableFloats(w)
		if err != nil {
			return nil, err
		}
		mask, err := GetMask(ctx, t.Path())
		if err != nil {
			return nil, err
		}
		layers = append(layers, &layerState{target: t, weights: weights, mask: mask})
	}
	if len(layers) == 0 {
		return nil, fmt.Errorf("%w: no masked variables to prune (build the model with WrapModelFn first)", ErrNoMask)
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
		for i, s := range scores {
			if math.IsNaN(s) {
				return nil, fmt.Errorf("pruning: %s: criterion %s returned NaN at %d", l.target.Path(), crit.Name(), i)
			}
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

// candidate is a group that may be pruned.
type candidate struct {
	layer, group int
	score        float64
	kept         int // elements currently kept in the group
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
		return nil, nil, fmt.Errorf("%w: MinKeep=%d, GradientBatches=%d", ErrInvalidAmount, p.cfg.MinKeep,
			p.cfg.GradientBatches)
	}
	layers, err := p.gather(ctx, acc)
	if err != nil {
		return nil, nil, err
	}
	structure := p.cfg.structure()
	res := &Result{Criterion: p.cfg.criterion().Name(), Structure: structure.Name(),
		Allocation: p.cfg.allocation().Name(), Amount: a}

	// base: the mask pruning starts from (all ones when regrowing).
	base := make([]*Mask, len(layers))
	for i, l := range layers {
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
	} else {
		if err := p.allocate(layers, base, groups, numGroups, a); err != nil {
			return nil, nil, err
		}
	}

	masks := make(MaskSet, len(layers))
	for i, l := range layers {
		masks[l.target.Path()] = base[i]
		lr := LayerResult{Path: l.target.Path(), Size: l.mask.Size(), PrunedBefore: l.mask.NumPruned(),
			PrunedAfter: base[i].NumPruned(), Sparsity: base[i].Sparsity()}
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

// pruneNM keeps, in each group, the n kept elements of highest score.
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

// allocate prunes groups from base masks to the allocation's budget.
func (p *pruner) allocate(layers []*layerState, base []*Mask, groups [][]int32, numGroups []int, a Amount) error {
	// Allocations see the current masks, also when regrowing from all-ones base masks, so that
	// FractionOfRemaining is relative to what is pruned now.
	infos := make([]Layer, len(layers))
	for i, l := range layers {
		infos[i] = Layer{Target: l.target, Pruned: l.mask.NumPruned()}
	}
	targets, err := p.cfg.allocation().LayerSparsities(infos, a)
	if err != nil {
		return err
	}

	// Candidate groups per layer, with the number of elements each would prune.
	cands := make([][]candidate, len(layers))
	for i, l := range layers {
		gs, _, kept := groupScores(l.scores, groups[i], numGroups[i], base[i].Keep, p.cfg.Reduction)
		for g := range gs {
			if kept[g] > 0 {
				cands[i] = append(cands[i], candidate{layer: i, group: g, score: gs[g], kept: kept[g]})
			}
		}
	}
	kept := make([]int, len(layers))
	floor := make([]int, len(layers))
	for i := range layers {
		kept[i] = base[i].NumKept()
		floor[i] = min(p.cfg.MinKeep, base[i].Size())
	}
	prunedGroups := make([][]bool, len(layers))
	for i := range layers {
		prunedGroups[i] = make([]bool, numGroups[i])
	}

	// greedy prunes candidates in ascending score order while that brings the pruned count
	// closer to want; it reports the pruned count reached and the largest group seen.
	greedy := func(cs []candidate, pruned, want int) (int, int) {
		slices.SortStableFunc(cs, func(x, y candidate) int {
			if c := cmp.Compare(x.score, y.score); c != 0 {
				return c
			}
			if c := cmp.Compare(x.layer, y.layer); c != 0 {
				return c
			}
			return cmp.Compare(x.group, y.group)
		})
		largest := 0
		for _, c := range cs {
			largest = max(largest, c.kept)
			if 2*pruned+c.kept >= 2*want { // would not bring pruned closer to want
				continue
			}
			if kept[c.layer]-c.kept < floor[c.layer] {
				continue
			}
			prunedGroups[c.layer][c.group] = true
			kept[c.layer] -= c.kept
			pruned += c.kept
		}
		return pruned, largest
	}
	check := func(what string, pruned, want, largest int) error {
		if 2*(want-pruned) > largest {
			return fmt.Errorf("%w: %s: wanted %d pruned weights, reached %d (MinKeep=%d, structure %s)",
				ErrUnreachable, what, want, pruned, p.cfg.MinKeep, p.cfg.structure().Name())
		}
		return nil
	}

	if targets == nil { // global
		var all []candidate
		size, pruned := 0, 0
		for i := range layers {
			all = append(all, cands[i]...)
			size += base[i].Size()
			pruned += base[i].NumPruned()
		}
		s := a.TargetFrom(overallSparsity(infos))
		want := int(math.Round(min(1, max(0, s)) * float64(size)))
		reached, largest := greedy(all, pruned, want)
		if err := check("global", reached, want, largest); err != nil {
			return err
		}
	} else {
		for i, l := range layers {
			s, ok := targets[l.target.Path()]
			if !ok {
				return fmt.Errorf("pruning: allocation %s gave no sparsity for %s", p.cfg.allocation().Name(),
					l.target.Path())
			}
			if !(s >= 0 && s <= 1) {
				return fmt.Errorf("%w: allocation %s gave sparsity %g for %s", ErrInvalidAmount,
					p.cfg.allocation().Name(), s, l.target.Path())
			}
			want := int(math.Round(s * float64(base[i].Size())))
			reached, largest := greedy(cands[i], base[i].NumPruned(), want)
			if err := check(l.target.Path(), reached, want, largest); err != nil {
				return err
			}
		}
	}
	for i := range layers {
		for e, g := range groups[i] {
			if prunedGroups[i][g] {
				base[i].Keep[e] = false
			}
		}
	}
	return nil
}
