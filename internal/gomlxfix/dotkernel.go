package gomlxfix

import (
	"fmt"
	"math"
	"reflect"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/gomlx/gomlx/backends/simplego"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/shapes"
)

// fastDotKernel replaces SimpleGo's float32 matrix-product kernels and the copies around them.
var fastDotKernel = &workaround{
	name: "fast-dot-kernel",
	upstream: "GoMLX " + GoMLXVersion + "'s SimpleGo computes float32 DotGeneral with scalar Go loops " +
		"(buildDotGeneralKernel in backends/simplego/dotgeneral_large.go, execNormalizedDotGeneralGeneric " +
		"in dotgeneral_small.go), about 1 GMAC/s per core, packs and transposes operands one element at a time " +
		"through a multi-axis index (dgCopyFlatToBlockShape, dgNormalizeShape) and zeroes buffers element by " +
		"element (fillBufferGeneric), and hands even small products to a worker goroutine (execDotGeneralSmall); " +
		"the replacements are an AVX2+FMA assembly kernel where the CPU has it (a register-tiled Go kernel " +
		"elsewhere), row copies through offset tables, clear(), and small products computed in the calling goroutine",
	install: func() { dotKernels.install(); dotExecutors.install() },
	restore: func() { dotExecutors.restore(); dotKernels.restore() },
}

// InstallFastDotKernel replaces, for float32 on SimpleGo (the pure-Go backend), the kernels of
// DotGeneral — the product of two square blocks in SimpleGo's blocked algorithm for large products,
// and the product of normalized operands for small ones — with dotTileAsm (AVX2+FMA) where the CPU
// has it or the register-tiled dotTileGo elsewhere; the packing of operands into blocks and their
// transposition to [batch, cross, contracting] with row copies; and the zeroing of buffers with
// clear. Other dtypes and other backends are unchanged.
// The same rules as for [Install] apply.
func InstallFastDotKernel() { setWorkaround(fastDotKernel, true) }

// RestoreStockDotKernel puts back SimpleGo's own kernels; see [InstallFastDotKernel].
func RestoreStockDotKernel() { setWorkaround(fastDotKernel, false) }

// DotKernelName names the product kernel [InstallFastDotKernel] installs on this machine:
// "AVX2+FMA" or "Go".
func DotKernelName() string {
	if dotTileAsm != nil {
		return dotTileAsmName
	}
	return "Go"
}

// fastKernelCalls counts the executions that reached a replacement kernel of SimpleGo (tests read it).
var fastKernelCalls atomic.Int64

var dotKernels = &kernelSwap{replacements: func() map[*simplego.DTypeMap]any {
	checkBufferLayout()
	checkRegistry(simplegoDotKernels, "DotGeneralKernel")
	checkRegistry(simplegoDotNormalized, "DotGeneralNormalized")
	checkRegistry(simplegoFlatToBlock, "DotGeneralFlatToBlock")
	checkRegistry(simplegoFill, "fillBuffer")
	checkRegistry(simplegoNormalize, "DotGeneralNormalizeShape")
	return map[*simplego.DTypeMap]any{
		simplegoDotKernels:    blockKernelBuilder(simplegoDotKernels.Map[dtypes.Float32]),
		simplegoDotNormalized: normalizedKernel(simplegoDotNormalized.Map[dtypes.Float32]),
		simplegoFlatToBlock:   checkedFunc(simplegoFlatToBlock.Map[dtypes.Float32], copyFlatToBlocks),
		simplegoFill:          checkedFunc(simplegoFill.Map[dtypes.Float32], fillFloat32),
		simplegoNormalize:     checkedFunc(simplegoNormalize.Map[dtypes.Float32], normalizeOperand),
	}
}}

// checkedFunc returns replacement after checking that it has the type of stock, the registry entry
// it replaces.
func checkedFunc[F any](stock any, replacement F) F {
	if _, ok := stock.(F); !ok {
		panic(fmt.Errorf("%w: SimpleGo's float32 kernel is a %T, want a %T", ErrGoMLXChanged, stock, replacement))
	}
	return replacement
}

