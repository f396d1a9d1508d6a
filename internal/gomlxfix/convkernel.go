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

// fastConv replaces SimpleGo's float32 convolution kernel for channels-last 2-D convolutions.
var fastConv = &workaround{
	name: "fast-conv-kernel",
	upstream: "GoMLX " + GoMLXVersion + "'s SimpleGo convolves one multiply-add at a time through multi-axis " +
		"indices (execConvNoDilationGeneric in backends/simplego/convgeneral_exec.go), about 0.03-0.25 GMAC/s; " +
		"the replacement, for channels-last 2-D convolutions without dilation or groups, multiplies the zero-padded " +
		"image read with a stride by the kernel, one product per output row (implicit GEMM without a gather); other configurations keep " +
		"SimpleGo's kernel",
	install: func() { convKernels.install() },
	restore: func() { convKernels.restore() },
}

// InstallFastConv replaces SimpleGo's float32 kernel for convolutions without dilations or groups
// with convChannelsLast where the axes are channels-last 2-D ([batch, h, w, channels] inputs,
// [kh, kw, in, out] kernels); other convolutions keep SimpleGo's kernel. The same rules as for
// [Install] apply.
func InstallFastConv() { setWorkaround(fastConv, true) }

// RestoreStockConv puts back SimpleGo's own convolution kernel; see [InstallFastConv].
func RestoreStockConv() { setWorkaround(fastConv, false) }

//go:linkname simplegoConvNoDilation github.com/gomlx/gomlx/backends/simplego.convNoDilationDTypeMap
var simplegoConvNoDilation *simplego.DTypeMap

var convKernels = &kernelSwap{replacements: func() map[*simplego.DTypeMap]any {
	checkRegistry(simplegoConvNoDilation, "ConvNoDilation")
	return map[*simplego.DTypeMap]any{simplegoConvNoDilation: convKernel(simplegoConvNoDilation.Map[dtypes.Float32])}
}}

// convPlan is what convKernel reads of SimpleGo's convGeneralExecPlan and its *convNode.
type convPlan struct {
	input, kernel, output                []float32
	inputShape, kernelShape, outputShape shapes.Shape
	axes                                 backends.ConvolveAxesConfig
	strides                              []int
	paddings                             [][2]int
}

// convKernel returns a replacement for SimpleGo's float32 convolution kernel stock, of type
// func(plan convGeneralExecPlan) error with the unexported convGeneralExecPlan (passed by value) and
// its *convNode, whose fields it reads at offsets checked with package reflect.
func convKernel(stock any) any {
	kernelType := reflect.TypeOf(stock)
	fail := func(what string) {
		panic(fmt.Errorf("%w: SimpleGo's float32 convolution kernel %v: %s", ErrGoMLXChanged, kernelType, what))
	}
	if kernelType == nil || kernelType.Kind() != reflect.Func || kernelType.NumIn() != 1 || kernelType.NumOut() != 1 ||
		kernelType.In(0).Kind() != reflect.Struct || kernelType.Out(0) != reflect.TypeFor[error]() {
		fail("want func(plan convGeneralExecPlan) error")
	}
	planType := kernelType.In(0)
	field := func(t reflect.Type, name string, want reflect.Type) uintptr {
		f, ok := t.FieldByName(name)
		if !ok || (want != nil && f.Type != want) {
			fail(fmt.Sprintf("no field %s.%s of type %v", t.Name(), name, want))
		}
		return f.Offset
	}
	anyType, shapeType := reflect.TypeFor[any](), reflect.TypeFor[shapes.Shape]()
	offInput, offKernel, offOutput := field(planType, "inputFlat", anyType), field(planType, "kernelFlat", anyType), field(planType, "outputFlat", anyType)
	offInShape, offKShape, offOutShape := field(planType, "inputShape", shapeType), field(planType, "kernelShape", shapeType), field(planType, "outputShape", shapeType)
	paramsField, ok := planType.FieldByName("params")
	if !ok || paramsField.Type.Kind() != reflect.Pointer || paramsField.Type.Elem().Kind() != reflect.Struct {
		fail("no field params *convNode")
	}
	nodeType := paramsField.Type.Elem()
	offAxes := field(nodeType, "axes", reflect.TypeFor[backends.ConvolveAxesConfig]())
	offStrides := field(nodeType, "strides", reflect.TypeFor[[]int]())
	offPaddings := field(nodeType, "paddings", reflect.TypeFor[[][2]int]())
	stockValue := reflect.ValueOf(stock)

	return reflect.MakeFunc(kernelType, func(args []reflect.Value) []reflect.Value {
		// An addressable copy of the plan, to read its unexported fields.
		plan := reflect.New(planType)
		plan.Elem().Set(args[0])
		base := plan.UnsafePointer()
		floats := func(off uintptr) ([]float32, bool) {
			f, ok := (*(*any)(unsafe.Add(base, off))).([]float32)
			return f, ok
		}
		p := convPlan{
			inputShape:  *(*shapes.Shape)(unsafe.Add(base, offInShape)),
			kernelShape: *(*shapes.Shape)(unsafe.Add(base, offKShape)),
			outputShape: *(*shapes.Shape)(unsafe.Add(base, offOutShape)),
		}
		var okIn, okK, okOut bool
		p.input, okIn = floats(offInput)
		p.kernel, okK = floats(offKernel)
		p.output, okOut = floats(offOutput)
		node := *(*unsafe.Pointer)(unsafe.Add(base, paramsField.Offset))
		if !okIn || !okK || !okOut || node == nil {
			return stockValue.Call(args)
		}
		p.axes = *(*backends.ConvolveAxesConfig)(unsafe.Add(node, offAxes))
		p.strides = *(*[]int)(unsafe.Add(node, offStrides))
		p.paddings = *(*[][2]int)(unsafe.Add(node, offPaddings))
		if !channelsLast2D(p) {
			return stockValue.Call(args)
		}
		fastKernelCalls.Add(1)
		convChannelsLast(p)
		return []reflect.Value{reflect.Zero(reflect.TypeFor[error]())}
	}).Interface()
}

