package nn

import (
	"fmt"

	"github.com/gomlx/gomlx/backends/simplego"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/gomlx/gomlx/pkg/ml/context/initializers"
	"github.com/gomlx/gomlx/pkg/ml/layers/batchnorm"
	"github.com/gomlx/gomlx/pkg/ml/layers/regularizers"
	"github.com/gomlx/gomlx/pkg/ml/train"
)

// BatchNormBuilder configures a batch normalization over the last axis; create it with
// [BatchNorm], finish it with [BatchNormBuilder.Done].
type BatchNormBuilder struct {
	ctx               *context.Context
	x                 *graph.Node
	momentum, epsilon float64
}

// BatchNorm starts a batch normalization of x over its last (channels) axis (Ioffe & Szegedy 2015).
// It is GoMLX's layers/batchnorm, with the same variables (in the sub-scope "batch_normalization":
// trainable "scale" and "offset", and the moving averages "mean", "variance" and "avg_weight"), the
// same defaults (momentum 0.99, epsilon 1e-3, as Keras) and the same moving-average updates, and it
// trains with GoMLX's train.Trainer: in a training graph (ctx.IsTraining) it normalizes with the
// batch's statistics and updates the averages; otherwise it normalizes with the averages.
//
// On the pure-Go backend, which lacks GoMLX's batch-norm operations, GoMLX's fallback formula stops
// the gradient at the batch mean and variance; training graphs there use this package's formula
// instead, whose gradient flows through the batch statistics, as the backend operation's gradient
// (used on XLA) and PyTorch's do. So training follows the same gradients on every backend.
func BatchNorm(ctx *context.Context, x *graph.Node) *BatchNormBuilder {
	return &BatchNormBuilder{ctx: ctx, x: x, momentum: 0.99, epsilon: 1e-3}
}

// Momentum sets the weight of the old average in the moving averages (default 0.99; PyTorch's
// momentum=0.1 is 0.9 here).
func (b *BatchNormBuilder) Momentum(m float64) *BatchNormBuilder {
	b.momentum = m
	return b
}

// Epsilon sets the constant added to the variance (default 1e-3; PyTorch uses 1e-5).
func (b *BatchNormBuilder) Epsilon(eps float64) *BatchNormBuilder {
	b.epsilon = eps
	return b
}

// Done builds the normalization and returns a node shaped like x. It panics if x has rank < 2.
func (b *BatchNormBuilder) Done() *graph.Node {
	x, g := b.x, b.x.Graph()
	if x.Rank() < 2 {
		panic(fmt.Sprintf("%s: input must have a batch axis and a channels axis, got shape %s",
			layerName("BatchNorm", b.ctx), x.Shape()))
	}
	_, pureGo := g.Backend().(*simplego.Backend)
	updatePhase := context.GetGraphParamOr(b.ctx, g, train.BatchNormalizationUpdatePhase, -1)
	if pureGo && !b.ctx.IsTraining(g) && updatePhase < 0 {
		return b.inferenceGraph()
	}
	if !pureGo || !b.ctx.IsTraining(g) || updatePhase >= 0 {
		bn := batchnorm.New(b.ctx, x, -1).Momentum(b.momentum).Epsilon(b.epsilon)
		if pureGo {
			bn = bn.UseBackendInference(false)
		}
		return bn.Done()
	}
	return b.trainingGraph()
}

