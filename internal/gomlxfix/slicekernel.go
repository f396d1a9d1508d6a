package gomlxfix

import (
	"fmt"
	"reflect"
	"unsafe"

	"github.com/gomlx/gomlx/backends/simplego"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
)

// fastSlice replaces SimpleGo's float32 Slice kernel.
var fastSlice = &workaround{
	name: "fast-slice",
	upstream: "GoMLX " + GoMLXVersion + "'s SimpleGo copies a Slice one element at a time through a " +
		"multi-axis index (execSliceGeneric in backends/simplego/exec_special_ops.go); the replacement " +
		"copies runs along the innermost moving axis, which the patches of convolutions on SimpleGo " +
		"(package nn) are made of",
	install: installFastSlice,
	restore: restoreFastSlice,
}

// InstallFastSlice replaces SimpleGo's float32 Slice kernel with sliceFloat32. The same rules as
// for [Install] apply.
func InstallFastSlice() { setWorkaround(fastSlice, true) }

// RestoreStockSlice puts back SimpleGo's own Slice kernel; see [InstallFastSlice].
func RestoreStockSlice() { setWorkaround(fastSlice, false) }

//go:linkname simplegoSlice github.com/gomlx/gomlx/backends/simplego.sliceDTypeMap
var simplegoSlice *simplego.DTypeMap

// putBackStockSlice undoes installFastSlice; nil when it is not installed.
var putBackStockSlice func()

func installFastSlice() {
	checkBufferLayout()
	checkRegistry(simplegoSlice, "Slice")
	stock, stockPriority := simplegoSlice.Map[dtypes.Float32], simplegoSlice.Priority[dtypes.Float32]
	simplegoSlice.Map[dtypes.Float32], simplegoSlice.Priority[dtypes.Float32] = sliceKernel(stock), simplegoUserPriority
	putBackStockSlice = func() {
		simplegoSlice.Map[dtypes.Float32], simplegoSlice.Priority[dtypes.Float32] = stock, stockPriority
	}
}

func restoreFastSlice() {
	putBackStockSlice()
	putBackStockSlice = nil
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