// channelsLast2D reports whether p is a 2-D convolution laid out as [batch, h, w, channels] ⊛
// [kh, kw, in, out] → [batch, h', w', out], with one stride and one padding pair per spatial axis.
func channelsLast2D(p convPlan) bool {
	a := p.axes
	eq := func(s []int, v ...int) bool {
		if len(s) != len(v) {
			return false
		}
		for i := range s {
			if s[i] != v[i] {
				return false
			}
		}
		return true
	}
	return p.inputShape.Rank() == 4 && p.kernelShape.Rank() == 4 && p.outputShape.Rank() == 4 &&
		a.InputBatch == 0 && a.InputChannels == 3 && eq(a.InputSpatial, 1, 2) &&
		a.KernelInputChannels == 2 && a.KernelOutputChannels == 3 && eq(a.KernelSpatial, 0, 1) &&
		a.OutputBatch == 0 && a.OutputChannels == 3 && eq(a.OutputSpatial, 1, 2) &&
		len(p.strides) == 2 && len(p.paddings) == 2 &&
		p.inputShape.Dim(3) == p.kernelShape.Dim(2) && p.kernelShape.Dim(3) == p.outputShape.Dim(3)
}

// convTile is how many output positions convChannelsLast gathers at a time.
const convTile = 32

// convChannelsLast computes the convolution p (see channelsLast2D) into p.output, which SimpleGo
// has zeroed.
func convChannelsLast(p convPlan) {
	Conv2DChannelsLast(p.output, p.input, p.kernel, Conv2DShape{
		Batch: p.inputShape.Dim(0), Height: p.inputShape.Dim(1), Width: p.inputShape.Dim(2), InChannels: p.inputShape.Dim(3),
		KernelHeight: p.kernelShape.Dim(0), KernelWidth: p.kernelShape.Dim(1), OutChannels: p.kernelShape.Dim(3),
		OutHeight: p.outputShape.Dim(1), OutWidth: p.outputShape.Dim(2),
		Strides: [2]int{p.strides[0], p.strides[1]}, Paddings: [2][2]int{p.paddings[0], p.paddings[1]},
	})
}

// Conv2DShape describes a channels-last 2-D convolution for [Conv2DChannelsLast].
type Conv2DShape struct {
	Batch, Height, Width, InChannels       int // input [Batch, Height, Width, InChannels]
	KernelHeight, KernelWidth, OutChannels int // kernel [KernelHeight, KernelWidth, InChannels, OutChannels]
	OutHeight, OutWidth                    int // output [Batch, OutHeight, OutWidth, OutChannels]
	Strides                                [2]int
	Paddings                               [2][2]int // zeros before and after, per spatial axis
}

