package nn_test

import (
	"fmt"

	"github.com/gomlx/gomlx/backends/simplego"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/gomlx/gomlx/pkg/ml/layers/activations"

	"github.com/prunelab/prunelab/internal/gomlxfix"
	"github.com/prunelab/prunelab/nn"
)

func ExampleConv2D() {
	gomlxfix.Install() // once, before building graphs that take gradients (the training driver does it)
	ctx := context.New()
	model := func(ctx *context.Context, images *graph.Node) *graph.Node {
		x := nn.Conv2D(ctx.In("conv0"), images).Filters(6).KernelSize(5).PadSame().Done()
		x = nn.MaxPool2D(ctx.In("pool0"), activations.Relu(x)).Window(2).Done()
		return x
	}
	exec := context.MustNewExec(simplego.GetBackend(), ctx, model)
	out := exec.MustExec(tensors.FromShape(shapes.Make(dtypes.Float32, 60, 28, 28, 1)))[0]
	fmt.Println("output:", out.Shape())
	for v := range ctx.IterVariables() {
		if v.Trainable {
			fmt.Println(v.ScopeAndName(), v.Shape())
		}
	}
	// Output:
	// output: (Float32)[60 14 14 6]
	// /conv0/conv/weights (Float32)[5 5 1 6]
	// /conv0/conv/biases (Float32)[6]
}
