package gomlxfix

import (
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/backends/simplego"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/google/go-cmp/cmp"
)

// backend is the pure-Go backend: the one these workarounds are for.
func backend() backends.Backend { return simplego.GetBackend() }

// useDotGradient installs the fast (fast=true) or stock Dot/DotGeneral gradient for the rest of
// the test and puts the previous state back when it ends. Tests that use it must not run in parallel.
func useDotGradient(tb testing.TB, fast bool) {
	tb.Helper()
	tb.Cleanup(setFor(fastDotGradient, fast))
}

// dotCase is one DotGeneral configuration: operand dimensions and axes.
type dotCase struct {
	lhsDims, rhsDims []int
	axes             dotAxes
}

func (c dotCase) String() string {
	return fmt.Sprintf("lhs%v_c%v_b%v_rhs%v_c%v_b%v", c.lhsDims, c.axes.lhsContracting, c.axes.lhsBatch,
		c.rhsDims, c.axes.rhsContracting, c.axes.rhsBatch)
}

// outDims returns the dimensions of the DotGeneral output: [batch..., lhs cross..., rhs cross...],
// cross axes in increasing order.
func (c dotCase) outDims() []int {
	var out []int
	for _, axis := range c.axes.lhsBatch {
		out = append(out, c.lhsDims[axis])
	}
	for axis, dim := range c.lhsDims {
		if !slices.Contains(c.axes.lhsBatch, axis) && !slices.Contains(c.axes.lhsContracting, axis) {
			out = append(out, dim)
		}
	}
	for axis, dim := range c.rhsDims {
		if !slices.Contains(c.axes.rhsBatch, axis) && !slices.Contains(c.axes.rhsContracting, axis) {
			out = append(out, dim)
		}
	}
	return out
}

// dotGeneral builds c's DotGeneral of lhs and rhs.
func (c dotCase) dotGeneral(lhs, rhs *graph.Node) *graph.Node {
	return graph.DotGeneral(lhs, c.axes.lhsContracting, c.axes.lhsBatch, rhs, c.axes.rhsContracting, c.axes.rhsBatch)
}

// loss is sum(DotGeneral(lhs, rhs) * w): with random w the gradient arriving at the DotGeneral is w.
func (c dotCase) loss(lhs, rhs, w *graph.Node) *graph.Node {
	return graph.ReduceAllSum(graph.Mul(c.dotGeneral(lhs, rhs), w))
}

// fixedDotCases are hand-picked configurations, each named for what it covers.
var fixedDotCases = map[string]dotCase{
	"matmul": {[]int{3, 4}, []int{4, 5}, dotAxes{lhsContracting: []int{1}, rhsContracting: []int{0}}},
	"matmul_rhs_transposed": {[]int{3, 4}, []int{5, 4},
		dotAxes{lhsContracting: []int{1}, rhsContracting: []int{1}}},
	"matmul_lhs_transposed": {[]int{4, 3}, []int{4, 5},
		dotAxes{lhsContracting: []int{0}, rhsContracting: []int{0}}},
	"batched_matmul": {[]int{2, 3, 4}, []int{2, 4, 5},
		dotAxes{lhsContracting: []int{2}, lhsBatch: []int{0}, rhsContracting: []int{1}, rhsBatch: []int{0}}},
	"batch_trailing_reordered_no_rhs_cross": {[]int{3, 4, 2, 5}, []int{4, 3, 5},
		dotAxes{lhsContracting: []int{1}, lhsBatch: []int{3, 0}, rhsContracting: []int{0}, rhsBatch: []int{2, 1}}},
	"contracting_interleaved_reordered": {[]int{2, 3, 4, 5}, []int{3, 5, 2},
		dotAxes{lhsContracting: []int{3, 1}, rhsContracting: []int{1, 0}}},
	"outer_product":     {[]int{3}, []int{4}, dotAxes{}},
	"vector_dot":        {[]int{4}, []int{4}, dotAxes{lhsContracting: []int{0}, rhsContracting: []int{0}}},
	"scalar_scalar":     {[]int{}, []int{}, dotAxes{}},
	"scalar_matrix":     {[]int{}, []int{2, 3}, dotAxes{}},
	"batch_only":        {[]int{2, 3}, []int{3, 2}, dotAxes{lhsBatch: []int{0, 1}, rhsBatch: []int{1, 0}}},
	"batch_outer":       {[]int{3, 2}, []int{2, 4}, dotAxes{lhsBatch: []int{1}, rhsBatch: []int{0}}},
	"dims_of_one":       {[]int{1, 3, 1}, []int{1, 3}, dotAxes{lhsContracting: []int{1}, lhsBatch: []int{2}, rhsContracting: []int{1}, rhsBatch: []int{0}}},
	"all_kinds_of_axes": {[]int{2, 3, 2, 4, 3}, []int{3, 2, 3, 4, 2}, dotAxes{lhsContracting: []int{4, 1}, lhsBatch: []int{3, 0}, rhsContracting: []int{2, 0}, rhsBatch: []int{3, 4}}},
}

