package gomlxfix

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/graph"
)

// convCase is one convolution configuration.
type convCase struct {
	inDims, kernelDims []int
	axes               backends.ConvolveAxesConfig
	strides, dilations []int
	paddings           [][2]int
}

func (c convCase) String() string {
	return fmt.Sprintf("in%v_kernel%v_strides%v_dilations%v_pad%v_axes%v", c.inDims, c.kernelDims, c.strides, c.dilations, c.paddings, c.axes)
}

func (c convCase) conv(inputs []*graph.Node) *graph.Node {
	return graph.ConvGeneral(inputs[0], inputs[1], c.axes, c.strides, c.paddings, nil, c.dilations, 1, 1)
}

// randomConvCase draws a convolution with 1 or 2 spatial axes, random axis orders for the input,
// kernel and output, strides or kernel dilations, and paddings (asymmetric, sometimes larger than
// the kernel, and sometimes leaving trailing input unused).
func randomConvCase(rng *rand.Rand) convCase {
	spatial := 1 + rng.IntN(2)
	rank := spatial + 2
	batch, inCh, outCh := 1+rng.IntN(2), 1+rng.IntN(3), 1+rng.IntN(3)
	var c convCase
	c.strides, c.dilations, c.paddings = make([]int, spatial), make([]int, spatial), make([][2]int, spatial)
	inSpatial, kSpatial := make([]int, spatial), make([]int, spatial)
	for i := range spatial {
		k := 1 + rng.IntN(3)
		c.strides[i], c.dilations[i] = 1, 1
		if rng.IntN(2) == 0 {
			c.strides[i] = 1 + rng.IntN(3)
		} else {
			c.dilations[i] = 1 + rng.IntN(2)
		}
		c.paddings[i] = [2]int{rng.IntN(3), rng.IntN(3)}
		eff := (k-1)*c.dilations[i] + 1
		minIn := max(1, eff-c.paddings[i][0]-c.paddings[i][1])
		inSpatial[i], kSpatial[i] = minIn+rng.IntN(4), k
	}
	// Random axis orders: perm[j] is the axis holding logical axis j (batch/in, channels/out, spatial...).
	inPerm, kPerm, outPerm := rng.Perm(rank), rng.Perm(rank), rng.Perm(rank)
	c.inDims, c.kernelDims = make([]int, rank), make([]int, rank)
	c.axes.InputBatch, c.axes.InputChannels = inPerm[0], inPerm[1]
	c.axes.KernelInputChannels, c.axes.KernelOutputChannels = kPerm[0], kPerm[1]
	c.axes.OutputBatch, c.axes.OutputChannels = outPerm[0], outPerm[1]
	c.inDims[inPerm[0]], c.inDims[inPerm[1]] = batch, inCh
	c.kernelDims[kPerm[0]], c.kernelDims[kPerm[1]] = inCh, outCh
	for i := range spatial {
		c.axes.InputSpatial = append(c.axes.InputSpatial, inPerm[2+i])
		c.axes.KernelSpatial = append(c.axes.KernelSpatial, kPerm[2+i])
		c.axes.OutputSpatial = append(c.axes.OutputSpatial, outPerm[2+i])
		c.inDims[inPerm[2+i]], c.kernelDims[kPerm[2+i]] = inSpatial[i], kSpatial[i]
	}
	return c
}

// TestConvGradientNumerical checks the gradients of ConvGeneral with respect to its input and its
// kernel against central differences, for random shapes, axis orders, strides, dilations and paddings.
func TestConvGradientNumerical(t *testing.T) {
	installed(t)
	rng := rand.New(rand.NewPCG(4, 4))
	fixed := map[string]convCase{
		// layers.Convolution's layout: NHWC input, [kh, kw, in, out] kernel.
		"nhwc_pad_same_stride1": {inDims: []int{2, 5, 5, 2}, kernelDims: []int{3, 3, 2, 3},
			axes: channelsLast(2), strides: []int{1, 1}, dilations: []int{1, 1}, paddings: [][2]int{{1, 1}, {1, 1}}},
		"nhwc_valid_stride2_unused_tail": {inDims: []int{1, 6, 7, 1}, kernelDims: []int{3, 2, 1, 2},
			axes: channelsLast(2), strides: []int{2, 3}, dilations: []int{1, 1}, paddings: [][2]int{{0, 0}, {0, 0}}},
		"nhwc_padding_larger_than_kernel": {inDims: []int{1, 3, 3, 1}, kernelDims: []int{2, 2, 1, 1},
			axes: channelsLast(2), strides: []int{1, 2}, dilations: []int{1, 1}, paddings: [][2]int{{3, 2}, {2, 3}}},
		// Along the first axis the only window covers padding alone: the kernel's gradient is zero there.
		"window_on_padding_only": {inDims: []int{2, 4, 2, 2}, kernelDims: []int{1, 1, 2, 3},
			axes: channelsLast(2), strides: []int{1, 3}, dilations: []int{1, 1}, paddings: [][2]int{{0, 0}, {1, 0}}},
	}
	for _, name := range slices.Sorted(maps.Keys(fixed)) {
		c := fixed[name]
		t.Run(name, func(t *testing.T) {
			newGradCheck(rng, c.conv, c.inDims, c.kernelDims).check(t, rng)
		})
	}
	cases := rand.New(rand.NewPCG(40, 40)) // the configurations, independent of the values drawn above
	for i := range 40 {
		c := randomConvCase(cases)
		t.Run(fmt.Sprintf("random%02d_%s", i, c), func(t *testing.T) {
			newGradCheck(rng, c.conv, c.inDims, c.kernelDims).check(t, rng)
		})
	}
}

// TestConvolutionLayerTrainsOnPureGo builds what layers.Convolution builds (graph.Convolve with
// strides and PadSame) and takes its gradient on the pure-Go backend: without the workaround this
// panics (no Reverse, nil strides).
func TestConvolutionLayerTrainsOnPureGo(t *testing.T) {
	installed(t)
	rng := rand.New(rand.NewPCG(5, 5))
	for _, stride := range []int{1, 2} {
		t.Run(fmt.Sprintf("stride%d", stride), func(t *testing.T) {
			conv := func(inputs []*graph.Node) *graph.Node {
				return graph.Convolve(inputs[0], inputs[1]).Strides(stride).PadSame().Done()
			}
			newGradCheck(rng, conv, []int{2, 5, 6, 2}, []int{3, 3, 2, 2}).check(t, rng)
		})
	}
}

func channelsLast(spatial int) backends.ConvolveAxesConfig {
	a := backends.ConvolveAxesConfig{
		InputBatch: 0, InputChannels: spatial + 1,
		KernelInputChannels: spatial, KernelOutputChannels: spatial + 1,
		OutputBatch: 0, OutputChannels: spatial + 1,
	}
	for i := range spatial {
		a.InputSpatial = append(a.InputSpatial, i+1)
		a.KernelSpatial = append(a.KernelSpatial, i)
		a.OutputSpatial = append(a.OutputSpatial, i+1)
	}
	return a
}
