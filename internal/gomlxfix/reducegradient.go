package gomlxfix

import (
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
)

// firstExtremeGradient replaces the gradients of ReduceMax and ReduceMin.
var firstExtremeGradient = &workaround{
	name: "first-extreme-gradient",
	upstream: "GoMLX " + GoMLXVersion + " sends the gradient of ReduceMax and ReduceMin (reduceMaxVJP, " +
		"reduceMinVJP in pkg/core/graph/rev_autodiff.go) whole to every element equal to the result, so k " +
		"tied elements receive k times the gradient; the replacement sends it to the first of them, as " +
		"XLA's and PyTorch's max pooling do",
	install: func() { extremeVJPs.install() },
	restore: func() { extremeVJPs.restore() },
}

var extremeVJPs = &vjpSwap{replacements: map[graph.NodeType]graph.VJP{
	graph.NodeTypeReduceMax: firstExtremeVJP,
	graph.NodeTypeReduceMin: firstExtremeVJP,
}}

// firstExtremeVJP is the gradient of ReduceMax and ReduceMin: the incoming gradient goes, for each
// reduced group, to its first element (row-major over the reduced axes) equal to the result.
// Package nn's max pooling of windows that tile the image is a ReduceMax over the window axes, and
// gets its gradient from this rule.
func firstExtremeVJP(node *graph.Node, vjpOutputs []*graph.Node, _ shapes.Shape) []*graph.Node {
	want := graph.NodeTypeReduceMax
	if node.Type() == graph.NodeTypeReduceMin {
		want = graph.NodeTypeReduceMin
	}
	in := argsOfType(node, want)
	in.Operand("x", 0)
	axes := in.Ints("axes")
	in.must()
	x := node.Inputs()[0]
	if len(axes) == 0 {
		axes = make([]int, x.Rank())
		for i := range axes {
			axes[i] = i
		}
	}
	kept := keepDims(x.Shape().Dimensions, axes)
	first := FirstInWindow(x, graph.Reshape(node, kept...), axes)
	v := graph.BroadcastToDims(graph.Reshape(vjpOutputs[0], kept...), x.Shape().Dimensions...)
	return []*graph.Node{graph.Where(first, v, graph.ZerosLike(v))}
}