// randomDotCases returns n random DotGeneral configurations: 0–2 batch, contracting and cross axes
// on each side, placed at random positions (so batch axes are often not leading and listed in a
// different order on each side), dimensions 1–3, each tensor at most maxSize elements.
func randomDotCases(seed uint64, n int) []dotCase {
	const maxSize = 150
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	dims := func(n int) []int {
		d := make([]int, n)
		for i := range d {
			d[i] = 1 + rng.IntN(3)
		}
		return d
	}
	// place puts batch, contracting and cross dimensions at random positions of an operand and
	// returns its dimensions and where each batch and contracting axis went.
	place := func(batch, contracting, cross []int) (d, batchAxes, contractingAxes []int) {
		logical := slices.Concat(batch, contracting, cross)
		pos := rng.Perm(len(logical)) // pos[i]: axis of logical dimension i
		d = make([]int, len(logical))
		for i, p := range pos {
			d[p] = logical[i]
		}
		return d, pos[:len(batch)], pos[len(batch) : len(batch)+len(contracting)]
	}
	size := func(d []int) int {
		s := 1
		for _, x := range d {
			s *= x
		}
		return s
	}
	var cases []dotCase
	for len(cases) < n {
		batch, contracting := dims(rng.IntN(3)), dims(rng.IntN(3))
		var c dotCase
		c.lhsDims, c.axes.lhsBatch, c.axes.lhsContracting = place(batch, contracting, dims(rng.IntN(3)))
		c.rhsDims, c.axes.rhsBatch, c.axes.rhsContracting = place(batch, contracting, dims(rng.IntN(3)))
		if size(c.lhsDims) > maxSize || size(c.rhsDims) > maxSize || size(c.outDims()) > maxSize {
			continue
		}
		cases = append(cases, c)
	}
	return cases
}

// allDotCases returns the fixed cases and 60 random ones, named.
func allDotCases() (names []string, cases []dotCase) {
	for _, name := range slices.Sorted(maps.Keys(fixedDotCases)) {
		names = append(names, name)
		cases = append(cases, fixedDotCases[name])
	}
	for i, c := range randomDotCases(2024, 60) {
		names = append(names, fmt.Sprintf("random%02d_%s", i, c))
		cases = append(cases, c)
	}
	return names, cases
}