// blockKernelBuilder returns a replacement for SimpleGo's float32 block-kernel builder stock, of
// type func(lhs, rhs, output *Buffer, blockDim int) kernelFuncType with the unexported
// kernelFuncType func(lhsBlockIdx, rhsBlockIdx, outputBlockIdx int): a value of that exact type is
// made with package reflect. The kernel it builds adds lhs block l times the transpose of rhs block
// r to output block o, every block blockDim×blockDim floats.
func blockKernelBuilder(stock any) any {
	builderType := reflect.TypeOf(stock)
	bufferType := reflect.TypeFor[*simplego.Buffer]()
	kernelType := reflect.TypeFor[func(int, int, int)]()
	if builderType == nil || builderType.Kind() != reflect.Func || builderType.NumIn() != 4 || builderType.NumOut() != 1 ||
		builderType.In(0) != bufferType || builderType.In(1) != bufferType || builderType.In(2) != bufferType ||
		builderType.In(3) != reflect.TypeFor[int]() || builderType.Out(0).Kind() != reflect.Func ||
		!kernelType.ConvertibleTo(builderType.Out(0)) {
		panic(fmt.Errorf("%w: SimpleGo's float32 DotGeneral block-kernel builder is a %v, want "+
			"func(lhs, rhs, output *Buffer, blockDim int) kernelFuncType", ErrGoMLXChanged, builderType))
	}
	return reflect.MakeFunc(builderType, func(args []reflect.Value) []reflect.Value {
		fastKernelCalls.Add(1)
		lhs := float32s(args[0].Interface().(*simplego.Buffer))
		rhs := float32s(args[1].Interface().(*simplego.Buffer))
		out := float32s(args[2].Interface().(*simplego.Buffer))
		dim := int(args[3].Int())
		size := dim * dim
		kernel := func(l, r, o int) {
			dotProduct(lhs[l*size:(l+1)*size], rhs[r*size:(r+1)*size], out[o*size:(o+1)*size], dim, dim, dim, dim, dim, dim)
		}
		return []reflect.Value{reflect.ValueOf(kernel).Convert(builderType.Out(0))}
	}).Interface()
}

// normalizedKernel returns a replacement for SimpleGo's float32 kernel for small products, of type
// func(lhs, rhs, output *Buffer, params *dotGeneralNodeData, batchStartIdx, batchEndIdx int) with
// the unexported dotGeneralNodeData, made with package reflect. Its operands are normalized:
// lhs [batch, lhsCross, contracting], rhs [batch, rhsCross, contracting], output
// [batch, lhsCross, rhsCross]; it reads the three sizes from params.
func normalizedKernel(stock any) any {
	kernelType := reflect.TypeOf(stock)
	bufferType := reflect.TypeFor[*simplego.Buffer]()
	intType := reflect.TypeFor[int]()
	bad := kernelType == nil || kernelType.Kind() != reflect.Func || kernelType.NumIn() != 6 || kernelType.NumOut() != 0 ||
		kernelType.In(0) != bufferType || kernelType.In(1) != bufferType || kernelType.In(2) != bufferType ||
		kernelType.In(3).Kind() != reflect.Pointer || kernelType.In(4) != intType || kernelType.In(5) != intType
	var sizeFields [3]int // lhsCrossSize, rhsCrossSize, contractingSize
	if !bad {
		params := kernelType.In(3).Elem()
		for i, name := range []string{"lhsCrossSize", "rhsCrossSize", "contractingSize"} {
			field, ok := params.FieldByName(name)
			bad = bad || !ok || field.Type != intType
			sizeFields[i] = field.Index[0]
		}
	}
	if bad {
		panic(fmt.Errorf("%w: SimpleGo's float32 normalized DotGeneral kernel is a %v, want func(lhs, rhs, output "+
			"*Buffer, params *dotGeneralNodeData, batchStartIdx, batchEndIdx int)", ErrGoMLXChanged, kernelType))
	}
	return reflect.MakeFunc(kernelType, func(args []reflect.Value) []reflect.Value {
		fastKernelCalls.Add(1)
		lhs := float32s(args[0].Interface().(*simplego.Buffer))
		rhs := float32s(args[1].Interface().(*simplego.Buffer))
		out := float32s(args[2].Interface().(*simplego.Buffer))
		params := args[3].Elem()
		m, n, k := int(params.Field(sizeFields[0]).Int()), int(params.Field(sizeFields[1]).Int()), int(params.Field(sizeFields[2]).Int())
		for b := int(args[4].Int()); b < int(args[5].Int()); b++ {
			dotProduct(lhs[b*m*k:(b+1)*m*k], rhs[b*n*k:(b+1)*n*k], out[b*m*n:(b+1)*m*n], k, k, n, m, n, k)
		}
		return nil
	}).Interface()
}

