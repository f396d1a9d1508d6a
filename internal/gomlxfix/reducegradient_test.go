package gomlxfix

import (
	"math/rand/v2"
	"testing"

	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/google/go-cmp/cmp"
)

// TestFirstExtremeGradientTies checks where the gradient of ReduceMax and ReduceMin goes when
// elements tie: to the first of them, row-major over the reduced axes, once.
func TestFirstExtremeGradientTies(t *testing.T) {
	installed(t)
	x := tensors.FromFlatDataAndDimensions([]float32{
		1, 3, 3, // max at 1 and 2, min at 0
		2, 2, 0, // max at 0 and 1, min at 2
		5, 5, 5, // all tie
	}, 3, 3)
	for _, tc := range []struct {
		name   string
		reduce func(*graph.Node) *graph.Node
		want   []float32
	}{
		{"max_rows", func(x *graph.Node) *graph.Node { return graph.ReduceMax(x, 1) }, []float32{0, 1, 0, 1, 0, 0, 1, 0, 0}},
		{"min_rows", func(x *graph.Node) *graph.Node { return graph.ReduceMin(x, 1) }, []float32{1, 0, 0, 0, 0, 1, 1, 0, 0}},
		{"max_columns", func(x *graph.Node) *graph.Node { return graph.ReduceMax(x, 0) }, []float32{0, 0, 0, 0, 0, 0, 1, 1, 1}},
		{"max_all", func(x *graph.Node) *graph.Node { return graph.ReduceAllMax(x) }, []float32{0, 0, 0, 0, 0, 0, 1, 0, 0}},
		{"min_all", func(x *graph.Node) *graph.Node { return graph.ReduceAllMin(x) }, []float32{0, 0, 0, 0, 0, 1, 0, 0, 0}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			grad := graph.MustExecOnce(backend(), func(x *graph.Node) *graph.Node {
				return graph.Gradient(graph.ReduceAllSum(tc.reduce(x)), x)[0]
			}, x)
			if diff := cmp.Diff(tc.want, tensors.MustCopyFlatData[float32](grad)); diff != "" {
				t.Errorf("gradient (-want +got):\n%s", diff)
			}
		})
	}
}

// TestFirstExtremeGradientNumerical checks the rule against central differences on random shapes
// and reduced axes (distinct values, so there are no ties).
func TestFirstExtremeGradientNumerical(t *testing.T) {
	installed(t)
	rng := rand.New(rand.NewPCG(4, 4))
	for trial := range 12 {
		rank := 1 + rng.IntN(4)
		dims := make([]int, rank)
		for i := range dims {
			dims[i] = 1 + rng.IntN(4)
		}
		var axes []int
		for axis := range rank {
			if rng.IntN(2) == 0 {
				axes = append(axes, axis)
			}
		}
		reduce := graph.ReduceMax
		if trial%2 == 1 {
			reduce = graph.ReduceMin
		}
		t.Logf("trial %d: dims %v, axes %v", trial, dims, axes)
		newGradCheck(rng, func(in []*graph.Node) *graph.Node { return reduce(in[0], axes...) }, dims).check(t, rng)
	}
}
