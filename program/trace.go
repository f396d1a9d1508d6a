package program

import (
	"fmt"
	"reflect"
	"slices"
	"strings"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// ModelFn is the shape of a single-input model function: a batch of inputs to logits. Every
// Prunelab model has it (models.BuildFn, pruning.ModelFn).
type ModelFn = func(ctx *context.Context, x *graph.Node) *graph.Node

// traceBatches are the two batch sizes a model is traced at; dimensions that differ between them
// scale with the batch.
var traceBatches = [2]int{3, 5}

// Trace builds fn's inference graph (ctx.SetTraining false) for inputs whose examples have the
// shape example (e.g. float32 [28 28 1]), twice, and returns the Program of the operations the
// output depends on. Variables fn creates are added to ctx uninitialized (ctx is used unchecked,
// so existing variables are reused). Nothing is compiled or run.
//
// The graph is traced on backend, so backend-dependent model code (package nn picks patches on
// the pure-Go backend and native convolutions on XLA) is traced as it would run there.
func Trace(backend backends.Backend, ctx *context.Context, fn ModelFn, example shapes.Shape) (*Program, error) {
	var traces [2]*Program
	for i, batch := range traceBatches {
		p, err := traceOnce(backend, ctx, fn, example, batch)
		if err != nil {
			return nil, err
		}
		traces[i] = p
	}
	p, err := mergeTraces(traces[0], traces[1])
	if err != nil {
		return nil, err
	}
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("program: Trace produced an invalid program: %w", err)
	}
	return p, nil
}

// traceOnce traces fn at one batch size; batch dimensions are left as numbers.
func traceOnce(backend backends.Backend, ctx *context.Context, fn ModelFn, example shapes.Shape, batch int) (p *Program, err error) {
	g := graph.NewGraph(backend, "program_trace")
	defer g.Finalize()
	defer func() {
		if r := recover(); r != nil {
			p, err = nil, fmt.Errorf("program: Trace: building the model graph: %v", r)
		}
	}()
	x := graph.Parameter(g, "x", shapes.Make(example.DType, append([]int{batch}, example.Dimensions...)...))
	mctx := ctx.Checked(false)
	mctx.SetTraining(g, false)
	out := fn(mctx, x)
	if out == nil || out.Shape().IsTuple() {
		return nil, fmt.Errorf("program: Trace: the model must return one tensor")
	}

	vars := map[string]*context.Variable{}
	for v := range ctx.IterVariables() {
		vars[v.ParameterName()] = v
	}
	needed := map[*graph.Node]bool{}
	var mark func(n *graph.Node)
	mark = func(n *graph.Node) {
		if needed[n] {
			return
		}
		needed[n] = true
		for _, in := range n.Inputs() {
			mark(in)
		}
	}
	mark(out)

	p = &Program{Version: Version}
	index := map[*graph.Node]int{}
	for _, n := range g.Nodes() {
		if !needed[n] {
			continue
		}
		op, err := readNode(n, x, vars, index)
		if err != nil {
			return nil, err
		}
		if op.Type == OpVariable && p.Variable(op.Var) == nil {
			p.Variables = append(p.Variables, Variable{Path: op.Var, DType: op.DType, Dims: slices.Clone(op.Dims)})
		}
		index[n] = len(p.Ops)
		p.Ops = append(p.Ops, op)
	}
	if _, ok := index[x]; !ok {
		return nil, fmt.Errorf("program: Trace: the model output does not depend on its input")
	}
	p.Output = index[out]
	return p, nil
}

// readNode converts one node; index maps earlier nodes to their op index.
func readNode(n, x *graph.Node, vars map[string]*context.Variable, index map[*graph.Node]int) (Op, error) {
	shape := n.Shape()
	if shape.IsTuple() {
		return Op{}, fmt.Errorf("%w: %s returns a tuple (near %s)", ErrUnsupportedOp, n.Type(), nearestVariable(n))
	}
	op := Op{Type: n.Type().String(), DType: shape.DType, Dims: slices.Clone(shape.Dimensions)}
	if op.Dims == nil {
		op.Dims = []int{}
	}
	for _, in := range n.Inputs() {
		i, ok := index[in]
		if !ok {
			return Op{}, fmt.Errorf("program: Trace: node %s uses a node that was not traced before it", n.Type())
		}
		op.Inputs = append(op.Inputs, i)
	}
	switch n.Type() {
	case graph.NodeTypeParameter:
		if n == x {
			op.Type = OpInput
			return op, nil
		}
		v, ok := vars[n.GetParameterName()]
		if !ok {
			return Op{}, fmt.Errorf("%w: graph parameter %q is neither the input nor a context variable",
				ErrUnsupportedOp, n.GetParameterName())
		}
		op.Type, op.Var = OpVariable, v.ScopeAndName()
		return op, nil
	case graph.NodeTypeConstant:
		t := n.ConstantValue()
		if t == nil {
			return Op{}, fmt.Errorf("%w: a constant of shape %s whose value GoMLX did not keep (near %s)",
				ErrUnsupportedOp, shape, nearestVariable(n))
		}
		values, err := tensorValues(t)
		if err != nil {
			return Op{}, fmt.Errorf("%w: constant of shape %s: %v (near %s)", ErrUnsupportedOp, shape, err, nearestVariable(n))
		}
		op.Value = values
		return op, nil
	}
	spec, ok := opSpecs[op.Type]
	if !ok || op.Type == OpInput || op.Type == OpVariable {
		return Op{}, fmt.Errorf("%w %s (output %s, near %s); supported: %v", ErrUnsupportedOp, op.Type, shape,
			nearestVariable(n), Supported())
	}
	if spec.operands >= 0 && len(op.Inputs) != spec.operands {
		return Op{}, fmt.Errorf("%w: %s node with %d operands, want %d", ErrGoMLXChanged, op.Type, len(op.Inputs), spec.operands)
	}
	if spec.read != nil {
		if err := readArgs(n, &op, spec.read); err != nil {
			return Op{}, err
		}
	}
	return op, nil
}

