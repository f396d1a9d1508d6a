package training

import (
	"fmt"

	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/gomlx/gomlx/pkg/ml/context/initializers"
	"github.com/gomlx/gomlx/pkg/ml/train/optimizers"
)

// momentumScope holds the velocity buffers of [SGDMomentum].
const momentumScope = "sgd_momentum"

// SGDMomentum is stochastic gradient descent with (optionally Nesterov) momentum and L2 weight decay,
// with PyTorch's torch.optim.SGD update: b ← μ·b + (g + λ·w); w ← w − lr·(Nesterov ? g + λ·w + μ·b : b).
// GoMLX v0.26.0's own SGD has no momentum. The learning rate lives in GoMLX's learning-rate variable, so
// [LRSchedule]s drive it like Adam's.
type SGDMomentum struct {
	LearningRate, Momentum, WeightDecay float64
	Nesterov                            bool
}

// UpdateGraph implements optimizers.Interface. It panics (graph-building code) if loss is not a scalar.
func (o SGDMomentum) UpdateGraph(ctx *context.Context, g *graph.Graph, loss *graph.Node) {
	if !loss.Shape().IsScalar() {
		panic(fmt.Sprintf("training.SGDMomentum: loss must be a scalar, got %s", loss.Shape()))
	}
	grads := ctx.BuildTrainableVariablesGradientsGraph(loss)
	dtype := loss.DType()
	lr := optimizers.LearningRateVar(ctx, dtype, o.LearningRate).ValueGraph(g)
	_ = optimizers.IncrementGlobalStepGraph(ctx, g, dtype)
	i := 0
	for v := range ctx.IterVariables() {
		if !v.Trainable || !v.InUseByGraph(g) {
			continue
		}
		grad := grads[i]
		i++
		w := v.ValueGraph(g)
		if o.WeightDecay != 0 {
			grad = graph.Add(grad, graph.MulScalar(w, o.WeightDecay))
		}
		step := grad
		if o.Momentum != 0 {
			buf := ctx.InAbsPath(context.ScopeSeparator+momentumScope+v.Scope()).Checked(false).
				WithInitializer(initializers.Zero).
				VariableWithShape(v.Name()+"_velocity", v.Shape()).SetTrainable(false)
			b := graph.Add(graph.MulScalar(buf.ValueGraph(g), o.Momentum), grad)
			buf.SetValueGraph(b)
			step = b
			if o.Nesterov {
				step = graph.Add(grad, graph.MulScalar(b, o.Momentum))
			}
		}
		v.SetValueGraph(graph.Sub(w, graph.Mul(step, graph.ConvertDType(lr, step.DType()))))
	}
}

// Clear implements optimizers.Interface: it deletes the velocity buffers (used when rewinding).
func (o SGDMomentum) Clear(ctx *context.Context) error {
	return ctx.InAbsPath(context.ScopeSeparator + momentumScope).DeleteVariablesInScope()
}
