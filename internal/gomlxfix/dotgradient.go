package gomlxfix

import (
	"fmt"
	"slices"

	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
)

// fastDotGradient replaces the gradients of Dot and DotGeneral.
var fastDotGradient = &workaround{
	name: "fast-dot-gradient",
	upstream: "GoMLX " + GoMLXVersion + " computes the gradients of Dot and DotGeneral " +
		"(dotVJP, dotGeneralVJP in pkg/core/graph) as a broadcast multiply plus ReduceSum, " +
		"materializing a [batch, lhs cross, rhs cross, contracting] tensor that SimpleGo computes literally",
	install: installFastDotGradient,
	restore: restoreStockDotGradient,
}

// stockDotVJPs holds the entries of graph.VJPRegistration that installFastDotGradient replaced;
// guarded by mu.
var stockDotVJPs map[graph.NodeType]graph.VJP

// InstallFastDotGradient replaces GoMLX's gradient rules for Dot and DotGeneral nodes with rules
// that compute each operand's gradient as one DotGeneral (see the package documentation for the
// upstream behaviour it replaces). The new rules give the same values for every axes
// configuration, batch axes included, without the [batch, in, out]-sized intermediate tensor.
//
// It changes graph.VJPRegistration, a global table GoMLX reads without a lock: call it before
// building graphs that take gradients, never while another goroutine builds one. It is idempotent
// and safe to call concurrently with the other functions of this package. Graphs built before the
// call keep the stock gradient.
func InstallFastDotGradient() { setWorkaround(fastDotGradient, true) }

// RestoreStockDotGradient puts back the gradient rules for Dot and DotGeneral that
// [InstallFastDotGradient] replaced; it does nothing when they are not replaced. It is meant for
// tests and speed comparisons; the same rules as for InstallFastDotGradient apply.
func RestoreStockDotGradient() { setWorkaround(fastDotGradient, false) }

func installFastDotGradient() {
	stockDotVJPs = make(map[graph.NodeType]graph.VJP, 2)
	for nodeType, vjp := range map[graph.NodeType]graph.VJP{
		graph.NodeTypeDot:        fastDotVJP,
		graph.NodeTypeDotGeneral: fastDotGeneralVJP,
	} {
		stockDotVJPs[nodeType] = graph.VJPRegistration[nodeType]
		graph.VJPRegistration[nodeType] = vjp
	}
}

func restoreStockDotGradient() {
	for nodeType, vjp := range stockDotVJPs {
		if vjp == nil {
			delete(graph.VJPRegistration, nodeType)
		} else {
			graph.VJPRegistration[nodeType] = vjp
		}
	}
	stockDotVJPs = nil
}

// dotAxes holds the axes arguments of a DotGeneral: lhsBatch[i] pairs with rhsBatch[i], and
// lhsContracting[i] with rhsContracting[i]. All axes are non-negative.
type dotAxes struct {
	lhsContracting, lhsBatch []int
	rhsContracting, rhsBatch []int
}

// fastDotGeneralVJP is the graph.VJP for DotGeneral nodes.
func fastDotGeneralVJP(node *graph.Node, vjpOutputs []*graph.Node, _ shapes.Shape) []*graph.Node {
	inputs := node.Inputs()
	lhsGrad, rhsGrad := dotGeneralGradients(inputs[0], inputs[1], vjpOutputs[0], dotGeneralAxesOf(node))
	return []*graph.Node{lhsGrad, rhsGrad}
}

// fastDotVJP is the graph.VJP for Dot nodes (graph.Dot, used by layers.Dense and MatMul for inputs
// of rank ≤ 2): a Dot is the DotGeneral that contracts the last axis of lhs with the first of rhs.
func fastDotVJP(node *graph.Node, vjpOutputs []*graph.Node, _ shapes.Shape) []*graph.Node {
	inputs := node.Inputs()
	lhs, rhs := inputs[0], inputs[1]
	if lhs.Rank() < 1 || lhs.Rank() > 2 || rhs.Rank() < 1 || rhs.Rank() > 2 || (lhs.Rank() == 1 && rhs.Rank() == 2) {
		panic(fmt.Errorf("%w: Dot node with operand shapes %s and %s, which GoMLX %s does not build",
			ErrGoMLXChanged, lhs.Shape(), rhs.Shape(), GoMLXVersion))
	}
	axes := dotAxes{lhsContracting: []int{lhs.Rank() - 1}, rhsContracting: []int{0}}
	lhsGrad, rhsGrad := dotGeneralGradients(lhs, rhs, vjpOutputs[0], axes)
	return []*graph.Node{lhsGrad, rhsGrad}
}

