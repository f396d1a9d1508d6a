package nn

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/google/go-cmp/cmp"
)

type poolConfig struct {
	dims           []int
	wh, ww, sh, sw int // sh == 0: default strides
	padSame        bool
}

func (c poolConfig) String() string {
	return fmt.Sprintf("x%v_w%dx%d_s%dx%d_same%v", c.dims, c.wh, c.ww, c.sh, c.sw, c.padSame)
}

func (c poolConfig) build(ctx *context.Context, x *graph.Node, impl Impl) *graph.Node {
	pool := MaxPool2D(ctx, x).WindowPerAxis(c.wh, c.ww).Impl(impl)
	if c.sh > 0 {
		pool.StridePerAxis(c.sh, c.sw)
	}
	if c.padSame {
		pool.PadSame()
	}
	return pool.Done()
}

// runPool returns the pooling's output and the gradient of sum(output·w) with respect to the input.
func runPool(c poolConfig, impl Impl, x, w *tensors.Tensor) [][]float32 {
	exec := context.MustNewExec(pureGo(), context.New(), func(ctx *context.Context, x, w *graph.Node) []*graph.Node {
		out := c.build(ctx, x, impl)
		return []*graph.Node{out, graph.Gradient(graph.ReduceAllSum(graph.Mul(out, w)), x)[0]}
	})
	return flat[float32](exec.MustExec(x, w))
}

// TestMaxPool2DMatchesNative compares the patches implementation (reshape + reduce for tiling
// windows) with graph.MaxPool: the same outputs and the same input gradients, on random shapes,
// windows and strides, with and without remainders.
func TestMaxPool2DMatchesNative(t *testing.T) {
	rng := rand.New(rand.NewPCG(2, 2))
	configs := []poolConfig{
		{dims: []int{2, 28, 28, 6}, wh: 2, ww: 2},              // LeNet-5
		{dims: []int{2, 7, 9, 3}, wh: 2, ww: 3},                // remainders
		{dims: []int{1, 6, 6, 2}, wh: 3, ww: 3, sh: 2, sw: 2},  // overlapping: falls back to native
		{dims: []int{1, 5, 5, 2}, wh: 3, ww: 3, padSame: true}, // pad same: falls back to native
		{dims: []int{1, 8, 8, 1}, wh: 2, ww: 2, sh: 2, sw: 2},  // explicit strides = window
	}
	for range 10 {
		wh, ww := 1+rng.IntN(3), 1+rng.IntN(3)
		configs = append(configs, poolConfig{dims: []int{1 + rng.IntN(3), wh + rng.IntN(7), ww + rng.IntN(7), 1 + rng.IntN(4)}, wh: wh, ww: ww})
	}
	for i, c := range configs {
		t.Run(fmt.Sprintf("%02d_%s", i, c), func(t *testing.T) {
			x := tensors.FromFlatDataAndDimensions(randomFloats[float32](rng, size(c.dims)), c.dims...)
			exec := context.MustNewExec(pureGo(), context.New(), func(ctx *context.Context, x *graph.Node) *graph.Node {
				return c.build(ctx, x, Native)
			})
			outDims := exec.MustExec(x)[0].Shape().Dimensions
			w := tensors.FromFlatDataAndDimensions(randomFloats[float32](rng, size(outDims)), outDims...)
			native, patches := runPool(c, Native, x, w), runPool(c, Patches, x, w)
			if diff := cmp.Diff(native[0], patches[0]); diff != "" {
				t.Errorf("output: -native +patches:\n%s", diff)
			}
			closeTo(t, "gradient wrt input", native[1], patches[1], 1e-6)
		})
	}
}

// TestMaxPool2DTies checks that on an image with ties (a zero background, two equal maxima) each
// window's gradient goes to its first maximum, on both implementations.
func TestMaxPool2DTies(t *testing.T) {
	x := tensors.FromFlatDataAndDimensions([]float32{
		0, 0, 0, 0,
		5, 5, 0, 0,
		0, 0, 0, 0,
		0, 0, 0, 1,
	}, 1, 4, 4, 1)
	want := []float32{
		0, 0, 1, 0,
		1, 0, 0, 0,
		1, 0, 0, 0,
		0, 0, 0, 1,
	}
	c := poolConfig{dims: []int{1, 4, 4, 1}, wh: 2, ww: 2}
	ones := tensors.FromFlatDataAndDimensions([]float32{1, 1, 1, 1}, 1, 2, 2, 1)
	for _, impl := range []Impl{Native, Patches} {
		got := runPool(c, impl, x, ones)
		if diff := cmp.Diff([]float32{5, 0, 0, 1}, got[0]); diff != "" {
			t.Errorf("%s output: -want +got:\n%s", impl, diff)
		}
		if diff := cmp.Diff(want, got[1]); diff != "" {
			t.Errorf("%s gradient: -want +got:\n%s", impl, diff)
		}
	}
}

func TestMaxPool2DErrors(t *testing.T) {
	pool := func(window int) func(ctx *context.Context, x *graph.Node) *graph.Node {
		return func(ctx *context.Context, x *graph.Node) *graph.Node {
			return MaxPool2D(ctx.In("pool1"), x).Window(window).Done()
		}
	}
	t.Run("not_images", func(t *testing.T) {
		panicsWith(t, context.New(), []int{2, 8, 8}, pool(2), `"/pool1"`, "[2 8 8]")
	})
	t.Run("image_smaller_than_window", func(t *testing.T) {
		panicsWith(t, context.New(), []int{2, 1, 1, 16}, pool(2), `"/pool1"`, "1x1", "2x2 window", "[2 1 1 16]")
	})
	t.Run("no_window", func(t *testing.T) {
		panicsWith(t, context.New(), []int{2, 8, 8, 1}, pool(0), `"/pool1"`, "window")
	})
}