// dotProduct adds lhs·rhsᵀ to out: out[i*outStride+j] += Σ_{k<depth} lhs[i*lhsStride+k]·
// rhs[j*rhsStride+k] for i < rows, j < cols. The assembly kernel takes the largest part whose
// sizes it accepts (rows even, cols a multiple of 4, depth of 8); dotTileGo the edges, or all of it
// where there is no assembly kernel. The slices are checked to cover what the assembly reads and
// writes before it runs.
func dotProduct(lhs, rhs, out []float32, lhsStride, rhsStride, outStride, rows, cols, depth int) {
	rows2, cols4, depth8 := rows&^1, cols&^3, depth&^7
	asm := dotTileAsm
	if asm == nil || cols4 == 0 || depth8 == 0 {
		dotTileGo(lhs, rhs, out, lhsStride, rhsStride, outStride, rows, cols, depth)
		return
	}
	if rows2 > 0 {
		_, _, _ = lhs[(rows2-1)*lhsStride+depth8-1], rhs[(cols4-1)*rhsStride+depth8-1], out[(rows2-1)*outStride+cols4-1]
		asm(&lhs[0], &rhs[0], &out[0], lhsStride, rhsStride, outStride, rows2, cols4, depth8, 1, 0)
		if depth8 < depth {
			dotTileGo(lhs[depth8:], rhs[depth8:], out, lhsStride, rhsStride, outStride, rows2, cols4, depth-depth8)
		}
	}
	if cols4 < cols {
		dotTileGo(lhs, rhs[cols4*rhsStride:], out[cols4:], lhsStride, rhsStride, outStride, rows, cols-cols4, depth)
	}
	if rows2 < rows {
		// The last row alone (a batch of 1): the assembly takes rows in pairs, so it reads this one
		// twice (lhs stride 0) into two scratch rows, and the first is added to out. Twice the
		// multiply-adds, still several times faster than the Go kernel.
		last, to := lhs[rows2*lhsStride:], out[rows2*outStride:]
		_, _ = last[depth8-1], rhs[(cols4-1)*rhsStride+depth8-1]
		scratch := scratchPool.Get().(*[]float32)
		pair := grow(scratch, 2*cols4)
		asm(&last[0], &rhs[0], &pair[0], 0, rhsStride, cols4, 2, cols4, depth8, 1, 0)
		for j, v := range pair[:cols4] {
			to[j] += v
		}
		scratchPool.Put(scratch)
		if depth8 < depth {
			dotTileGo(last[depth8:], rhs[depth8:], to, lhsStride, rhsStride, outStride, 1, cols4, depth-depth8)
		}
	}
}

// scratchPool holds dotProduct's scratch rows.
var scratchPool = sync.Pool{New: func() any { return new([]float32) }}

