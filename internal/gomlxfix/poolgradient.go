package gomlxfix

import (
	"slices"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
)

// poolGradient replaces the gradient of ReduceWindow (max, min and sum pooling) on backends without
// SelectAndScatter or Pad.
var poolGradient = &workaround{
	name: "pool-gradient",
	upstream: "GoMLX " + GoMLXVersion + " builds the gradient of max and min pooling (reduceWindowVJP in " +
		"pkg/core/graph/ops_pool.go) with SelectAndScatterMax/Min and that of sum and mean pooling with Pad, " +
		"none of which SimpleGo implements",
	install: func() { poolVJPs.install() },
	restore: func() { poolVJPs.restore() },
}

var poolVJPs = &vjpSwap{replacements: map[graph.NodeType]graph.VJP{graph.NodeTypeReduceWindow: poolVJP}}

// stockPoolVJP is GoMLX's own rule, used where the backend implements what it needs.
var stockPoolVJP = graph.VJPRegistration[graph.NodeTypeReduceWindow]

// windowParams are the arguments of a ReduceWindow node, with nil strides and paddings replaced by
// their defaults (the window size and no padding, as in GoMLX's shape inference).
type windowParams struct {
	op                             backends.ReduceOpType
	window, strides                []int
	baseDilations, windowDilations []int
	paddings                       [][2]int
}

func windowParamsOf(node *graph.Node) windowParams {
	in := argsOfType(node, graph.NodeTypeReduceWindow)
	in.Operand("x", 0)
	p := windowParams{
		op:              backends.ReduceOpType(in.Int("reductionType")),
		window:          in.Ints("windowDimensions"),
		strides:         in.Ints("strides"),
		baseDilations:   in.Ints("baseDilations"),
		windowDilations: in.Ints("windowDilations"),
		paddings:        in.Pairs("paddings"),
	}
	in.must()
	rank := node.Rank()
	if p.window == nil {
		p.window = ones(rank)
	}
	if p.strides == nil {
		p.strides = slices.Clone(p.window)
	}
	if p.paddings == nil {
		p.paddings = make([][2]int, rank)
	}
	if len(p.window) != rank || len(p.strides) != rank || len(p.paddings) != rank {
		in.Failf("window %v, strides %v, paddings %v do not match rank %d", p.window, p.strides, p.paddings, rank)
		in.must()
	}
	return p
}

// dilated reports whether base or window dilations other than 1 are set.
func (p windowParams) dilated() bool {
	return slices.ContainsFunc(slices.Concat(p.baseDilations, p.windowDilations), func(d int) bool { return d != 1 })
}

// tiles reports whether the windows tile the input: no padding and strides equal to the windows,
// so every input element is in at most one window (the trailing elements of an axis not divisible
// by its window are in none).
func (p windowParams) tiles() bool {
	for axis := range p.window {
		if p.strides[axis] != p.window[axis] || p.paddings[axis] != [2]int{} {
			return false
		}
	}
	return true
}

// poolVJP is the gradient of ReduceWindow with respect to its operand.
//
// For max (min) pooling the gradient of each window goes to its first largest (smallest) element in
// row-major window order, as XLA's SelectAndScatter does, so ties (frequent after ReLU or on MNIST's
// zero background) are resolved the same way on every backend. When windows tile the input (the usual
// non-overlapping pooling) the operand is reshaped to [..., windows, window, ...] and the selection is
// a comparison with the pooled value per window; otherwise each window position is visited in turn
// (a strided slice of the padded operand), and each one's share of the gradient is put back in place
// with [padGraph]. Sum pooling sends the gradient to every element of the window.
func poolVJP(node *graph.Node, vjpOutputs []*graph.Node, outputShape shapes.Shape) []*graph.Node {
	p := windowParamsOf(node)
	var stockNeeds []backends.OpType
	switch p.op {
	case backends.ReduceOpMax:
		stockNeeds = []backends.OpType{backends.OpTypeSelectAndScatterMax}
	case backends.ReduceOpMin:
		stockNeeds = []backends.OpType{backends.OpTypeSelectAndScatterMin}
	case backends.ReduceOpSum:
		stockNeeds = []backends.OpType{backends.OpTypePad}
	default:
		return stockPoolVJP(node, vjpOutputs, outputShape) // GoMLX panics with its message
	}
	if backendHas(node, stockNeeds...) || p.dilated() {
		return stockPoolVJP(node, vjpOutputs, outputShape)
	}
	x, v := node.Inputs()[0], vjpOutputs[0]
	if p.op != backends.ReduceOpSum && p.tiles() {
		return []*graph.Node{tiledSelectGradient(x, node, v, p.window, p.op == backends.ReduceOpMin)}
	}
	return []*graph.Node{windowGradient(x, node, v, p)}
}

// tiledSelectGradient is the max (or min) pooling gradient for windows that tile x.
func tiledSelectGradient(x, pooled, v *graph.Node, window []int, isMin bool) *graph.Node {
	used, split, windowAxes := TiledWindows(x.Shape().Dimensions, window)
	xs := graph.Reshape(cutTo(x, used), split...)
	sel := FirstInWindow(xs, graph.Reshape(pooled, keepDims(split, windowAxes)...), windowAxes)
	zero := graph.ScalarZero(x.Graph(), v.DType())
	grad := graph.Where(sel, graph.BroadcastToDims(graph.Reshape(v, keepDims(split, windowAxes)...), split...), zero)
	grad = graph.Reshape(grad, used...)
	// Elements beyond the last whole window get no gradient.
	config := make([]backends.PadAxis, x.Rank())
	for axis, dim := range x.Shape().Dimensions {
		config[axis].End = dim - used[axis]
	}
	return padGraph(grad, zero, config)
}

