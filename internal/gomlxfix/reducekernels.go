package gomlxfix

import (
	"fmt"
	"reflect"
	"unsafe"

	"github.com/gomlx/gomlx/backends/simplego"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
)

// fastReductions replaces SimpleGo's float32 ReduceSum, ReduceMax and ReduceMin kernels.
var fastReductions = &workaround{
	name: "fast-reductions",
	upstream: "GoMLX " + GoMLXVersion + "'s SimpleGo reduces one element at a time through a multi-axis output " +
		"index (execReduceSumGeneric, execReduceMaxGeneric, execReduceMinGeneric with reduceOutputIterator in " +
		"backends/simplego/exec_special_ops.go); the replacements walk runs along the innermost moving axis, " +
		"in the same order, so the results are bit-identical",
	install: func() { reductionKernels.install() },
	restore: func() { reductionKernels.restore() },
}

// InstallFastReductions replaces SimpleGo's float32 ReduceSum, ReduceMax and ReduceMin kernels
// with reduceFloat32, which visits the operand in the same order and gives bit-identical results.
// The same rules as for [Install] apply.
func InstallFastReductions() { setWorkaround(fastReductions, true) }

// RestoreStockReductions puts back SimpleGo's own reduction kernels; see [InstallFastReductions].
func RestoreStockReductions() { setWorkaround(fastReductions, false) }

//go:linkname simplegoReduceSum github.com/gomlx/gomlx/backends/simplego.reduceSumDTypeMap
var simplegoReduceSum *simplego.DTypeMap

//go:linkname simplegoReduceMax github.com/gomlx/gomlx/backends/simplego.reduceMaxDTypeMap
var simplegoReduceMax *simplego.DTypeMap

//go:linkname simplegoReduceMin github.com/gomlx/gomlx/backends/simplego.reduceMinDTypeMap
var simplegoReduceMin *simplego.DTypeMap

// reduceOp is a reduction: its kind and its initial value (SimpleGo's).
type reduceOp struct {
	kind    reduceKind
	initial float32
}

type reduceKind int

const (
	reduceSum reduceKind = iota
	reduceMax
	reduceMin
)

// fold combines run into acc, in order.
func (op reduceOp) fold(acc float32, run []float32) float32 {
	switch op.kind {
	case reduceSum:
		for _, v := range run {
			acc += v
		}
	case reduceMax:
		for _, v := range run {
			acc = max(acc, v)
		}
	default:
		for _, v := range run {
			acc = min(acc, v)
		}
	}
	return acc
}

// into combines run element-wise into out[0], out[step], out[2·step], ….
func (op reduceOp) into(out []float32, step int, run []float32) {
	_ = out[(len(run)-1)*step]
	switch op.kind {
	case reduceSum:
		for x, v := range run {
			out[x*step] += v
		}
	case reduceMax:
		for x, v := range run {
			out[x*step] = max(out[x*step], v)
		}
	default:
		for x, v := range run {
			out[x*step] = min(out[x*step], v)
		}
	}
}

var reductionKernels = &kernelSwap{replacements: func() map[*simplego.DTypeMap]any {
	checkBufferLayout()
	checkRegistry(simplegoReduceSum, "ReduceSum")
	checkRegistry(simplegoReduceMax, "ReduceMax")
	checkRegistry(simplegoReduceMin, "ReduceMin")
	return map[*simplego.DTypeMap]any{
		simplegoReduceSum: reduceKernel(simplegoReduceSum.Map[dtypes.Float32], reduceOp{reduceSum, 0}),
		simplegoReduceMax: reduceKernel(simplegoReduceMax.Map[dtypes.Float32], reduceOp{reduceMax, dtypes.Float32.LowestValue().(float32)}),
		simplegoReduceMin: reduceKernel(simplegoReduceMin.Map[dtypes.Float32], reduceOp{reduceMin, dtypes.Float32.HighestValue().(float32)}),
	}
}}

