package nn

import (
	"fmt"

	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/gomlx/gomlx/pkg/ml/layers"
	"github.com/gomlx/gomlx/pkg/ml/layers/regularizers"
)

// Conv2DBuilder configures a 2-D convolution over channels-last images; create it with [Conv2D],
// finish it with [Conv2DBuilder.Done].
type Conv2DBuilder struct {
	ctx         *context.Context
	x           *graph.Node
	filters     int
	kernel      [2]int
	strides     [2]int
	padSame     bool
	bias        bool
	newScope    bool
	impl        Impl
	regularizer regularizers.Regularizer
}

// Conv2D starts a 2-D convolution of x, shaped [batch, height, width, channels], that creates the
// same variables as GoMLX's layers.Convolution with default settings: in the sub-scope "conv", a
// kernel "weights" shaped [kernelHeight, kernelWidth, inputChannels, filters], initialized by the
// context's initializer, and (unless UseBias(false)) "biases" shaped [filters], initialized to zero.
// So checkpoints and pruning masks are the same whichever implementation ([Impl]) computes it.
//
// Defaults, as layers.Convolution: stride 1, no padding, bias on, a new "conv" scope, the context's
// regularizer. Filters and KernelSize must be set.
func Conv2D(ctx *context.Context, x *graph.Node) *Conv2DBuilder {
	return &Conv2DBuilder{ctx: ctx, x: x, strides: [2]int{1, 1}, bias: true, newScope: true,
		regularizer: regularizers.FromContext(ctx)}
}

// Filters sets the number of output channels.
func (b *Conv2DBuilder) Filters(n int) *Conv2DBuilder {
	b.filters = n
	return b
}

// KernelSize sets a square kernel.
func (b *Conv2DBuilder) KernelSize(size int) *Conv2DBuilder { return b.KernelSizePerAxis(size, size) }

// KernelSizePerAxis sets the kernel's height and width.
func (b *Conv2DBuilder) KernelSizePerAxis(height, width int) *Conv2DBuilder {
	b.kernel = [2]int{height, width}
	return b
}

// Strides sets the same stride for both spatial axes (default 1).
func (b *Conv2DBuilder) Strides(stride int) *Conv2DBuilder { return b.StridePerAxis(stride, stride) }

// StridePerAxis sets the vertical and horizontal strides.
func (b *Conv2DBuilder) StridePerAxis(height, width int) *Conv2DBuilder {
	b.strides = [2]int{height, width}
	return b
}

// PadSame pads the image with zeros so that, with stride 1, the output has the input's height and
// width: (k-1)/2 before and k/2 after, per axis, as GoMLX's PadSame.
func (b *Conv2DBuilder) PadSame() *Conv2DBuilder {
	b.padSame = true
	return b
}

// NoPadding uses only positions where the kernel fits inside the image (the default, "valid").
func (b *Conv2DBuilder) NoPadding() *Conv2DBuilder {
	b.padSame = false
	return b
}

// UseBias sets whether a bias is added (default true).
func (b *Conv2DBuilder) UseBias(useBias bool) *Conv2DBuilder {
	b.bias = useBias
	return b
}

// CurrentScope creates the variables in the context's scope rather than in a new "conv" sub-scope.
func (b *Conv2DBuilder) CurrentScope() *Conv2DBuilder {
	b.newScope = false
	return b
}

// Regularizer sets the kernel's regularizer (default: regularizers.FromContext).
func (b *Conv2DBuilder) Regularizer(r regularizers.Regularizer) *Conv2DBuilder {
	b.regularizer = r
	return b
}

// Impl overrides the implementation chosen by the context's [ParamImpl].
func (b *Conv2DBuilder) Impl(impl Impl) *Conv2DBuilder {
	b.impl = impl
	return b
}

