package gomlxfix

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// TestFastConvMatchesStock runs random channels-last 2-D convolutions (strides 1–3, zero, same and
// uneven paddings, 1–5 input channels, 1–9 filters, batch 1–3) on SimpleGo with its own kernel and
// with convChannelsLast, and 1-D ones, which must keep SimpleGo's kernel.
func TestFastConvMatchesStock(t *testing.T) {
	rng := rand.New(rand.NewPCG(10, 10))
	for trial := range 60 {
		batch, h, w, in := 1+rng.IntN(3), 3+rng.IntN(9), 3+rng.IntN(9), 1+rng.IntN(5)
		kh, kw, out := 1+rng.IntN(min(h, 4)), 1+rng.IntN(min(w, 4)), 1+rng.IntN(9)
		sy, sx := 1+rng.IntN(3), 1+rng.IntN(3)
		padding := rng.IntN(3) // 0: none, 1: same, 2: uneven explicit
		oneD := trial%10 == 9
		name := fmt.Sprintf("%02d_b%d_%dx%dx%d_k%dx%dx%d_s%d,%d_pad%d_1d%v", trial, batch, h, w, in, kh, kw, out, sy, sx, padding, oneD)
		xDims, kDims := []int{batch, h, w, in}, []int{kh, kw, in, out}
		pads := [][2]int{{rng.IntN(2), rng.IntN(3)}, {rng.IntN(3), rng.IntN(2)}}
		strides := []int{sy, sx}
		if oneD {
			xDims, kDims, pads, strides = []int{batch, w, in}, []int{kw, in, out}, pads[1:], strides[1:]
		}
		x := tensors.FromFlatDataAndDimensions(randomSlice[float32](rng, size(xDims)), xDims...)
		k := tensors.FromFlatDataAndDimensions(randomSlice[float32](rng, size(kDims)), kDims...)
		conv := func(x, k *graph.Node) *graph.Node {
			c := graph.Convolve(x, k).StridePerAxis(strides...)
			switch padding {
			case 0:
				c = c.NoPadding()
			case 1:
				c = c.PadSame()
			default:
				c = c.PaddingPerDim(pads)
			}
			return c.Done()
		}
		t.Run(name, func(t *testing.T) {
			run := func(fast bool) []float32 {
				defer setFor(fastConv, fast)()
				calls := fastKernelCalls.Load()
				got := graph.MustExecOnce(backend(), conv, x, k)
				if used := fastKernelCalls.Load() > calls; used != (fast && !oneD) {
					t.Errorf("fast=%v: the replacement kernel was used=%v", fast, used)
				}
				return tensors.MustCopyFlatData[float32](got)
			}
			stock, fast := run(false), run(true)
			if len(stock) != len(fast) {
				t.Fatalf("%d outputs from SimpleGo, %d from the replacement", len(stock), len(fast))
			}
			for i := range stock {
				if d := math.Abs(float64(stock[i] - fast[i])); d > 1e-5*float64(kh*kw*in) {
					t.Fatalf("output %d: SimpleGo %v, replacement %v", i, stock[i], fast[i])
				}
			}
		})
	}
}

// TestFastConvNonFinite checks that an infinity or NaN in an image reaches exactly the outputs
// whose windows hold it, as with SimpleGo's kernel (the gather-free way reads values beyond a
// window, against zero kernel entries, so such images take the gathering way), and that a batch
// mixing finite and non-finite images gets both right.
func TestFastConvNonFinite(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 4))
	for _, c := range []struct{ batch, hw, in, k, out int }{{3, 9, 1, 5, 6}, {2, 7, 3, 3, 5}, {2, 6, 19, 3, 19}, {2, 8, 8, 3, 5}} {
		dims := []int{c.batch, c.hw, c.hw, c.in}
		values := randomSlice[float32](rng, size(dims))
		image := c.hw * c.hw * c.in
		values[image+(2*c.hw+3)*c.in] = float32(math.Inf(1)) // second image only
		values[image+(5*c.hw+1)*c.in] = float32(math.NaN())
		x := tensors.FromFlatDataAndDimensions(values, dims...)
		k := tensors.FromFlatDataAndDimensions(randomSlice[float32](rng, c.k*c.k*c.in*c.out), c.k, c.k, c.in, c.out)
		run := func(fast bool) []float32 {
			defer setFor(fastConv, fast)()
			return tensors.MustCopyFlatData[float32](graph.MustExecOnce(backend(), func(x, k *graph.Node) *graph.Node {
				return graph.Convolve(x, k).StridePerAxis(1, 1).PadSame().Done()
			}, x, k))
		}
		stock, fast := run(false), run(true)
		finite := 0
		for i := range stock {
			s, f := float64(stock[i]), float64(fast[i])
			same := (math.IsNaN(s) && math.IsNaN(f)) || (math.IsInf(s, 0) && s == f) || math.Abs(s-f) <= 1e-5*float64(c.k*c.k*c.in)
			if !same {
				t.Fatalf("%+v: output %d is %v, SimpleGo's %v", c, i, f, s)
			}
			if !math.IsNaN(s) && !math.IsInf(s, 0) {
				finite++
			}
		}
		if finite == len(stock) || finite < len(stock)/2 {
			t.Errorf("%+v: %d of %d outputs finite: the test's non-finite values did not do what it meant", c, finite, len(stock))
		}
	}
}

// TestFastConvTinyOutputs runs convolutions whose output rows hold fewer values than the padding
// of the output channels (a 1×2 output row of 1 channel, padded to 4): the product's padded
// columns must not reach past an image's outputs. Batches of several images run on several
// goroutines (run with -race).
func TestFastConvTinyOutputs(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 11))
	for _, h := range []int{1, 2, 3} {
		for _, w := range []int{1, 2, 3} {
			for _, out := range []int{1, 2, 3, 5} {
				for _, k := range []int{1, 2} {
					x := tensors.FromFlatDataAndDimensions(randomSlice[float32](rng, 3*h*w*2), 3, h, w, 2)
					kernel := tensors.FromFlatDataAndDimensions(randomSlice[float32](rng, k*k*2*out), k, k, 2, out)
					run := func(fast bool) []float32 {
						defer setFor(fastConv, fast)()
						return tensors.MustCopyFlatData[float32](graph.MustExecOnce(backend(), func(x, k *graph.Node) *graph.Node {
							return graph.Convolve(x, k).StridePerAxis(1, 1).PadSame().Done()
						}, x, kernel))
					}
					stock, fast := run(false), run(true)
					for i := range stock {
						if d := math.Abs(float64(stock[i] - fast[i])); d > 1e-5 {
							t.Fatalf("%dx%d image, %d filters %dx%d: output %d is %v, SimpleGo's %v", h, w, out, k, k, i, fast[i], stock[i])
						}
					}
				}
			}
		}
	}
}
