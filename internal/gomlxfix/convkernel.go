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
		"the replacement, for channels-last 2-D convolutions without dilation or groups, gathers the patches of " +
		"a few output positions at a time into a small buffer and multiplies them with the matrix kernel " +
		"(implicit GEMM), other configurations keep SimpleGo's kernel",
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
// convolution itself), laid out as described by s; no dilations, no groups. The kernel is
// transposed once to [out, kh·kw·in]; then, for tiles of convTile output positions of a row, the
// patches are gathered into a [convTile, kh·kw·in] buffer (runs of `in` channels, zeros where the
// window leaves the padded image) and multiplied with the transposed kernel by the fast-dot-kernel
// product, on sizes zero-padded to what its assembly kernel takes whole. Batch elements are shared among goroutines, one per CPU. It panics if a slice is shorter
// than s says.
func Conv2DChannelsLast(output, input, kernel []float32, s Conv2DShape) {
	batch, h, w, in := s.Batch, s.Height, s.Width, s.InChannels
	kh, kw, out := s.KernelHeight, s.KernelWidth, s.OutChannels
	oh, ow := s.OutHeight, s.OutWidth
	sy, sx := s.Strides[0], s.Strides[1]
	py, px := s.Paddings[0][0], s.Paddings[1][0]
	depth := kh * kw * in
	input, kernel, output = input[:batch*h*w*in], kernel[:depth*out], output[:batch*oh*ow*out]
	// The product runs on padded sizes that the assembly kernel takes whole: the contracting depth
	// rounded up to 8, the output channels to 4 and the tile's rows to 2, the padding all zeros.
	depthP, outP := (depth+7)&^7, (out+3)&^3

	// kernelT[f][(ky·kw + kx)·in + c] = kernel[ky][kx][c][f], zero-padded to [outP, depthP]
	kernelT := make([]float32, outP*depthP)
	for k := range depth {
		row := kernel[k*out : (k+1)*out]
		for f, v := range row {
			kernelT[f*depthP+k] = v
		}
	}

	work := func(b int, patches, products []float32) {
		image := input[b*h*w*in : (b+1)*h*w*in]
		for y := range oh {
			for x0 := 0; x0 < ow; x0 += convTile {
				n := min(convTile, ow-x0)
				nP := (n + 1) &^ 1
				tile := patches[:nP*depthP]
				clear(tile)
				for t := range n {
					patch := tile[t*depthP : t*depthP+depth]
					for ky := range kh {
						iy := y*sy + ky - py
						if iy < 0 || iy >= h {
							continue
						}
						for kx := range kw {
							ix := (x0+t)*sx + kx - px
							if ix < 0 || ix >= w {
								continue
							}
							at, to := (iy*w+ix)*in, (ky*kw+kx)*in
							if in < 8 { // a call to copy costs more than a few moves
								for c := range in {
									patch[to+c] = image[at+c]
								}
							} else {
								copy(patch[to:to+in], image[at:at+in])
							}
						}
					}
				}
				prod := products[:nP*outP]
				clear(prod)
				dotProduct(tile, kernelT, prod, depthP, depthP, outP, nP, outP, depthP)
				o := ((b*oh+y)*ow + x0) * out
				for t := range n {
					dst, src := output[o+t*out:o+(t+1)*out], prod[t*outP:t*outP+out]
					for f, v := range src {
						dst[f] += v
					}
				}
			}
		}
	}

	workers := min(runtime.GOMAXPROCS(0), batch)
	if workers <= 1 {
		patches, products := make([]float32, convTile*depthP), make([]float32, convTile*outP)
		for b := range batch {
			work(b, patches, products)
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
			patches, products := make([]float32, convTile*depthP), make([]float32, convTile*outP)
			for b := range next {
				work(b, patches, products)
			}
		}()
	}
	wg.Wait()
}