// inferenceGraph is batchnorm.Config.Done's inference branch (normalization by the moving averages)
// computed as x·factor + shift with per-channel factor = scale/sqrt(variance+ε) and shift = offset −
// mean·factor: two broadcast operations over the activations instead of GoMLX's four (subtract,
// divide, multiply, add), which the pure-Go backend runs element by element through an index
// iterator. Same variables, same values up to float32 rounding.
func (b *BatchNormBuilder) inferenceGraph() *graph.Node {
	x, g := b.x, b.x.Graph()
	b.ctx.InAbsPath(context.RootScope).SetParam(batchnorm.AveragesUpdatesTriggerParam, true)
	ctx := b.ctx.In(batchnorm.BatchNormalizationScopeName)
	channels := x.Shape().Dim(-1)
	varShape := shapes.Make(x.DType(), channels)
	scale := ctx.WithInitializer(initializers.One).VariableWithShape("scale", varShape).SetTrainable(true).ValueGraph(g)
	offset := ctx.WithInitializer(initializers.Zero).VariableWithShape("offset", varShape).SetTrainable(true).ValueGraph(g)
	mean := ctx.WithInitializer(initializers.Zero).VariableWithShape("mean", varShape).SetTrainable(false).ValueGraph(g)
	variance := ctx.WithInitializer(initializers.One).VariableWithShape("variance", varShape).SetTrainable(false).ValueGraph(g)
	ctx.WithInitializer(initializers.Zero).VariableWithShape("avg_weight", varShape).SetTrainable(false)

	factor := graph.Div(scale, graph.Sqrt(graph.AddScalar(variance, b.epsilon)))
	shift := graph.Sub(offset, graph.Mul(mean, factor))
	dims := make([]int, x.Rank())
	for i := range dims {
		dims[i] = 1
	}
	dims[len(dims)-1] = channels
	return graph.Add(graph.Mul(x, graph.Reshape(factor, dims...)), graph.Reshape(shift, dims...))
}

// trainingGraph is batchnorm.Config.Done's training branch with the gradient flowing through the
// batch statistics; the variables, their initializers and the moving-average update are GoMLX's.
func (b *BatchNormBuilder) trainingGraph() *graph.Node {
	x, g := b.x, b.x.Graph()
	b.ctx.InAbsPath(context.RootScope).SetParam(batchnorm.AveragesUpdatesTriggerParam, true)
	ctx := b.ctx.In(batchnorm.BatchNormalizationScopeName)
	channels := x.Shape().Dim(-1)
	varShape := shapes.Make(x.DType(), channels)
	scaleVar := ctx.WithInitializer(initializers.One).VariableWithShape("scale", varShape).SetTrainable(true)
	offsetVar := ctx.WithInitializer(initializers.Zero).VariableWithShape("offset", varShape).SetTrainable(true)
	meanVar := ctx.WithInitializer(initializers.Zero).VariableWithShape("mean", varShape).SetTrainable(false)
	varianceVar := ctx.WithInitializer(initializers.One).VariableWithShape("variance", varShape).SetTrainable(false)
	weightVar := ctx.WithInitializer(initializers.Zero).VariableWithShape("avg_weight", varShape).SetTrainable(false)

	reduceAxes := make([]int, x.Rank()-1)
	for i := range reduceAxes {
		reduceAxes[i] = i
	}
	mean := graph.ReduceAndKeep(x, graph.ReduceMean, reduceAxes...)
	centered := graph.Sub(x, mean)
	variance := graph.ReduceAndKeep(graph.Square(centered), graph.ReduceMean, reduceAxes...)
	// Per channel: scale/sqrt(variance+eps), then one multiply and one add over the whole tensor.
	factor := graph.Div(graph.Reshape(scaleVar.ValueGraph(g), variance.Shape().Dimensions...),
		graph.Sqrt(graph.AddScalar(variance, b.epsilon)))
	normalized := graph.Add(graph.Mul(centered, factor), graph.Reshape(offsetVar.ValueGraph(g), variance.Shape().Dimensions...))

	// The moving averages, exactly as batchnorm's updateMeanAndVariance (GoMLX v0.26.0).
	batchMean := graph.StopGradient(graph.Reshape(mean, channels))
	batchVariance := graph.StopGradient(graph.Reshape(variance, channels))
	momentum := graph.Scalar(g, x.DType(), b.momentum)
	weight := graph.OnePlus(weightVar.ValueGraph(g))
	weightVar.SetValueGraph(weight)
	debiased := graph.Min(momentum, graph.OneMinus(graph.Reciprocal(weight)))
	meanVar.SetValueGraph(graph.Add(graph.Mul(debiased, meanVar.ValueGraph(g)), graph.Mul(graph.OneMinus(debiased), batchMean)))
	varianceVar.SetValueGraph(graph.Add(graph.Mul(debiased, varianceVar.ValueGraph(g)), graph.Mul(graph.OneMinus(debiased), batchVariance)))

	if l2 := context.GetParamOr(ctx, regularizers.ParamL2, 0.0); l2 > 0 {
		regularizers.L2(l2)(ctx, g, scaleVar)
	}
	return normalized
}