// dotProductSegments adds lhs·rhsᵀ to out as dotProduct does over segments·depth contracted
// elements, where row i of lhs is made of segments runs of depth values, run s starting at
// lhs[i*lhsStride + s*segmentStride], and each rhs row holds the segments·depth values one after
// the other. The assembly kernel reads all runs in one pass when depth is a multiple of 8 (one
// horizontal reduction per output instead of one per run); otherwise, or for the edges it does not
// take, each run is a dotProduct.
func dotProductSegments(lhs, rhs, out []float32, lhsStride, rhsStride, outStride, rows, cols, depth, segments, segmentStride int) {
	rows2, cols4 := rows&^1, cols&^3
	asm := dotTileAsm
	if asm == nil || rows2 == 0 || cols4 == 0 || depth%8 != 0 || segments == 1 {
		for s := range segments {
			dotProduct(lhs[s*segmentStride:], rhs[s*depth:], out, lhsStride, rhsStride, outStride, rows, cols, depth)
		}
		return
	}
	_, _, _ = lhs[(rows2-1)*lhsStride+(segments-1)*segmentStride+depth-1], rhs[(cols4-1)*rhsStride+segments*depth-1],
		out[(rows2-1)*outStride+cols4-1]
	asm(&lhs[0], &rhs[0], &out[0], lhsStride, rhsStride, outStride, rows2, cols4, depth, segments, segmentStride-depth)
	for s := range segments {
		if cols4 < cols {
			dotProduct(lhs[s*segmentStride:], rhs[cols4*rhsStride+s*depth:], out[cols4:], lhsStride, rhsStride, outStride, rows, cols-cols4, depth)
		}
		if rows2 < rows {
			dotProduct(lhs[rows2*lhsStride+s*segmentStride:], rhs[s*depth:], out[rows2*outStride:], lhsStride, rhsStride, outStride, rows-rows2, cols4, depth)
		}
	}
}

// dotTileGo is dotProduct in Go, for any sizes: tiles of 2×4 outputs are accumulated in registers,
// reading each operand value once per tile (SimpleGo's kernels read an lhs value once per output).
func dotTileGo(lhs, rhs, out []float32, lhsStride, rhsStride, outStride, rows, cols, depth int) {
	row := func(s []float32, stride, i int) []float32 { return s[i*stride : i*stride+depth] }
	i := 0
	for ; i+1 < rows; i += 2 {
		a0, a1 := row(lhs, lhsStride, i), row(lhs, lhsStride, i+1)
		o0, o1 := out[i*outStride:i*outStride+cols], out[(i+1)*outStride:(i+1)*outStride+cols]
		j := 0
		for ; j+3 < cols; j += 4 {
			b0, b1, b2, b3 := row(rhs, rhsStride, j), row(rhs, rhsStride, j+1), row(rhs, rhsStride, j+2), row(rhs, rhsStride, j+3)
			var s00, s01, s02, s03, s10, s11, s12, s13 float32
			for k := range a0 {
				x0, x1 := a0[k], a1[k]
				y0, y1, y2, y3 := b0[k], b1[k], b2[k], b3[k]
				s00 += x0 * y0
				s01 += x0 * y1
				s02 += x0 * y2
				s03 += x0 * y3
				s10 += x1 * y0
				s11 += x1 * y1
				s12 += x1 * y2
				s13 += x1 * y3
			}
			o0[j] += s00
			o0[j+1] += s01
			o0[j+2] += s02
			o0[j+3] += s03
			o1[j] += s10
			o1[j+1] += s11
			o1[j+2] += s12
			o1[j+3] += s13
		}
		for ; j < cols; j++ {
			b := row(rhs, rhsStride, j)
			o0[j] += dot(a0, b)
			o1[j] += dot(a1, b)
		}
	}
	for ; i < rows; i++ {
		a, o := row(lhs, lhsStride, i), out[i*outStride:i*outStride+cols]
		for j := range cols {
			o[j] += dot(a, row(rhs, rhsStride, j))
		}
	}
}

// dot is the inner product of a and b[:len(a)].
func dot(a, b []float32) float32 {
	b = b[:len(a)]
	var s float32
	for k, x := range a {
		s += x * b[k]
	}
	return s
}

// operandLayout describes where the elements of a DotGeneral operand lie in its flat source, viewed
// as [batch, cross, contracting]: element (b, c, k) is at batch[b] + cross[c] + contracting[k].
// Cross axes enumerate in increasing order, contracting and batch axes in the order given,
// row-major (the last axis varies fastest), as SimpleGo normalizes operands.
type operandLayout struct {
	batch, cross, contracting []int
	// contiguousContracting is true when contracting[k] = contracting[0] + k.
	contiguousContracting bool
}

