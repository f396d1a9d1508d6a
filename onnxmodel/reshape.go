package onnxmodel

import (
	"encoding/binary"
	"fmt"
	"slices"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:revive // GoMLX graph code reads best with the dot import.
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// onnxInt64 is ONNX's INT64 tensor element type (shape constants).
const onnxInt64 = 7

// fixReshapes rewrites, in the compacted graph c (a clone of m's proto with smaller
// initializers), every Reshape whose target shape is a constant written for the old widths — a
// model's `x.view(-1, 16*5*5)` exported as Reshape(x, [-1, 400]) — to the shape the compacted
// tensor needs. Reshapes are matched by position: the data input's shape in the original model
// (S) and in the compacted one (S') are computed by converting the graph, and the target T is
// split into runs of axes whose products match S's; a run that merges axes (a flatten) takes the
// product of the new ones, a run of one axis its new size, and a run that splits a changed axis
// (attention's width into heads × head features) keeps its inner axes and shrinks the outermost,
// as compaction removes whole heads. Anything else (several changed axes regrouped) is an error
// wrapping ErrCompaction naming the node.
//
// A Reshape whose target is computed in the graph (Shape → Gather → Concat) adapts by itself when
// the target comes from its own input, but not when it comes from another tensor: PyTorch's
// attention writes y.view(b, t, heads, d // heads) with d the width of the block's input, which
// removing heads does not change. The computed target of a Reshape whose input changed is replaced
// by a constant, remapped as above from the output shape it had, with 0 (copy the input's
// dimension) for the leading axes that keep their size, the batch among them.
func (m *Model) fixReshapes(c *reshapeGraph, backend backends.Backend, example []int) error {
	var reshapes []int // node indices
	for i, n := range c.nodes() {
		if n.OpType == "Reshape" && len(n.Input) == 2 && len(n.Output) == 1 {
			reshapes = append(reshapes, i)
		}
	}
	if len(reshapes) == 0 {
		return nil
	}
	inputs := make([]string, 2*len(reshapes)) // each one's data input, then its output
	for k, i := range reshapes {
		inputs[k], inputs[len(reshapes)+k] = c.nodes()[i].Input[0], c.nodes()[i].Output[0]
	}
	octx := context.New()
	if err := m.LoadVariables(octx); err != nil {
		return err
	}
	before, err := outputShapes(m, octx, backend, example, inputs)
	if err != nil {
		return err
	}
	var cm *Model // the compacted graph as it is now, parsed again only after a rewrite
	var cctx *context.Context
	for k, i := range reshapes {
		node := c.nodes()[i]
		if cm == nil {
			if cm, cctx, err = c.model(); err != nil {
				return err
			}
		}
		after, err := outputShapes(cm, cctx, backend, example, inputs[k:k+1])
		if err != nil {
			return fmt.Errorf("node %q: %w", node.Name, err)
		}
		s, s2 := before[k], after[0]
		if slices.Equal(s, s2) {
			continue
		}
		cm = nil
		if t := c.constant(node.Input[1]); t != nil {
			target, err := remapReshape(s, t.values, s2)
			if err != nil {
				return fmt.Errorf("%w: node %q: Reshape of %v to %v: %v", ErrCompaction, node.Name, s2, t.values, err)
			}
			t.set(target)
			continue
		}
		out := before[len(reshapes)+k]
		target, err := remapReshape(s, out, s2)
		if err != nil {
			return fmt.Errorf("%w: node %q: Reshape of %v to %v (a computed target): %v", ErrCompaction, node.Name, s2,
				out, err)
		}
		for ax := range target {
			if ax >= len(s) || ax >= len(s2) || s[ax] != out[ax] || s2[ax] != target[ax] {
				break
			}
			target[ax] = 0
		}
		c.setInput(reshapes[k], 1, target)
	}
	return nil
}

// outputShapes converts the model's graph for a batch of one example and returns the shapes of
// the named tensors.
func outputShapes(m *Model, ctx *context.Context, backend backends.Backend, example []int, names []string) (
	dims [][]int, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("converting the graph: %v", r)
		}
	}()
	g := NewGraph(backend, "shapes")
	defer g.Finalize()
	x := Parameter(g, "x", shapes.Make(dtypes.Float32, append([]int{1}, example...)...))
	outs := m.model.CallGraph(ctx.InAbsPath(context.RootScope).Checked(false), g, map[string]*Node{m.Input.Name: x}, names...)
	for _, o := range outs {
		dims = append(dims, slices.Clone(o.Shape().Dimensions))
	}
	return dims, nil
}

