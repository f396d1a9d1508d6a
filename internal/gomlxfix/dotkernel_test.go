package gomlxfix

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/gomlx/gomlx/backends/simplego"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/google/go-cmp/cmp"
)

// useDotKernel installs the fast (fast=true) or stock SimpleGo block kernel for the rest of the
// test and puts the previous state back when it ends. Tests that use it must not run in parallel.
func useDotKernel(tb testing.TB, fast bool) {
	tb.Helper()
	tb.Cleanup(setFor(fastDotKernel, fast))
}

// naiveProduct returns out + lhs·rhsᵀ (see dotProduct), accumulated in float64, for every element
// of out (those outside rows×cols unchanged).
func naiveProduct(lhs, rhs, out []float32, lhsStride, rhsStride, outStride, rows, cols, depth int) []float64 {
	want := make([]float64, len(out))
	for i, v := range out {
		want[i] = float64(v)
	}
	for i := range rows {
		for j := range cols {
			for k := range depth {
				want[i*outStride+j] += float64(lhs[i*lhsStride+k]) * float64(rhs[j*rhsStride+k])
			}
		}
	}
	return want
}

// checkProduct compares got with want, within float32 rounding of a sum of depth products.
func checkProduct(t *testing.T, got []float32, want []float64, depth int) {
	t.Helper()
	for i, w := range want {
		if diff := math.Abs(float64(got[i]) - w); diff > 1e-5*float64(depth+1) {
			t.Fatalf("element %d = %v, want %v (diff %g)", i, got[i], w, diff)
		}
	}
}

// TestDotProduct checks dotProduct (assembly where the machine has it, Go at the edges) and the Go
// kernel alone on sizes around the assembly's multiples and with row strides wider than the rows.
func TestDotProduct(t *testing.T) {
	if dotTileAsm == nil {
		t.Logf("no assembly kernel on this machine: dotProduct is the Go kernel")
	}
	rng := rand.New(rand.NewPCG(7, 7))
	kernels := map[string]func(lhs, rhs, out []float32, ls, rs, os, rows, cols, depth int){"dotProduct": dotProduct, "dotTileGo": dotTileGo}
	sizes := []int{1, 2, 3, 4, 5, 7, 8, 9, 16, 31, 32, 33, 64}
	for name, kernel := range kernels {
		for trial := range 60 {
			rows, cols, depth := sizes[rng.IntN(len(sizes))], sizes[rng.IntN(len(sizes))], sizes[rng.IntN(len(sizes))]
			ls, rs, os := depth+rng.IntN(3), depth+rng.IntN(3), cols+rng.IntN(3)
			lhs, rhs := randomSlice[float32](rng, (rows-1)*ls+depth), randomSlice[float32](rng, (cols-1)*rs+depth)
			out := randomSlice[float32](rng, (rows-1)*os+cols)
			want := naiveProduct(lhs, rhs, out, ls, rs, os, rows, cols, depth)
			kernel(lhs, rhs, out, ls, rs, os, rows, cols, depth)
			t.Run(fmt.Sprintf("%s/%02d_%dx%dx%d_strides%d,%d,%d", name, trial, rows, cols, depth, ls, rs, os), func(t *testing.T) {
				checkProduct(t, out, want, depth)
			})
		}
	}
}

// TestDotProductSegments checks dotProductSegments against the product of lhs rows copied out of
// their runs, with NaNs in the values skipped between runs (read, they would reach the outputs):
// run lengths that are multiples of 8 (one assembly pass) and not, edges included.
func TestDotProductSegments(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 9))
	sizes := []int{1, 2, 3, 4, 5, 8, 9, 16, 31, 32}
	for trial := range 80 {
		rows, cols, depth := sizes[rng.IntN(len(sizes))], sizes[rng.IntN(len(sizes))], sizes[rng.IntN(len(sizes))]
		if trial%2 == 0 {
			depth = 8 * (1 + rng.IntN(4))
		}
		segments := 1 + rng.IntN(4)
		segStride := depth + rng.IntN(6)
		ls := rng.IntN(2*depth) + 1 // rows may overlap, as a convolution's windows do
		rs, os := segments*depth+rng.IntN(3), cols+rng.IntN(3)
		lhs := make([]float32, (rows-1)*ls+(segments-1)*segStride+depth)
		for i := range lhs {
			lhs[i] = float32(math.NaN())
		}
		flat := make([]float32, rows*segments*depth) // lhs rows copied out of their runs
		for i := range rows {
			for s := range segments {
				for k := range depth {
					at := i*ls + s*segStride + k
					if math.IsNaN(float64(lhs[at])) {
						lhs[at] = rng.Float32()*2 - 1
					}
					flat[(i*segments+s)*depth+k] = lhs[at]
				}
			}
		}
		rhs := randomSlice[float32](rng, (cols-1)*rs+segments*depth)
		out := randomSlice[float32](rng, (rows-1)*os+cols)
		want := naiveProduct(flat, rhs, out, segments*depth, rs, os, rows, cols, segments*depth)
		dotProductSegments(lhs, rhs, out, ls, rs, os, rows, cols, depth, segments, segStride)
		t.Run(fmt.Sprintf("%02d_%dx%dx%d_segments%d_stride%d_%d", trial, rows, cols, depth, segments, ls, segStride), func(t *testing.T) {
			checkProduct(t, out, want, segments*depth)
		})
	}
}

