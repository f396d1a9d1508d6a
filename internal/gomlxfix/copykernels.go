package gomlxfix

import (
	"fmt"
	"reflect"
	"unsafe"

	"github.com/gomlx/gomlx/backends/simplego"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
)

// fastCopies replaces SimpleGo's float32 Slice and Transpose kernels.
var fastCopies = &workaround{
	name: "fast-copies",
	upstream: "GoMLX " + GoMLXVersion + "'s SimpleGo copies a Slice and a Transpose one element at a time " +
		"through a multi-axis index (execSliceGeneric, execTransposeGeneric in " +
		"backends/simplego/exec_special_ops.go); the replacements copy runs along the innermost moving axis",
	install: func() { copyKernels.install() },
	restore: func() { copyKernels.restore() },
}

// InstallFastCopies replaces SimpleGo's float32 Slice and Transpose kernels with sliceFloat32 and
// transposeFloat32. The same rules as for [Install] apply.
func InstallFastCopies() { setWorkaround(fastCopies, true) }

// RestoreStockCopies puts back SimpleGo's own Slice and Transpose kernels; see [InstallFastCopies].
func RestoreStockCopies() { setWorkaround(fastCopies, false) }

//go:linkname simplegoSlice github.com/gomlx/gomlx/backends/simplego.sliceDTypeMap
var simplegoSlice *simplego.DTypeMap

//go:linkname simplegoTranspose github.com/gomlx/gomlx/backends/simplego.transposeDTypeMap
var simplegoTranspose *simplego.DTypeMap

var copyKernels = &kernelSwap{replacements: func() map[*simplego.DTypeMap]any {
	checkBufferLayout()
	checkRegistry(simplegoSlice, "Slice")
	checkRegistry(simplegoTranspose, "Transpose")
	return map[*simplego.DTypeMap]any{
		simplegoSlice:     sliceKernel(simplegoSlice.Map[dtypes.Float32]),
		simplegoTranspose: transposeKernel(simplegoTranspose.Map[dtypes.Float32]),
	}
}}

// sliceKernel returns a replacement for SimpleGo's float32 Slice kernel stock, of type
// func(operand, output *Buffer, params *sliceNode) with the unexported sliceNode{starts, limits,
// strides []int}, made with package reflect.
func sliceKernel(stock any) any {
	kernelType := reflect.TypeOf(stock)
	bufferType := reflect.TypeFor[*simplego.Buffer]()
	intsType := reflect.TypeFor[[]int]()
	bad := kernelType == nil || kernelType.Kind() != reflect.Func || kernelType.NumIn() != 3 || kernelType.NumOut() != 0 ||
		kernelType.In(0) != bufferType || kernelType.In(1) != bufferType || kernelType.In(2).Kind() != reflect.Pointer ||
		kernelType.In(2).Elem().Kind() != reflect.Struct
	var startsField, stridesField reflect.StructField
	if !bad {
		var okStarts, okStrides bool
		startsField, okStarts = kernelType.In(2).Elem().FieldByName("starts")
		stridesField, okStrides = kernelType.In(2).Elem().FieldByName("strides")
		bad = !okStarts || !okStrides || startsField.Type != intsType || stridesField.Type != intsType
	}
	if bad {
		panic(fmt.Errorf("%w: SimpleGo's float32 Slice kernel is a %v, want func(operand, output *Buffer, "+
			"params *sliceNode) with sliceNode{starts, limits, strides []int}", ErrGoMLXChanged, kernelType))
	}
	return reflect.MakeFunc(kernelType, func(args []reflect.Value) []reflect.Value {
		fastKernelCalls.Add(1)
		params := args[2].UnsafePointer()
		starts := *(*[]int)(unsafe.Add(params, startsField.Offset))
		strides := *(*[]int)(unsafe.Add(params, stridesField.Offset))
		sliceFloat32(args[0].Interface().(*simplego.Buffer), args[1].Interface().(*simplego.Buffer), starts, strides)
		return nil
	}).Interface()
}

// sliceFloat32 copies the slice of operand that starts at starts with the given strides into
// output (whose dimensions give the slice's). Axes of output dimension 1 are dropped and axes that
// continue each other in memory are merged; then runs along the innermost remaining axis are
// copied, with copy where that axis is contiguous.
func sliceFloat32(operand, output *simplego.Buffer, starts, strides []int) {
	src, dst := float32s(operand), float32s(output)
	dims, outDims := bufferShape(operand).Dimensions, bufferShape(output).Dimensions
	if len(dims) != len(outDims) || len(starts) != len(dims) || len(strides) != len(dims) {
		panic(fmt.Errorf("%w: Slice of a rank-%d operand into rank %d with %d starts and %d strides",
			ErrGoMLXChanged, len(dims), len(outDims), len(starts), len(strides)))
	}
	offset, stride := 0, 1
	steps := make([]int, len(dims)) // source offset between consecutive output indices, per axis
	for axis := len(dims) - 1; axis >= 0; axis-- {
		offset += starts[axis] * stride
		steps[axis] = strides[axis] * stride
		stride *= dims[axis]
	}
	// The output is walked in order; each of its runs reads the source from offset with step innerStep.
	walk := newStridedWalk(outDims, steps)
	walk.each(len(dst), offset, func(o, offset int) {
		run := dst[o : o+walk.inner]
		if walk.innerStep == 1 {
			copy(run, src[offset:offset+walk.inner])
			return
		}
		_ = src[offset+(walk.inner-1)*walk.innerStep]
		for x := range run {
			run[x] = src[offset+x*walk.innerStep]
		}
	})
}

