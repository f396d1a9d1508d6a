package program

import (
	"fmt"
	"slices"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// FoldedScope holds the variables [Fold] adds: "<FoldedScope>/op<N>" is the value of op N of the
// simplified program ([Simplify] of the one it was given), "op<N>.2" and so on where a program folded
// before holds that name already.
const FoldedScope = "/program/folded"

// Fold returns a program for inference that computes what p computes (up to float rounding): p
// simplified ([Simplify]: batch-norm scales into the weights before them, constant additions
// merged), then every float32 op that does not depend on the input computed once, here, and read as
// a variable (constant folding): the batch-norm factors computed from its statistics, compaction's
// compensation terms expanded from their compact storage, weights multiplied by masks and scales.
// Only values that an input-dependent op uses are kept; ops nothing needs any more are dropped. p
// and values are not changed.
//
// The folded program can be larger (an expanded compensation term is stored whole) and is meant for
// running, as XLA simplifies and folds constants when it compiles: save, report and compact p
// itself.
func Fold(backend backends.Backend, p *Program, values map[string][]float32) (*Program, map[string][]float32, error) {
	if err := p.Validate(); err != nil {
		return nil, nil, err
	}
	p = Simplify(p)
	if err := p.Validate(); err != nil {
		return nil, nil, fmt.Errorf("program: Fold: the simplified program is invalid: %w", err)
	}
	constant := constantOps(p)
	// The ops to compute: constant float32 results that an input-dependent op reads.
	var folded []int
	isFolded := make([]bool, len(p.Ops))
	for i, op := range p.Ops {
		if constant[i] {
			continue
		}
		for _, in := range op.Inputs {
			src := p.Ops[in]
			if constant[in] && !isFolded[in] && src.Type != OpVariable && src.Type != "Constant" && src.DType == dtypes.Float32 {
				isFolded[in] = true
				folded = append(folded, in)
			}
		}
	}
	out := p.Clone()
	outValues := make(map[string][]float32, len(values)+len(folded))
	for k, v := range values {
		outValues[k] = v
	}
	slices.Sort(folded)
	var computed [][]float32
	if len(folded) > 0 {
		var err error
		if computed, err = evalConstants(backend, p, values, folded); err != nil {
			return nil, nil, err
		}
	}
	for k, i := range folded {
		path := fmt.Sprintf("%s/op%d", FoldedScope, i)
		for n := 2; p.Variable(path) != nil; n++ { // a program folded before has such names
			path = fmt.Sprintf("%s/op%d.%d", FoldedScope, i, n)
		}
		op := p.Ops[i]
		out.Ops[i] = Op{Type: OpVariable, Var: path, DType: op.DType, Dims: slices.Clone(op.Dims)}
		out.Variables = append(out.Variables, Variable{Path: path, DType: op.DType, Dims: slices.Clone(op.Dims)})
		outValues[path] = computed[k]
	}
	out = out.Prune()
	for path := range outValues {
		if out.Variable(path) == nil {
			delete(outValues, path)
		}
	}
	return out, outValues, nil
}

// isConstant reports whether op, whose operands' flags are in constant, is computed from variables
// and constants alone (and does not scale with the batch).
func isConstant(op Op, constant []bool) bool {
	switch op.Type {
	case OpInput:
		return false
	case OpVariable, "Constant":
		return true
	}
	return !slices.ContainsFunc(op.Dims, func(d Dim) bool { return d < 0 }) &&
		!slices.ContainsFunc(op.Inputs, func(in int) bool { return !constant[in] })
}

// constantOps flags the ops of p that isConstant.
func constantOps(p *Program) []bool {
	constant := make([]bool, len(p.Ops))
	for i, op := range p.Ops {
		constant[i] = isConstant(op, constant)
	}
	return constant
}

// EvalNodes computes the ops which of p in one graph, with the given variable values, for one
// all-zero input (batch 1): for ops that do not depend on the input's values (constants, compaction's
// contributions of removed units). The caller finalizes the returned tensors.
func EvalNodes(backend backends.Backend, p *Program, values map[string][]float32, which []int) ([]*tensors.Tensor, error) {
	ctx, err := p.NewContext(values)
	if err != nil {
		return nil, err
	}
	exec, err := context.NewExec(backend, ctx.Reuse(), func(ctx *context.Context, x *graph.Node) []*graph.Node {
		return p.BuildNodes(ctx, x, which)
	})
	if err != nil {
		return nil, err
	}
	defer exec.Finalize()
	in := p.Ops[p.Input()]
	return exec.Exec(tensors.FromShape(shapes.Make(in.DType, Resolve(in.Dims, 1)...)))
}

// evalConstants computes the float32 ops which (none depending on the input) in one graph.
func evalConstants(backend backends.Backend, p *Program, values map[string][]float32, which []int) ([][]float32, error) {
	res, err := EvalNodes(backend, p, values, which)
	if err != nil {
		return nil, fmt.Errorf("program: Fold: %w", err)
	}
	out := make([][]float32, len(res))
	for k, t := range res {
		out[k], err = tensors.CopyFlatData[float32](t)
		t.FinalizeAll()
		if err != nil {
			return nil, fmt.Errorf("program: Fold: op #%d: %w", which[k], err)
		}
	}
	return out, nil
}

// Prune returns a copy of p without the ops its output does not depend on (the input is kept) and
// without the variables no remaining op reads.
func (p *Program) Prune() *Program {
	needed := make([]bool, len(p.Ops))
	needed[p.Output] = true
	if in := p.Input(); in >= 0 {
		needed[in] = true
	}
	for i := len(p.Ops) - 1; i >= 0; i-- {
		if needed[i] {
			for _, in := range p.Ops[i].Inputs {
				needed[in] = true
			}
		}
	}
	out := &Program{Version: p.Version}
	idx := make([]int, len(p.Ops))
	used := map[string]bool{}
	for i, op := range p.Ops {
		if !needed[i] {
			continue
		}
		op = op.clone()
		for k, in := range op.Inputs {
			op.Inputs[k] = idx[in]
		}
		if op.Type == OpVariable {
			used[op.Var] = true
		}
		idx[i] = len(out.Ops)
		out.Ops = append(out.Ops, op)
	}
	out.Output = idx[p.Output]
	for _, v := range p.Variables {
		if used[v.Path] {
			v.Dims = slices.Clone(v.Dims)
			out.Variables = append(out.Variables, v)
		}
	}
	return out
}