// Done builds the convolution and returns its output, [batch, outHeight, outWidth, filters].
//
// It panics, naming the layer's scope and the shapes, if x is not a batch of channels-last images,
// if Filters or KernelSize is missing, if the (padded) image is smaller than the kernel, or if the
// layer's weights already exist for another number of input channels or another kernel.
func (b *Conv2DBuilder) Done() *graph.Node {
	name := layerName("Conv2D", b.ctx)
	x := b.x
	if x.Rank() != 4 {
		panic(fmt.Sprintf("%s: input must be a batch of images shaped [batch, height, width, channels], got shape %s",
			name, x.Shape()))
	}
	if b.filters <= 0 || b.kernel[0] <= 0 || b.kernel[1] <= 0 {
		panic(fmt.Sprintf("%s: Filters and KernelSize must be positive, got %d filters and a %dx%d kernel",
			name, b.filters, b.kernel[0], b.kernel[1]))
	}
	if b.strides[0] <= 0 || b.strides[1] <= 0 {
		panic(fmt.Sprintf("%s: strides must be positive, got %v", name, b.strides))
	}
	paddings := make([][2]int, 2)
	if b.padSame {
		for axis, k := range b.kernel {
			paddings[axis] = [2]int{(k - 1) / 2, k / 2}
		}
	}
	dims := x.Shape().Dimensions
	for axis, k := range b.kernel {
		if padded := dims[1+axis] + paddings[axis][0] + paddings[axis][1]; padded < k {
			panic(fmt.Sprintf("%s: the %dx%d images of input shape %s (padded to %d on the %s axis) are smaller "+
				"than the %dx%d kernel", name, dims[1], dims[2], x.Shape(), padded, [2]string{"height", "width"}[axis],
				b.kernel[0], b.kernel[1]))
		}
	}

	ctx := b.ctx
	if b.newScope {
		ctx = ctx.In("conv")
	}
	g := x.Graph()
	kernelShape := shapes.Make(x.DType(), b.kernel[0], b.kernel[1], dims[3], b.filters)
	if v := ctx.GetVariable("weights"); v != nil && !v.Shape().Equal(kernelShape) {
		vd := v.Shape().Dimensions
		panic(fmt.Sprintf("%s: input shape %s has %d channels and asks for a %dx%d kernel with %d filters, "+
			"but the layer's weights %q exist with shape %s (%d input channels, %d filters)",
			name, x.Shape(), dims[3], b.kernel[0], b.kernel[1], b.filters, v.ScopeAndName(), v.Shape(), vd[len(vd)-2], vd[len(vd)-1]))
	}
	kernelVar := ctx.VariableWithShape("weights", kernelShape)
	if b.regularizer != nil {
		b.regularizer(ctx, g, kernelVar)
	}
	kernel := kernelVar.ValueGraph(g)

	var out *graph.Node
	switch {
	case native(b.ctx, g, b.impl, name):
		conv := graph.Convolve(x, kernel).StridePerAxis(b.strides[0], b.strides[1])
		if b.padSame {
			conv.PadSame()
		} else {
			conv.NoPadding()
		}
		out = conv.Done()
	case pureGoInference(b.ctx, g, b.impl):
		// Inference on the pure-Go backend: GoMLX's convolution, which internal/gomlxfix's
		// fast-conv-kernel computes without materializing the patches; same paddings as convPatches.
		out = graph.Convolve(x, kernel).StridePerAxis(b.strides[0], b.strides[1]).PaddingPerDim(paddings).Done()
	default:
		out = convPatches(x, kernel, b.strides, paddings)
	}

	if b.bias {
		biasVar := ctx.VariableWithShape("biases", shapes.Make(x.DType(), b.filters))
		out = graph.Add(out, graph.Reshape(biasVar.ValueGraph(g), 1, 1, 1, b.filters))
	}
	// As layers.Convolution: an L2 regularization hyperparameter in the layer's scope.
	if l2, found := ctx.GetParam(layers.ParamL2Regularization); found {
		if l2, ok := l2.(float64); ok && l2 > 0 {
			regularizers.L2(l2)(ctx, g, kernelVar)
		}
	}
	return out
}

// convPatches computes the convolution of x [batch, height, width, channels] with kernel
// [kh, kw, channels, filters] as patches × matmul: the image is padded with zeros, each of the
// kh·kw kernel positions takes one strided slice of it ([batch, outH, outW, channels]), the slices
// are stacked along a new leading axis ([kh·kw, batch, outH, outW, channels], in the kernel's row,
// column order), and one DotGeneral contracting the stacked and channels axes with those of the
// kernel seen as [kh·kw, channels, filters] gives [batch, outH, outW, filters]. Its gradients are
// those of Slice, Concatenate and DotGeneral (see internal/gomlxfix).
//
// Stacking along a leading axis makes the concatenation a few large copies; concatenating along the
// channels axis instead (the textbook im2col layout) copied `channels` floats at a time, 30% of
// LeNet-5's inference on the pure-Go backend. The transposition the product needs is done by the
// backend's operand packing (gomlxfix's fast-dot-kernel), which gathers it in cache-sized chunks.
func convPatches(x, kernel *graph.Node, strides [2]int, paddings [][2]int) *graph.Node {
	kh, kw, channels, filters := kernel.Shape().Dim(0), kernel.Shape().Dim(1), kernel.Shape().Dim(2), kernel.Shape().Dim(3)
	x = padSpatial(x, paddings)
	dims := x.Shape().Dimensions
	outH, outW := (dims[1]-kh)/strides[0]+1, (dims[2]-kw)/strides[1]+1
	if kh == 1 && kw == 1 && strides == [2]int{1, 1} {
		return graph.DotGeneral(x, []int{3}, nil, graph.Reshape(kernel, channels, filters), []int{0}, nil)
	}
	parts := make([]*graph.Node, 0, kh*kw)
	for ky := range kh {
		for kx := range kw {
			part := graph.Slice(x, graph.AxisRange(),
				graph.AxisRange(ky, ky+(outH-1)*strides[0]+1).Stride(strides[0]),
				graph.AxisRange(kx, kx+(outW-1)*strides[1]+1).Stride(strides[1]),
				graph.AxisRange())
			parts = append(parts, graph.Reshape(part, 1, dims[0], outH, outW, channels))
		}
	}
	patches := graph.Concatenate(parts, 0)
	return graph.DotGeneral(patches, []int{0, 4}, nil, graph.Reshape(kernel, kh*kw, channels, filters), []int{0, 1}, nil)
}

// padSpatial pads the height and width axes of x with zeros, by concatenation (the pure-Go backend
// has no Pad).
func padSpatial(x *graph.Node, paddings [][2]int) *graph.Node {
	for i, p := range paddings {
		axis := 1 + i
		if p == [2]int{} {
			continue
		}
		parts := make([]*graph.Node, 0, 3)
		zeros := func(n int) *graph.Node {
			dims := append([]int(nil), x.Shape().Dimensions...)
			dims[axis] = n
			return graph.Zeros(x.Graph(), shapes.Make(x.DType(), dims...))
		}
		if p[0] > 0 {
			parts = append(parts, zeros(p[0]))
		}
		parts = append(parts, x)
		if p[1] > 0 {
			parts = append(parts, zeros(p[1]))
		}
		x = graph.Concatenate(parts, axis)
	}
	return x
}
