package gomlxfix

import (
	"fmt"
	"slices"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
)

// convGradient replaces the gradient of ConvGeneral on backends without Reverse.
var convGradient = &workaround{
	name: "conv-gradient",
	upstream: "GoMLX " + GoMLXVersion + " builds the gradient of ConvGeneral (convGeneralVJP in " +
		"pkg/core/graph/ops_convolve.go) with Reverse, which SimpleGo does not implement, and builds " +
		"both gradient convolutions with nil strides, which SimpleGo's shape check rejects (\"stride[0]=0 must be >= 1\")",
	install: func() { convVJPs.install() },
	restore: func() { convVJPs.restore() },
}

var convVJPs = &vjpSwap{replacements: map[graph.NodeType]graph.VJP{graph.NodeTypeConvGeneral: convVJP}}

// stockConvVJP is GoMLX's own rule, used where the backend implements Reverse (XLA does, and
// accepts its nil strides) and for grouped convolutions, whose gradient GoMLX documents as unsupported.
var stockConvVJP = graph.VJPRegistration[graph.NodeTypeConvGeneral]

// convParams are the arguments of a ConvGeneral node, with nil strides, paddings and dilations
// replaced by their defaults.
type convParams struct {
	axes                               backends.ConvolveAxesConfig
	strides, kernelDilations           []int
	inputDilations                     []int
	paddings                           [][2]int
	channelGroupCount, batchGroupCount int
}

// convParamsOf reads the arguments of a ConvGeneral node.
func convParamsOf(node *graph.Node) convParams {
	in := argsOfType(node, graph.NodeTypeConvGeneral)
	in.Operand("input", 0)
	in.Operand("kernel", 1)
	p := convParams{
		axes:              in.ConvAxes("axes"),
		strides:           in.Ints("strides"),
		paddings:          in.Pairs("paddings"),
		inputDilations:    in.Ints("inputDilations"),
		kernelDilations:   in.Ints("kernelDilations"),
		channelGroupCount: in.Int("channelGroupCount"),
		batchGroupCount:   in.Int("batchGroupCount"),
	}
	in.must()
	spatial := node.Rank() - 2
	ones := func(s []int) []int {
		if s == nil {
			s = make([]int, spatial)
		} else {
			s = slices.Clone(s)
		}
		for i := range s {
			s[i] = max(s[i], 1)
		}
		return s
	}
	p.strides, p.inputDilations, p.kernelDilations = ones(p.strides), ones(p.inputDilations), ones(p.kernelDilations)
	if p.paddings == nil {
		p.paddings = make([][2]int, spatial)
	}
	if len(p.axes.InputSpatial) != spatial || len(p.strides) != spatial || len(p.paddings) != spatial ||
		len(p.inputDilations) != spatial || len(p.kernelDilations) != spatial {
		in.Failf("parameters %+v do not have %d spatial axes", p, spatial)
		in.must()
	}
	return p
}

// convVJP is the gradient of ConvGeneral with respect to its input and its kernel, both computed as
// convolutions (as GoMLX does), but with explicit unit strides and dilations, and with the kernel's
// spatial axes reversed by slicing and concatenating instead of Reverse.
//
// For one spatial axis with input size I, kernel size K, output size O, stride s, kernel dilation d
// and padding (p0, p1), the forward convolution is out[o] = Σ_k x[o·s + k·d - p0]·w[k]. Then
//
//   - dx[i] = Σ_k vᵈ[i + k·d - P0]·rev(w)[k], where vᵈ is the output gradient v with s-1 zeros
//     between its elements (input dilation s) and P0 = (K-1)·d - p0: a convolution of v with the
//     reversed kernel, input and output channels swapped, padded (P0, I-1+p0-(O-1)·s);
//   - dw[k] = Σ_o x[k·d + o·s - p0]·v[o]: a convolution of x with v as the kernel, batch and
//     channel axes swapped, kernel dilation s, stride d, padded (p0, (K-1)·d+(O-1)·s+1-I-p0).
//
// Negative paddings are applied by cutting the operand (or the result) instead.
func convVJP(node *graph.Node, vjpOutputs []*graph.Node, outputShape shapes.Shape) []*graph.Node {
	p := convParamsOf(node)
	if backendHas(node, backends.OpTypeReverse) || p.channelGroupCount > 1 || p.batchGroupCount > 1 {
		return stockConvVJP(node, vjpOutputs, outputShape)
	}
	if slices.Max(p.inputDilations) > 1 {
		panic(fmt.Sprintf("gomlxfix: the gradient of a convolution with input dilations %v is not defined "+
			"(nor in GoMLX %s); input dilations usually come from the gradient of a strided convolution, "+
			"so this is likely a second-order gradient", p.inputDilations, GoMLXVersion))
	}
	x, kernel := node.Inputs()[0], node.Inputs()[1]
	v := vjpOutputs[0]
	return []*graph.Node{convInputGradient(x, kernel, v, p), convKernelGradient(x, kernel, v, p)}
}

