package nn

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/gomlx/gomlx/pkg/ml/context/initializers"
	"github.com/gomlx/gomlx/pkg/ml/layers"
	"github.com/google/go-cmp/cmp"
)

func shapesF32(dims []int) shapes.Shape { return shapes.Make(dtypes.Float32, dims...) }

// convConfig is one Conv2D configuration.
type convConfig struct {
	dims            []int // input [batch, height, width, channels]
	filters, kh, kw int
	sh, sw          int
	padSame, bias   bool
}

func (c convConfig) String() string {
	return fmt.Sprintf("x%v_f%d_k%dx%d_s%dx%d_same%v_bias%v", c.dims, c.filters, c.kh, c.kw, c.sh, c.sw, c.padSame, c.bias)
}

func (c convConfig) build(ctx *context.Context, x *graph.Node, impl Impl) *graph.Node {
	conv := Conv2D(ctx, x).Filters(c.filters).KernelSizePerAxis(c.kh, c.kw).StridePerAxis(c.sh, c.sw).UseBias(c.bias).Impl(impl)
	if c.padSame {
		conv.PadSame()
	}
	return conv.Done()
}

func randomConvConfig(rng *rand.Rand) convConfig {
	c := convConfig{
		filters: 1 + rng.IntN(5), kh: 1 + rng.IntN(5), kw: 1 + rng.IntN(5),
		sh: 1 + rng.IntN(3), sw: 1 + rng.IntN(3), padSame: rng.IntN(2) == 0, bias: rng.IntN(4) != 0,
	}
	c.dims = []int{1 + rng.IntN(3), c.kh + rng.IntN(6), c.kw + rng.IntN(6), 1 + rng.IntN(4)}
	return c
}

// runConv builds c with impl on ctx and returns the output and the gradients of sum(output·w) with
// respect to the input, the kernel and (if any) the bias.
func runConv(t *testing.T, ctx *context.Context, c convConfig, impl Impl, x, w *tensors.Tensor) [][]float32 {
	t.Helper()
	exec := context.MustNewExec(pureGo(), ctx.Checked(false), func(ctx *context.Context, x, w *graph.Node) []*graph.Node {
		out := c.build(ctx, x, impl)
		loss := graph.ReduceAllSum(graph.Mul(out, w))
		wrt := []*graph.Node{x, ctx.In("conv").GetVariable("weights").ValueGraph(x.Graph())}
		if c.bias {
			wrt = append(wrt, ctx.In("conv").GetVariable("biases").ValueGraph(x.Graph()))
		}
		return append([]*graph.Node{out}, graph.Gradient(loss, wrt...)...)
	})
	return flat[float32](exec.MustExec(x, w))
}

// TestConv2DMatchesNative compares the patches implementation with GoMLX's native convolution on
// random shapes, kernels, strides and paddings: outputs within 1e-5 and gradients (input, kernel,
// bias) within 1e-5, relative to the largest value.
func TestConv2DMatchesNative(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	fixed := []convConfig{
		{dims: []int{2, 28, 28, 1}, filters: 6, kh: 5, kw: 5, sh: 1, sw: 1, padSame: true, bias: true}, // LeNet-5 conv0
		{dims: []int{2, 14, 14, 6}, filters: 16, kh: 5, kw: 5, sh: 1, sw: 1, bias: true},               // LeNet-5 conv1
		{dims: []int{2, 8, 8, 3}, filters: 4, kh: 3, kw: 3, sh: 2, sw: 2, padSame: true},               // ResNet downsampling
		{dims: []int{1, 5, 5, 2}, filters: 3, kh: 1, kw: 1, sh: 1, sw: 1, bias: true},                  // 1x1
		{dims: []int{1, 6, 5, 2}, filters: 3, kh: 2, kw: 4, sh: 1, sw: 2, padSame: true},               // even, asymmetric
	}
	for range 20 {
		fixed = append(fixed, randomConvConfig(rng))
	}
	for i, c := range fixed {
		t.Run(fmt.Sprintf("%02d_%s", i, c), func(t *testing.T) {
			ctx := context.New()
			ctx.SetParam(context.ParamInitialSeed, int64(i))
			// Random biases too, so that their gradient and addition are checked.
			ctx = ctx.WithInitializer(initializers.RandomNormalFn(ctx, 1))
			x := tensors.FromFlatDataAndDimensions(randomFloats[float32](rng, size(c.dims)), c.dims...)
			exec := context.MustNewExec(pureGo(), ctx, func(ctx *context.Context, x *graph.Node) *graph.Node {
				return c.build(ctx, x, Native)
			})
			outDims := exec.MustExec(x)[0].Shape().Dimensions
			w := tensors.FromFlatDataAndDimensions(randomFloats[float32](rng, size(outDims)), outDims...)
			native := runConv(t, ctx, c, Native, x, w)
			patches := runConv(t, ctx, c, Patches, x, w)
			for j, what := range []string{"output", "gradient wrt input", "gradient wrt kernel", "gradient wrt bias"}[:len(native)] {
				closeTo(t, what, native[j], patches[j], 1e-5)
			}
		})
	}
}