// TestRandomDotCasesCoverage checks that the random configurations cover what the gradient must
// handle, so that the tests below exercise it.
func TestRandomDotCasesCoverage(t *testing.T) {
	counts := map[string]int{}
	for _, c := range randomDotCases(2024, 60) {
		a := c.axes
		nb := len(a.lhsBatch)
		if nb > 0 && (!slices.Equal(a.lhsBatch, axisRange(0, nb)) || !slices.Equal(a.rhsBatch, axisRange(0, nb))) {
			counts["batch axes not leading"]++
		}
		if nb > 1 && (!slices.IsSorted(a.lhsBatch) || !slices.IsSorted(a.rhsBatch)) {
			counts["batch axes listed out of order"]++
		}
		if len(a.lhsContracting) > 1 && (!slices.IsSorted(a.lhsContracting) || !slices.IsSorted(a.rhsContracting)) {
			counts["contracting axes listed out of order"]++
		}
		if len(a.lhsContracting) == 0 {
			counts["no contracting axes"]++
		}
		if len(a.lhsContracting) > 0 && !slices.Equal(a.lhsContracting, axisRange(len(c.lhsDims)-len(a.lhsContracting), len(a.lhsContracting))) {
			counts["contracting axes not trailing"]++
		}
		nlx := len(c.lhsDims) - nb - len(a.lhsContracting)
		nrx := len(c.rhsDims) - nb - len(a.rhsContracting)
		if nlx == 0 || nrx == 0 {
			counts["no cross axes on one side"]++
		}
		if nb > 0 && len(a.lhsContracting) > 0 && nlx > 0 && nrx > 0 {
			counts["all kinds of axes"]++
		}
	}
	for _, what := range []string{"batch axes not leading", "batch axes listed out of order",
		"contracting axes listed out of order", "no contracting axes", "contracting axes not trailing",
		"no cross axes on one side", "all kinds of axes"} {
		if counts[what] < 3 {
			t.Errorf("only %d random configurations with %s, want at least 3", counts[what], what)
		}
	}
}

// TestDotGeneralAxesOf fails loudly when this package cannot read the axes GoMLX stores in a
// DotGeneral node: if it fails after a GoMLX upgrade, the reflection in dotGeneralAxesOf needs
// updating (or GoMLX now offers an accessor).
func TestDotGeneralAxesOf(t *testing.T) {
	names, cases := allDotCases()
	g := graph.NewGraph(backend(), "axes")
	for i, c := range cases {
		lhs := graph.Parameter(g, fmt.Sprintf("lhs%d", i), shapes.Make(dtypes.Float32, c.lhsDims...))
		rhs := graph.Parameter(g, fmt.Sprintf("rhs%d", i), shapes.Make(dtypes.Float32, c.rhsDims...))
		var got dotAxes
		func() {
			defer func() {
				if r := recover(); r != nil {
					t.Fatalf("%s: cannot read DotGeneral axes: %v", names[i], r)
				}
			}()
			got = dotGeneralAxesOf(c.dotGeneral(lhs, rhs))
		}()
		if diff := cmp.Diff(c.axes, got, cmp.AllowUnexported(dotAxes{}), cmpEmptyIsNil); diff != "" {
			t.Errorf("%s: dotGeneralAxesOf: -want +got:\n%s", names[i], diff)
		}
	}

	// Negative axes are stored adjusted.
	lhs := graph.Parameter(g, "lhs", shapes.Make(dtypes.Float32, 2, 3, 4))
	rhs := graph.Parameter(g, "rhs", shapes.Make(dtypes.Float32, 2, 4, 5))
	got := dotGeneralAxesOf(graph.DotGeneral(lhs, []int{-1}, []int{-3}, rhs, []int{-2}, []int{0}))
	want := dotAxes{lhsContracting: []int{2}, lhsBatch: []int{0}, rhsContracting: []int{1}, rhsBatch: []int{0}}
	if diff := cmp.Diff(want, got, cmp.AllowUnexported(dotAxes{})); diff != "" {
		t.Errorf("negative axes: -want +got:\n%s", diff)
	}
}

// cmpEmptyIsNil treats nil and empty []int alike.
var cmpEmptyIsNil = cmp.FilterValues(func(x, y []int) bool { return len(x) == 0 && len(y) == 0 },
	cmp.Comparer(func(_, _ []int) bool { return true }))

