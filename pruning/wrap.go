package pruning

import (
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/gomlx/gomlx/pkg/ml/train"
)

// ModelFn is the shape of a single-input model: it builds the graph from inputs to logits,
// creating its variables in ctx. Every Prunelab model has this shape.
type ModelFn func(ctx *context.Context, x *graph.Node) *graph.Node

// WrapModelFn returns a model function that builds fn and then attaches masks with
// [AttachMasksGraph]: every variable sel selects gets an all-ones, non-trainable mask (if it has
// none yet) and, in a training graph, every masked weight is multiplied by its mask after each
// optimizer step. The model's own code does not change.
func WrapModelFn(fn ModelFn, sel Selector) ModelFn {
	return func(ctx *context.Context, x *graph.Node) *graph.Node {
		out := fn(ctx, x)
		AttachMasksGraph(ctx, x.Graph(), sel)
		return out
	}
}

// WrapTrainModelFn is [WrapModelFn] for the train.ModelFn signature used by train.Trainer.
func WrapTrainModelFn(fn train.ModelFn, sel Selector) train.ModelFn {
	return func(ctx *context.Context, spec any, inputs []*graph.Node) []*graph.Node {
		out := fn(ctx, spec, inputs)
		AttachMasksGraph(ctx, inputs[0].Graph(), sel)
		return out
	}
}

// AsTrainModelFn adapts a [ModelFn] to train.ModelFn (first input in, logits out).
func AsTrainModelFn(fn ModelFn) train.ModelFn {
	return func(ctx *context.Context, _ any, inputs []*graph.Node) []*graph.Node {
		return []*graph.Node{fn(ctx, inputs[0])}
	}
}

// AttachMasksGraph is the graph-time half of masking; call it at the end of a model function
// (after the model's variables exist) if you cannot use [WrapModelFn]. It creates all-ones,
// non-trainable masks for the variables used by g that sel selects, marks every existing mask
// non-trainable (checkpoints do not keep the flag), and registers with
// train.AddPerStepUpdateGraphFn a function that sets w = w*mask for every masked variable used by
// g, after the optimizer's update. train.Trainer runs it; a custom train step must call
// train.ExecPerStepUpdateGraphFn after its optimizer update.
//
// It is a graph-building function and panics on error (e.g. a malformed pattern in sel).
func AttachMasksGraph(ctx *context.Context, g *graph.Graph, sel Selector) {
	var selected []*context.Variable
	for v := range ctx.IterVariables() {
		if !v.InUseByGraph(g) {
			continue
		}
		ok, err := sel.Selects(v.ScopeAndName(), v.Shape().Rank())
		if err != nil {
			panic(err)
		}
		if ok {
			selected = append(selected, v)
		}
	}
	for _, v := range selected {
		if _, err := createMask(ctx, v); err != nil {
			panic(err)
		}
	}
	for _, t := range Targets(ctx) {
		if m := maskVariable(ctx, t.Path()); m != nil {
			m.Trainable = false
		}
	}
	train.AddPerStepUpdateGraphFn(ctx.InAbsPath(Scope), g, maskAfterStepGraph)
}

// maskAfterStepGraph sets w = w*mask for every masked variable in use by g.
func maskAfterStepGraph(ctx *context.Context, g *graph.Graph) {
	for _, t := range Targets(ctx) {
		w := ctx.GetVariableByScopeAndName(t.Scope, t.Name)
		if w == nil || !w.InUseByGraph(g) {
			continue
		}
		m := maskVariable(ctx, t.Path())
		m.Trainable = false
		w.SetValueGraph(graph.Mul(w.ValueGraph(g), m.ValueGraph(g)))
	}
}
