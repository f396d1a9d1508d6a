package gomlxfix

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/google/go-cmp/cmp"
)

// referencePad is graph.Pad's semantics written out in plain Go: out[start + i·(interior+1)] = x[i]
// per axis, cutting what a negative start or end puts out of range.
func referencePad(x []float64, dims []int, fill float64, config []backends.PadAxis) (out []float64, outDims []int) {
	rank := len(dims)
	outDims = make([]int, rank)
	for a, d := range dims {
		outDims[a] = config[a].Start + config[a].End
		if d > 0 {
			outDims[a] += d + (d-1)*config[a].Interior
		}
	}
	out = make([]float64, size(outDims))
	for i := range out {
		out[i] = fill
	}
	idx := make([]int, rank)
	for flat := range x {
		rem := flat
		for a := rank - 1; a >= 0; a-- {
			idx[a] = rem % dims[a]
			rem /= dims[a]
		}
		outFlat, inside := 0, true
		for a := range rank {
			pos := config[a].Start + idx[a]*(config[a].Interior+1)
			if pos < 0 || pos >= outDims[a] {
				inside = false
				break
			}
			outFlat = outFlat*outDims[a] + pos
		}
		if inside {
			out[outFlat] = x[flat]
		}
	}
	return out, outDims
}

func TestPadGraph(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 9))
	for i := range 30 {
		rank := 1 + rng.IntN(3)
		dims := make([]int, rank)
		config := make([]backends.PadAxis, rank)
		for a := range rank {
			dims[a] = 1 + rng.IntN(4)
			config[a] = backends.PadAxis{Start: rng.IntN(5) - 2, End: rng.IntN(5) - 2, Interior: rng.IntN(3)}
			if dims[a]+(dims[a]-1)*config[a].Interior+config[a].Start+config[a].End < 1 {
				config[a].Start, config[a].End = 0, 0
			}
		}
		x := randomSlice[float64](rng, size(dims))
		want, wantDims := referencePad(x, dims, -7, config)
		t.Run(fmt.Sprintf("%02d_%v_%v", i, dims, config), func(t *testing.T) {
			exec, err := graph.NewExec(backend(), func(x *graph.Node) *graph.Node {
				return padGraph(x, graph.Const(x.Graph(), -7.0), config)
			})
			if err != nil {
				t.Fatal(err)
			}
			out := exec.MustExec(tensors.FromFlatDataAndDimensions(x, dims...))[0]
			if diff := cmp.Diff(wantDims, out.Shape().Dimensions); diff != "" {
				t.Fatalf("dimensions: -want +got:\n%s", diff)
			}
			if diff := cmp.Diff(want, tensors.MustCopyFlatData[float64](out)); diff != "" {
				t.Errorf("values: -want +got:\n%s", diff)
			}
		})
	}
}

// TestSliceGradientNumerical checks the gradient of Slice (strided or not) against central
// differences on random shapes, starts, limits and strides.
func TestSliceGradientNumerical(t *testing.T) {
	installed(t)
	rng := rand.New(rand.NewPCG(10, 10))
	for i := range 30 {
		rank := 1 + rng.IntN(3)
		dims := make([]int, rank)
		specs := make([]graph.SliceAxisSpec, rank)
		for a := range rank {
			dims[a] = 1 + rng.IntN(6)
			start := rng.IntN(dims[a])
			end := start + 1 + rng.IntN(dims[a]-start)
			specs[a] = graph.AxisRange(start, end).Stride(1 + rng.IntN(3))
		}
		t.Run(fmt.Sprintf("%02d_%v_%v", i, dims, specs), func(t *testing.T) {
			slice := func(in []*graph.Node) *graph.Node { return graph.Slice(in[0], specs...) }
			newGradCheck(rng, slice, dims).check(t, rng)
		})
	}
}