func TestDotAxesCheck(t *testing.T) {
	f := func(dims ...int) shapes.Shape { return shapes.Make(dtypes.Float32, dims...) }
	for _, tc := range []struct {
		name          string
		lhs, rhs, out shapes.Shape
		axes          dotAxes
		ok            bool
	}{
		{"matmul", f(3, 4), f(4, 5), f(3, 5), dotAxes{lhsContracting: []int{1}, rhsContracting: []int{0}}, true},
		{"wrong output", f(3, 4), f(4, 5), f(5, 3), dotAxes{lhsContracting: []int{1}, rhsContracting: []int{0}}, false},
		{"unpaired", f(3, 4), f(4, 5), f(3, 5), dotAxes{lhsContracting: []int{1}}, false},
		{"out of range", f(3, 4), f(4, 5), f(3, 5), dotAxes{lhsContracting: []int{2}, rhsContracting: []int{0}}, false},
		{"repeated", f(4, 4), f(4, 4), f(), dotAxes{lhsContracting: []int{1}, lhsBatch: []int{1}, rhsContracting: []int{0}, rhsBatch: []int{1}}, false},
		{"contracting leading axes", f(3, 4), f(3, 5), f(4, 5), dotAxes{lhsContracting: []int{0}, rhsContracting: []int{0}}, true},
		{"contracting mismatch", f(3, 4), f(4, 5), f(4, 4), dotAxes{lhsContracting: []int{0}, rhsContracting: []int{0}}, false},
	} {
		if err := tc.axes.check(tc.lhs, tc.rhs, tc.out); (err == nil) != tc.ok {
			t.Errorf("%s: check(%s, %s, %s) = %v, want ok=%v", tc.name, tc.lhs, tc.rhs, tc.out, err, tc.ok)
		}
	}
}

// randomSlice returns n normal random values.
func randomSlice[T float32 | float64](rng *rand.Rand, n int) []T {
	s := make([]T, n)
	for i := range s {
		s[i] = T(rng.NormFloat64())
	}
	return s
}

func size(dims []int) int {
	s := 1
	for _, d := range dims {
		s *= d
	}
	return s
}

// caseData is the random inputs of a dotCase.
type caseData[T float32 | float64] struct {
	lhs, rhs, w []T
}

func newCaseData[T float32 | float64](c dotCase, seed uint64) caseData[T] {
	rng := rand.New(rand.NewPCG(seed, 1))
	return caseData[T]{
		lhs: randomSlice[T](rng, size(c.lhsDims)),
		rhs: randomSlice[T](rng, size(c.rhsDims)),
		w:   randomSlice[T](rng, size(c.outDims())),
	}
}

// gradients runs c's loss and its gradients with respect to lhs and rhs on the pure-Go backend,
// with the gradient rule installed now.
func gradients[T float32 | float64](t *testing.T, c dotCase, d caseData[T]) (loss T, lhsGrad, rhsGrad []T) {
	t.Helper()
	exec, err := graph.NewExec(backend(), func(lhs, rhs, w *graph.Node) (*graph.Node, *graph.Node, *graph.Node) {
		loss := c.loss(lhs, rhs, w)
		grads := graph.Gradient(loss, lhs, rhs)
		return loss, grads[0], grads[1]
	})
	if err != nil {
		t.Fatal(err)
	}
	outputs, err := exec.Exec(
		tensors.FromFlatDataAndDimensions(d.lhs, c.lhsDims...),
		tensors.FromFlatDataAndDimensions(d.rhs, c.rhsDims...),
		tensors.FromFlatDataAndDimensions(d.w, c.outDims()...))
	if err != nil {
		t.Fatalf("%s: %v", c, err)
	}
	return tensors.MustCopyFlatData[T](outputs[0])[0], tensors.MustCopyFlatData[T](outputs[1]), tensors.MustCopyFlatData[T](outputs[2])
}

