package gomlxfix

import (
	"fmt"
	"reflect"
	"unsafe"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/backends/simplego"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/shapes"
)

// smallDotMACs is the most multiply-adds of a float32 DotGeneral that dotExecutor computes in the
// calling goroutine; larger ones go to SimpleGo's executor, whose blocked path shares them among
// workers.
const smallDotMACs = 1 << 20

// dotExecutors replaces SimpleGo's DotGeneral executor (part of the fast-dot-kernel workaround).
// For a small product SimpleGo hands the work to a worker goroutine and waits for it (execDotGeneralSmall
// in backends/simplego/dotgeneral_small.go): tens of microseconds of wake-ups at batch 1, more than
// the product of a small dense layer. The replacement computes small float32 products in place.
var dotExecutors = &executorSwap{replacements: func() map[backends.OpType]func(simplegoExecutor) simplegoExecutor {
	params := dotParamsLayoutOf(simplegoDotNormalized.Map[dtypes.Float32])
	return map[backends.OpType]func(simplegoExecutor) simplegoExecutor{
		backends.OpTypeDotGeneral: func(stock simplegoExecutor) simplegoExecutor { return dotExecutor(params, stock) },
	}
}}

// dotParamsLayout holds the offsets of the fields of SimpleGo's unexported dotGeneralNodeData that
// dotExecutor reads, and of simplego.Node's field data, which points to it.
type dotParamsLayout struct {
	nodeData                                               uintptr
	lhsContracting, lhsBatch, rhsContracting, rhsBatch     uintptr
	batchSize, lhsCrossSize, rhsCrossSize, contractingSize uintptr
	paramsType                                             reflect.Type
}

// dotParamsLayoutOf reads the layout from the type of SimpleGo's float32 normalized DotGeneral
// kernel, func(lhs, rhs, output *Buffer, params *dotGeneralNodeData, batchStartIdx, batchEndIdx int).
func dotParamsLayoutOf(normalizedKernel any) dotParamsLayout {
	fail := func(what string) {
		panic(fmt.Errorf("%w: SimpleGo's DotGeneral node data: %s", ErrGoMLXChanged, what))
	}
	kernelType := reflect.TypeOf(normalizedKernel)
	if kernelType == nil || kernelType.Kind() != reflect.Func || kernelType.NumIn() != 6 ||
		kernelType.In(3).Kind() != reflect.Pointer || kernelType.In(3).Elem().Kind() != reflect.Struct {
		fail(fmt.Sprintf("the normalized kernel is a %v", kernelType))
	}
	var l dotParamsLayout
	l.paramsType = kernelType.In(3)
	field := func(name string, want reflect.Type) uintptr {
		f, ok := l.paramsType.Elem().FieldByName(name)
		if !ok || f.Type != want {
			fail(fmt.Sprintf("no field %s of type %v", name, want))
		}
		return f.Offset
	}
	ints, integer := reflect.TypeFor[[]int](), reflect.TypeFor[int]()
	l.lhsContracting, l.lhsBatch = field("lhsContractingAxes", ints), field("lhsBatchAxes", ints)
	l.rhsContracting, l.rhsBatch = field("rhsContractingAxes", ints), field("rhsBatchAxes", ints)
	l.batchSize, l.lhsCrossSize = field("batchSize", integer), field("lhsCrossSize", integer)
	l.rhsCrossSize, l.contractingSize = field("rhsCrossSize", integer), field("contractingSize", integer)
	data, ok := reflect.TypeFor[simplego.Node]().FieldByName("data")
	if !ok || data.Type != reflect.TypeFor[any]() {
		fail("simplego.Node has no field data (any)")
	}
	l.nodeData = data.Offset
	return l
}

// dotExecutor returns SimpleGo's DotGeneral executor for small float32 products computed in the
// calling goroutine: the operands transposed to [batch, cross, contracting] where they are not laid
// out so already (normalizeOperand), then one dotProduct per batch element. Everything else goes to
// stock.
func dotExecutor(l dotParamsLayout, stock simplegoExecutor) simplegoExecutor {
	return func(backend *simplego.Backend, node *simplego.Node, inputs []*simplego.Buffer, inputsOwned []bool) (*simplego.Buffer, error) {
		data := *(*any)(unsafe.Add(unsafe.Pointer(node), l.nodeData))
		if len(inputs) != 2 || reflect.TypeOf(data) != l.paramsType {
			return stock(backend, node, inputs, inputsOwned)
		}
		params := reflect.ValueOf(data).UnsafePointer()
		intAt := func(off uintptr) int { return *(*int)(unsafe.Add(params, off)) }
		intsAt := func(off uintptr) []int { return *(*[]int)(unsafe.Add(params, off)) }
		batch, m, n, k := intAt(l.batchSize), intAt(l.lhsCrossSize), intAt(l.rhsCrossSize), intAt(l.contractingSize)
		outShape := *(*shapes.Shape)(unsafe.Add(unsafe.Pointer(node), nodeShapeOffset))
		lhsShape, rhsShape := bufferShape(inputs[0]), bufferShape(inputs[1])
		if outShape.DType != dtypes.Float32 || lhsShape.DType != dtypes.Float32 || rhsShape.DType != dtypes.Float32 ||
			batch*m*n*k > smallDotMACs || batch*m*n != outShape.Size() || batch*m*k != lhsShape.Size() || batch*n*k != rhsShape.Size() {
			return stock(backend, node, inputs, inputsOwned)
		}
		fastKernelCalls.Add(1)
		lhs, rhs := inputs[0], inputs[1]
		// A new output buffer of SimpleGo's pool (no input is reused: it has another shape).
		_, _, output, _, _ := simplegoBinaryOperandsAndOutput(backend, []*simplego.Buffer{lhs, rhs}, []bool{false, false}, outShape)
		if ln := normalizeOperand(backend, lhs, intsAt(l.lhsContracting), intsAt(l.lhsBatch), batch, m, k); ln != nil {
			lhs = ln
		}
		if rn := normalizeOperand(backend, rhs, intsAt(l.rhsContracting), intsAt(l.rhsBatch), batch, n, k); rn != nil {
			rhs = rn
		}
		out, a, b := float32s(output), float32s(lhs), float32s(rhs)
		clear(out)
		for i := range batch {
			dotProduct(a[i*m*k:(i+1)*m*k], b[i*n*k:(i+1)*n*k], out[i*m*n:(i+1)*m*n], k, k, n, m, n, k)
		}
		return output, nil
	}
}