// AxesOffsets returns the flat offsets, with the given strides, of every index of the given axes of
// a tensor of dimensions dims (the other axes at 0), the last axis moving fastest: the elements a
// DotGeneral contracts or a reduction folds together.
func AxesOffsets(dims, strides, axes []int) []int {
	offs := []int{0}
	for _, axis := range axes {
		next := make([]int, 0, len(offs)*dims[axis])
		for _, o := range offs {
			for x := range dims[axis] {
				next = append(next, o+x*strides[axis])
			}
		}
		offs = next
	}
	return offs
}

// layoutOf returns the layout of an operand of dimensions dims; the sizes are SimpleGo's, checked.
func layoutOf(dims, contractingAxes, batchAxes []int, batchSize, crossSize, contractingSize int) operandLayout {
	strides := make([]int, len(dims))
	isCross := make([]bool, len(dims))
	stride := 1
	for axis := len(dims) - 1; axis >= 0; axis-- {
		strides[axis] = stride
		stride *= dims[axis]
		isCross[axis] = true
	}
	for _, axis := range slices.Concat(contractingAxes, batchAxes) {
		isCross[axis] = false
	}
	var crossAxes []int
	for axis, cross := range isCross {
		if cross {
			crossAxes = append(crossAxes, axis)
		}
	}
	offsets := func(axes []int, size int) []int {
		offs := AxesOffsets(dims, strides, axes)
		if len(offs) != size {
			panic(fmt.Errorf("%w: DotGeneral operand %v has %d elements along the axes %v, SimpleGo says %d",
				ErrGoMLXChanged, dims, len(offs), axes, size))
		}
		return offs
	}
	l := operandLayout{
		batch:       offsets(batchAxes, batchSize),
		cross:       offsets(crossAxes, crossSize),
		contracting: offsets(contractingAxes, contractingSize),
	}
	l.contiguousContracting = true
	for k, o := range l.contracting {
		l.contiguousContracting = l.contiguousContracting && o == l.contracting[0]+k
	}
	return l
}

// copyRows copies the (cross, contracting) elements of src at batch offset base, for the cross
// indices in cross and the contracting indices in contracting, into rows of dst that start
// rowStride apart. Where the contracting offsets come in contiguous runs of 16 or more on average
// (a convolution's patches: the channels of each kernel position), each run is one copy (shorter
// runs are cheaper to gather than to copy); other sources (a transposed matrix) are read element by
// element in chunks of 32 contracting indices, so that the cache lines
// of a chunk are reused across rows.
func (l operandLayout) copyRows(dst []float32, rowStride int, src []float32, base int, cross, contracting []int) {
	if len(contracting) == 0 {
		return
	}
	if l.contiguousContracting {
		for ci, c := range cross {
			start := base + c + contracting[0]
			copy(dst[ci*rowStride:ci*rowStride+len(contracting)], src[start:start+len(contracting)])
		}
		return
	}
	// Runs of contiguous offsets: run r covers contracting[starts[r]:starts[r+1]].
	starts := []int{0}
	for k := 1; k < len(contracting); k++ {
		if contracting[k] != contracting[k-1]+1 {
			starts = append(starts, k)
		}
	}
	starts = append(starts, len(contracting))
	if runs := len(starts) - 1; len(contracting) >= 16*runs {
		for ci, c := range cross {
			row := dst[ci*rowStride : ci*rowStride+len(contracting)]
			for r := range runs {
				from, to := starts[r], starts[r+1]
				at := base + c + contracting[from]
				copy(row[from:to], src[at:at+to-from])
			}
		}
		return
	}
	const chunk = 32
	for k0 := 0; k0 < len(contracting); k0 += chunk {
		ks := contracting[k0:min(k0+chunk, len(contracting))]
		for ci, c := range cross {
			row := dst[ci*rowStride+k0 : ci*rowStride+k0+len(ks)]
			for x, k := range ks {
				row[x] = src[base+c+k]
			}
		}
	}
}

