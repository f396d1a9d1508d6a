package pruning

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Structure partitions the weights of a variable into groups that are pruned whole: single
// weights, neurons, filters, blocks. Group scores aggregate element scores with a [Reduction].
type Structure interface {
	// Name identifies the structure, in the syntax [ParseStructure] reads.
	Name() string
	// Groups assigns each element of t (row-major) to a group in [0, numGroups). It returns an
	// error wrapping [ErrIncompatibleStructure] if the structure does not apply to t.
	Groups(t Target) (group []int32, numGroups int, err error)
}

// Unstructured prunes individual weights.
type Unstructured struct{}

// Name implements Structure: "unstructured".
func (Unstructured) Name() string { return "unstructured" }

// Groups implements Structure: one group per weight.
func (Unstructured) Groups(t Target) ([]int32, int, error) {
	blocks := make([]int, len(t.Shape))
	for i := range blocks {
		blocks[i] = 1
	}
	return blockGroups(t.Shape, blocks)
}

// OutputChannels prunes output units whole: neurons of a dense layer (columns of its [in, out]
// kernel) and filters of a convolution (output channels). Pruning them zeroes a unit's weights
// but not its bias; removing it (and the next layer's matching inputs) is compaction's job.
type OutputChannels struct{}

// Name implements Structure: "out_channels".
func (OutputChannels) Name() string { return "out_channels" }

// Groups implements Structure.
func (OutputChannels) Groups(t Target) ([]int32, int, error) {
	if t.Out.Len() == 0 {
		return nil, 0, fmt.Errorf("%w: %s (%s) has no known output axis", ErrIncompatibleStructure, t.Path(), t.Kind)
	}
	blocks := make([]int, len(t.Shape)) // 0: whole axis in one group
	for a := t.Out.Begin; a < t.Out.End; a++ {
		blocks[a] = 1
	}
	return blockGroups(t.Shape, blocks)
}

// InputChannels prunes input features whole: rows of a dense [in, out] kernel, input channels of
// a convolution kernel.
type InputChannels struct{}

// Name implements Structure: "in_channels".
func (InputChannels) Name() string { return "in_channels" }

// Groups implements Structure.
func (InputChannels) Groups(t Target) ([]int32, int, error) {
	if t.In.Len() == 0 {
		return nil, 0, fmt.Errorf("%w: %s (%s) has no known input axis", ErrIncompatibleStructure, t.Path(), t.Kind)
	}
	blocks := make([]int, len(t.Shape))
	for a := t.In.Begin; a < t.In.End; a++ {
		blocks[a] = 1
	}
	return blockGroups(t.Shape, blocks)
}

// NM is N:M semi-structured sparsity: of every M consecutive weights along the input dimension
// (for every output unit and kernel position), at most N are kept — the pattern sparse tensor
// cores accelerate (2:4 on NVIDIA Ampere and later). Its sparsity is fixed at 1−N/M: the amount
// and allocation are ignored. The input dimension must be a multiple of M.
//
// Reference: Mishra et al., "Accelerating Sparse Deep Neural Networks", arXiv 2104.08378, 2021;
// Zhou et al., "Learning N:M Fine-grained Structured Sparse Neural Networks From Scratch", ICLR 2021.
type NM struct{ N, M int }

// Name implements Structure: e.g. "2:4".
func (s NM) Name() string { return fmt.Sprintf("%d:%d", s.N, s.M) }

// Groups implements Structure: one group per run of M inputs.
func (s NM) Groups(t Target) ([]int32, int, error) {
	if s.N < 0 || s.M <= 0 || s.N > s.M {
		return nil, 0, fmt.Errorf("%w: N:M with N=%d, M=%d", ErrInvalidAmount, s.N, s.M)
	}
	if t.In.Len() != 1 {
		return nil, 0, fmt.Errorf("%w: %s: N:M needs one input axis", ErrIncompatibleStructure, t.Path())
	}
	if d := t.Shape[t.In.Begin]; d%s.M != 0 {
		return nil, 0, fmt.Errorf("%w: %s: input dimension %d is not a multiple of M=%d", ErrIncompatibleStructure,
			t.Path(), d, s.M)
	}
	blocks := make([]int, len(t.Shape))
	for i := range blocks {
		blocks[i] = 1
	}
	blocks[t.In.Begin] = s.M
	return blockGroups(t.Shape, blocks)
}

// Blocks prunes rectangular blocks of In consecutive inputs × Out consecutive outputs (for every
// kernel position of a convolution), e.g. Blocks{In: 4, Out: 1} for "4x1" blocks. Blocks at the
// edges of a dimension that is not a multiple are smaller.
//
// Reference: Narang, Undersander, Diamos, "Block-Sparse Recurrent Neural Networks", arXiv
// 1711.02782, 2017; Gray, Radford, Kingma, "GPU Kernels for Block-Sparse Weights", 2017.
type Blocks struct{ In, Out int }

// Name implements Structure: e.g. "block4x1".
func (s Blocks) Name() string { return fmt.Sprintf("block%dx%d", s.In, s.Out) }