// reduceKernel returns a replacement for SimpleGo's float32 reduction kernel stock, of type
// func(operand, output *Buffer, it *reduceOutputIterator, dtype dtypes.DType) with the unexported
// reduceOutputIterator, whose field perAxisStride (the output stride of each operand axis, 0 for
// reduced axes) it reads; made with package reflect.
func reduceKernel(stock any, op reduceOp) any {
	kernelType := reflect.TypeOf(stock)
	bufferType := reflect.TypeFor[*simplego.Buffer]()
	bad := kernelType == nil || kernelType.Kind() != reflect.Func || kernelType.NumIn() != 4 || kernelType.NumOut() != 0 ||
		kernelType.In(0) != bufferType || kernelType.In(1) != bufferType || kernelType.In(2).Kind() != reflect.Pointer ||
		kernelType.In(2).Elem().Kind() != reflect.Struct || kernelType.In(3) != reflect.TypeFor[dtypes.DType]()
	var stridesField reflect.StructField
	if !bad {
		var ok bool
		stridesField, ok = kernelType.In(2).Elem().FieldByName("perAxisStride")
		bad = !ok || stridesField.Type != reflect.TypeFor[[]int]()
	}
	if bad {
		panic(fmt.Errorf("%w: SimpleGo's float32 reduction kernel is a %v, want func(operand, output *Buffer, "+
			"it *reduceOutputIterator, dtype dtypes.DType) with reduceOutputIterator.perAxisStride []int",
			ErrGoMLXChanged, kernelType))
	}
	return reflect.MakeFunc(kernelType, func(args []reflect.Value) []reflect.Value {
		fastKernelCalls.Add(1)
		outStrides := *(*[]int)(unsafe.Add(args[2].UnsafePointer(), stridesField.Offset))
		reduceFloat32(args[0].Interface().(*simplego.Buffer), args[1].Interface().(*simplego.Buffer), outStrides, op)
		return nil
	}).Interface()
}

// reduceFloat32 combines every element of operand into output at the flat index given by
// outStrides (the output stride of each operand axis, 0 for reduced axes), visiting the operand in
// order as SimpleGo does. Operand axes of dimension 1 are dropped and axes that continue each other
// are merged; runs along the innermost remaining axis go into one output (a reduced axis) or into
// consecutive ones, the two axes around them in loops here and the others by a strided walk.
func reduceFloat32(operand, output *simplego.Buffer, outStrides []int, op reduceOp) {
	src, dst := float32s(operand), float32s(output)
	dims := bufferShape(operand).Dimensions
	if len(outStrides) != len(dims) {
		panic(fmt.Errorf("%w: reduction of %v with output strides %v", ErrGoMLXChanged, dims, outStrides))
	}
	if op.kind != reduceSum && reduceWindows(src, dst, dims, outStrides, op) {
		return
	}
	for i := range dst {
		dst[i] = op.initial
	}
	walk := newStridedWalk(dims, outStrides)
	inner, step := walk.inner, walk.innerStep
	// The two axes around the innermost run are looped over here, in order, so that the walk (a
	// call per block) does not dominate when runs are short: a sum over the spatial axes of
	// [batch, h, w, channels] with few channels has runs of a few values.
	n1, m1, n2, m2 := 1, 0, 1, 0
	if l := len(walk.outer); l > 0 {
		n1, m1 = walk.outer[l-1], walk.outerMoves[l-1]
		walk.outer, walk.outerMoves = walk.outer[:l-1], walk.outerMoves[:l-1]
	}
	if l := len(walk.outer); l > 0 {
		n2, m2 = walk.outer[l-1], walk.outerMoves[l-1]
		walk.outer, walk.outerMoves = walk.outer[:l-1], walk.outerMoves[:l-1]
	}
	walk.inner = inner * n1 * n2
	walk.each(len(src), 0, func(i, offset int) {
		for a := range n2 {
			for b := range n1 {
				o := offset + a*m2 + b*m1
				run := src[i : i+inner]
				i += inner
				if step == 0 {
					dst[o] = op.fold(dst[o], run)
				} else {
					op.into(dst[o:], step, run)
				}
			}
		}
	})
}