// Conv2DChannelsLast adds the convolution of input with kernel to output (zero it first for the
// convolution itself), laid out as described by s; no dilations, no groups. Batch elements are
// shared among goroutines, one per CPU. It panics if a slice is shorter than s says.
//
// Each image is copied once into a buffer padded with the convolution's zeros (and some slack);
// there, within one padded row, the kw·in values that output position x reads are consecutive,
// starting sx·in values after those of position x-1, and the kh rows of its window are rowLen
// values apart. So the buffer itself, read with a row stride of sx·in in kh runs (one per kernel
// row), is the left operand of a matrix product with the kernel transposed to [out, kh·kw·in] (an
// implicit GEMM without a gather): one product per output row, for all its positions and channels
// at once, by the fast-dot-kernel product (dotProductSegments). The product runs on sizes that its
// assembly kernel takes whole: kw·in rounded up to 8 (the kernel's extra columns are zeros, so the
// extra values read, from the next positions, add nothing), the output channels to 4 and the
// positions to 2; where the output channels are padded, the product still adds straight into the
// output, its padded columns adding exact zeros to the next position's channels. An image holding an
// infinity or NaN would spread it through those zero products (0·Inf is NaN), so it goes the way
// without extra reads: its patches are gathered into a buffer, a few output positions at a time,
// and multiplied with the whole kernel transposed.
func Conv2DChannelsLast(output, input, kernel []float32, s Conv2DShape) {
	batch, h, w, in := s.Batch, s.Height, s.Width, s.InChannels
	kh, kw, out := s.KernelHeight, s.KernelWidth, s.OutChannels
	oh, ow := s.OutHeight, s.OutWidth
	depth := kh * kw * in
	input, kernel, output = input[:batch*h*w*in], kernel[:depth*out], output[:batch*oh*ow*out]
	plan := newConvRows(kernel, s)
	gather := sync.OnceValue(func() *convGather { return newConvGather(kernel, s) }) // rarely needed
	work := func(b int, buffers *convBuffers) {
		image := input[b*h*w*in : (b+1)*h*w*in]
		dst := output[b*oh*ow*out : (b+1)*oh*ow*out]
		if !plan.run(dst, image, buffers) {
			gather().run(dst, image, buffers)
		}
	}

	workers := min(runtime.GOMAXPROCS(0), batch)
	if workers <= 1 {
		buffers := convBuffersPool.Get().(*convBuffers)
		defer convBuffersPool.Put(buffers)
		for b := range batch {
			work(b, buffers)
		}
		return
	}
	var wg sync.WaitGroup
	next := make(chan int, batch)
	for b := range batch {
		next <- b
	}
	close(next)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buffers := convBuffersPool.Get().(*convBuffers)
			defer convBuffersPool.Put(buffers)
			for b := range next {
				work(b, buffers)
			}
		}()
	}
	wg.Wait()
}

// convBuffers holds one goroutine's scratch buffers, grown on first use.
type convBuffers struct {
	padded, patches, products []float32
}

// convBuffersPool keeps scratch buffers between calls (inference at batch 1 calls the kernel often
// on small images: allocating them each time kept the garbage collector busy).
var convBuffersPool = sync.Pool{New: func() any { return &convBuffers{} }}

// grow returns (*buf)[:n], zeroed, reallocating when *buf is shorter.
func grow(buf *[]float32, n int) []float32 {
	if cap(*buf) < n {
		*buf = make([]float32, n)
	}
	*buf = (*buf)[:n]
	clear(*buf)
	return *buf
}

// convRows is the gather-free way of Conv2DChannelsLast: products of the padded image, read with a
// stride in one run per kernel row, with the transposed kernel, one per output row.
type convRows struct {
	s                 Conv2DShape
	span, spanP, outP int // kw·in and its rounding up to 8; out rounded up to 4
	owP               int // output positions per row rounded up to 2
	rowLen, rows      int // values per row of the padded image, and its rows
	kernelT           []float32
}

