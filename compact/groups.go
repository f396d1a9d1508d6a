package compact

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/prunelab/prunelab/program"
	"github.com/prunelab/prunelab/pruning"
)

// Unit is one index along one axis of a variable: e.g. output unit 7 of "/fc0/dense/weights" is
// {"/fc0/dense/weights", 1, 7}, its bias {"/fc0/dense/biases", 0, 7}, and the matching input of the
// next layer {"/fc1/dense/weights", 0, 7}.
type Unit struct {
	Var   string `json:"var"`
	Axis  int    `json:"axis"`
	Index int    `json:"index"`
}

// Channel is one coupled channel of a model: variable slices that compaction removes together.
// Producers are the weight slices that create it (one output unit each: several when a residual
// addition joins layers); Members are every coupled slice (producers, biases, normalization
// parameters, the inputs of consuming layers).
type Channel struct {
	Producers []Unit `json:"producers"`
	Members   []Unit `json:"members"`
	// Frozen says why the channel cannot be removed (e.g. it is a model output); empty otherwise.
	Frozen string `json:"frozen,omitempty"`
}

// Family returns a key naming the set of variable axes the channel spans; channels of one layer
// (or of one residual stream) share it.
func (c Channel) Family() string {
	var dims []string
	for _, m := range c.Members {
		dims = append(dims, fmt.Sprintf("%s:%d", m.Var, m.Axis))
	}
	slices.Sort(dims)
	return strings.Join(slices.Compact(dims), ",")
}

// Channels analyzes p and returns its coupled channels, in a deterministic order (by first
// producer). It returns an error wrapping [ErrUnsupported] for operations it does not understand.
func Channels(p *program.Program) ([]Channel, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	a, err := newAnalysis(p)
	if err != nil {
		return nil, err
	}
	return a.channels(), nil
}

func (a *analysis) channels() []Channel {
	frozen := a.frozenRoots()
	byRoot := map[int32]*Channel{}
	get := func(r int32) *Channel {
		c := byRoot[r]
		if c == nil {
			c = &Channel{Frozen: frozen[r]}
			byRoot[r] = c
		}
		return c
	}
	for i, op := range a.p.Ops {
		if op.Type != program.OpVariable {
			continue
		}
		for ax, tags := range a.tags[i] {
			for j, t := range tags {
				if t < 0 {
					continue
				}
				c := get(a.find(t))
				c.Members = append(c.Members, Unit{Var: op.Var, Axis: ax, Index: j})
				if _, ok := a.producers[t]; ok && a.isWeightOf(i, a.producers[t]) {
					c.Producers = append(c.Producers, Unit{Var: op.Var, Axis: ax, Index: j})
				}
			}
		}
	}
	out := make([]Channel, 0, len(byRoot))
	for _, c := range byRoot {
		if len(c.Producers) > 0 {
			out = append(out, *c)
		}
	}
	slices.SortFunc(out, func(x, y Channel) int {
		return cmp.Or(cmp.Compare(x.Producers[0].Var, y.Producers[0].Var), cmp.Compare(x.Producers[0].Index, y.Producers[0].Index))
	})
	return out
}

// isWeightOf reports whether variable op v is the weight operand of producer pr (reached from it
// through single-operand ops).
func (a *analysis) isWeightOf(v int, pr producer) bool {
	for j := pr.weight; ; {
		if j == v {
			return true
		}
		if len(a.p.Ops[j].Inputs) != 1 {
			return false
		}
		j = a.p.Ops[j].Inputs[0]
	}
}

// GroupMasks is structured pruning that respects coupling (the idea of Torch-Pruning's DepGraph,
// Fang et al., "DepGraph: Towards Any Structural Pruning", CVPR 2023): in every family of coupled
// channels (one layer's units, or a residual stream's channels across all the layers that add to
// it), it prunes the fraction sparsity of the channels with the smallest L2 norm over all their
// coupled slices (producers, biases, normalization, consumers), keeping at least one. It returns
// masks for the producing weights (pruning.SetMasks applies them), which compaction then removes
// whole. Frozen channels are kept. Channels whose producers are already all zero count as pruned
// first, so that pruning in several steps is monotone.
func GroupMasks(p *program.Program, values map[string][]float32, sparsity float64) (pruning.MaskSet, error) {
	return GroupMasksRounded(p, values, sparsity, 1)
}

