package models

import (
	"fmt"
	"slices"
	"strings"

	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/gomlx/gomlx/pkg/ml/layers/activations"

	"github.com/prunelab/prunelab/nn"
)

func init() {
	mustRegister(Model{
		Name:        "lenet-5",
		Description: "LeNet-5 (LeCun et al. 1998) with ReLU and max pooling, for MNIST",
		InputShape:  []int{28, 28, 1},
		NumClasses:  10,
		Params:      61706,
		Weights:     61470,
		Dataset:     "mnist",
		Build:       LeNet5,
	})
	for _, c := range []struct {
		name           string
		params, weight int
		build          BuildFn
	}{
		{"conv-2", 4301642, 4300992, Conv2},
		{"conv-4", 2425930, 2425024, Conv4},
		{"conv-6", 2262602, 2261184, Conv6},
	} {
		mustRegister(Model{
			Name:        c.name,
			Description: fmt.Sprintf("%s, the VGG-like CIFAR-10 network of the Lottery Ticket paper (Frankle & Carbin 2019)", "C"+c.name[1:]),
			InputShape:  []int{32, 32, 3},
			NumClasses:  10,
			Params:      c.params,
			Weights:     c.weight,
			Dataset:     "cifar10",
			Build:       c.build,
		})
	}
}

// Conv is a convolution layer in its own scope, built with [nn.Conv2D]: filters kernel×kernel
// filters, stride 1, zero padding that keeps the image size when same is true (none otherwise), and a
// bias. Its variables are those of GoMLX's layers.Convolution: "<scope>/conv/weights" shaped
// [kernel, kernel, inChannels, filters] and "<scope>/conv/biases".
func Conv(ctx *context.Context, scope string, x *graph.Node, filters, kernel int, same bool) *graph.Node {
	conv := nn.Conv2D(ctx.In(scope), x).Filters(filters).KernelSize(kernel)
	if same {
		conv.PadSame()
	}
	return conv.Done()
}

// MaxPool2x2 halves the height and width of a batch of images with 2×2 max pooling ([nn.MaxPool2D]),
// in its own scope (named in error messages).
func MaxPool2x2(ctx *context.Context, scope string, x *graph.Node) *graph.Node {
	return nn.MaxPool2D(ctx.In(scope), x).Window(2).Done()
}

// checkImages panics unless x is a batch of images shaped [batch, dims...], naming the model.
func checkImages(model string, x *graph.Node, dims ...int) {
	if x.Rank() != len(dims)+1 || !slices.Equal(x.Shape().Dimensions[1:], dims) {
		panic(fmt.Sprintf("models: %s takes images shaped [batch %s], got input shape %s",
			model, strings.Trim(fmt.Sprint(dims), "[]"), x.Shape()))
	}
}

// flatten reshapes [batch, ...] to [batch, features].
func flatten(x *graph.Node) *graph.Node { return graph.Reshape(x, x.Shape().Dim(0), -1) }

// LeNet5 is LeNet-5 (LeCun et al. 1998) for 28×28×1 MNIST images, in its common modern form: ReLU
// instead of scaled tanh, max instead of average pooling, full connections between the two
// convolutions, Glorot normal weights and zero biases:
//
//	conv0  6 filters 5×5, padding same  28×28×1 → 28×28×6    156 params
//	pool0  2×2 max                      → 14×14×6
//	conv1  16 filters 5×5, no padding   → 10×10×16         2,416 params
//	pool1  2×2 max                      → 5×5×16 = 400
//	fc0    400 → 120                                      48,120 params
//	fc1    120 → 84                                       10,164 params
//	fc2    84 → 10 logits                                    850 params
//
// 61,706 parameters, 61,470 of them weights. Scopes: "conv0", "conv1" (variables under
// "<scope>/conv/"), "fc0"–"fc2" (under "<scope>/dense/"). It panics on inputs not shaped [batch 28 28 1].
func LeNet5(ctx *context.Context, x *graph.Node) *graph.Node {
	checkImages("lenet-5", x, 28, 28, 1)
	ctx = GlorotNormal(ctx)
	x = activations.Relu(Conv(ctx, "conv0", x, 6, 5, true))
	x = MaxPool2x2(ctx, "pool0", x)
	x = activations.Relu(Conv(ctx, "conv1", x, 16, 5, false))
	x = MaxPool2x2(ctx, "pool1", x)
	x = flatten(x)
	x = activations.Relu(Dense(ctx, "fc0", x, 120))
	x = activations.Relu(Dense(ctx, "fc1", x, 84))
	return Dense(ctx, "fc2", x, 10)
}

