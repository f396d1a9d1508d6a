package gomlxfix

import (
	"fmt"
	"reflect"
	"unsafe"

	"github.com/gomlx/gomlx/backends/simplego"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
)

// fastSlice replaces SimpleGo's float32 Slice and Transpose kernels.
var fastSlice = &workaround{
	name: "fast-copies",
	upstream: "GoMLX " + GoMLXVersion + "'s SimpleGo copies a Slice and a Transpose one element at a time " +
		"through a multi-axis index (execSliceGeneric, execTransposeGeneric in " +
		"backends/simplego/exec_special_ops.go); the replacements copy runs along the innermost moving axis",
	install: installFastSlice,
	restore: restoreFastSlice,
}

// InstallFastCopies replaces SimpleGo's float32 Slice and Transpose kernels with sliceFloat32 and
// transposeFloat32. The same rules as for [Install] apply.
func InstallFastCopies() { setWorkaround(fastSlice, true) }

// RestoreStockCopies puts back SimpleGo's own Slice and Transpose kernels; see [InstallFastCopies].
func RestoreStockCopies() { setWorkaround(fastSlice, false) }

//go:linkname simplegoSlice github.com/gomlx/gomlx/backends/simplego.sliceDTypeMap
var simplegoSlice *simplego.DTypeMap

//go:linkname simplegoTranspose github.com/gomlx/gomlx/backends/simplego.transposeDTypeMap
var simplegoTranspose *simplego.DTypeMap

// putBackStockCopies undoes installFastSlice; nil when it is not installed.
var putBackStockCopies func()

func installFastSlice() {
	checkBufferLayout()
	checkRegistry(simplegoSlice, "Slice")
	checkRegistry(simplegoTranspose, "Transpose")
	stockSlice, stockSlicePriority := simplegoSlice.Map[dtypes.Float32], simplegoSlice.Priority[dtypes.Float32]
	stockTranspose, stockTransposePriority := simplegoTranspose.Map[dtypes.Float32], simplegoTranspose.Priority[dtypes.Float32]
	fastSlice, fastTranspose := sliceKernel(stockSlice), transposeKernel(stockTranspose)
	simplegoSlice.Map[dtypes.Float32], simplegoSlice.Priority[dtypes.Float32] = fastSlice, simplegoUserPriority
	simplegoTranspose.Map[dtypes.Float32], simplegoTranspose.Priority[dtypes.Float32] = fastTranspose, simplegoUserPriority
	putBackStockCopies = func() {
		simplegoSlice.Map[dtypes.Float32], simplegoSlice.Priority[dtypes.Float32] = stockSlice, stockSlicePriority
		simplegoTranspose.Map[dtypes.Float32], simplegoTranspose.Priority[dtypes.Float32] = stockTranspose, stockTransposePriority
	}
}

func restoreFastSlice() {
	putBackStockCopies()
	putBackStockCopies = nil
}

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
	// Moving axes, outermost first, merged where the inner one continues the outer one.
	var counts, moves []int
	for axis, n := range outDims {
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
	if len(counts) == 0 {
		dst[0] = src[offset]
		return
	}
	inner, innerStep := counts[len(counts)-1], moves[len(moves)-1]
	outer, outerMoves := counts[:len(counts)-1], moves[:len(moves)-1]
	index := make([]int, len(outer))
	for o := 0; o < len(dst); o += inner {
		if innerStep == 1 {
			copy(dst[o:o+inner], src[offset:offset+inner])
		} else {
			run := dst[o : o+inner]
			_ = src[offset+(inner-1)*innerStep]
			for x := range run {
				run[x] = src[offset+x*innerStep]
			}
		}
		for axis := len(outer) - 1; axis >= 0; axis-- {
			index[axis]++
			offset += outerMoves[axis]
			if index[axis] < outer[axis] {
				break
			}
			index[axis] = 0
			offset -= outer[axis] * outerMoves[axis]
		}
	}
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
	var counts, moves []int // per kept operand axis, outermost first: dimension and output stride
	for axis, n := range dims {
		if n == 1 {
			continue
		}
		if last := len(counts) - 1; last >= 0 && moves[last] == outStrides[axis]*n {
			counts[last] *= n
			moves[last] = outStrides[axis]
			continue
		}
		counts, moves = append(counts, n), append(moves, outStrides[axis])
	}
	if len(counts) == 0 {
		copy(dst, src)
		return
	}
	inner, innerStep := counts[len(counts)-1], moves[len(moves)-1]
	outer, outerMoves := counts[:len(counts)-1], moves[:len(moves)-1]
	index := make([]int, len(outer))
	offset := 0
	for i := 0; i < len(src); i += inner {
		run := src[i : i+inner]
		if innerStep == 1 {
			copy(dst[offset:offset+inner], run)
		} else {
			_ = dst[offset+(inner-1)*innerStep]
			for x, v := range run {
				dst[offset+x*innerStep] = v
			}
		}
		for axis := len(outer) - 1; axis >= 0; axis-- {
			index[axis]++
			offset += outerMoves[axis]
			if index[axis] < outer[axis] {
				break
			}
			index[axis] = 0
			offset -= outer[axis] * outerMoves[axis]
		}
	}
}