// convInputGradient returns the gradient with respect to the convolution's input x.
func convInputGradient(x, kernel, v *graph.Node, p convParams) *graph.Node {
	a := p.axes
	spatial := len(a.InputSpatial)
	paddings := make([][2]int, spatial)
	cut := make([]backends.PadAxis, x.Rank()) // what to cut off the result, per axis of x
	for i := range spatial {
		in, k, out := x.Shape().Dim(a.InputSpatial[i]), kernel.Shape().Dim(a.KernelSpatial[i]), v.Shape().Dim(a.OutputSpatial[i])
		s, d, p0 := p.strides[i], p.kernelDilations[i], p.paddings[i][0]
		lo, hi := (k-1)*d-p0, in-1+p0-(out-1)*s
		paddings[i] = [2]int{max(lo, 0), max(hi, 0)}
		// A negative padding start shifts the result: cut what comes before; the end is cut to size.
		cut[a.InputSpatial[i]] = backends.PadAxis{Start: -max(-lo, 0), End: -max(-hi, 0)}
	}
	reversedAxes := a
	reversedAxes.InputBatch, reversedAxes.InputChannels, reversedAxes.InputSpatial = a.OutputBatch, a.OutputChannels, a.OutputSpatial
	reversedAxes.KernelInputChannels, reversedAxes.KernelOutputChannels = a.KernelOutputChannels, a.KernelInputChannels
	reversedAxes.OutputBatch, reversedAxes.OutputChannels, reversedAxes.OutputSpatial = a.InputBatch, a.InputChannels, a.InputSpatial
	grad := graph.ConvGeneral(v, reverseAxes(kernel, a.KernelSpatial), reversedAxes,
		ones(spatial), paddings, p.strides, p.kernelDilations, 1, 1)
	return cutAxes(grad, cut)
}

// convKernelGradient returns the gradient with respect to the convolution's kernel.
func convKernelGradient(x, kernel, v *graph.Node, p convParams) *graph.Node {
	a := p.axes
	spatial := len(a.InputSpatial)
	paddings := make([][2]int, spatial)
	cut := make([]backends.PadAxis, x.Rank()) // what to cut off x first, per axis of x
	for i := range spatial {
		in, k, out := x.Shape().Dim(a.InputSpatial[i]), kernel.Shape().Dim(a.KernelSpatial[i]), v.Shape().Dim(a.OutputSpatial[i])
		s, d, p0 := p.strides[i], p.kernelDilations[i], p.paddings[i][0]
		lo, hi := p0, (k-1)*d+(out-1)*s+1-in-p0
		if max(-lo, 0)+max(-hi, 0) >= in {
			// The windows only ever cover padding along this axis: the kernel never meets x.
			return graph.ZerosLike(kernel)
		}
		paddings[i] = [2]int{max(lo, 0), max(hi, 0)}
		cut[a.InputSpatial[i]] = backends.PadAxis{Start: -max(-lo, 0), End: -max(-hi, 0)}
	}
	var gradAxes backends.ConvolveAxesConfig
	gradAxes.InputBatch, gradAxes.InputChannels, gradAxes.InputSpatial = a.InputChannels, a.InputBatch, a.InputSpatial
	gradAxes.KernelInputChannels, gradAxes.KernelOutputChannels, gradAxes.KernelSpatial = a.OutputBatch, a.OutputChannels, a.OutputSpatial
	gradAxes.OutputBatch, gradAxes.OutputChannels, gradAxes.OutputSpatial = a.KernelInputChannels, a.KernelOutputChannels, a.KernelSpatial
	return graph.ConvGeneral(cutAxes(x, cut), v, gradAxes, p.kernelDilations, paddings, nil, p.strides, 1, 1)
}

// cutAxes cuts -Start elements from the start and -End from the end of each axis (both <= 0).
func cutAxes(x *graph.Node, cut []backends.PadAxis) *graph.Node {
	for axis, c := range cut {
		if c.Start != 0 || c.End != 0 {
			x = padEnds(x, nil, axis, c.Start, c.End)
		}
	}
	return x
}

// reverseAxes reverses x along the given axes, by concatenating its one-element slices in reverse
// order (for the few elements of a kernel's spatial axes, as cheap as a Reverse).
func reverseAxes(x *graph.Node, axes []int) *graph.Node {
	for _, axis := range axes {
		n := x.Shape().Dim(axis)
		if n <= 1 {
			continue
		}
		parts := make([]*graph.Node, n)
		for i := range n {
			parts[i] = graph.SliceAxis(x, axis, graph.AxisElem(n-1-i))
		}
		x = graph.Concatenate(parts, axis)
	}
	return x
}

func ones(n int) []int {
	s := make([]int, n)
	for i := range s {
		s[i] = 1
	}
	return s
}
