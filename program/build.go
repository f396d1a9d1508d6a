package program

import (
	"fmt"
	"slices"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// Build replays the program in x's graph and returns the output (logits). x must have the input's
// shape for some batch size; variables are read from ctx by path and must have the shapes the
// program declares.
//
// It is graph-building code and panics, naming the op and variable, on a missing variable, a shape
// mismatch or an op whose operands GoMLX rejects.
func (p *Program) Build(ctx *context.Context, x *graph.Node) *graph.Node {
	return p.BuildNodes(ctx, x, []int{p.Output})[0]
}

// ModelFn returns [Program.Build] as a model function.
func (p *Program) ModelFn() ModelFn { return p.Build }

// BuildNodes replays the ops needed for the given op indices and returns their nodes.
// It panics like [Program.Build].
func (p *Program) BuildNodes(ctx *context.Context, x *graph.Node, which []int) []*graph.Node {
	in := p.Input()
	if in < 0 {
		panic("program: Build: the program has no input")
	}
	if x.Rank() == 0 {
		panic(fmt.Sprintf("program: Build: the input needs a batch axis, got shape %s", x.Shape()))
	}
	batch := x.Shape().Dim(0)
	want := Resolve(p.Ops[in].Dims, batch)
	if !slices.Equal(x.Shape().Dimensions, want) || x.DType() != p.Ops[in].DType {
		panic(fmt.Sprintf("program: Build: input shape %s, the program takes %s%v", x.Shape(), p.Ops[in].DType, want))
	}
	needed := make([]bool, len(p.Ops))
	var mark func(i int)
	mark = func(i int) {
		if i < 0 || i >= len(p.Ops) {
			panic(fmt.Sprintf("program: Build: op #%d out of range", i))
		}
		if needed[i] {
			return
		}
		needed[i] = true
		for _, j := range p.Ops[i].Inputs {
			mark(j)
		}
	}
	for _, i := range which {
		mark(i)
	}
	g := x.Graph()
	nodes := make([]*graph.Node, len(p.Ops))
	for i := range p.Ops {
		if !needed[i] {
			continue
		}
		op := &p.Ops[i]
		dims := Resolve(op.Dims, batch)
		var n *graph.Node
		switch op.Type {
		case OpInput:
			n = x
		case OpVariable:
			scope, name := context.SplitScope(op.Var)
			v := ctx.GetVariableByScopeAndName(scope, name)
			if v == nil {
				panic(fmt.Sprintf("program: Build: op #%d reads variable %s, which the context does not have", i, op.Var))
			}
			if !slices.Equal(v.Shape().Dimensions, dims) || v.DType() != op.DType {
				panic(fmt.Sprintf("program: Build: variable %s has shape %s, the program reads %s%v", op.Var, v.Shape(),
					op.DType, dims))
			}
			n = v.ValueGraph(g)
		default:
			spec, ok := opSpecs[op.Type]
			if !ok {
				panic(fmt.Sprintf("program: Build: op #%d: %v %q", i, ErrUnsupportedOp, op.Type))
			}
			operands := make([]*graph.Node, len(op.Inputs))
			for k, j := range op.Inputs {
				operands[k] = nodes[j]
			}
			n = buildOp(spec, g, op, operands, dims, batch, i)
		}
		if !slices.Equal(n.Shape().Dimensions, dims) || n.DType() != op.DType {
			panic(fmt.Sprintf("program: Build: op #%d (%s) gives shape %s, the program says %s%v", i, op.Type, n.Shape(),
				op.DType, dims))
		}
		nodes[i] = n
	}
	out := make([]*graph.Node, len(which))
	for k, i := range which {
		out[k] = nodes[i]
	}
	return out
}

// buildOp calls spec.build, adding the op's index to any panic.
func buildOp(spec opSpec, g *graph.Graph, op *Op, operands []*graph.Node, dims []int, batch, index int) (n *graph.Node) {
	defer func() {
		if r := recover(); r != nil {
			panic(fmt.Sprintf("program: Build: op #%d (%s): %v", index, op.Type, r))
		}
	}()
	return spec.build(g, op, operands, dims, batch)
}

// NewExec compiles the program as a context.Exec from the input tensor to the output, with the
// variables of ctx (reused, not created). Each input shape compiles once.
func (p *Program) NewExec(backend backends.Backend, ctx *context.Context) (*context.Exec, error) {
	return context.NewExec(backend, ctx.Reuse(), func(ctx *context.Context, x *graph.Node) *graph.Node {
		return p.Build(ctx, x)
	})
}

// Run builds, compiles and runs the program once on x and returns the output. For repeated calls use
// [Program.NewExec].
func (p *Program) Run(backend backends.Backend, ctx *context.Context, x *tensors.Tensor) (out *tensors.Tensor, err error) {
	exec, err := p.NewExec(backend, ctx)
	if err != nil {
		return nil, err
	}
	defer exec.Finalize()
	res, err := exec.Exec(x)
	if err != nil {
		return nil, err
	}
	return res[0], nil
}

// tensorValues copies a tensor's values into []float64 (booleans as 0 and 1).
func tensorValues(t *tensors.Tensor) ([]float64, error) {
	var out []float64
	var bad error
	err := t.ConstFlatData(func(flat any) {
		switch f := flat.(type) {
		case []float32:
			out = make([]float64, len(f))
			for i, v := range f {
				out[i] = float64(v)
			}
		case []float64:
			out = slices.Clone(f)
		case []int32:
			out = make([]float64, len(f))
			for i, v := range f {
				out[i] = float64(v)
			}
		case []int64:
			out = make([]float64, len(f))
			for i, v := range f {
				out[i] = float64(v)
			}
		case []bool:
			out = make([]float64, len(f))
			for i, v := range f {
				if v {
					out[i] = 1
				}
			}
		default:
			bad = fmt.Errorf("dtype %s not supported", t.DType())
		}
	})
	if err != nil {
		return nil, err
	}
	if out == nil && bad == nil {
		out = []float64{}
	}
	return out, bad
}

// EvalOp computes one op on the given operand values (in the op's operand order), with batch
// multiples in its attributes resolved for batch. It compiles a graph for the single op: use it for
// occasional computations (compaction's compensation terms), not in loops.
func EvalOp(backend backends.Backend, op *Op, batch int, operands ...*tensors.Tensor) (out *tensors.Tensor, err error) {
	spec, ok := opSpecs[op.Type]
	if !ok || op.Type == OpInput || op.Type == OpVariable {
		return nil, fmt.Errorf("%w %q", ErrUnsupportedOp, op.Type)
	}
	if spec.operands >= 0 && len(operands) != spec.operands {
		return nil, fmt.Errorf("%w: %s takes %d operands, got %d", ErrInvalid, op.Type, spec.operands, len(operands))
	}
	defer func() {
		if r := recover(); r != nil {
			out, err = nil, fmt.Errorf("program: EvalOp %s: %v", op.Type, r)
		}
	}()
	exec, err := graph.NewExec(backend, func(in []*graph.Node) *graph.Node {
		return spec.build(in[0].Graph(), op, in, Resolve(op.Dims, batch), batch)
	})
	if err != nil {
		return nil, err
	}
	defer exec.Finalize()
	args := make([]any, len(operands))
	for i, t := range operands {
		args[i] = t
	}
	res, err := exec.Exec(args...)
	if err != nil {
		return nil, err
	}
	return res[0], nil
}
