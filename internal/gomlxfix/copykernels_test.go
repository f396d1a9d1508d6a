package gomlxfix

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/google/go-cmp/cmp"
)

// TestFastSliceMatchesStock runs random strided slices of tensors of rank 1 to 5 (dimensions of 1
// included, so that axes get dropped and merged) on SimpleGo with its own Slice kernel and with
// sliceFloat32: the outputs are identical.
func TestFastSliceMatchesStock(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 3))
	for trial := range 200 {
		rank := 1 + rng.IntN(5)
		dims := make([]int, rank)
		specs := make([]graph.SliceAxisSpec, rank)
		desc := ""
		for axis := range dims {
			dims[axis] = 1 + rng.IntN(7)
			start := rng.IntN(dims[axis])
			end := start + 1 + rng.IntN(dims[axis]-start)
			stride := 1 + rng.IntN(3)
			if rng.IntN(2) == 0 {
				stride = 1
			}
			specs[axis] = graph.AxisRange(start, end).Stride(stride)
			desc += fmt.Sprintf("[%d:%d:%d of %d]", start, end, stride, dims[axis])
		}
		input := tensors.FromFlatDataAndDimensions(randomSlice[float32](rng, size(dims)), dims...)
		run := func(fast bool) []float32 {
			defer setFor(fastCopies, fast)()
			calls := fastKernelCalls.Load()
			defer func() {
				if used := fastKernelCalls.Load() > calls; used != fast {
					t.Errorf("fast=%v: the replacement kernel was used=%v", fast, used)
				}
			}()
			out := graph.MustExecOnce(backend(), func(x *graph.Node) *graph.Node { return graph.Slice(x, specs...) }, input)
			return tensors.MustCopyFlatData[float32](out)
		}
		if diff := cmp.Diff(run(false), run(true)); diff != "" {
			t.Errorf("trial %d, slice %s: fast differs from stock (-stock +fast):\n%s", trial, desc, diff)
		}
	}
}

// TestFastTransposeMatchesStock runs random transpositions of tensors of rank 1 to 5 (dimensions
// of 1 included) on SimpleGo with its own Transpose kernel and with transposeFloat32: the outputs
// are identical.
func TestFastTransposeMatchesStock(t *testing.T) {
	rng := rand.New(rand.NewPCG(6, 6))
	for trial := range 200 {
		rank := 1 + rng.IntN(5)
		dims := make([]int, rank)
		for axis := range dims {
			dims[axis] = 1 + rng.IntN(5)
		}
		perm := rng.Perm(rank)
		input := tensors.FromFlatDataAndDimensions(randomSlice[float32](rng, size(dims)), dims...)
		run := func(fast bool) []float32 {
			defer setFor(fastCopies, fast)()
			calls := fastKernelCalls.Load()
			out := graph.MustExecOnce(backend(), func(x *graph.Node) *graph.Node { return graph.TransposeAllDims(x, perm...) }, input)
			if used := fastKernelCalls.Load() > calls; fast && !used && !isIdentity(perm) {
				t.Errorf("trial %d: the replacement kernel was not used", trial)
			}
			return tensors.MustCopyFlatData[float32](out)
		}
		if diff := cmp.Diff(run(false), run(true)); diff != "" {
			t.Errorf("trial %d, dims %v, permutation %v: fast differs from stock (-stock +fast):\n%s", trial, dims, perm, diff)
		}
	}
}

// TestFastReductionsMatchStock runs ReduceSum, ReduceMax and ReduceMin over random axes of random
// tensors (dimensions of 1 included) on SimpleGo with its own kernels and with reduceFloat32: the
// outputs are bit-identical (same visiting order).
func TestFastReductionsMatchStock(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 9))
	reductions := map[string]func(x *graph.Node, axes ...int) *graph.Node{
		"sum": graph.ReduceSum, "max": graph.ReduceMax, "min": graph.ReduceMin,
	}
	for trial := range 150 {
		rank := 1 + rng.IntN(5)
		dims := make([]int, rank)
		for axis := range dims {
			dims[axis] = 1 + rng.IntN(5)
		}
		var axes []int
		for axis := range rank {
			if rng.IntN(2) == 0 {
				axes = append(axes, axis)
			}
		}
		input := tensors.FromFlatDataAndDimensions(randomSlice[float32](rng, size(dims)), dims...)
		for name, reduce := range reductions {
			run := func(fast bool) []float32 {
				defer setFor(fastReductions, fast)()
				out := graph.MustExecOnce(backend(), func(x *graph.Node) *graph.Node {
					if len(axes) == 0 {
						return reduce(x) // all axes
					}
					return reduce(x, axes...)
				}, input)
				return tensors.MustCopyFlatData[float32](out)
			}
			if diff := cmp.Diff(run(false), run(true)); diff != "" {
				t.Errorf("trial %d, %s over %v of %v: fast differs from stock (-stock +fast):\n%s", trial, name, axes, dims, diff)
			}
		}
	}
}

// TestFastPoolingReductionsMatchStock runs max pooling written as reductions over window axes
// ([batch, h, 2, w, 2, channels] reduced over axes 2 and 4, the way package nn pools), with NaNs,
// signed zeros and infinities among the values, and an all -Inf input: ReduceMax and ReduceMin
// give bit-identical outputs with SimpleGo's kernels and with reduceWindows.
func TestFastPoolingReductionsMatchStock(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 13))
	// Channels last (one pass per window offset), no channel axis (strided outputs), and one large
	// enough to be shared among goroutines.
	for _, dims := range [][]int{{2, 4, 2, 4, 2, 3}, {3, 5, 2, 5, 2, 1}, {1, 2, 3, 2, 3, 7}, {4, 6, 2, 6, 2}, {16, 16, 2, 16, 2, 19}} {
		for _, fill := range []string{"mixed", "-inf"} {
			values := randomSlice[float32](rng, size(dims))
			for i := range values {
				switch r := rng.IntN(12); {
				case fill == "-inf":
					values[i] = float32(math.Inf(-1))
				case r == 0:
					values[i] = float32(math.NaN())
				case r == 1:
					values[i] = float32(math.Copysign(0, -1))
				case r == 2:
					values[i] = 0
				case r == 3:
					values[i] = float32(math.Inf(1 - 2*rng.IntN(2)))
				}
			}
			input := tensors.FromFlatDataAndDimensions(values, dims...)
			for name, reduce := range map[string]func(x *graph.Node, axes ...int) *graph.Node{"max": graph.ReduceMax, "min": graph.ReduceMin} {
				run := func(fast bool) []float32 {
					defer setFor(fastReductions, fast)()
					out := graph.MustExecOnce(backend(), func(x *graph.Node) *graph.Node { return reduce(x, 2, 4) }, input)
					return tensors.MustCopyFlatData[float32](out)
				}
				stock, fast := run(false), run(true)
				for i := range stock {
					if math.Float32bits(stock[i]) != math.Float32bits(fast[i]) {
						t.Errorf("%v %s %s: output %d is %v, stock %v", dims, fill, name, i, fast[i], stock[i])
						break
					}
				}
			}
		}
	}
}
