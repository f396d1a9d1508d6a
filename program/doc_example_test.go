package program_test

import (
	"fmt"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/gomlx/gomlx/pkg/ml/layers"
	"github.com/gomlx/gomlx/pkg/ml/layers/activations"

	"github.com/prunelab/prunelab/backend"
	"github.com/prunelab/prunelab/program"
)

// Tracing a small model: its operations, with the batch dimension written as -1.
func ExampleTrace() {
	b, err := backend.NewPureGo()
	if err != nil {
		panic(err)
	}
	model := func(ctx *context.Context, x *graph.Node) *graph.Node {
		return activations.Relu(layers.Dense(ctx.In("fc0"), x, true, 2))
	}
	p, err := program.Trace(b, context.New(), model, shapes.Make(dtypes.Float32, 3))
	if err != nil {
		panic(err)
	}
	for _, op := range p.Ops {
		fmt.Println(op.Type, op.Var, op.Dims)
	}
	// Output:
	// Input  [-1 3]
	// Variable /fc0/dense/weights [3 2]
	// Dot  [-1 2]
	// Variable /fc0/dense/biases [2]
	// Reshape  [1 2]
	// Add  [-1 2]
	// Constant  []
	// BroadcastInDim  [-1 2]
	// Max  [-1 2]
}

// Folding the same model for inference: the weights transposed for SimpleGo's matrix kernel and the
// bias reshaped are computed once and read as variables; ReLU takes a single zero.
func ExampleFold() {
	b, err := backend.NewPureGo()
	if err != nil {
		panic(err)
	}
	model := func(ctx *context.Context, x *graph.Node) *graph.Node {
		return activations.Relu(layers.Dense(ctx.In("fc0"), x, true, 2))
	}
	ctx := context.New()
	context.MustExecOnce(b, ctx, model, [][]float32{{1, 2, 3}}) // initializes the variables
	p, err := program.Trace(b, ctx, model, shapes.Make(dtypes.Float32, 3))
	if err != nil {
		panic(err)
	}
	values, err := p.Values(ctx)
	if err != nil {
		panic(err)
	}
	folded, _, err := program.Fold(b, p, values)
	if err != nil {
		panic(err)
	}
	for _, op := range folded.Ops {
		fmt.Println(op.Type, op.Var, op.Dims)
	}
	// Output:
	// Input  [-1 3]
	// Variable /program/folded/op2 [2 3]
	// DotGeneral  [-1 2]
	// Variable /program/folded/op5 [1 2]
	// Add  [-1 2]
	// Constant  [1 1]
	// Max  [-1 2]
}