// transposeKernel returns a replacement for SimpleGo's float32 Transpose kernel stock, of type
// func(operand, output *Buffer, it *transposeIterator) with the unexported transposeIterator, whose
// fields perAxisStrides (the output stride of each operand axis) and dimensions (the operand's) it
// reads; made with package reflect.
func transposeKernel(stock any) any {
	kernelType := reflect.TypeOf(stock)
	bufferType := reflect.TypeFor[*simplego.Buffer]()
	intsType := reflect.TypeFor[[]int]()
	bad := kernelType == nil || kernelType.Kind() != reflect.Func || kernelType.NumIn() != 3 || kernelType.NumOut() != 0 ||
		kernelType.In(0) != bufferType || kernelType.In(1) != bufferType || kernelType.In(2).Kind() != reflect.Pointer ||
		kernelType.In(2).Elem().Kind() != reflect.Struct
	var stridesField reflect.StructField
	if !bad {
		var ok bool
		stridesField, ok = kernelType.In(2).Elem().FieldByName("perAxisStrides")
		bad = !ok || stridesField.Type != intsType
	}
	if bad {
		panic(fmt.Errorf("%w: SimpleGo's float32 Transpose kernel is a %v, want func(operand, output *Buffer, "+
			"it *transposeIterator) with transposeIterator.perAxisStrides []int", ErrGoMLXChanged, kernelType))
	}
	return reflect.MakeFunc(kernelType, func(args []reflect.Value) []reflect.Value {
		fastKernelCalls.Add(1)
		outStrides := *(*[]int)(unsafe.Add(args[2].UnsafePointer(), stridesField.Offset))
		transposeFloat32(args[0].Interface().(*simplego.Buffer), args[1].Interface().(*simplego.Buffer), outStrides)
		return nil
	}).Interface()
}

// transposeFloat32 writes every element of operand to output at the flat index given by outStrides
// (the output stride of each operand axis). Operand axes of dimension 1 are dropped and axes that
// continue each other in both layouts are merged; operand runs along the innermost remaining axis
// are written with copy where that axis is contiguous in the output too.
func transposeFloat32(operand, output *simplego.Buffer, outStrides []int) {
	src, dst := float32s(operand), float32s(output)
	dims := bufferShape(operand).Dimensions
	if len(outStrides) != len(dims) || len(src) != len(dst) {
		panic(fmt.Errorf("%w: Transpose of %v with output strides %v into %d elements",
			ErrGoMLXChanged, dims, outStrides, len(dst)))
	}
	walk := newStridedWalk(dims, outStrides)
	walk.each(len(src), 0, func(i, offset int) {
		run := src[i : i+walk.inner]
		if walk.innerStep == 1 {
			copy(dst[offset:offset+walk.inner], run)
			return
		}
		_ = dst[offset+(walk.inner-1)*walk.innerStep]
		for x, v := range run {
			dst[offset+x*walk.innerStep] = v
		}
	})
}

// stridedWalk visits a tensor in row-major order, one run at a time along its innermost moving
// axis, and tracks where each run starts in a second, strided layout (the other operand of a
// Slice, Transpose or reduction). Axes of dimension 1 are dropped and axes that continue each other
// in the second layout are merged, so runs are as long as they can be.
type stridedWalk struct {
	inner, innerStep  int   // the run length, and the second layout's step within a run
	outer, outerMoves []int // the other moving axes, outermost first: dimension and step
}

// newStridedWalk returns the walk of a tensor of dimensions dims, steps[axis] being the second
// layout's offset between consecutive indices along axis.
func newStridedWalk(dims, steps []int) stridedWalk {
	var counts, moves []int
	for axis, n := range dims {
		if n == 1 {
			continue
		}
		if last := len(counts) - 1; last >= 0 && moves[last] == steps[axis]*n {
			counts[last] *= n
			moves[last] = steps[axis]
			continue
		}
		counts, moves = append(counts, n), append(moves, steps[axis])
	}
	if len(counts) == 0 { // a single element
		return stridedWalk{inner: 1}
	}
	last := len(counts) - 1
	return stridedWalk{inner: counts[last], innerStep: moves[last], outer: counts[:last], outerMoves: moves[:last]}
}

// each calls visit(i, offset) for every run, in order: i is where the run starts in the walked
// tensor (of size elements), offset where it starts in the second layout (start for the first).
func (w stridedWalk) each(size, start int, visit func(i, offset int)) {
	if size == 0 {
		return
	}
	index := make([]int, len(w.outer))
	offset := start
	for i := 0; i < size; i += w.inner {
		visit(i, offset)
		for axis := len(w.outer) - 1; axis >= 0; axis-- {
			index[axis]++
			offset += w.outerMoves[axis]
			if index[axis] < w.outer[axis] {
				break
			}
			index[axis] = 0
			offset -= w.outer[axis] * w.outerMoves[axis]
		}
	}
}