// TestFastDotGradientNumerical compares the fast gradient with central finite differences in
// float64. The loss is linear in each operand, so the differences are exact up to rounding.
func TestFastDotGradientNumerical(t *testing.T) {
	useDotGradient(t, true)
	const h, tol = 1e-3, 1e-8
	names, cases := allDotCases()
	for i, c := range cases {
		t.Run(names[i], func(t *testing.T) {
			d := newCaseData[float64](c, uint64(i))
			_, lhsGrad, rhsGrad := gradients(t, c, d)

			lossExec, err := graph.NewExec(backend(), c.loss)
			if err != nil {
				t.Fatal(err)
			}
			lossAt := func(lhs, rhs []float64) float64 {
				out := lossExec.MustExec(
					tensors.FromFlatDataAndDimensions(lhs, c.lhsDims...),
					tensors.FromFlatDataAndDimensions(rhs, c.rhsDims...),
					tensors.FromFlatDataAndDimensions(d.w, c.outDims()...))
				return tensors.MustCopyFlatData[float64](out[0])[0]
			}
			numerical := func(x []float64, loss func(x []float64) float64) []float64 {
				grad := make([]float64, len(x))
				x = slices.Clone(x)
				for j := range x {
					orig := x[j]
					x[j] = orig + h
					plus := loss(x)
					x[j] = orig - h
					minus := loss(x)
					x[j] = orig
					grad[j] = (plus - minus) / (2 * h)
				}
				return grad
			}
			wantLhs := numerical(d.lhs, func(lhs []float64) float64 { return lossAt(lhs, d.rhs) })
			wantRhs := numerical(d.rhs, func(rhs []float64) float64 { return lossAt(d.lhs, rhs) })
			approx := cmp.Comparer(func(a, b float64) bool { return math.Abs(a-b) <= tol*(1+math.Abs(b)) })
			if diff := cmp.Diff(wantLhs, lhsGrad, approx); diff != "" {
				t.Errorf("gradient wrt lhs: -numerical +fast:\n%s", diff)
			}
			if diff := cmp.Diff(wantRhs, rhsGrad, approx); diff != "" {
				t.Errorf("gradient wrt rhs: -numerical +fast:\n%s", diff)
			}
		})
	}
}

// TestFastDotGradientMatchesStock compares the fast gradient with GoMLX's stock rule, in float32
// and float64: the largest difference must be within 1e-5 of the largest stock value.
func TestFastDotGradientMatchesStock(t *testing.T) {
	names, cases := allDotCases()
	for i, c := range cases {
		t.Run(names[i]+"/float32", func(t *testing.T) { compareWithStock[float32](t, c, uint64(i)) })
		t.Run(names[i]+"/float64", func(t *testing.T) { compareWithStock[float64](t, c, uint64(i)) })
	}
}

func compareWithStock[T float32 | float64](t *testing.T, c dotCase, seed uint64) {
	d := newCaseData[T](c, seed)
	useDotGradient(t, false)
	stockLoss, stockLhs, stockRhs := gradients(t, c, d)
	useDotGradient(t, true)
	fastLoss, fastLhs, fastRhs := gradients(t, c, d)
	if fastLoss != stockLoss {
		t.Errorf("loss: stock %v, fast %v: the forward pass must not change", stockLoss, fastLoss)
	}
	for _, grad := range []struct {
		name        string
		stock, fast []T
	}{{"lhs", stockLhs, fastLhs}, {"rhs", stockRhs, fastRhs}} {
		if len(grad.stock) != len(grad.fast) {
			t.Fatalf("gradient wrt %s: stock has %d elements, fast %d", grad.name, len(grad.stock), len(grad.fast))
		}
		var maxAbs, maxDiff float64
		for j := range grad.stock {
			maxAbs = max(maxAbs, math.Abs(float64(grad.stock[j])))
			maxDiff = max(maxDiff, math.Abs(float64(grad.fast[j]-grad.stock[j])))
		}
		if maxDiff > 1e-5*maxAbs {
			t.Errorf("gradient wrt %s: fast differs from stock by up to %g (largest stock value %g):\nstock %v\nfast  %v",
				grad.name, maxDiff, maxAbs, grad.stock, grad.fast)
		}
	}
}