// GroupMasksRounded is [GroupMasks] keeping, in every family of more than roundTo channels, a
// multiple of roundTo channels (the nearest to what sparsity keeps, at least roundTo), as
// Torch-Pruning's round_to: inference engines compute channels in blocks of 8 or 16 (ONNX
// Runtime's NCHWc layouts, SIMD widths), so 45 channels cost what 48 do.
func GroupMasksRounded(p *program.Program, values map[string][]float32, sparsity float64, roundTo int) (pruning.MaskSet, error) {
	if !(sparsity >= 0 && sparsity < 1) {
		return nil, fmt.Errorf("%w: group sparsity %g, want [0, 1)", pruning.ErrInvalidAmount, sparsity)
	}
	if roundTo < 1 {
		return nil, fmt.Errorf("%w: round to %d channels, want ≥ 1", pruning.ErrInvalidAmount, roundTo)
	}
	chans, err := Channels(p)
	if err != nil {
		return nil, err
	}
	masks := pruning.MaskSet{}
	for _, c := range chans {
		for _, u := range c.Producers {
			if masks[u.Var] == nil {
				masks[u.Var] = pruning.NewMask(p.Variable(u.Var).Dims...)
			}
		}
	}
	families := map[string][]int{}
	for i, c := range chans {
		if c.Frozen == "" {
			families[c.Family()] = append(families[c.Family()], i)
		}
	}
	for _, members := range families {
		norms := make([]float64, len(members))
		for k, ci := range members {
			if dead(p, values, chans[ci].Producers) {
				norms[k] = -1 // already pruned: pruning is monotone
				continue
			}
			for _, u := range chans[ci].Members {
				v := p.Variable(u.Var)
				w, ok := values[u.Var]
				if !ok {
					return nil, fmt.Errorf("compact: no values for %s", u.Var)
				}
				ForSlice(v.Dims, u.Axis, u.Index, func(e int) { norms[k] += float64(w[e]) * float64(w[e]) })
			}
		}
		order := make([]int, len(members))
		for k := range order {
			order[k] = k
		}
		slices.SortStableFunc(order, func(x, y int) int { return cmp.Compare(norms[x], norms[y]) })
		n := min(int(math.Round(sparsity*float64(len(members)))), len(members)-1)
		if total := len(members); roundTo > 1 && total > roundTo {
			kept := max(roundTo, int(math.Round(float64(total-n)/float64(roundTo)))*roundTo)
			n = max(0, total-min(kept, total))
		}
		for _, k := range order[:n] {
			for _, u := range chans[members[k]].Producers {
				m := masks[u.Var]
				ForSlice(m.Shape, u.Axis, u.Index, func(e int) { m.Keep[e] = false })
			}
		}
	}
	return masks, nil
}

// ForSlice calls fn with the flat index of every element of the slice index of axis of a
// row-major array shaped dims: the entries of one channel (a [Unit]) of a variable.
func ForSlice(dims []int, axis, index int, fn func(e int)) {
	inner := 1
	for _, d := range dims[axis+1:] {
		inner *= d
	}
	outer := 1
	for _, d := range dims[:axis] {
		outer *= d
	}
	for o := range outer {
		base := (o*dims[axis] + index) * inner
		for k := range inner {
			fn(base + k)
		}
	}
}

// dead reports whether every producer slice is all zero.
func dead(p *program.Program, values map[string][]float32, producers []Unit) bool {
	zero := true
	for _, u := range producers {
		w := values[u.Var]
		ForSlice(p.Variable(u.Var).Dims, u.Axis, u.Index, func(e int) { zero = zero && w[e] == 0 })
	}
	return zero
}
