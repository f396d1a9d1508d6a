package pruning_test

import (
	"fmt"

	_ "github.com/gomlx/gomlx/backends/simplego"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/gomlx/gomlx/pkg/ml/layers"
	"github.com/gomlx/gomlx/pkg/ml/layers/activations"
	"github.com/gomlx/gomlx/pkg/ml/train"
	"github.com/gomlx/gomlx/pkg/ml/train/losses"
	"github.com/gomlx/gomlx/pkg/ml/train/optimizers"
	"github.com/prunelab/prunelab/backend"
	"github.com/prunelab/prunelab/pruning"
)

// regression yields a fixed batch: y = x0 - x1.
type regression struct{}

func (regression) Name() string { return "regression" }
func (regression) Reset()       {}
func (regression) Yield() (any, []*tensors.Tensor, []*tensors.Tensor, error) {
	x := [][]float32{{1, 2}, {2, 1}, {0, 1}, {1, 0}, {3, 1}, {1, 3}}
	y := make([][]float32, len(x))
	for i, r := range x {
		y[i] = []float32{r[0] - r[1]}
	}
	return nil, []*tensors.Tensor{tensors.FromValue(x)}, []*tensors.Tensor{tensors.FromValue(y)}, nil
}

// Attaching pruning to an unchanged model and to a GoMLX training loop: masks are created when
// the graph is built, kept at zero after every optimizer step, and updated by a Driver on a
// gradual schedule.
func ExampleWrapModelFn() {
	backend, err := backend.NewPureGo()
	if err != nil {
		panic(err)
	}
	model := func(ctx *context.Context, x *graph.Node) *graph.Node {
		x = activations.Relu(layers.Dense(ctx.In("fc0"), x, true, 8))
		return layers.Dense(ctx.In("fc1"), x, true, 1)
	}
	ctx := context.New()
	ctx.SetParam(context.ParamInitialSeed, int64(1))
	masked := pruning.WrapModelFn(model, pruning.Selector{}) // dense and conv kernels
	trainer := train.NewTrainer(backend, ctx, pruning.AsTrainModelFn(masked), losses.MeanSquaredError,
		optimizers.Adam().Done(), nil, nil)

	schedule := pruning.Polynomial{Final: 0.75, Begin: 10, End: 30, Frequency: 10}
	driver := pruning.NewDriver(ctx, schedule, pruning.Config{
		Allocation: pruning.Global{},
		MinKeep:    2, // without it, global magnitude pruning removes all of fc1 here
	})
	loop := train.NewLoop(trainer)
	loop.OnStep("pruning", 0, driver.OnStep) // or call driver.AfterStep(step) in your own loop
	if _, err := loop.RunSteps(regression{}, 50); err != nil {
		panic(err)
	}

	for _, res := range driver.History() {
		fmt.Printf("%d of %d weights pruned (%.2f)\n", res.PrunedAfter, res.Size, res.Sparsity)
	}
	masks, err := pruning.GetMasks(ctx)
	if err != nil {
		panic(err)
	}
	for _, path := range masks.Paths() {
		fmt.Printf("%s: sparsity %.2f\n", path, masks[path].Sparsity())
	}
	// Output:
	// 0 of 24 weights pruned (0.00)
	// 16 of 24 weights pruned (0.67)
	// 18 of 24 weights pruned (0.75)
	// /fc0/dense/weights: sparsity 0.75
	// /fc1/dense/weights: sparsity 0.75
}