// TiledWindows describes windows that tile an operand of the given dimensions (stride = window, no
// padding): used is the part of the operand the windows cover (each axis cut to a multiple of its
// window); split is used with each axis a split into [used[a]/window[a], window[a]]; windowAxes are
// the axes of split that run inside a window (1, 3, 5, ...).
func TiledWindows(dims, window []int) (used, split, windowAxes []int) {
	used = make([]int, len(dims))
	for axis, dim := range dims {
		n := dim / window[axis]
		used[axis] = n * window[axis]
		split = append(split, n, window[axis])
		windowAxes = append(windowAxes, 2*axis+1)
	}
	return used, split, windowAxes
}

// FirstInWindow returns a boolean mask shaped like xs that is true, in every window, at the first
// element (in row-major order over windowAxes) equal to reduced, the window's maximum or minimum.
// xs holds the windows along windowAxes; reduced has dimension 1 on those axes. Exactly one element
// per window is true whenever the window holds its reduced value (NaN windows may have none).
func FirstInWindow(xs, reduced *graph.Node, windowAxes []int) *graph.Node {
	g := xs.Graph()
	// The position of each element inside its window, row-major, shaped 1 outside windowAxes.
	posDims := make([]int, xs.Rank())
	windowDims := make([]int, 0, len(windowAxes))
	for axis := range posDims {
		posDims[axis] = 1
		if slices.Contains(windowAxes, axis) {
			posDims[axis] = xs.Shape().Dim(axis)
			windowDims = append(windowDims, posDims[axis])
		}
	}
	pos := graph.Reshape(graph.IotaFull(g, shapes.Make(dtypes.Int32, windowDims...)), posDims...)
	pos = graph.BroadcastToDims(pos, xs.Shape().Dimensions...)
	size := shapes.Make(dtypes.Int32, windowDims...).Size()
	isReduced := graph.Equal(xs, reduced)
	first := graph.ReduceAndKeep(graph.Where(isReduced, pos, graph.Const(g, int32(size))), graph.ReduceMin, windowAxes...)
	return graph.StopGradient(graph.Equal(pos, first))
}

// windowGradient is the pooling gradient for any windows, strides and paddings: the gradient share
// of each window position is computed on a strided slice of the padded operand and put back in place.
func windowGradient(x, pooled, v *graph.Node, p windowParams) *graph.Node {
	g := x.Graph()
	rank := x.Rank()
	zero := graph.ScalarZero(g, v.DType())
	var fill *graph.Node
	switch p.op {
	case backends.ReduceOpMax:
		fill = graph.Const(g, x.DType().LowestValue())
	case backends.ReduceOpMin:
		fill = graph.Const(g, x.DType().HighestValue())
	default:
		fill = zero
	}
	padding := make([]backends.PadAxis, rank)
	for axis, pad := range p.paddings {
		padding[axis] = backends.PadAxis{Start: pad[0], End: pad[1]}
	}
	xPadded := padGraph(x, fill, padding)
	paddedDims := xPadded.Shape().Dimensions
	outDims := pooled.Shape().Dimensions

	var grad, found *graph.Node
	offset := make([]int, rank) // position inside the window, iterated in row-major order
	for {
		specs := make([]graph.SliceAxisSpec, rank)
		place := make([]backends.PadAxis, rank)
		for axis := range rank {
			extent := (outDims[axis]-1)*p.strides[axis] + 1
			specs[axis] = graph.AxisRange(offset[axis], offset[axis]+extent).Stride(p.strides[axis])
			place[axis] = backends.PadAxis{Start: offset[axis], End: paddedDims[axis] - offset[axis] - extent, Interior: p.strides[axis] - 1}
		}
		share := v
		if p.op != backends.ReduceOpSum {
			isReduced := graph.Equal(graph.Slice(xPadded, specs...), pooled)
			selected := isReduced
			if found == nil {
				found = isReduced
			} else {
				selected = graph.LogicalAnd(isReduced, graph.LogicalNot(found))
				found = graph.LogicalOr(found, isReduced)
			}
			share = graph.Where(graph.StopGradient(selected), v, zero)
		}
		share = padGraph(share, zero, place)
		if grad == nil {
			grad = share
		} else {
			grad = graph.Add(grad, share)
		}
		if !nextOffset(offset, p.window) {
			break
		}
	}
	for axis := range padding {
		padding[axis] = backends.PadAxis{Start: -padding[axis].Start, End: -padding[axis].End}
	}
	return padGraph(grad, zero, padding)
}

// nextOffset advances offset to the next position of a window in row-major order; false after the last.
func nextOffset(offset, window []int) bool {
	for axis := len(offset) - 1; axis >= 0; axis-- {
		offset[axis]++
		if offset[axis] < window[axis] {
			return true
		}
		offset[axis] = 0
	}
	return false
}

// keepDims returns split with the windowAxes set to 1.
func keepDims(split, windowAxes []int) []int {
	dims := slices.Clone(split)
	for _, axis := range windowAxes {
		dims[axis] = 1
	}
	return dims
}

// cutTo cuts x to the given dimensions, keeping the start of each axis.
func cutTo(x *graph.Node, dims []int) *graph.Node {
	if slices.Equal(x.Shape().Dimensions, dims) {
		return x
	}
	specs := make([]graph.SliceAxisSpec, len(dims))
	for axis, dim := range dims {
		specs[axis] = graph.AxisRange(0, dim)
	}
	return graph.Slice(x, specs...)
}