// dotOperand describes one operand of a DotGeneral, as seen by dotGeneralGradients.
type dotOperand struct {
	x                  *graph.Node
	contracting, batch []int
	cross              []int // axes neither contracting nor batch, in increasing order
	vCross             []int // axes of the DotGeneral output holding the cross axes, in the same order
}

// dotGeneralGradients returns the gradients with respect to lhs and rhs of
// DotGeneral(lhs, axes.lhsContracting, axes.lhsBatch, rhs, axes.rhsContracting, axes.rhsBatch),
// given v, the gradient with respect to its output (shaped [batch..., lhs cross..., rhs cross...]).
//
// Each is a single DotGeneral of v with the other operand: it contracts v's axes that came from the
// other operand's cross axes with those cross axes, keeps the batch axes as batch, and leaves this
// operand's cross axes (from v) and contracting axes (from the other operand); a transpose then
// puts them in this operand's axis order.
func dotGeneralGradients(lhs, rhs, v *graph.Node, axes dotAxes) (lhsGrad, rhsGrad *graph.Node) {
	numBatch := len(axes.lhsBatch)
	l := dotOperand{x: lhs, contracting: axes.lhsContracting, batch: axes.lhsBatch}
	r := dotOperand{x: rhs, contracting: axes.rhsContracting, batch: axes.rhsBatch}
	l.cross = crossAxes(lhs.Rank(), l.contracting, l.batch)
	r.cross = crossAxes(rhs.Rank(), r.contracting, r.batch)
	l.vCross = axisRange(numBatch, len(l.cross))
	r.vCross = axisRange(numBatch+len(l.cross), len(r.cross))
	vBatch := axisRange(0, numBatch)
	return operandGradient(v, vBatch, l, r), operandGradient(v, vBatch, r, l)
}

// operandGradient returns the gradient with respect to this.x; see dotGeneralGradients.
func operandGradient(v *graph.Node, vBatch []int, this, other dotOperand) *graph.Node {
	numBatch, numContracting, numCross := len(this.batch), len(this.contracting), len(this.cross)

	// The axes of other left after the product are its contracting axes, in increasing order;
	// pairPos[i] is where this.contracting[i]'s partner lands among them.
	sortedOther := slices.Sorted(slices.Values(other.contracting))
	pairPos := make([]int, numContracting)
	for i, axis := range other.contracting {
		pairPos[i] = slices.Index(sortedOther, axis)
	}

	// Two orientations give the same numbers in different axis orders:
	//   vFirst:     DotGeneral(v, other) -> [batch..., this cross..., this contracting (paired)...]
	//   otherFirst: DotGeneral(other, v) -> [batch..., this contracting (paired)..., this cross...]
	// perm[axis] is the product's axis holding this.x's axis, as TransposeAllAxes takes it.
	rank := this.x.Rank()
	vFirst, otherFirst := make([]int, rank), make([]int, rank)
	for i, axis := range this.batch {
		vFirst[axis], otherFirst[axis] = i, i
	}
	for k, axis := range this.cross {
		vFirst[axis], otherFirst[axis] = numBatch+k, numBatch+numContracting+k
	}
	for i, axis := range this.contracting {
		vFirst[axis], otherFirst[axis] = numBatch+numCross+pairPos[i], numBatch+pairPos[i]
	}

	// Prefer the orientation that needs no transpose (for a matmul x·w: vFirst for x, otherFirst for w).
	var grad *graph.Node
	perm := vFirst
	if isIdentity(otherFirst) && !isIdentity(vFirst) {
		grad = graph.DotGeneral(other.x, other.cross, other.batch, v, other.vCross, vBatch)
		perm = otherFirst
	} else {
		grad = graph.DotGeneral(v, other.vCross, vBatch, other.x, other.cross, other.batch)
	}
	if !isIdentity(perm) {
		grad = graph.TransposeAllAxes(grad, perm...)
	}
	return grad
}