// Groups implements Structure.
func (s Blocks) Groups(t Target) ([]int32, int, error) {
	if s.In <= 0 || s.Out <= 0 {
		return nil, 0, fmt.Errorf("%w: block %dx%d", ErrInvalidAmount, s.In, s.Out)
	}
	if t.In.Len() != 1 || t.Out.Len() == 0 {
		return nil, 0, fmt.Errorf("%w: %s: blocks need known input and output axes", ErrIncompatibleStructure, t.Path())
	}
	blocks := make([]int, len(t.Shape))
	for i := range blocks {
		blocks[i] = 1
	}
	blocks[t.In.Begin] = s.In
	blocks[t.Out.End-1] = s.Out
	return blockGroups(t.Shape, blocks)
}

// blockGroups tiles a row-major array of the given shape with blocks: blocks[a] consecutive
// indices of axis a share a group (0 means the whole axis). Groups are numbered row-major over
// the grid of blocks.
func blockGroups(shape, blocks []int) ([]int32, int, error) {
	rank := len(shape)
	grid := make([]int, rank)
	numGroups := 1
	size := 1
	for a, d := range shape {
		switch {
		case blocks[a] == 0 || d == 0:
			grid[a] = 1
		default:
			grid[a] = (d + blocks[a] - 1) / blocks[a]
		}
		numGroups *= grid[a]
		size *= d
	}
	if numGroups > math.MaxInt32 {
		return nil, 0, fmt.Errorf("pruning: too many groups (%d)", numGroups)
	}
	group := make([]int32, size)
	coords := make([]int, rank)
	for i := range group {
		g := 0
		for a := range rank {
			c := 0
			if blocks[a] > 0 {
				c = coords[a] / blocks[a]
			}
			g = g*grid[a] + c
		}
		group[i] = int32(g)
		// Increment coords, row-major.
		for a := rank - 1; a >= 0; a-- {
			coords[a]++
			if coords[a] < shape[a] {
				break
			}
			coords[a] = 0
		}
	}
	return group, numGroups, nil
}

// ParseStructure reads a structure name: "unstructured" (or ""), "out_channels" (also "neurons",
// "filters"), "in_channels", "N:M" (e.g. "2:4") and "blockIxO" (e.g. "block4x1").
func ParseStructure(name string) (Structure, error) {
	switch strings.ToLower(name) {
	case "", "unstructured":
		return Unstructured{}, nil
	case "out_channels", "neurons", "filters":
		return OutputChannels{}, nil
	case "in_channels":
		return InputChannels{}, nil
	}
	if n, m, ok := strings.Cut(name, ":"); ok {
		ni, err1 := strconv.Atoi(n)
		mi, err2 := strconv.Atoi(m)
		if err1 == nil && err2 == nil && ni >= 0 && mi > 0 && ni <= mi {
			return NM{N: ni, M: mi}, nil
		}
	}
	if rest, ok := strings.CutPrefix(strings.ToLower(name), "block"); ok {
		if i, o, ok := strings.Cut(rest, "x"); ok {
			ii, err1 := strconv.Atoi(i)
			oi, err2 := strconv.Atoi(o)
			if err1 == nil && err2 == nil && ii > 0 && oi > 0 {
				return Blocks{In: ii, Out: oi}, nil
			}
		}
	}
	return nil, fmt.Errorf("%w %q; known: unstructured, out_channels (neurons, filters), in_channels, N:M (e.g. 2:4), "+
		"blockIxO (e.g. block4x1)", ErrUnknownStructure, name)
}

// Reduction aggregates the element scores of a group into the group's score.
type Reduction int

const (
	// ReduceSum adds the element scores (the default). With [LnNormCriterion] this is the group's norm^P.
	ReduceSum Reduction = iota
	// ReduceMean averages them, which compares groups of different sizes fairly.
	ReduceMean
	// ReduceL2 takes the Euclidean norm of the element scores.
	ReduceL2
	// ReduceMax takes the largest element score.
	ReduceMax
)

// String returns "sum", "mean", "l2" or "max".
func (r Reduction) String() string {
	switch r {
	case ReduceMean:
		return "mean"
	case ReduceL2:
		return "l2"
	case ReduceMax:
		return "max"
	default:
		return "sum"
	}
}

// groupScores aggregates element scores per group, ignoring elements with include[i] false
// (nil includes all). It also returns each group's size and number of included elements.
func groupScores(scores []float64, group []int32, numGroups int, include []bool, r Reduction) (gs []float64,
	size, counted []int) {
	gs = make([]float64, numGroups)
	size = make([]int, numGroups)
	counted = make([]int, numGroups)
	if r == ReduceMax {
		for g := range gs {
			gs[g] = math.Inf(-1)
		}
	}
	for i, g := range group {
		size[g]++
		if include != nil && !include[i] {
			continue
		}
		counted[g]++
		s := scores[i]
		switch r {
		case ReduceL2:
			gs[g] += s * s
		case ReduceMax:
			gs[g] = max(gs[g], s)
		default:
			gs[g] += s
		}
	}
	for g := range gs {
		switch r {
		case ReduceMean:
			if counted[g] > 0 {
				gs[g] /= float64(counted[g])
			}
		case ReduceL2:
			gs[g] = math.Sqrt(gs[g])
		}
	}
	return
}