// TestConv2DSameVariablesAsLayersConvolution checks that Conv2D creates the variables of GoMLX's
// layers.Convolution: same scopes, names, shapes, trainability and (same seed) initial values.
func TestConv2DSameVariablesAsLayersConvolution(t *testing.T) {
	type variable struct {
		Path      string
		Shape     string
		Trainable bool
		Values    []float32
	}
	collect := func(build func(ctx *context.Context, x *graph.Node) *graph.Node) []variable {
		ctx := context.New()
		ctx.SetParam(context.ParamInitialSeed, int64(42))
		ctx = ctx.WithInitializer(initializers.XavierNormalFn(ctx))
		exec := context.MustNewExec(pureGo(), ctx, func(ctx *context.Context, x *graph.Node) *graph.Node {
			return build(ctx.In("conv3"), x)
		})
		exec.MustExec(tensors.FromShape(shapesF32([]int{2, 9, 9, 3})))
		var vars []variable
		for v := range ctx.IterVariables() {
			if v.Shape().DType != dtypes.Float32 {
				continue // the context's random number generator state
			}
			vars = append(vars, variable{v.ScopeAndName(), v.Shape().String(), v.Trainable, tensors.MustCopyFlatData[float32](v.MustValue())})
		}
		return vars
	}
	for _, bias := range []bool{true, false} {
		want := collect(func(ctx *context.Context, x *graph.Node) *graph.Node {
			return layers.Convolution(ctx, x).Filters(4).KernelSize(3).Strides(2).PadSame().UseBias(bias).Done()
		})
		for _, impl := range []Impl{Native, Patches} {
			got := collect(func(ctx *context.Context, x *graph.Node) *graph.Node {
				return Conv2D(ctx, x).Filters(4).KernelSize(3).Strides(2).PadSame().UseBias(bias).Impl(impl).Done()
			})
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("bias=%v, %s: variables differ from layers.Convolution's (-want +got):\n%s", bias, impl, diff)
			}
		}
	}
}

func TestConv2DErrors(t *testing.T) {
	conv := func(filters, kernel int) func(ctx *context.Context, x *graph.Node) *graph.Node {
		return func(ctx *context.Context, x *graph.Node) *graph.Node {
			return Conv2D(ctx.In("conv1"), x).Filters(filters).KernelSize(kernel).Done()
		}
	}
	t.Run("not_images", func(t *testing.T) {
		panicsWith(t, context.New(), []int{2, 28, 28}, conv(4, 3), `"/conv1"`, "[2 28 28]", "[batch, height, width, channels]")
	})
	t.Run("image_smaller_than_kernel", func(t *testing.T) {
		panicsWith(t, context.New(), []int{2, 4, 4, 3}, conv(4, 5), `"/conv1"`, "4x4", "5x5 kernel", "[2 4 4 3]")
	})
	t.Run("no_filters", func(t *testing.T) {
		panicsWith(t, context.New(), []int{2, 8, 8, 3}, conv(0, 3), `"/conv1"`, "Filters")
	})
	t.Run("channel_mismatch", func(t *testing.T) {
		ctx := context.New()
		exec := context.MustNewExec(pureGo(), ctx, conv(4, 3))
		exec.MustExec(tensors.FromShape(shapesF32([]int{2, 8, 8, 3})))
		panicsWith(t, ctx.Checked(false), []int{2, 8, 8, 1}, conv(4, 3), `"/conv1"`, "[2 8 8 1]", "1 channels", "3 input channels", "[3 3 3 4]")
	})
	t.Run("unknown_impl", func(t *testing.T) {
		ctx := context.New()
		ctx.SetParam(ParamImpl, "winograd")
		panicsWith(t, ctx, []int{2, 8, 8, 3}, conv(4, 3), `"winograd"`, "native", "patches")
	})
}

// TestParamImpl checks that the context hyperparameter picks the implementation: the native one
// builds a ConvGeneral node, the patches one a DotGeneral and no ConvGeneral; on the pure-Go
// backend, auto builds patches in training graphs and GoMLX's convolution in the others.
func TestParamImpl(t *testing.T) {
	for _, tc := range []struct {
		param            string
		training         bool
		conv, dotGeneral bool
	}{
		{"", true, false, true}, {"auto", true, false, true}, {"native", true, true, false}, {"patches", true, false, true},
		{"", false, true, false}, {"auto", false, true, false}, {"native", false, true, false}, {"patches", false, false, true},
	} {
		ctx := context.New()
		if tc.param != "" {
			ctx.SetParam(ParamImpl, tc.param)
		}
		g := graph.NewGraph(pureGo(), "impl")
		ctx.SetTraining(g, tc.training)
		x := graph.Parameter(g, "x", shapesF32([]int{1, 6, 6, 2}))
		Conv2D(ctx, x).Filters(2).KernelSize(3).Done()
		var conv, dot bool
		for _, n := range g.Nodes() {
			conv = conv || n.Type() == graph.NodeTypeConvGeneral
			dot = dot || n.Type() == graph.NodeTypeDotGeneral
		}
		if conv != tc.conv || dot != tc.dotGeneral {
			t.Errorf("%s=%q, training %v, on the pure-Go backend: ConvGeneral %v, DotGeneral %v; want %v, %v",
				ParamImpl, tc.param, tc.training, conv, dot, tc.conv, tc.dotGeneral)
		}
		g.Finalize()
	}
}
