package nn

import (
	"fmt"

	"github.com/gomlx/gomlx/backends/simplego"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// Impl selects how [Conv2D] and [MaxPool2D] compute their result. Every implementation creates the
// same variables and gives the same values (up to float rounding) and the same gradients.
type Impl string

const (
	// Auto uses Native on every backend except GoMLX's pure-Go one ("go", SimpleGo), where it uses
	// Patches in training graphs (their gradients are fast there) and, for convolutions in other
	// graphs, GoMLX's convolution, which internal/gomlxfix's fast-conv-kernel computes as an
	// implicit GEMM. It is the default.
	Auto Impl = "auto"
	// Native uses GoMLX's own operations (graph.Convolve, graph.MaxPool): fast on XLA, slow on the
	// pure-Go backend, whose convolution is a single-threaded loop.
	Native Impl = "native"
	// Patches computes a convolution as image patches (strided slices and one concatenation) times
	// one matrix multiplication, and a pooling whose windows tile the image as a reshape and a
	// reduction: only operations that the pure-Go backend implements well.
	Patches Impl = "patches"
)

// ParamImpl is the context hyperparameter that selects the [Impl] of the layers of this package
// built under that context: a string, "auto" (default), "native" or "patches". A builder's Impl
// method overrides it.
const ParamImpl = "nn_impl"

// pureGoInference reports whether a convolution built in g with impl (Auto unless set) runs on the
// pure-Go backend in a graph that does not train: then [Auto] uses GoMLX's convolution.
func pureGoInference(ctx *context.Context, g *graph.Graph, impl Impl) bool {
	if impl == "" {
		impl = Impl(context.GetParamOr(ctx, ParamImpl, string(Auto)))
	}
	_, pureGo := g.Backend().(*simplego.Backend)
	return (impl == Auto || impl == "") && pureGo && !ctx.IsTraining(g)
}

// native decides between GoMLX's operations and patches for a layer built in g.
func native(ctx *context.Context, g *graph.Graph, impl Impl, layer string) bool {
	if impl == "" {
		impl = Impl(context.GetParamOr(ctx, ParamImpl, string(Auto)))
	}
	switch impl {
	case Native:
		return true
	case Patches:
		return false
	case Auto, "":
		_, pureGo := g.Backend().(*simplego.Backend)
		return !pureGo
	default:
		panic(fmt.Sprintf("%s: unknown implementation %q (known: %q, %q, %q)", layer, impl, Auto, Native, Patches))
	}
}

// layerName names a layer in error messages: the function and the context scope it was built in.
func layerName(fn string, ctx *context.Context) string {
	return fmt.Sprintf("nn.%s (scope %q)", fn, ctx.Scope())
}