// ConvNet builds the VGG-like networks Conv-2, Conv-4 and Conv-6 of the Lottery Ticket paper
// (Frankle & Carbin 2019, Figure 2) for 32×32×3 CIFAR-10 images: numBlocks blocks of two 3×3
// convolutions (padding same, ReLU) followed by 2×2 max pooling, with 64, 128 and 256 filters in
// blocks 1, 2 and 3; then fully connected layers of 256, 256 and 10 units (ReLU between). Weights are
// Glorot normal, biases zero. Scopes: "conv0", "conv1", ... (variables under "<scope>/conv/") and
// "fc0"–"fc2" (under "<scope>/dense/"). It panics unless 1 <= numBlocks <= 3 and the input is
// shaped [batch 32 32 3].
func ConvNet(ctx *context.Context, x *graph.Node, numBlocks int) *graph.Node {
	if numBlocks < 1 || numBlocks > 3 {
		panic(fmt.Sprintf("models: ConvNet has 1 to 3 blocks (Conv-2, Conv-4, Conv-6), got %d", numBlocks))
	}
	name := fmt.Sprintf("conv-%d", 2*numBlocks)
	checkImages(name, x, 32, 32, 3)
	ctx = GlorotNormal(ctx)
	for block := range numBlocks {
		filters := 64 << block
		for i := range 2 {
			x = activations.Relu(Conv(ctx, fmt.Sprintf("conv%d", 2*block+i), x, filters, 3, true))
		}
		x = MaxPool2x2(ctx, fmt.Sprintf("pool%d", block), x)
	}
	x = flatten(x)
	x = activations.Relu(Dense(ctx, "fc0", x, 256))
	x = activations.Relu(Dense(ctx, "fc1", x, 256))
	return Dense(ctx, "fc2", x, 10)
}

// Conv2 is Conv-2 ([ConvNet] with one block): conv 64, 64, pool; fc 256, 256, 10 on 32×32×3 images.
// 4,301,642 parameters, 4,300,992 of them weights (the paper: 4.3M); 4,194,304 of them in fc0
// (16·16·64 → 256).
func Conv2(ctx *context.Context, x *graph.Node) *graph.Node { return ConvNet(ctx, x, 1) }

// Conv4 is Conv-4 ([ConvNet] with two blocks): conv 64, 64, pool, 128, 128, pool; fc 256, 256, 10.
// 2,425,930 parameters, 2,425,024 of them weights (the paper: 2.4M).
func Conv4(ctx *context.Context, x *graph.Node) *graph.Node { return ConvNet(ctx, x, 2) }

// Conv6 is Conv-6 ([ConvNet] with three blocks): conv 64, 64, pool, 128, 128, pool, 256, 256, pool;
// fc 256, 256, 10. 2,262,602 parameters, 2,261,184 of them weights: 1,144,512 in convolutions and
// 1,116,672 in fully connected layers (4·4·256 → 256 → 256 → 10). The paper's Figure 2 lists 1.7M
// weights for Conv-6, but the layers it lists there add up to these 2.26M.
func Conv6(ctx *context.Context, x *graph.Node) *graph.Node { return ConvNet(ctx, x, 3) }