// TestDotTileAsmStaysInItsTile checks that the assembly kernel writes only its outputs and reads
// only its operands: guard values around and between the output rows stay, and NaNs around and
// between the operand rows do not leak into the output.
func TestDotTileAsmStaysInItsTile(t *testing.T) {
	if dotTileAsm == nil {
		t.Skip("no assembly kernel on this machine")
	}
	rng := rand.New(rand.NewPCG(8, 8))
	const rows, cols, depth, guard = 6, 12, 24, 40
	const ls, rs, os = depth + 5, depth + 3, cols + 4
	nanGuarded := func(n, stride, width int) []float32 {
		s := make([]float32, guard+(n-1)*stride+width+guard)
		for i := range s {
			s[i] = float32(math.NaN())
		}
		for i := range n {
			for k := range width {
				s[guard+i*stride+k] = rng.Float32()*2 - 1
			}
		}
		return s
	}
	lhs, rhs := nanGuarded(rows, ls, depth), nanGuarded(cols, rs, depth)
	out := make([]float32, guard+(rows-1)*os+cols+guard)
	inTile := func(i int) bool { i -= guard; return i >= 0 && i/os < rows && i%os < cols }
	for i := range out {
		out[i] = -7
		if inTile(i) {
			out[i] = 0
		}
	}
	want := naiveProduct(lhs[guard:], rhs[guard:], out[guard:], ls, rs, os, rows, cols, depth)
	dotTileAsm(&lhs[guard], &rhs[guard], &out[guard], ls, rs, os, rows, cols, depth, 1, 0)
	checkProduct(t, out[guard:], want, depth)
	for i, v := range out {
		if !inTile(i) && v != -7 {
			t.Fatalf("the kernel wrote %v at offset %d outside its outputs", v, i-guard)
		}
	}
}

// largeDotCases are DotGeneral configurations big enough for SimpleGo's blocked path (more than
// 16 blocks of output per batch element), with dimensions that are not multiples of the block.
var largeDotCases = map[string]dotCase{
	"dense_forward":         {[]int{60, 784}, []int{784, 300}, dotAxes{lhsContracting: []int{1}, rhsContracting: []int{0}}},
	"dense_weight_gradient": {[]int{60, 784}, []int{60, 300}, dotAxes{lhsContracting: []int{0}, rhsContracting: []int{0}}},
	"dense_input_gradient":  {[]int{60, 300}, []int{784, 300}, dotAxes{lhsContracting: []int{1}, rhsContracting: []int{1}}},
	"batched_odd_sizes": {[]int{3, 130, 77}, []int{77, 3, 150},
		dotAxes{lhsContracting: []int{2}, lhsBatch: []int{0}, rhsContracting: []int{0}, rhsBatch: []int{1}}},
	"two_contracting_axes": {[]int{5, 140, 9}, []int{9, 5, 200},
		dotAxes{lhsContracting: []int{0, 2}, rhsContracting: []int{1, 0}}},
	// Package nn's convolution: patches [positions, batch, h, w, channels] times the kernel
	// [positions, channels, filters] (contracting runs of channels).
	"conv_patches": {[]int{9, 6, 8, 8, 16}, []int{9, 16, 64},
		dotAxes{lhsContracting: []int{0, 4}, rhsContracting: []int{0, 1}}},
}

// smallDotCases are DotGeneral configurations that dotExecutor computes in the calling goroutine
// (at most smallDotMACs multiply-adds), with operands to transpose and operands laid out already.
var smallDotCases = map[string]dotCase{
	"small_unblocked": {[]int{6, 20}, []int{20, 7}, dotAxes{lhsContracting: []int{1}, rhsContracting: []int{0}}},
	"small_batched": {[]int{3, 13, 7}, []int{7, 3, 15},
		dotAxes{lhsContracting: []int{2}, lhsBatch: []int{0}, rhsContracting: []int{0}, rhsBatch: []int{1}}},
	"small_two_contracting": {[]int{5, 14, 9}, []int{9, 5, 20}, dotAxes{lhsContracting: []int{0, 2}, rhsContracting: []int{1, 0}}},
	// A dense layer at batch 1 with its weights stored transposed (program.Simplify's layout).
	"batch_one_transposed_weights": {[]int{1, 784}, []int{300, 784}, dotAxes{lhsContracting: []int{1}, rhsContracting: []int{1}}},
}

