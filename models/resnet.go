package models

import (
	"fmt"

	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/gomlx/gomlx/pkg/ml/context/initializers"
	"github.com/gomlx/gomlx/pkg/ml/layers/activations"

	"github.com/prunelab/prunelab/nn"
)

func init() {
	mustRegister(Model{
		Name:        "resnet-20",
		Description: "ResNet-20 for CIFAR-10 (He et al. 2016, Section 4.2), batch norm, option-A shortcuts",
		InputShape:  []int{32, 32, 3},
		NumClasses:  10,
		Params:      269722,
		Weights:     268336,
		Dataset:     "cifar10",
		Build:       ResNet20,
	})
}

// ResNet20 is ResNet-20 for 32×32×3 CIFAR-10 images (He et al. 2016, "Deep Residual Learning for
// Image Recognition", Section 4.2, n = 3): a 3×3 convolution with 16 filters, then three stages of
// three basic blocks with 16, 32 and 64 filters, global average pooling and a 10-way fully connected
// layer. A basic block is conv 3×3 → batch norm → ReLU → conv 3×3 → batch norm, plus the shortcut,
// then ReLU; the first block of stages 2 and 3 halves the image with stride 2. Shortcuts are option A
// of the paper (parameter-free): identity, or, where the shape changes, the input subsampled with
// stride 2 and zero-padded with the new channels at the end. Convolutions have no bias (batch norm
// follows); weights use He normal initialization (He et al. 2015), as the paper; batch norm uses
// PyTorch's momentum (0.1, here 0.9) and epsilon (1e-5).
//
// 269,722 trainable parameters: 268,336 weights (267,696 in 19 convolutions, 640 in the final layer),
// 10 biases and 1,376 batch-norm scales and offsets; batch norm also keeps 2,064 non-trainable
// statistics (mean, variance, average weight per channel).
//
// Scopes: "conv0"/"bn0" (the first convolution), "stage1/block0/conv0", "stage1/block0/bn0",
// "stage1/block0/conv1", "stage1/block0/bn1", ... "stage3/block2/bn1", and "fc0". Convolution
// variables are under "<scope>/conv/", batch norm's under "<scope>/batch_normalization/". It panics on
// inputs not shaped [batch 32 32 3].
func ResNet20(ctx *context.Context, x *graph.Node) *graph.Node {
	checkImages("resnet-20", x, 32, 32, 3)
	ctx = ctx.WithInitializer(initializers.HeFn(ctx))
	x = activations.Relu(batchNorm(ctx, "bn0", convNoBias(ctx, "conv0", x, 16, 1)))
	for stage, filters := range []int{16, 32, 64} {
		for block := range 3 {
			stride := 1
			if stage > 0 && block == 0 {
				stride = 2
			}
			x = basicBlock(ctx.In(fmt.Sprintf("stage%d", stage+1)).In(fmt.Sprintf("block%d", block)), x, filters, stride)
		}
	}
	x = graph.ReduceMean(x, 1, 2) // global average pooling: [batch, 64]
	return Dense(ctx, "fc0", x, 10)
}

// basicBlock is ResNet's basic residual block with an option-A shortcut.
func basicBlock(ctx *context.Context, x *graph.Node, filters, stride int) *graph.Node {
	y := activations.Relu(batchNorm(ctx, "bn0", convNoBias(ctx, "conv0", x, filters, stride)))
	y = batchNorm(ctx, "bn1", convNoBias(ctx, "conv1", y, filters, 1))
	return activations.Relu(graph.Add(y, shortcutA(x, filters, stride)))
}

// shortcutA is option A of He et al. 2016: x itself, or x subsampled by stride with zero channels
// appended up to filters.
func shortcutA(x *graph.Node, filters, stride int) *graph.Node {
	if stride > 1 {
		x = graph.Slice(x, graph.AxisRange(), graph.AxisRange().Stride(stride), graph.AxisRange().Stride(stride))
	}
	if extra := filters - x.Shape().Dim(-1); extra > 0 {
		dims := append([]int(nil), x.Shape().Dimensions...)
		dims[3] = extra
		x = graph.Concatenate([]*graph.Node{x, graph.Zeros(x.Graph(), shapes.Make(x.DType(), dims...))}, 3)
	}
	return x
}

// convNoBias is a 3×3 convolution with padding same, the given stride and no bias, in its own scope.
func convNoBias(ctx *context.Context, scope string, x *graph.Node, filters, stride int) *graph.Node {
	return nn.Conv2D(ctx.In(scope), x).Filters(filters).KernelSize(3).Strides(stride).PadSame().UseBias(false).Done()
}

// batchNorm is [nn.BatchNorm] in its own scope, with PyTorch's momentum and epsilon.
func batchNorm(ctx *context.Context, scope string, x *graph.Node) *graph.Node {
	return nn.BatchNorm(ctx.In(scope), x).Momentum(0.9).Epsilon(1e-5).Done()
}