// nearestVariable names the variable closest upstream of n, to point at the layer in errors.
func nearestVariable(n *graph.Node) string {
	seen := map[*graph.Node]bool{}
	queue := []*graph.Node{n}
	for len(queue) > 0 {
		m := queue[0]
		queue = queue[1:]
		if m.Type() == graph.NodeTypeParameter {
			if name, ok := strings.CutPrefix(m.GetParameterName(), "var:"); ok {
				return "variable " + name
			}
		}
		for _, in := range m.Inputs() {
			if !seen[in] {
				seen[in] = true
				queue = append(queue, in)
			}
		}
	}
	return "the input"
}

// mergeTraces combines traces at traceBatches[0] and [1]: they must have the same ops; dims and
// slice bounds that differ must be k×batch in both, and become −k.
func mergeTraces(a, b *Program) (*Program, error) {
	if len(a.Ops) != len(b.Ops) || a.Output != b.Output {
		return nil, fmt.Errorf("%w: the model builds a different graph for batch %d (%d ops) and %d (%d ops)",
			ErrUnsupportedOp, traceBatches[0], len(a.Ops), traceBatches[1], len(b.Ops))
	}
	p := a.Clone()
	for i := range p.Ops {
		oa, ob := &p.Ops[i], b.Ops[i]
		var err error
		if oa.Dims, err = mergeInts(oa.Dims, ob.Dims); err == nil {
			if oa.Starts, err = mergeInts(oa.Starts, ob.Starts); err == nil {
				oa.Limits, err = mergeInts(oa.Limits, ob.Limits)
			}
		}
		if err != nil {
			return nil, fmt.Errorf("op #%d (%s): %w", i, oa.Type, err)
		}
		// Everything else must be equal.
		ca, cb := oa.clone(), ob.clone()
		ca.Dims, ca.Starts, ca.Limits = nil, nil, nil
		cb.Dims, cb.Starts, cb.Limits = nil, nil, nil
		if !reflect.DeepEqual(ca, cb) {
			return nil, fmt.Errorf("%w: op #%d (%s) has arguments that depend on the batch size in a way a "+
				"program cannot represent", ErrUnsupportedOp, i, oa.Type)
		}
		if oa.Type == "Constant" {
			for _, d := range oa.Dims {
				if d < 0 {
					return nil, fmt.Errorf("%w: op #%d: a constant whose shape depends on the batch size", ErrUnsupportedOp, i)
				}
			}
		}
	}
	for i := range p.Variables {
		if !slices.Equal(p.Variables[i].Dims, b.Variables[i].Dims) {
			return nil, fmt.Errorf("%w: variable %s changes shape with the batch size", ErrUnsupportedOp, p.Variables[i].Path)
		}
	}
	return p, nil
}

func mergeInts(a, b []int) ([]int, error) {
	if len(a) != len(b) {
		return nil, fmt.Errorf("%w: rank differs between batch sizes", ErrUnsupportedOp)
	}
	out := slices.Clone(a)
	b0, b1 := traceBatches[0], traceBatches[1]
	for i := range a {
		if a[i] == b[i] {
			continue
		}
		if a[i]%b0 != 0 || b[i]%b1 != 0 || a[i]/b0 != b[i]/b1 || a[i] <= 0 {
			return nil, fmt.Errorf("%w: value %d at batch %d and %d at batch %d is not a multiple of the batch",
				ErrUnsupportedOp, a[i], b0, b[i], b1)
		}
		out[i] = -(a[i] / b0)
	}
	return out, nil
}