// crossAxes returns the axes of an operand of the given rank that are neither contracting nor
// batch, in increasing order: the order in which DotGeneral lays them out in its output.
func crossAxes(rank int, contracting, batch []int) []int {
	cross := make([]int, 0, rank)
	for axis := range rank {
		if !slices.Contains(contracting, axis) && !slices.Contains(batch, axis) {
			cross = append(cross, axis)
		}
	}
	return cross
}

// axisRange returns [start, start+1, ..., start+n-1].
func axisRange(start, n int) []int {
	s := make([]int, n)
	for i := range s {
		s[i] = start + i
	}
	return s
}

func isIdentity(perm []int) bool {
	for i, p := range perm {
		if i != p {
			return false
		}
	}
	return true
}

// dotGeneralAxesOf returns the axes a DotGeneral node was built with.
//
// GoMLX v0.26.0 keeps them in the unexported node.inputs, a *graph.nodeInputsDotGeneral with fields
// lhs, lhsContractingAxes, lhsBatchAxes, rhs, rhsContractingAxes, rhsBatchAxes, and offers no
// accessor; they are read with [NodeArgs]. An upstream accessor would let this go. The axes read are
// checked against the node's operands and output shape; any mismatch panics with [ErrGoMLXChanged]
// rather than producing a wrong gradient.
func dotGeneralAxesOf(node *graph.Node) dotAxes {
	in := argsOfType(node, graph.NodeTypeDotGeneral)
	if n := len(node.Inputs()); n != 2 {
		in.Failf("node has %d inputs, want 2", n)
	}
	in.Operand("lhs", 0)
	in.Operand("rhs", 1)
	axes := dotAxes{
		lhsContracting: in.Ints("lhsContractingAxes"),
		lhsBatch:       in.Ints("lhsBatchAxes"),
		rhsContracting: in.Ints("rhsContractingAxes"),
		rhsBatch:       in.Ints("rhsBatchAxes"),
	}
	in.must()
	inputs := node.Inputs()
	if err := axes.check(inputs[0].Shape(), inputs[1].Shape(), node.Shape()); err != nil {
		in.Failf("%v", err)
		in.must()
	}
	return axes
}

// check reports whether axes are valid for operands shaped lhs and rhs and give an output shaped out.
func (axes dotAxes) check(lhs, rhs, out shapes.Shape) error {
	if len(axes.lhsContracting) != len(axes.rhsContracting) || len(axes.lhsBatch) != len(axes.rhsBatch) {
		return fmt.Errorf("unpaired axes %+v", axes)
	}
	for _, side := range []struct {
		shape              shapes.Shape
		contracting, batch []int
	}{{lhs, axes.lhsContracting, axes.lhsBatch}, {rhs, axes.rhsContracting, axes.rhsBatch}} {
		seen := make([]bool, side.shape.Rank())
		for _, axis := range slices.Concat(side.contracting, side.batch) {
			if axis < 0 || axis >= len(seen) || seen[axis] {
				return fmt.Errorf("axes %+v out of range or repeated for operand %s", axes, side.shape)
			}
			seen[axis] = true
		}
	}
	var want []int
	for i, axis := range axes.lhsBatch {
		want = append(want, lhs.Dim(axis))
		if lhs.Dim(axis) != rhs.Dim(axes.rhsBatch[i]) {
			return fmt.Errorf("batch axes %+v have different dimensions in %s and %s", axes, lhs, rhs)
		}
	}
	for i, axis := range axes.lhsContracting {
		if lhs.Dim(axis) != rhs.Dim(axes.rhsContracting[i]) {
			return fmt.Errorf("contracting axes %+v have different dimensions in %s and %s", axes, lhs, rhs)
		}
	}
	for _, axis := range crossAxes(lhs.Rank(), axes.lhsContracting, axes.lhsBatch) {
		want = append(want, lhs.Dim(axis))
	}
	for _, axis := range crossAxes(rhs.Rank(), axes.rhsContracting, axes.rhsBatch) {
		want = append(want, rhs.Dim(axis))
	}
	if !slices.Equal(want, out.Dimensions) {
		return fmt.Errorf("axes %+v of operands %s and %s give dimensions %v, but the output is %s", axes, lhs, rhs, want, out)
	}
	return nil
}
