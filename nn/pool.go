package nn

import (
	"fmt"

	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/prunelab/prunelab/internal/gomlxfix"
)

// MaxPool2DBuilder configures a 2-D max pooling over channels-last images; create it with
// [MaxPool2D], finish it with [MaxPool2DBuilder.Done].
type MaxPool2DBuilder struct {
	ctx     *context.Context
	x       *graph.Node
	window  [2]int
	strides [2]int // zero: the default
	padSame bool
	impl    Impl
}

// MaxPool2D starts a max pooling of x, shaped [batch, height, width, channels], over windows of the
// height and width axes. It computes what GoMLX's graph.MaxPool computes, with the same defaults
// (strides equal to the window, no padding) and the same gradient: each window's gradient goes to
// its first largest element in row-major order, as XLA's SelectAndScatter does. It has no
// variables; ctx gives the [ParamImpl] and the scope named in errors.
func MaxPool2D(ctx *context.Context, x *graph.Node) *MaxPool2DBuilder {
	return &MaxPool2DBuilder{ctx: ctx, x: x}
}

// Window sets a square window.
func (b *MaxPool2DBuilder) Window(size int) *MaxPool2DBuilder { return b.WindowPerAxis(size, size) }

// WindowPerAxis sets the window's height and width.
func (b *MaxPool2DBuilder) WindowPerAxis(height, width int) *MaxPool2DBuilder {
	b.window = [2]int{height, width}
	return b
}

// Strides sets the same stride for both axes; the default is the window size (1 with PadSame).
func (b *MaxPool2DBuilder) Strides(stride int) *MaxPool2DBuilder {
	return b.StridePerAxis(stride, stride)
}

// StridePerAxis sets the vertical and horizontal strides.
func (b *MaxPool2DBuilder) StridePerAxis(height, width int) *MaxPool2DBuilder {
	b.strides = [2]int{height, width}
	return b
}

// PadSame pads so that, with stride 1, the output keeps the input's height and width (as GoMLX's
// PadSame: (w-1)/2 before, w/2 after; padded positions never win).
func (b *MaxPool2DBuilder) PadSame() *MaxPool2DBuilder {
	b.padSame = true
	return b
}

// NoPadding uses only windows inside the image (the default); trailing rows and columns that do not
// fill a window are dropped, as in GoMLX and PyTorch.
func (b *MaxPool2DBuilder) NoPadding() *MaxPool2DBuilder {
	b.padSame = false
	return b
}

// Impl overrides the implementation chosen by the context's [ParamImpl].
func (b *MaxPool2DBuilder) Impl(impl Impl) *MaxPool2DBuilder {
	b.impl = impl
	return b
}

// Done builds the pooling and returns [batch, outHeight, outWidth, channels].
//
// With [Patches] and windows that tile the image (strides equal to the window, no padding: the usual
// 2x2 pooling), x is reshaped to [batch, outH, windowH, outW, windowW, channels] and reduced; other
// windows fall back to graph.MaxPool, whose gradient internal/gomlxfix provides on the pure-Go backend.
//
// It panics, naming the layer's scope and the shapes, if x is not a batch of channels-last images,
// if the window is not set, or if the image is smaller than the window.
func (b *MaxPool2DBuilder) Done() *graph.Node {
	name := layerName("MaxPool2D", b.ctx)
	x := b.x
	if x.Rank() != 4 {
		panic(fmt.Sprintf("%s: input must be a batch of images shaped [batch, height, width, channels], got shape %s",
			name, x.Shape()))
	}
	if b.window[0] <= 0 || b.window[1] <= 0 {
		panic(fmt.Sprintf("%s: the window must be set and positive, got %v", name, b.window))
	}
	strides := b.strides
	if strides == [2]int{} {
		strides = b.window
		if b.padSame {
			strides = [2]int{1, 1}
		}
	}
	if strides[0] <= 0 || strides[1] <= 0 {
		panic(fmt.Sprintf("%s: strides must be positive, got %v", name, strides))
	}
	dims := x.Shape().Dimensions
	if !b.padSame && (dims[1] < b.window[0] || dims[2] < b.window[1]) {
		panic(fmt.Sprintf("%s: the %dx%d images of input shape %s are smaller than the %dx%d window",
			name, dims[1], dims[2], x.Shape(), b.window[0], b.window[1]))
	}
	if native(b.ctx, x.Graph(), b.impl, name) || b.padSame || strides != b.window {
		pool := graph.MaxPool(x).WindowPerAxis(b.window[0], b.window[1]).StridePerAxis(strides[0], strides[1])
		if b.padSame {
			pool.PadSame()
		}
		return pool.Done()
	}
	return maxPoolTiled(x, b.window)
}

// maxPoolTiled is max pooling with windows that tile x: the covered part of x is reshaped to
// [batch, outH, windowH, outW, windowW, channels] and reduced with ReduceMax over the window axes.
// Its gradient goes to the first maximum of each window (row-major), as with XLA's and PyTorch's
// max pooling, through internal/gomlxfix's first-extreme-gradient rule for ReduceMax (installed by
// the training driver; GoMLX's own rule would send it to every tied maximum). The forward pass is
// one reduction, and the tie handling is built only into gradient graphs.
func maxPoolTiled(x *graph.Node, window [2]int) *graph.Node {
	used, _, _ := gomlxfix.TiledWindows(x.Shape().Dimensions, []int{1, window[0], window[1], 1})
	if used[1] != x.Shape().Dim(1) || used[2] != x.Shape().Dim(2) {
		x = graph.Slice(x, graph.AxisRange(), graph.AxisRange(0, used[1]), graph.AxisRange(0, used[2]))
	}
	outH, outW := used[1]/window[0], used[2]/window[1]
	split := []int{used[0], outH, window[0], outW, window[1], used[3]}
	windowAxes := []int{2, 4}
	return graph.ReduceMax(graph.Reshape(x, split...), windowAxes...)
}
