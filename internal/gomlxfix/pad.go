package gomlxfix

import (
	"fmt"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
)

// sliceGradient replaces the gradient of Slice on backends without Pad.
var sliceGradient = &workaround{
	name: "slice-gradient-without-pad",
	upstream: "GoMLX " + GoMLXVersion + " builds the gradient of Slice (sliceVJP in pkg/core/graph) with Pad, " +
		"which SimpleGo does not implement, so no graph with a Slice (strided or not) on a gradient path trains there",
	install: func() { sliceVJPs.install() },
	restore: func() { sliceVJPs.restore() },
}

var sliceVJPs = &vjpSwap{replacements: map[graph.NodeType]graph.VJP{graph.NodeTypeSlice: sliceVJP}}

// stockSliceVJP is GoMLX's own rule, used where the backend implements Pad.
var stockSliceVJP = graph.VJPRegistration[graph.NodeTypeSlice]

// sliceVJP is the gradient of Slice: the incoming gradient put back where the slice came from, with
// zeros elsewhere. On backends with Pad it is GoMLX's rule; elsewhere the padding is built by
// [padGraph].
func sliceVJP(node *graph.Node, vjpOutputs []*graph.Node, outputShape shapes.Shape) []*graph.Node {
	if backendHas(node, backends.OpTypePad) {
		return stockSliceVJP(node, vjpOutputs, outputShape)
	}
	in := argsOfType(node, graph.NodeTypeSlice)
	in.Operand("x", 0)
	starts, limits, strides := in.Ints("starts"), in.Ints("limits"), in.Ints("strides")
	in.must()
	x, v := node.Inputs()[0], vjpOutputs[0]
	if len(starts) != x.Rank() || len(limits) != x.Rank() || len(strides) != x.Rank() {
		in.Failf("starts %v, limits %v, strides %v do not match the operand's rank %d", starts, limits, strides, x.Rank())
		in.must()
	}
	config := make([]backends.PadAxis, x.Rank())
	for axis, dim := range x.Shape().Dimensions {
		stride := max(strides[axis], 1)
		used := 0 // the extent of x the slice read along axis
		if n := v.Shape().Dimensions[axis]; n > 0 {
			used = (n-1)*stride + 1
		}
		config[axis] = backends.PadAxis{Start: starts[axis], End: dim - starts[axis] - used, Interior: stride - 1}
	}
	return []*graph.Node{padGraph(v, graph.ScalarZero(node.Graph(), v.DType()), config)}
}

// padGraph is graph.Pad(x, fill, config...) built from Concatenate, Reshape and Slice only, which
// every backend implements: per axis, Interior fill elements between neighbours (by concatenating
// a fill block along a new axis and merging the two axes), then Start and End fill elements at the
// ends, or, for negative Start and End, elements cut off. fill is a scalar. It panics, as graph
// code does, for a config that does not match x or a negative Interior.
func padGraph(x, fill *graph.Node, config []backends.PadAxis) *graph.Node {
	if len(config) != x.Rank() {
		panic(fmt.Sprintf("gomlxfix: padding %v does not match the rank of %s", config, x.Shape()))
	}
	if !fill.Shape().IsScalar() || fill.DType() != x.DType() {
		panic(fmt.Sprintf("gomlxfix: pad value %s must be a scalar of the operand's dtype %s", fill.Shape(), x.DType()))
	}
	for axis, p := range config {
		if p.Interior < 0 {
			panic(fmt.Sprintf("gomlxfix: negative interior padding %v for %s", config, x.Shape()))
		}
		start, end := p.Start, p.End
		if p.Interior > 0 && x.Shape().Dimensions[axis] > 1 {
			x = interleave(x, fill, axis, p.Interior)
			end -= p.Interior // interleave leaves Interior fill elements after the last element too
		}
		x = padEnds(x, fill, axis, start, end)
	}
	return x
}

// interleave puts n fill elements after every element of x along axis.
func interleave(x, fill *graph.Node, axis, n int) *graph.Node {
	dims := x.Shape().Dimensions
	split := make([]int, 0, len(dims)+1) // [..., d, 1, ...]
	split = append(split, dims[:axis+1]...)
	split = append(split, 1)
	split = append(split, dims[axis+1:]...)
	block := append([]int(nil), split...)
	block[axis+1] = n
	joined := graph.Concatenate([]*graph.Node{graph.Reshape(x, split...), graph.BroadcastToDims(fill, block...)}, axis+1)
	merged := append([]int(nil), dims...)
	merged[axis] *= n + 1
	return graph.Reshape(joined, merged...)
}

// padEnds adds start fill elements before and end after x along axis; a negative count cuts
// elements off instead (after any padding at the other end, as graph.Pad does).
func padEnds(x, fill *graph.Node, axis, start, end int) *graph.Node {
	if start > 0 || end > 0 {
		parts := make([]*graph.Node, 0, 3)
		block := func(n int) *graph.Node {
			dims := append([]int(nil), x.Shape().Dimensions...)
			dims[axis] = n
			return graph.BroadcastToDims(fill, dims...)
		}
		if start > 0 {
			parts = append(parts, block(start))
		}
		parts = append(parts, x)
		if end > 0 {
			parts = append(parts, block(end))
		}
		x = graph.Concatenate(parts, axis)
	}
	if start < 0 || end < 0 {
		dim := x.Shape().Dimensions[axis]
		from, to := max(-start, 0), dim-max(-end, 0)
		if from >= to {
			panic(fmt.Sprintf("gomlxfix: cutting %d and %d elements off axis %d of %s leaves nothing",
				max(-start, 0), max(-end, 0), axis, x.Shape()))
		}
		x = graph.SliceAxis(x, axis, graph.AxisRange(from, to))
	}
	return x
}

// vjpSwap replaces entries of graph.VJPRegistration and puts the previous ones back; its methods
// are called with mu held.
type vjpSwap struct {
	replacements map[graph.NodeType]graph.VJP
	previous     map[graph.NodeType]graph.VJP
}

func (s *vjpSwap) install() {
	s.previous = make(map[graph.NodeType]graph.VJP, len(s.replacements))
	for nodeType, vjp := range s.replacements {
		s.previous[nodeType] = graph.VJPRegistration[nodeType]
		graph.VJPRegistration[nodeType] = vjp
	}
}

func (s *vjpSwap) restore() {
	for nodeType, vjp := range s.previous {
		if vjp == nil {
			delete(graph.VJPRegistration, nodeType)
		} else {
			graph.VJPRegistration[nodeType] = vjp
		}
	}
	s.previous = nil
}