func newConvRows(kernel []float32, s Conv2DShape) *convRows {
	in, kh, kw, out := s.InChannels, s.KernelHeight, s.KernelWidth, s.OutChannels
	r := &convRows{s: s, span: kw * in, outP: (out + 3) &^ 3, owP: (s.OutWidth + 1) &^ 1}
	r.spanP = (r.span + 7) &^ 7
	paddedWidth := max(s.Paddings[1][0]+s.Width+s.Paddings[1][1], (s.OutWidth-1)*s.Strides[1]+kw)
	r.rowLen = max(paddedWidth*in, (r.owP-1)*s.Strides[1]*in+r.spanP)
	r.rows = max(s.Paddings[0][0]+s.Height+s.Paddings[0][1], (s.OutHeight-1)*s.Strides[0]+kh)
	// kernelT[f][ky·spanP + kx·in + c] = kernel[ky][kx][c][f]: each filter's kernel rows one after
	// the other, each padded to spanP.
	depth := kh * r.spanP
	r.kernelT = make([]float32, r.outP*depth)
	for ky := range kh {
		for k := range r.span {
			for f, v := range kernel[(ky*r.span+k)*out : (ky*r.span+k+1)*out] {
				r.kernelT[f*depth+ky*r.spanP+k] = v
			}
		}
	}
	return r
}

// run adds the convolution of one image [h, w, in] to dst [oh, ow, out] and returns true, or
// returns false, leaving dst as it was, if the image holds an infinity or a NaN that the products
// would meet against zero kernel entries (when kw·in is not a multiple of 8 or out of 4).
func (r *convRows) run(dst, image []float32, buffers *convBuffers) bool {
	s := r.s
	in, out, ow, kh := s.InChannels, s.OutChannels, s.OutWidth, s.KernelHeight
	sy, py, px := s.Strides[0], s.Paddings[0][0], s.Paddings[1][0]
	// padded[(py+iy)·rowLen + (px+ix)·in + c] = image[iy][ix][c]; zeros around.
	padded := grow(&buffers.padded, r.rows*r.rowLen)
	// Zero kernel entries (padding) meet image values in the products when kw·in or out is padded.
	zeroProducts := r.spanP != r.span || r.outP != out
	finite := true
	for iy := range s.Height {
		row := image[iy*s.Width*in : (iy+1)*s.Width*in]
		to := padded[(py+iy)*r.rowLen+px*in:]
		if zeroProducts {
			finite = copyFinite(to, row) && finite
		} else {
			copy(to, row)
		}
	}
	if !finite {
		return false
	}
	// The window rows of output row y are padded rows y·sy … y·sy+kh-1: kh runs of spanP values,
	// rowLen apart, for each position, contracted in one pass.
	lhsStride, depth := s.Strides[1]*in, kh*r.spanP
	if r.outP == out && r.owP == ow { // the product's layout is dst's: it adds there directly
		for y := range s.OutHeight {
			dotProductSegments(padded[y*sy*r.rowLen:], r.kernelT, dst[y*ow*out:], lhsStride, depth, out, ow, out, r.spanP, kh, r.rowLen)
		}
		return true
	}
	last := 0 // output rows from last on go through the products buffer
	if r.owP == ow {
		// The product adds straight into dst, with out as its row stride: the padded columns of
		// position x land on the first channels of position x+1 (of the next rows after a row's
		// last position), and add exact zeros there, as the image is finite. The last rows, whose
		// padded columns would go past the image, go through the buffer.
		spill := r.outP - out
		last = max(0, s.OutHeight-(spill+ow*out-1)/(ow*out))
		for y := range last {
			dotProductSegments(padded[y*sy*r.rowLen:], r.kernelT, dst[y*ow*out:], lhsStride, depth, out, ow, r.outP, r.spanP, kh, r.rowLen)
		}
	}
	products := grow(&buffers.products, r.owP*r.outP)
	for y := last; y < s.OutHeight; y++ {
		clear(products)
		dotProductSegments(padded[y*sy*r.rowLen:], r.kernelT, products, lhsStride, depth, r.outP, r.owP, r.outP, r.spanP, kh, r.rowLen)
		row := dst[y*ow*out : (y+1)*ow*out]
		for x := range ow {
			to, from := row[x*out:(x+1)*out], products[x*r.outP:x*r.outP+out]
			for f, v := range from {
				to[f] += v
			}
		}
	}
	return true
}

