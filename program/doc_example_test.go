package program_test

import (
	"fmt"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/gomlx/gomlx/pkg/ml/layers"
	"github.com/gomlx/gomlx/pkg/ml/layers/activations"

	"github.com/prunelab/prunelab/program"
)

// Tracing a small model: its operations, with the batch dimension written as -1.
func ExampleTrace() {
	b, err := backends.NewWithConfig("go")
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
