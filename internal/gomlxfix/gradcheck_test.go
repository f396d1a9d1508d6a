package gomlxfix

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// gradCheck is one numerical gradient check: a function of some float64 inputs, the inputs' dimensions
// and values.
type gradCheck struct {
	fn     func(inputs []*graph.Node) *graph.Node
	dims   [][]int
	values [][]float64
}

// newGradCheck draws the inputs' values: distinct values spread over [-1, 1] (so that the max of a
// window stays the max under a 1e-6 perturbation), in random order.
func newGradCheck(rng *rand.Rand, fn func(inputs []*graph.Node) *graph.Node, dims ...[]int) gradCheck {
	c := gradCheck{fn: fn, dims: dims}
	for _, d := range dims {
		n := size(d)
		v := make([]float64, n)
		for i, p := range rng.Perm(n) {
			v[i] = -1 + 2*(float64(p)+0.25+0.5*rng.Float64())/float64(n)
		}
		c.values = append(c.values, v)
	}
	return c
}

// check compares the gradients of sum(fn(inputs)·w), for a random w, with central differences, on
// the pure-Go backend with the workarounds installed. fn must be piecewise linear in its inputs
// (convolutions, slices, pooling), which makes the differences exact up to rounding.
func (c gradCheck) check(t *testing.T, rng *rand.Rand) {
	t.Helper()
	const h, tol = 1e-6, 1e-7
	g := graph.NewGraph(backend(), "shape")
	var params []*graph.Node
	for i, d := range c.dims {
		params = append(params, graph.Parameter(g, fmt.Sprintf("x%d", i), shapes.Make(dtypes.Float64, d...)))
	}
	outDims := c.fn(params).Shape().Dimensions
	g.Finalize()
	w := randomSlice[float64](rng, size(outDims))

	loss := func(inputs []*graph.Node) *graph.Node {
		weights := graph.Const(inputs[0].Graph(), tensors.FromFlatDataAndDimensions(w, outDims...))
		return graph.ReduceAllSum(graph.Mul(c.fn(inputs), weights))
	}
	lossExec, err := graph.NewExec(backend(), loss)
	if err != nil {
		t.Fatal(err)
	}
	gradExec, err := graph.NewExec(backend(), func(inputs []*graph.Node) []*graph.Node {
		return graph.Gradient(loss(inputs), inputs...)
	})
	if err != nil {
		t.Fatal(err)
	}
	args := func(values [][]float64) []any {
		a := make([]any, len(values))
		for i, v := range values {
			a[i] = tensors.FromFlatDataAndDimensions(v, c.dims[i]...)
		}
		return a
	}
	var grads [][]float64
	func() {
		defer func() {
			if r := recover(); r != nil {
				t.Fatalf("gradient of %v: %v", c.dims, r)
			}
		}()
		for _, out := range gradExec.MustExec(args(c.values)...) {
			grads = append(grads, tensors.MustCopyFlatData[float64](out))
		}
	}()
	lossAt := func(values [][]float64) float64 {
		return tensors.MustCopyFlatData[float64](lossExec.MustExec(args(values)...)[0])[0]
	}
	for i := range c.values {
		values := make([][]float64, len(c.values))
		for j := range values {
			values[j] = append([]float64(nil), c.values[j]...)
		}
		var worst float64
		var worstAt int
		for j, orig := range c.values[i] {
			values[i][j] = orig + h
			plus := lossAt(values)
			values[i][j] = orig - h
			minus := lossAt(values)
			values[i][j] = orig
			want := (plus - minus) / (2 * h)
			if diff := math.Abs(grads[i][j]-want) / (1 + math.Abs(want)); diff > worst {
				worst, worstAt = diff, j
			}
		}
		if worst > tol {
			t.Errorf("gradient wrt input %d (%v): element %d is %g, numerically %g (relative difference %.2g)",
				i, c.dims[i], worstAt, grads[i][worstAt], numericalAt(lossAt, c.values, i, worstAt, h), worst)
		}
	}
}

func numericalAt(lossAt func([][]float64) float64, values [][]float64, i, j int, h float64) float64 {
	v := make([][]float64, len(values))
	for k := range v {
		v[k] = append([]float64(nil), values[k]...)
	}
	v[i][j] += h
	plus := lossAt(v)
	v[i][j] -= 2 * h
	return (plus - lossAt(v)) / (2 * h)
}

// installed installs every workaround for the rest of the test (tests using it must not run in parallel).
func installed(t *testing.T) {
	t.Helper()
	before := Workarounds()
	Install()
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		for i, w := range registry {
			w.set(before[i].Installed)
		}
	})
}