// TestFastDotKernelMatchesStock runs DotGenerals on SimpleGo with its own kernels and executor and
// with the replacements, large ones (blocked) and small ones (computed in place): the outputs agree
// within float32 rounding.
func TestFastDotKernelMatchesStock(t *testing.T) {
	cases := map[string]dotCase{}
	for name, c := range smallDotCases {
		cases[name] = c
	}
	for name, c := range largeDotCases {
		cases[name] = c
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			d := newCaseData[float32](c, 11)
			run := func(fast bool) []float32 {
				useDotKernel(t, fast)
				calls := fastKernelCalls.Load()
				defer func() {
					if used := fastKernelCalls.Load() > calls; used != fast {
						t.Errorf("fast=%v: the replacement kernel was used=%v", fast, used)
					}
				}()
				exec := graph.MustNewExec(backend(), c.dotGeneral)
				out := exec.MustExec(tensors.FromFlatDataAndDimensions(d.lhs, c.lhsDims...),
					tensors.FromFlatDataAndDimensions(d.rhs, c.rhsDims...))[0]
				return tensors.MustCopyFlatData[float32](out)
			}
			stock, fast := run(false), run(true)
			var maxAbs, maxDiff float64
			for i := range stock {
				maxAbs = max(maxAbs, math.Abs(float64(stock[i])))
				maxDiff = max(maxDiff, math.Abs(float64(fast[i]-stock[i])))
			}
			if maxDiff > 1e-5*maxAbs {
				t.Errorf("fast kernel differs from stock by up to %g (largest value %g)", maxDiff, maxAbs)
			}
		})
	}
}

// TestFastDotKernelRegistry checks what installing changes in SimpleGo's registries: the float32
// entries only, and restoring puts the very same functions back.
func TestFastDotKernelRegistry(t *testing.T) {
	useDotKernel(t, false)
	registries := []*simplego.DTypeMap{simplegoDotKernels, simplegoDotNormalized, simplegoFlatToBlock, simplegoFill, simplegoNormalize}
	var before []simplego.DTypeMap
	for _, r := range registries {
		before = append(before, *r)
	}
	useDotKernel(t, true)
	for i, r := range registries {
		for dtype := range simplego.MaxDTypes {
			changed := fmt.Sprint(before[i].Map[dtype]) != fmt.Sprint(r.Map[dtype])
			if changed != (dtypes.DType(dtype) == dtypes.Float32) {
				t.Errorf("%s: installing changed=%v the entry of %s", r.Name, changed, dtypes.DType(dtype))
			}
		}
	}
	useDotKernel(t, false)
	for i, r := range registries {
		if fmt.Sprint(before[i].Map) != fmt.Sprint(r.Map) || before[i].Priority != r.Priority {
			t.Errorf("%s: restoring did not put SimpleGo's entries and priorities back", r.Name)
		}
	}
}

