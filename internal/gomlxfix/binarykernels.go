package gomlxfix

import (
	"fmt"
	"reflect"
	"runtime"
	"sync"
	"unsafe"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/backends/simplego"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/shapes"
)

// fastBinary replaces SimpleGo's executors of float32 arithmetic binary operations.
var fastBinary = &workaround{
	name: "fast-binary-ops",
	upstream: "GoMLX " + GoMLXVersion + "'s SimpleGo computes a binary operation whose operands differ in shape " +
		"(a bias add, batch-norm arithmetic: implicit broadcasting of axes of dimension 1) one element at a " +
		"time, advancing a multi-axis broadcastIterator for each operand (execAddNumericGeneric and the other " +
		"exec*NumericGeneric in backends/simplego/gen_exec_binary.go); the replacements walk runs along the " +
		"innermost moving axis, with the same arithmetic, so the results are bit-identical",
	install: func() { binaryExecutors.install() },
	restore: func() { binaryExecutors.restore() },
}

// InstallFastBinaryOps replaces SimpleGo's executors of Add, Sub, Mul, Div, Max and Min with ones
// that compute float32 operands of different shapes (implicit broadcasting) run by run instead of
// element by element, and share large operations among goroutines. Other dtypes and small
// operations without broadcasting go to SimpleGo's own executors. The same rules as for [Install]
// apply.
func InstallFastBinaryOps() { setWorkaround(fastBinary, true) }

// RestoreStockBinaryOps puts back SimpleGo's own binary-op executors; see [InstallFastBinaryOps].
func RestoreStockBinaryOps() { setWorkaround(fastBinary, false) }

// simplegoExecutor is SimpleGo's unexported nodeExecutor type (backends/simplego/exec.go).
type simplegoExecutor = func(backend *simplego.Backend, node *simplego.Node, inputs []*simplego.Buffer, inputsOwned []bool) (*simplego.Buffer, error)

// SimpleGo keeps the executor of each operation type in an unexported table; the binary-op
// executors are not in a DTypeMap registry as the other kernels are. The table's element type is
// checked by the GoMLX version test (GoMLXVersion), not by the linker.
//
//go:linkname simplegoNodeExecutors github.com/gomlx/gomlx/backends/simplego.nodeExecutors
var simplegoNodeExecutors [backends.OpTypeLast]simplegoExecutor

// simplegoBinaryOperandsAndOutput is SimpleGo's binaryOperandsAndOutput (exec_binary.go): it picks
// the output buffer, reusing an input the executor owns when it has the output's shape (and then
// sets that input to nil), as every stock binary executor does.
//
//go:linkname simplegoBinaryOperandsAndOutput github.com/gomlx/gomlx/backends/simplego.binaryOperandsAndOutput
func simplegoBinaryOperandsAndOutput(backend *simplego.Backend, inputs []*simplego.Buffer, inputsOwned []bool, outputShape shapes.Shape) (lhs, rhs, output *simplego.Buffer, lhsIsScalarOr1, rhsIsScalarOr1 bool)

// nodeShapeOffset is the offset of the unexported field shape of simplego.Node (the output shape),
// or 0 when the field is not there with type shapes.Shape.
var nodeShapeOffset = func() uintptr {
	field, ok := reflect.TypeFor[simplego.Node]().FieldByName("shape")
	if !ok || field.Type != reflect.TypeFor[shapes.Shape]() || field.Offset == 0 {
		return 0
	}
	return field.Offset
}()

// binaryOpKind is an arithmetic binary operation the replacement executors compute.
type binaryOpKind int

const (
	binaryAdd binaryOpKind = iota
	binarySub
	binaryMul
	binaryDiv
	binaryMax
	binaryMin
)

// binaryOpTypes maps the replaced operation types to their kind.
var binaryOpTypes = map[backends.OpType]binaryOpKind{
	backends.OpTypeAdd: binaryAdd, backends.OpTypeSub: binarySub, backends.OpTypeMul: binaryMul,
	backends.OpTypeDiv: binaryDiv, backends.OpTypeMax: binaryMax, backends.OpTypeMin: binaryMin,
}

// binaryExecutors swaps the entries of binaryOpTypes in SimpleGo's executor table.
var binaryExecutors = &executorSwap{replacements: func() map[backends.OpType]func(simplegoExecutor) simplegoExecutor {
	replacements := map[backends.OpType]func(simplegoExecutor) simplegoExecutor{}
	for opType, kind := range binaryOpTypes {
		replacements[opType] = func(stock simplegoExecutor) simplegoExecutor { return binaryExecutor(kind, stock) }
	}
	return replacements
}}