// remapReshape returns the target of a Reshape that turned s into target (ONNX semantics: 0 copies
// the input's dimension, -1 is inferred) for the input s2 instead, where s2 differs from s in some
// dimensions: see fixReshapes. The returned target keeps -1 where target had it.
func remapReshape(s, target, s2 []int) ([]int, error) {
	if len(s) != len(s2) {
		return nil, fmt.Errorf("rank changed from %d to %d", len(s), len(s2))
	}
	t := slices.Clone(target)
	known, infer := 1, -1
	for k, d := range t {
		switch {
		case d == 0 && k < len(s):
			t[k] = s[k]
		case d == -1:
			infer = k
			continue
		}
		known *= t[k]
	}
	if infer >= 0 {
		if known == 0 || prod(s)%known != 0 {
			return nil, fmt.Errorf("cannot infer the -1 of %v from %v", target, s)
		}
		t[infer] = prod(s) / known
	}
	out := slices.Clone(t)
	i, j := 0, 0
	for i < len(s) || j < len(t) {
		gi, gj := i, j
		ps, pt := 1, 1
		if i < len(s) {
			ps, i = s[i], i+1
		}
		if j < len(t) {
			pt, j = t[j], j+1
		}
		for ps != pt {
			switch {
			case ps < pt && i < len(s):
				ps, i = ps*s[i], i+1
			case pt < ps && j < len(t):
				pt, j = pt*t[j], j+1
			default:
				return nil, fmt.Errorf("%v and %v do not match", s, t)
			}
		}
		switch {
		case slices.Equal(s[gi:i], s2[gi:i]):
		case j-gj == 1:
			out[gj] = prod(s2[gi:i])
		case i-gi == 1:
			// One changed axis split in several, such as attention's [width] → [heads, head
			// features]: compaction removes whole groups of the outermost part (heads), so the
			// inner parts keep their sizes and the outermost takes the rest.
			outer := gj
			for outer < j-1 && t[outer] == 1 {
				outer++
			}
			inner := prod(t[outer+1 : j])
			if s2[gi]%inner != 0 {
				return nil, fmt.Errorf("axis %d of %v becomes %d, not a multiple of the inner parts %v of %v", s[gi], s, s2[gi],
					t[outer+1:j], t[gj:j])
			}
			out[outer] = s2[gi] / inner
		default:
			return nil, fmt.Errorf("axes %v of %v become %v: changed axes regrouped", s[gi:i], s, s2[gi:i])
		}
	}
	for k, d := range target {
		if d == -1 {
			out[k] = -1
		}
	}
	return out, nil
}

// reshapeGraph is the graph being rewritten, seen through closures over its proto (whose types
// onnx-gomlx keeps internal): its nodes, its shape constants, and its serialization.
type reshapeGraph struct {
	nodes    func() []nodeView
	constant func(name string) *int64Tensor
	marshal  func() ([]byte, error)
	// setInput makes input number input of node number node a new int64 constant holding values.
	setInput func(node, input int, values []int)
}

// nodeView is what fixReshapes reads of a node.
type nodeView struct {
	Name, OpType  string
	Input, Output []string
}

// int64Tensor is a shape constant of the graph: its values, and how to write new ones.
type int64Tensor struct {
	values []int
	set    func([]int)
}

// model parses the graph as it is now into a Model with its variables in a new context.
func (c *reshapeGraph) model() (*Model, *context.Context, error) {
	data, err := c.marshal()
	if err != nil {
		return nil, nil, err
	}
	nm, err := Parse(data, "")
	if err != nil {
		return nil, nil, err
	}
	ctx := context.New()
	if err := nm.LoadVariables(ctx); err != nil {
		return nil, nil, err
	}
	return nm, ctx, nil
}

// int64Values decodes an INT64 tensor's data (raw little-endian or Int64Data).
func int64Values(raw []byte, data []int64) []int {
	if len(raw) > 0 {
		out := make([]int, len(raw)/8)
		for i := range out {
			out[i] = int(int64(binary.LittleEndian.Uint64(raw[8*i:])))
		}
		return out
	}
	out := make([]int, len(data))
	for i, v := range data {
		out[i] = int(v)
	}
	return out
}

// int64Raw encodes values as raw little-endian INT64 data.
func int64Raw(values []int) []byte {
	raw := make([]byte, 8*len(values))
	for i, v := range values {
		binary.LittleEndian.PutUint64(raw[8*i:], uint64(int64(v)))
	}
	return raw
}
