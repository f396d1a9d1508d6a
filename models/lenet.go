package models

import (
	"fmt"

	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/gomlx/gomlx/pkg/ml/context/initializers"
	"github.com/gomlx/gomlx/pkg/ml/layers"
	"github.com/gomlx/gomlx/pkg/ml/layers/activations"
)

func init() {
	mustRegister(Model{
		Name:        "lenet-300-100",
		Description: "LeNet-300-100 MLP (LeCun et al. 1998), as in the Lottery Ticket paper (Frankle & Carbin 2019)",
		InputShape:  []int{28, 28, 1},
		NumClasses:  10,
		Params:      266610,
		Weights:     266200,
		Dataset:     "mnist",
		Build:       LeNet300100,
	})
}

// GlorotNormal returns ctx with the Glorot (Xavier) normal initializer for weights and zeros for biases:
// weights ~ N(0, 2/(fan_in+fan_out)), as torch.nn.init.xavier_normal_ and OpenLTH use.
func GlorotNormal(ctx *context.Context) *context.Context {
	return ctx.WithInitializer(initializers.XavierNormalFn(ctx))
}

// Dense is a fully connected layer in its own scope: x·W + b, with W [in, out] named
// "<scope>/dense/weights" and b "<scope>/dense/biases".
func Dense(ctx *context.Context, scope string, x *graph.Node, out int) *graph.Node {
	return layers.Dense(ctx.In(scope), x, true, out)
}

// MLP builds a multilayer perceptron: the input flattened, one ReLU dense layer per hidden size (scopes
// "fc0", "fc1", ...), and a final dense layer to numClasses logits, all Glorot normal initialized.
// It panics if x has no batch axis.
func MLP(ctx *context.Context, x *graph.Node, numClasses int, hidden ...int) *graph.Node {
	if x.Rank() < 1 {
		panic(fmt.Sprintf("models.MLP: input needs a batch axis, got shape %s", x.Shape()))
	}
	ctx = GlorotNormal(ctx)
	x = graph.Reshape(x, x.Shape().Dimensions[0], -1)
	for i, h := range hidden {
		x = activations.Relu(Dense(ctx, fmt.Sprintf("fc%d", i), x, h))
	}
	return Dense(ctx, fmt.Sprintf("fc%d", len(hidden)), x, numClasses)
}

// LeNet300100 is LeNet-300-100: 784→300→100→10 with ReLU; 266,610 parameters (266,200 weights:
// 784·300 + 300·100 + 100·10). Layers are scoped "fc0", "fc1", "fc2".
func LeNet300100(ctx *context.Context, x *graph.Node) *graph.Node {
	return MLP(ctx, x, 10, 300, 100)
}