// executorSwap replaces entries of SimpleGo's node-executor table, as kernelSwap replaces entries
// of its kernel registries: replacements gives, per operation type, a function that builds the
// replacement from the stock executor (which it calls for what it does not take).
type executorSwap struct {
	replacements func() map[backends.OpType]func(stock simplegoExecutor) simplegoExecutor
	stock        map[backends.OpType]simplegoExecutor // nil when not installed
}

func (s *executorSwap) install() {
	checkBufferLayout()
	if nodeShapeOffset == 0 {
		panic(fmt.Errorf("%w: simplego.Node has no field shape (shapes.Shape)", ErrGoMLXChanged))
	}
	replacements := s.replacements()
	stock := map[backends.OpType]simplegoExecutor{}
	built := map[backends.OpType]simplegoExecutor{}
	for opType, build := range replacements {
		if simplegoNodeExecutors[opType] == nil {
			panic(fmt.Errorf("%w: SimpleGo has no executor for %s", ErrGoMLXChanged, opType))
		}
		stock[opType] = simplegoNodeExecutors[opType]
		built[opType] = build(stock[opType])
	}
	for opType, executor := range built {
		simplegoNodeExecutors[opType] = executor
	}
	s.stock = stock
}

func (s *executorSwap) restore() {
	for opType, executor := range s.stock {
		simplegoNodeExecutors[opType] = executor
	}
	s.stock = nil
}

// binaryExecutor returns the executor of kind for float32: operands of different shapes (implicit
// broadcasting) are computed by binaryFloat32; operands of one shape or with a single value on one
// side, from plainElements on, by binaryRun, large ones shared among goroutines; everything else
// (other dtypes, small operations without broadcasting) goes to stock.
func binaryExecutor(kind binaryOpKind, stock simplegoExecutor) simplegoExecutor {
	return func(backend *simplego.Backend, node *simplego.Node, inputs []*simplego.Buffer, inputsOwned []bool) (*simplego.Buffer, error) {
		if len(inputs) != 2 {
			return stock(backend, node, inputs, inputsOwned)
		}
		lhsShape, rhsShape := bufferShape(inputs[0]), bufferShape(inputs[1])
		outShape := *(*shapes.Shape)(unsafe.Add(unsafe.Pointer(node), nodeShapeOffset))
		// Operands of one shape, or one of them a single value: SimpleGo's loops are fine, but
		// large ones are shared among goroutines here.
		lhsOne, rhsOne := lhsShape.Size() == 1, rhsShape.Size() == 1
		plain := lhsShape.Equal(rhsShape) || lhsOne || rhsOne
		if outShape.DType != dtypes.Float32 || lhsShape.DType != dtypes.Float32 || rhsShape.DType != dtypes.Float32 ||
			(plain && (outShape.Size() < plainElements || (lhsOne && rhsOne))) ||
			(!plain && (lhsShape.Rank() != outShape.Rank() || rhsShape.Rank() != outShape.Rank())) {
			return stock(backend, node, inputs, inputsOwned)
		}
		fastKernelCalls.Add(1)
		lhs, rhs, output, _, _ := simplegoBinaryOperandsAndOutput(backend, inputs, inputsOwned, outShape)
		if plain {
			binaryPlain(kind, float32s(output), float32s(lhs), float32s(rhs))
			return output, nil
		}
		binaryFloat32(kind, float32s(output), float32s(lhs), float32s(rhs), outShape.Dimensions, lhsShape.Dimensions, rhsShape.Dimensions)
		return output, nil
	}
}

