package gomlxfix

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// TestFastBinaryOpsMatchStock runs Add, Sub, Mul, Div, Max and Min of random float32 operands of
// rank 1 to 5 whose axes each have the output's dimension or 1 (implicit broadcasting on either
// side, both sides, or neither), with NaNs and signed zeros among the values, on SimpleGo with its own
// executors and with binaryFloat32: the outputs are bit-identical, and the replacement ran exactly
// when the operands' shapes differ or they are large; Elementwise, outside GoMLX, gives the same bits.
func TestFastBinaryOpsMatchStock(t *testing.T) {
	rng := rand.New(rand.NewPCG(12, 12))
	ops := map[string]func(a, b *graph.Node) *graph.Node{
		"Add": graph.Add, "Sub": graph.Sub, "Mul": graph.Mul, "Div": graph.Div, "Max": graph.Max, "Min": graph.Min,
	}
	values := func(dims []int) *tensors.Tensor {
		v := randomSlice[float32](rng, size(dims))
		for i := range v {
			switch rng.IntN(40) {
			case 0:
				v[i] = float32(math.NaN())
			case 1:
				v[i] = float32(math.Copysign(0, -1))
			case 2:
				v[i] = 0
			}
		}
		return tensors.FromFlatDataAndDimensions(v, dims...)
	}
	// Bias- and batch-norm-like shapes, with more rows than binaryRepeated's tile holds, on either
	// side; then random ones.
	fixed := [][2][]int{
		{{3, 4, 5, 6}, {1, 1, 1, 6}}, {{1, 1, 1, 6}, {3, 4, 5, 6}}, {{2, 300, 7}, {1, 1, 7}}, {{1, 1, 7}, {2, 300, 7}},
		{{3, 5, 7, 2}, {3, 1, 1, 2}}, {{4, 9, 300}, {1, 9, 300}}, {{5, 1}, {1, 6}},
		// Large enough to be shared among goroutines: one shape, a bias, a single value on either side.
		{{300, 301}, {300, 301}}, {{64, 32, 32, 5}, {1, 1, 1, 5}}, {{64, 32, 32, 5}, {1, 1, 1, 1}},
		{{1, 1, 1, 1}, {64, 32, 32, 5}},
	}
	for trial := range len(fixed) + 150 {
		var lhsDims, rhsDims []int
		if trial < len(fixed) {
			lhsDims, rhsDims = fixed[trial][0], fixed[trial][1]
		} else {
			rank := 1 + rng.IntN(5)
			lhsDims, rhsDims = make([]int, rank), make([]int, rank)
			for axis := range rank {
				n := 1 + rng.IntN(5)
				lhsDims[axis], rhsDims[axis] = n, n
				switch rng.IntN(4) {
				case 0:
					lhsDims[axis] = 1
				case 1:
					rhsDims[axis] = 1
				}
			}
		}
		lhs, rhs := values(lhsDims), values(rhsDims)
		for name, op := range ops {
			run := func(fast bool) ([]float32, bool) {
				defer setFor(fastBinary, fast)()
				calls := fastKernelCalls.Load()
				out := graph.MustExecOnce(backend(), op, lhs, rhs)
				return tensors.MustCopyFlatData[float32](out), fastKernelCalls.Load() > calls
			}
			stock, _ := run(false)
			fast, used := run(true)
			plain := fmt.Sprint(lhsDims) == fmt.Sprint(rhsDims) || size(lhsDims) == 1 || size(rhsDims) == 1
			large := max(size(lhsDims), size(rhsDims)) >= plainElements
			want := !plain || large
			if used != want {
				t.Errorf("trial %d, %s of %v and %v: replacement used=%v, want %v", trial, name, lhsDims, rhsDims, used, want)
			}
			// Elementwise (package sparse's entry point) computes the same outside GoMLX.
			outDims := make([]int, len(lhsDims))
			for a := range outDims {
				outDims[a] = max(lhsDims[a], rhsDims[a])
			}
			direct := make([]float32, len(stock))
			if !Elementwise(name, direct, tensors.MustCopyFlatData[float32](lhs), tensors.MustCopyFlatData[float32](rhs), outDims, lhsDims, rhsDims) {
				t.Errorf("trial %d: Elementwise refused %s of %v and %v", trial, name, lhsDims, rhsDims)
			}
			for i := range stock {
				if math.Float32bits(stock[i]) != math.Float32bits(fast[i]) {
					t.Errorf("trial %d, %s of %v and %v: element %d is %v, stock %v", trial, name, lhsDims, rhsDims, i, fast[i], stock[i])
					break
				}
				if math.Float32bits(stock[i]) != math.Float32bits(direct[i]) {
					t.Errorf("trial %d, Elementwise %s of %v and %v: element %d is %v, stock %v", trial, name, lhsDims, rhsDims, i, direct[i], stock[i])
					break
				}
			}
		}
	}
}