// copyFlatToBlocks replaces SimpleGo's dgCopyFlatToBlockShape for float32: it copies source, of any
// shape with the given contracting and batch axes, into blocks, laid out as
// [batch, crossBlocks, contractBlocks, blockDim, blockDim] with blockDim = 1<<blkLog2Dim. The
// padding of blocks is left as it is (SimpleGo zeroes the buffer first).
func copyFlatToBlocks(source, blocks *simplego.Buffer, contractingAxes, batchAxes []int, batchSize, crossSize, contractingSize, blkLog2Dim int) {
	src, dst := float32s(source), float32s(blocks)
	l := layoutOf(bufferShape(source).Dimensions, contractingAxes, batchAxes, batchSize, crossSize, contractingSize)
	blockDim := 1 << blkLog2Dim
	blockSize := blockDim * blockDim
	crossBlocks := (crossSize + blockDim - 1) / blockDim
	contractBlocks := (contractingSize + blockDim - 1) / blockDim
	block := 0
	for _, batchOff := range l.batch {
		for cb := range crossBlocks {
			cross := l.cross[cb*blockDim : min((cb+1)*blockDim, crossSize)]
			for kb := range contractBlocks {
				contracting := l.contracting[kb*blockDim : min((kb+1)*blockDim, contractingSize)]
				l.copyRows(dst[block*blockSize:(block+1)*blockSize], blockDim, src, batchOff, cross, contracting)
				block++
			}
		}
	}
}

// normalizeOperand replaces SimpleGo's dgNormalizeShape for float32: it returns source transposed
// to [batch, cross, contracting] in a buffer of backend's pool, or nil when source is laid out that
// way already (SimpleGo then uses it as it is).
func normalizeOperand(backend *simplego.Backend, source *simplego.Buffer, contractingAxes, batchAxes []int, batchSize, crossSize, contractingSize int) *simplego.Buffer {
	if inOrder(len(bufferShape(source).Dimensions), contractingAxes, batchAxes) {
		return nil // batch axes first, contracting axes last, each in order: laid out already
	}
	l := layoutOf(bufferShape(source).Dimensions, contractingAxes, batchAxes, batchSize, crossSize, contractingSize)
	identity := l.contiguousContracting && l.contracting[0] == 0
	for c, o := range l.cross {
		identity = identity && o == c*contractingSize
	}
	for b, o := range l.batch {
		identity = identity && o == b*crossSize*contractingSize
	}
	if identity {
		return nil
	}
	output := backend.NewBuffer(shapes.Make(dtypes.Float32, batchSize, crossSize, contractingSize))
	src, dst := float32s(source), float32s(output)
	for b, batchOff := range l.batch {
		l.copyRows(dst[b*crossSize*contractingSize:(b+1)*crossSize*contractingSize], contractingSize, src, batchOff, l.cross, l.contracting)
	}
	return output
}

// inOrder reports whether the batch axes are the first ones and the contracting axes the last ones
// of an operand of the given rank, each in increasing order (the cross axes between them are then in
// order too).
func inOrder(rank int, contractingAxes, batchAxes []int) bool {
	for k, axis := range batchAxes {
		if axis != k {
			return false
		}
	}
	for k, axis := range contractingAxes {
		if axis != rank-len(contractingAxes)+k {
			return false
		}
	}
	return len(batchAxes)+len(contractingAxes) <= rank
}

// fillFloat32 replaces SimpleGo's fillBufferGeneric for float32 (Buffer.Fill and Buffer.Zeros):
// zeros through clear, which the compiler turns into a memory clear.
func fillFloat32(buffer *simplego.Buffer, value any) {
	flat := float32s(buffer)
	var v float32
	if value != nil {
		v = value.(float32)
	}
	if math.Float32bits(v) == 0 {
		clear(flat)
		return
	}
	for i := range flat {
		flat[i] = v
	}
}