// TestFastDotGradientAsDense checks the gradients of graph.Dot (what layers.Dense and MatMul use
// for rank-2 inputs) in all the rank combinations GoMLX accepts, against the stock rule.
func TestFastDotGradientAsDense(t *testing.T) {
	for _, tc := range []struct {
		name             string
		lhsDims, rhsDims []int
	}{
		{"vector_vector", []int{4}, []int{4}},
		{"matrix_vector", []int{3, 4}, []int{4}},
		{"matrix_matrix", []int{3, 4}, []int{4, 5}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(7, 7))
			lhs := tensors.FromFlatDataAndDimensions(randomSlice[float64](rng, size(tc.lhsDims)), tc.lhsDims...)
			rhs := tensors.FromFlatDataAndDimensions(randomSlice[float64](rng, size(tc.rhsDims)), tc.rhsDims...)
			run := func() (lhsGrad, rhsGrad []float64) {
				exec, err := graph.NewExec(backend(), func(lhs, rhs *graph.Node) (*graph.Node, *graph.Node) {
					out := graph.Dot(lhs, rhs)
					loss := graph.ReduceAllSum(graph.Mul(out, graph.Sin(out))) // a gradient that varies
					grads := graph.Gradient(loss, lhs, rhs)
					return grads[0], grads[1]
				})
				if err != nil {
					t.Fatal(err)
				}
				out := exec.MustExec(lhs, rhs)
				return tensors.MustCopyFlatData[float64](out[0]), tensors.MustCopyFlatData[float64](out[1])
			}
			useDotGradient(t, false)
			stockLhs, stockRhs := run()
			useDotGradient(t, true)
			fastLhs, fastRhs := run()
			approx := cmp.Comparer(func(a, b float64) bool { return math.Abs(a-b) <= 1e-12*(1+math.Abs(b)) })
			if diff := cmp.Diff(stockLhs, fastLhs, approx); diff != "" {
				t.Errorf("gradient wrt lhs: -stock +fast:\n%s", diff)
			}
			if diff := cmp.Diff(stockRhs, fastRhs, approx); diff != "" {
				t.Errorf("gradient wrt rhs: -stock +fast:\n%s", diff)
			}
		})
	}
}

// TestFastDotGradientGraphSize is the proof that the [batch, in, out] tensor is gone: for the first
// layer of LeNet-300-100 (a [60,784] batch times [784,300] weights), no node of the gradient graph
// is larger than the largest input or output. The stock rule is checked to produce the
// 60×784×300 node, so the test can tell the two apart.
func TestFastDotGradientGraphSize(t *testing.T) {
	const batch, in, out = 60, 784, 300
	products := map[string]func(x, w *graph.Node) *graph.Node{
		"Dot": graph.Dot, // layers.Dense
		"DotGeneral": func(x, w *graph.Node) *graph.Node {
			return graph.DotGeneral(x, []int{1}, nil, w, []int{0}, nil)
		},
		"Einsum": func(x, w *graph.Node) *graph.Node { return graph.Einsum("bi,io->bo", x, w) },
		"DotGeneral_transposed_weights": func(x, w *graph.Node) *graph.Node {
			return graph.DotGeneral(x, []int{1}, nil, graph.Transpose(w, 0, 1), []int{1}, nil)
		},
	}
	for _, name := range []string{"Dot", "DotGeneral", "Einsum", "DotGeneral_transposed_weights"} {
		for _, fast := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/fast=%v", name, fast), func(t *testing.T) {
				useDotGradient(t, fast)
				g := graph.NewGraph(backend(), "lenet")
				x := graph.Parameter(g, "x", shapes.Make(dtypes.Float32, batch, in))
				w := graph.Parameter(g, "w", shapes.Make(dtypes.Float32, in, out))
				target := graph.Parameter(g, "target", shapes.Make(dtypes.Float32, batch, out))
				loss := graph.ReduceAllMean(graph.Square(graph.Sub(products[name](x, w), target)))
				grads := graph.Gradient(loss, x, w)
				if !grads[0].Shape().Equal(x.Shape()) || !grads[1].Shape().Equal(w.Shape()) {
					t.Fatalf("gradient shapes %s, %s; want %s, %s", grads[0].Shape(), grads[1].Shape(), x.Shape(), w.Shape())
				}
				limit := max(batch*in, in*out, batch*out)
				largest := graph.NodeType(0)
				largestSize := 0
				for _, node := range g.Nodes() {
					if node.NumOutputs() == 1 && node.Shape().Size() > largestSize {
						largest, largestSize = node.Type(), node.Shape().Size()
					}
				}
				switch {
				case fast && largestSize > limit:
					t.Errorf("fast gradient graph has a %s node of %d elements, more than the largest input or output (%d)",
						largest, largestSize, limit)
				case !fast && largestSize < batch*in*out:
					t.Errorf("stock gradient graph's largest node has %d elements, want the %d of [batch, in, out]: "+
						"if GoMLX changed its rule, the fast-dot-gradient workaround may no longer be needed",
						largestSize, batch*in*out)
				}
			})
		}
	}
}