// copyFinite copies src into dst and reports whether src holds no infinity and no NaN.
func copyFinite(dst, src []float32) bool {
	dst = dst[:len(src)]
	// v-v is 0 for finite values and NaN otherwise; eight sums do not wait for each other.
	var a0, a1, a2, a3, a4, a5, a6, a7 float32
	n := len(src) &^ 7
	for i := 0; i < n; i += 8 {
		v, d := src[i:i+8:i+8], dst[i:i+8:i+8]
		d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7] = v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7]
		a0 += v[0] - v[0]
		a1 += v[1] - v[1]
		a2 += v[2] - v[2]
		a3 += v[3] - v[3]
		a4 += v[4] - v[4]
		a5 += v[5] - v[5]
		a6 += v[6] - v[6]
		a7 += v[7] - v[7]
	}
	for i := n; i < len(src); i++ {
		dst[i] = src[i]
		a0 += src[i] - src[i]
	}
	return a0+a1+a2+a3+a4+a5+a6+a7 == 0
}

// convGather is the way of Conv2DChannelsLast for images that are not all finite: patches gathered
// a few output positions at a time and multiplied with the transposed kernel.
type convGather struct {
	s                   Conv2DShape
	depth, depthP, outP int
	kernelT             []float32
}

func newConvGather(kernel []float32, s Conv2DShape) *convGather {
	g := &convGather{s: s, depth: s.KernelHeight * s.KernelWidth * s.InChannels, outP: (s.OutChannels + 3) &^ 3}
	g.depthP = (g.depth + 7) &^ 7
	// kernelT[f][(ky·kw + kx)·in + c] = kernel[ky][kx][c][f], zero-padded to [outP, depthP]
	g.kernelT = make([]float32, g.outP*g.depthP)
	for k := range g.depth {
		for f, v := range kernel[k*s.OutChannels : (k+1)*s.OutChannels] {
			g.kernelT[f*g.depthP+k] = v
		}
	}
	return g
}

// run adds the convolution of one image [h, w, in] to dst [oh, ow, out].
func (g *convGather) run(dst, image []float32, buffers *convBuffers) {
	s := g.s
	h, w, in := s.Height, s.Width, s.InChannels
	kh, kw, out := s.KernelHeight, s.KernelWidth, s.OutChannels
	sy, sx := s.Strides[0], s.Strides[1]
	py, px := s.Paddings[0][0], s.Paddings[1][0]
	depth, depthP, outP := g.depth, g.depthP, g.outP
	kernelT := g.kernelT
	patches, products := grow(&buffers.patches, convTile*depthP), grow(&buffers.products, convTile*outP)
	for y := range s.OutHeight {
		for x0 := 0; x0 < s.OutWidth; x0 += convTile {
			n := min(convTile, s.OutWidth-x0)
			nP := (n + 1) &^ 1
			tile := patches[:nP*depthP]
			clear(tile)
			for t := range n {
				patch := tile[t*depthP : t*depthP+depth]
				ix0 := (x0+t)*sx - px
				inside := ix0 >= 0 && ix0+kw <= w // the window's columns are all in the image
				for ky := range kh {
					iy := y*sy + ky - py
					if iy < 0 || iy >= h {
						continue
					}
					row, to := image[iy*w*in:(iy+1)*w*in], ky*kw*in
					if inside { // kw·in consecutive values of the image
						copyRun(patch[to:to+kw*in], row[ix0*in:(ix0+kw)*in])
						continue
					}
					for kx := range kw {
						if ix := ix0 + kx; ix >= 0 && ix < w {
							copyRun(patch[to+kx*in:to+(kx+1)*in], row[ix*in:(ix+1)*in])
						}
					}
				}
			}
			prod := products[:nP*outP]
			clear(prod)
			dotProduct(tile, kernelT, prod, depthP, depthP, outP, nP, outP, depthP)
			o := (y*s.OutWidth + x0) * out
			for t := range n {
				to, from := dst[o+t*out:o+(t+1)*out], prod[t*outP:t*outP+out]
				for f, v := range from {
					to[f] += v
				}
			}
		}
	}
}

// copyRun copies src into dst (of the same length), with a loop for short runs, where a call to
// copy costs more than the moves.
func copyRun(dst, src []float32) {
	if len(src) >= 16 {
		copy(dst, src)
		return
	}
	dst = dst[:len(src)]
	for i, v := range src {
		dst[i] = v
	}
}