// maxWindow is the most values per output reduceWindows takes (a pooling window's).
const maxWindow = 64

// reduceWindows computes a ReduceMax or ReduceMin with at most maxWindow values per output (max
// pooling written as a reduction over window axes) output by output, large ones on all CPUs: each
// output folds the operand values at a list of offsets from its base, starting from op.initial, as
// SimpleGo does, and in its order (ascending offsets: which of several NaNs comes out depends on the
// order), so the results are bit-identical to SimpleGo's. It returns false, doing nothing, for other
// reductions (more values per output, or outputs not laid out row-major over the kept axes).
func reduceWindows(src, dst []float32, dims, outStrides []int, op reduceOp) bool {
	type axis struct{ n, step int } // dimension and operand step
	var kept []axis
	var reduced []int
	steps := make([]int, len(dims))
	window, outStride, step := 1, 1, 1
	for a := len(dims) - 1; a >= 0; a-- {
		n := dims[a]
		steps[a] = step
		switch {
		case n == 1:
		case outStrides[a] == 0:
			if window *= n; window > maxWindow {
				return false
			}
			reduced = append([]int{a}, reduced...) // in axis order: offsets ascending, SimpleGo's order
		default:
			if outStrides[a] != outStride {
				return false
			}
			outStride *= n
			if len(kept) > 0 && kept[0].step == n*step { // continues the axis after it
				kept[0].n *= n
				kept[0].step = step
			} else {
				kept = append([]axis{{n, step}}, kept...)
			}
		}
		step *= n
	}
	if outStride != len(dst) {
		return false
	}
	offsets := AxesOffsets(dims, steps, reduced)
	for len(kept) < 2 {
		kept = append([]axis{{1, 0}}, kept...)
	}
	last := len(kept) - 1
	x, y := kept[last], kept[last-1] // the two innermost kept axes, looped over here
	outer := kept[:last-1]
	blocks := len(dst) / (x.n * y.n)
	// Blocks of x.n·y.n outputs, shared among goroutines; within a block, when the innermost kept
	// axis is contiguous (channels), each offset is one pass over a run of it.
	inParallel(blocks, x.n*y.n, func(from, to int) {
		index := make([]int, len(outer))
		base := 0
		for a, rest := len(outer)-1, from; a >= 0; a-- { // the first block's base
			index[a] = rest % outer[a].n
			rest /= outer[a].n
			base += index[a] * outer[a].step
		}
		for block := from; block < to; block++ {
			o := block * x.n * y.n
			for j := range y.n {
				d := dst[o+j*x.n : o+(j+1)*x.n]
				b := base + j*y.step
				if x.step == 1 {
					for c := range d {
						d[c] = op.initial
					}
					for _, off := range offsets {
						run := src[b+off : b+off+len(d)]
						if op.kind == reduceMax {
							for c, v := range run {
								d[c] = max(d[c], v)
							}
						} else {
							for c, v := range run {
								d[c] = min(d[c], v)
							}
						}
					}
					continue
				}
				for i := range d {
					acc, bi := op.initial, b+i*x.step
					if op.kind == reduceMax {
						for _, off := range offsets {
							acc = max(acc, src[bi+off])
						}
					} else {
						for _, off := range offsets {
							acc = min(acc, src[bi+off])
						}
					}
					d[i] = acc
				}
			}
			for a := len(outer) - 1; a >= 0; a-- {
				index[a]++
				base += outer[a].step
				if index[a] < outer[a].n {
					break
				}
				index[a] = 0
				base -= outer[a].n * outer[a].step
			}
		}
	})
	return true
}