// binaryFloat32 computes out = lhs (kind) rhs, where lhs and rhs have the rank of out and each of
// their axes has out's dimension or 1 (broadcast). Axes of out of dimension 1 are dropped and
// consecutive axes along which both operands continue in memory are merged; then each run along
// the innermost remaining axis is one loop in which each operand either moves or stays.
// out may be lhs or rhs when it has that operand's shape (each element is read before it is
// written).
func binaryFloat32(kind binaryOpKind, out, lhs, rhs []float32, outDims, lhsDims, rhsDims []int) {
	var counts, lhsMoves, rhsMoves []int
	lhsStride, rhsStride := 1, 1
	lhsSteps, rhsSteps := make([]int, len(outDims)), make([]int, len(outDims))
	for axis := len(outDims) - 1; axis >= 0; axis-- {
		if lhsDims[axis] != 1 {
			lhsSteps[axis] = lhsStride
		}
		if rhsDims[axis] != 1 {
			rhsSteps[axis] = rhsStride
		}
		lhsStride *= lhsDims[axis]
		rhsStride *= rhsDims[axis]
	}
	for axis, n := range outDims {
		if n == 1 {
			continue
		}
		if last := len(counts) - 1; last >= 0 && lhsMoves[last] == lhsSteps[axis]*n && rhsMoves[last] == rhsSteps[axis]*n {
			counts[last] *= n
			lhsMoves[last], rhsMoves[last] = lhsSteps[axis], rhsSteps[axis]
			continue
		}
		counts = append(counts, n)
		lhsMoves, rhsMoves = append(lhsMoves, lhsSteps[axis]), append(rhsMoves, rhsSteps[axis])
	}
	// Neither operand is a single element (those go to SimpleGo), so one of them moves on the last
	// axis.
	last := len(counts) - 1
	inner, lhsStep, rhsStep := counts[last], lhsMoves[last], rhsMoves[last]
	if last == 1 && inner < repeatedRun && lhsStep == 1 && rhsStep == 1 {
		// Short runs of an operand that stays along the other axis (a bias [1, 1, 1, C] added to
		// [B, H, W, C]: merged, [B·H·W, C] and [1, C]): many rows at once, against the run repeated.
		switch {
		case rhsMoves[0] == 0:
			binaryRepeated(kind, out, lhs, rhs[:inner], false)
			return
		case lhsMoves[0] == 0:
			binaryRepeated(kind, out, rhs, lhs[:inner], true)
			return
		}
	}
	outer, lhsOuter, rhsOuter := counts[:last], lhsMoves[:last], rhsMoves[:last]
	index := make([]int, len(outer))
	lhsAt, rhsAt := 0, 0
	for i := 0; i < len(out); i += inner {
		binaryRun(kind, out[i:i+inner], lhs[lhsAt:], rhs[rhsAt:], lhsStep, rhsStep)
		for axis := len(outer) - 1; axis >= 0; axis-- {
			index[axis]++
			lhsAt += lhsOuter[axis]
			rhsAt += rhsOuter[axis]
			if index[axis] < outer[axis] {
				break
			}
			index[axis] = 0
			lhsAt -= outer[axis] * lhsOuter[axis]
			rhsAt -= outer[axis] * rhsOuter[axis]
		}
	}
}

// repeatedRun is the run length below which binaryFloat32 repeats a run of an operand that stays
// along the other axis (see binaryRepeated).
const repeatedRun = 256

// binaryRepeated computes out = full (kind) run repeated (run (kind) full when swapped), full and
// out being rows of len(run) values one after the other. The run is repeated into a tile of up to
// about 1024 values, so that each call of binaryRun covers many rows.
func binaryRepeated(kind binaryOpKind, out, full, run []float32, swapped bool) {
	inner := len(run)
	rows := len(out) / inner
	k := max(1, min(rows, 1024/inner))
	tile := make([]float32, 0, k*inner)
	for range k {
		tile = append(tile, run...)
	}
	inParallel(rows, inner, func(from, to int) {
		for j := from; j < to; j += k {
			m := min(k, to-j)
			o, f, t := out[j*inner:(j+m)*inner], full[j*inner:], tile[:m*inner]
			if swapped {
				binaryRun(kind, o, t, f, 1, 1)
			} else {
				binaryRun(kind, o, f, t, 1, 1)
			}
		}
	})
}

// plainElements is the size from which binary operations without broadcasting run here rather than
// in SimpleGo's loops (whose bounds checks cost more than a call here from this size on).
const plainElements = 1 << 10

// parallelElements is the number of elements from which an elementwise operation is shared among
// goroutines (below it, starting them costs more than they save).
const parallelElements = 1 << 16

// inParallel calls work(from, to) for consecutive ranges covering [0, n), where each index stands
// for size elements: on one range when n·size is below parallelElements, else on one range per CPU,
// at once.
func inParallel(n, size int, work func(from, to int)) {
	workers := min(runtime.GOMAXPROCS(0), n*size/(parallelElements/2))
	if workers <= 1 {
		work(0, n)
		return
	}
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			work(n*w/workers, n*(w+1)/workers)
		}()
	}
	wg.Wait()
}

