package compact_test

import (
	"fmt"

	_ "github.com/gomlx/gomlx/backends/simplego"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/gomlx/gomlx/pkg/ml/layers"
	"github.com/gomlx/gomlx/pkg/ml/layers/activations"

	"github.com/prunelab/prunelab/backend"
	"github.com/prunelab/prunelab/compact"
	"github.com/prunelab/prunelab/program"
)

// Compacting a two-layer perceptron whose hidden units 1 and 3 were pruned (their weights are zero):
// the hidden layer shrinks from 4 units to 2, and the next layer loses the matching inputs.
func ExampleCompact() {
	b, err := backend.NewPureGo()
	if err != nil {
		panic(err)
	}
	model := func(ctx *context.Context, x *graph.Node) *graph.Node {
		x = activations.Relu(layers.Dense(ctx.In("fc0"), x, true, 4))
		return layers.Dense(ctx.In("fc1"), x, true, 2)
	}
	ctx := context.New()
	p, err := program.Trace(b, ctx, model, shapes.Make(dtypes.Float32, 3))
	if err != nil {
		panic(err)
	}
	values := map[string][]float32{
		"/fc0/dense/weights": {1, 0, 2, 0, 3, 0, 4, 0, 5, 0, 6, 0}, // [3, 4]: columns 1 and 3 pruned
		"/fc0/dense/biases":  {0, 0, 0, 0},
		"/fc1/dense/weights": {1, 2, 3, 4, 5, 6, 7, 8}, // [4, 2]
		"/fc1/dense/biases":  {0, 0},
	}
	res, err := compact.Compact(b, p, values, compact.Options{})
	if err != nil {
		panic(err)
	}
	for _, l := range res.Report.Layers {
		fmt.Printf("%s: %v -> %v\n", l.Var, l.Before, l.After)
	}
	fmt.Printf("MACs %d -> %d\n", res.Report.MACsBefore, res.Report.MACsAfter)
	// Output:
	// /fc0/dense/weights: [3 4] -> [3 2]
	// /fc0/dense/biases: [4] -> [2]
	// /fc1/dense/weights: [4 2] -> [2 2]
	// MACs 20 -> 10
}