// TestOperandPacking compares copyFlatToBlocks and normalizeOperand with SimpleGo's own packing
// into blocks (of 4 and 8) and normalization, on every DotGeneral configuration of the gradient
// tests (both operands) and on larger ones.
func TestOperandPacking(t *testing.T) {
	useDotKernel(t, false)
	stock := simplegoFlatToBlock.Map[dtypes.Float32].(func(source, blkOutput *simplego.Buffer, contractingAxes, batchAxes []int, batchSize, crossSize, contractingSize, blkLog2Dim int))
	stockNormalize := simplegoNormalize.Map[dtypes.Float32].(func(backend *simplego.Backend, source *simplego.Buffer, contractingAxes, batchAxes []int, batchSize, crossSize, contractingSize int) *simplego.Buffer)
	sgo := backend().(*simplego.Backend)
	names, cases := allDotCases()
	for name, c := range largeDotCases {
		names, cases = append(names, name), append(cases, c)
	}
	rng := rand.New(rand.NewPCG(5, 5))
	type operand struct {
		dims                 []int
		contracting, batches []int
	}
	for i, c := range cases {
		for side, op := range map[string]operand{
			"lhs": {c.lhsDims, c.axes.lhsContracting, c.axes.lhsBatch},
			"rhs": {c.rhsDims, c.axes.rhsContracting, c.axes.rhsBatch},
		} {
			for _, log2Dim := range []int{2, 3} {
				t.Run(fmt.Sprintf("%s/%s/block%d", names[i], side, 1<<log2Dim), func(t *testing.T) {
					source := sgo.NewBuffer(shapes.Make(dtypes.Float32, op.dims...))
					copy(float32s(source), randomSlice[float32](rng, size(op.dims)))
					batch, cross, contracting := 1, 1, 1
					for axis, d := range op.dims {
						switch {
						case slices.Contains(op.batches, axis):
							batch *= d
						case slices.Contains(op.contracting, axis):
							contracting *= d
						default:
							cross *= d
						}
					}
					blockDim := 1 << log2Dim
					n := batch * ((cross + blockDim - 1) / blockDim) * ((contracting + blockDim - 1) / blockDim) * blockDim * blockDim
					want, got := sgo.NewBuffer(shapes.Make(dtypes.Float32, n)), sgo.NewBuffer(shapes.Make(dtypes.Float32, n))
					clear(float32s(want))
					clear(float32s(got))
					stock(source, want, op.contracting, op.batches, batch, cross, contracting, log2Dim)
					copyFlatToBlocks(source, got, op.contracting, op.batches, batch, cross, contracting, log2Dim)
					if diff := cmp.Diff(float32s(want), float32s(got)); diff != "" {
						t.Errorf("blocks differ from SimpleGo's (-stock +ours):\n%s", diff)
					}
					wantNormalized := stockNormalize(sgo, source, op.contracting, op.batches, batch, cross, contracting)
					gotNormalized := normalizeOperand(sgo, source, op.contracting, op.batches, batch, cross, contracting)
					// nil means "use the source as it is": compare what each side's caller would read.
					if wantNormalized == nil {
						wantNormalized = source
					}
					if gotNormalized == nil {
						gotNormalized = source
					} else if bufferShape(gotNormalized).Size() != batch*cross*contracting {
						t.Errorf("normalized shape %s, want %d elements", bufferShape(gotNormalized), batch*cross*contracting)
					}
					if diff := cmp.Diff(float32s(wantNormalized), float32s(gotNormalized)); diff != "" {
						t.Errorf("normalized operand differs from SimpleGo's (-stock +ours):\n%s", diff)
					}
				})
			}
		}
	}
}

// TestFillFloat32 checks Buffer.Zeros and Buffer.Fill on float32 with the replacement installed.
func TestFillFloat32(t *testing.T) {
	useDotKernel(t, true)
	buffer := backend().(*simplego.Backend).NewBuffer(shapes.Make(dtypes.Float32, 3, 5))
	for _, value := range []any{float32(2.5), nil, float32(-1), float32(0)} {
		if value == nil {
			buffer.Zeros()
		} else if err := buffer.Fill(value); err != nil {
			t.Fatal(err)
		}
		want := float32(0)
		if value != nil {
			want = value.(float32)
		}
		for i, v := range float32s(buffer) {
			if v != want {
				t.Fatalf("after filling with %v, element %d is %v", value, i, v)
			}
		}
	}
}

// BenchmarkDotTile times one 32×32 block product (32,768 multiply-adds), SimpleGo's block size
// for float32, with each kernel.
func BenchmarkDotTile(b *testing.B) {
	const dim = 32
	rng := rand.New(rand.NewPCG(9, 9))
	lhs, rhs, out := randomSlice[float32](rng, dim*dim), randomSlice[float32](rng, dim*dim), make([]float32, dim*dim)
	kernels := map[string]func(lhs, rhs, out []float32, ls, rs, os, rows, cols, depth int){"go": dotTileGo}
	if dotTileAsm != nil {
		kernels[dotTileAsmName] = dotProduct
	}
	for name, kernel := range kernels {
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				kernel(lhs, rhs, out, dim, dim, dim, dim, dim, dim)
			}
			b.ReportMetric(float64(dim*dim*dim)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GMAC/s")
		})
	}
}

// BenchmarkDotGeneralKernel times the products of a LeNet-300-100 first-layer training step on
// SimpleGo (forward, weight gradient, input gradient) with its own block kernel and the replacement.
func BenchmarkDotGeneralKernel(b *testing.B) {
	for _, name := range []string{"dense_forward", "dense_weight_gradient", "dense_input_gradient"} {
		c := largeDotCases[name]
		d := newCaseData[float32](c, 3)
		lhs, rhs := tensors.FromFlatDataAndDimensions(d.lhs, c.lhsDims...), tensors.FromFlatDataAndDimensions(d.rhs, c.rhsDims...)
		for _, fast := range []bool{false, true} {
			b.Run(fmt.Sprintf("%s/fast=%v", name, fast), func(b *testing.B) {
				useDotKernel(b, fast)
				exec := graph.MustNewExec(backend(), c.dotGeneral)
				exec.MustExec(lhs, rhs)
				for b.Loop() {
					exec.MustExec(lhs, rhs)[0].FinalizeAll()
				}
			})
		}
	}
}