// binaryRun computes out[i] = lhs[i*lhsStep] (kind) rhs[i*rhsStep] for every i, where each step is
// 0 (the operand stays) or 1 (it moves) and at least one is 1, with SimpleGo's arithmetic for each
// kind (Go's operators and its max and min builtins).
func binaryRun(kind binaryOpKind, out, lhs, rhs []float32, lhsStep, rhsStep int) {
	n := len(out)
	switch {
	case lhsStep == 1 && rhsStep == 1:
		lhs, rhs = lhs[:n], rhs[:n]
		switch kind {
		case binaryAdd:
			for i := range out {
				out[i] = lhs[i] + rhs[i]
			}
		case binarySub:
			for i := range out {
				out[i] = lhs[i] - rhs[i]
			}
		case binaryMul:
			for i := range out {
				out[i] = lhs[i] * rhs[i]
			}
		case binaryDiv:
			for i := range out {
				out[i] = lhs[i] / rhs[i]
			}
		case binaryMax:
			for i := range out {
				out[i] = max(lhs[i], rhs[i])
			}
		case binaryMin:
			for i := range out {
				out[i] = min(lhs[i], rhs[i])
			}
		}
	case lhsStep == 1:
		lhs, c := lhs[:n], rhs[0]
		switch kind {
		case binaryAdd:
			for i := range out {
				out[i] = lhs[i] + c
			}
		case binarySub:
			for i := range out {
				out[i] = lhs[i] - c
			}
		case binaryMul:
			for i := range out {
				out[i] = lhs[i] * c
			}
		case binaryDiv:
			for i := range out {
				out[i] = lhs[i] / c
			}
		case binaryMax:
			for i := range out {
				out[i] = max(lhs[i], c)
			}
		case binaryMin:
			for i := range out {
				out[i] = min(lhs[i], c)
			}
		}
	case rhsStep == 1:
		c, rhs := lhs[0], rhs[:n]
		switch kind {
		case binaryAdd:
			for i := range out {
				out[i] = c + rhs[i]
			}
		case binarySub:
			for i := range out {
				out[i] = c - rhs[i]
			}
		case binaryMul:
			for i := range out {
				out[i] = c * rhs[i]
			}
		case binaryDiv:
			for i := range out {
				out[i] = c / rhs[i]
			}
		case binaryMax:
			for i := range out {
				out[i] = max(c, rhs[i])
			}
		case binaryMin:
			for i := range out {
				out[i] = min(c, rhs[i])
			}
		}
	}
}

// binaryPlain computes out = lhs (kind) rhs for operands that each have out's size or a single
// value (not both a single value unless out is one too), large ones shared among goroutines.
func binaryPlain(kind binaryOpKind, out, lhs, rhs []float32) {
	lhsStep, rhsStep := min(len(lhs)-1, 1), min(len(rhs)-1, 1) // 0 for a single value
	if len(out) == 1 {
		lhsStep, rhsStep = 1, 1
	}
	inParallel(len(out), 1, func(from, to int) {
		l, r := lhs[from*lhsStep:], rhs[from*rhsStep:]
		binaryRun(kind, out[from:to], l, r, lhsStep, rhsStep)
	})
}

// elementwiseKinds maps op names to the binary operations Elementwise computes.
var elementwiseKinds = map[string]binaryOpKind{
	"Add": binaryAdd, "Sub": binarySub, "Mul": binaryMul, "Div": binaryDiv, "Max": binaryMax, "Min": binaryMin,
}

// Elementwise sets out = lhs (op) rhs for op "Add", "Sub", "Mul", "Div", "Max" or "Min", with the
// arithmetic and the broadcasting of the fast-binary-ops executors (operands of out's rank whose
// axes have out's dimension or 1, or a single value), large operations shared among goroutines as
// there: for executors of programs outside GoMLX (package sparse). It reports false, doing nothing, for other ops or shapes.
// out may be an operand of its shape.
func Elementwise(op string, out, lhs, rhs []float32, outDims, lhsDims, rhsDims []int) bool {
	kind, ok := elementwiseKinds[op]
	if !ok || len(out) == 0 {
		return false
	}
	switch {
	case len(lhs) == len(out) && (len(rhs) == len(out) || len(rhs) == 1), len(rhs) == len(out) && len(lhs) == 1:
		binaryPlain(kind, out, lhs, rhs)
	case len(lhsDims) == len(outDims) && len(rhsDims) == len(outDims) && len(lhs) > 1 && len(rhs) > 1:
		for a, n := range outDims {
			if (lhsDims[a] != n && lhsDims[a] != 1) || (rhsDims[a] != n && rhsDims[a] != 1) {
				return false
			}
		}
		binaryFloat32(kind, out, lhs, rhs, outDims, lhsDims, rhsDims)
	default:
		return false
	}
	return true
}
